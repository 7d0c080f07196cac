//! Line framing of a client's byte stream.
//!
//! Lines end in LF, optionally preceded by CR. A line may arrive split over
//! many reads and one read may hold many lines; the framer gives the same
//! lines either way. Complete lines are handed out straight from the caller's
//! buffer; only an unfinished tail is copied and kept, so an idle client holds
//! no input buffer at all.

use std::ops::ControlFlow;

/// What the framer found in the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line, without its line ending.
    Line(&'a [u8]),
    /// A line longer than the limit. It is dropped up to its end; this is
    /// reported once per such line so the client can be told.
    TooLong,
}

/// Splits a byte stream into lines of at most `max_line` bytes, line ending
/// included (512 in RFC 1459).
#[derive(Debug, Default)]
pub struct LineFramer {
    /// Bytes received but not yet handed out: an unfinished line, or lines
    /// the caller asked to hold back by breaking out of [`LineFramer::feed`].
    pending: Vec<u8>,
    /// Inside an over-long line that was already reported: skip to its end.
    discarding: bool,
}

impl LineFramer {
    /// Bytes held back, for memory accounting.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Keeps `data` unexamined behind what is pending, for a client whose
    /// lines must wait (flood control); feed an empty slice to resume.
    pub fn hold(&mut self, data: &[u8]) {
        let mut data = data;
        if self.discarding && self.pending.is_empty() {
            // The rest of an over-long line is skipped here, as feed would.
            let Some(end) = find_newline(data) else {
                return;
            };
            self.discarding = false;
            data = &data[end + 1..];
        }
        self.pending.extend_from_slice(data);
    }

    /// Feeds `data` and calls `on_frame` for each frame found. If `on_frame`
    /// breaks, everything after that frame is kept for the next call (feed
    /// an empty slice to resume) and `Break` is returned.
    pub fn feed(
        &mut self,
        data: &[u8],
        max_line: usize,
        mut on_frame: impl FnMut(Frame<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let limit = max_line.saturating_sub(2).max(1);
        let mut data = data;
        if self.discarding {
            let Some(end) = find_newline(data) else {
                return ControlFlow::Continue(());
            };
            self.discarding = false;
            data = &data[end + 1..];
        }
        if self.pending.is_empty() {
            return self.feed_fresh(data, limit, &mut on_frame);
        }
        let mut held = std::mem::take(&mut self.pending);
        held.extend_from_slice(data);
        self.feed_fresh(&held, limit, &mut on_frame)
    }

    /// Feeds data with nothing pending before it.
    fn feed_fresh(
        &mut self,
        mut data: &[u8],
        limit: usize,
        on_frame: &mut impl FnMut(Frame<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        while let Some(end) = find_newline(data) {
            let line = &data[..end];
            data = &data[end + 1..];
            if self.emit(line, limit, on_frame).is_break() {
                self.pending.extend_from_slice(data);
                return ControlFlow::Break(());
            }
        }
        self.keep_unfinished(data, limit, on_frame)
    }

    fn emit(
        &mut self,
        line: &[u8],
        limit: usize,
        on_frame: &mut impl FnMut(Frame<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > limit {
            on_frame(Frame::TooLong)
        } else {
            on_frame(Frame::Line(line))
        }
    }

    /// Keeps an unfinished line, or reports it as too long once it cannot fit.
    fn keep_unfinished(
        &mut self,
        data: &[u8],
        limit: usize,
        on_frame: &mut impl FnMut(Frame<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if self.discarding || data.is_empty() {
            return ControlFlow::Continue(());
        }
        // One more byte than the limit may still be the CR of a CRLF.
        if self.pending.len() + data.len() > limit + 1 {
            self.pending = Vec::new();
            self.discarding = true;
            return on_frame(Frame::TooLong);
        }
        self.pending.extend_from_slice(data);
        ControlFlow::Continue(())
    }
}

fn find_newline(data: &[u8]) -> Option<usize> {
    data.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_input_gives_the_same_frames_when_resumed() {
        let input: &[u8] = b"one\r\ntwo\n";
        let mut direct = LineFramer::default();
        let mut expected = Vec::new();
        let _ = direct.feed(input, 16, |f| {
            expected.push(format!("{f:?}"));
            ControlFlow::Continue(())
        });
        let mut framer = LineFramer::default();
        framer.hold(&input[..5]);
        framer.hold(&input[5..]);
        let mut got = Vec::new();
        let _ = framer.feed(&[], 16, |f| {
            got.push(format!("{f:?}"));
            ControlFlow::Continue(())
        });
        assert_eq!(got, expected);
        assert_eq!(framer.pending_len(), 0);
    }

    #[test]
    fn held_input_skips_the_rest_of_an_over_long_line() {
        let mut framer = LineFramer::default();
        let mut got = Vec::new();
        let _ = framer.feed(&[b'x'; 40], 16, |f| {
            got.push(format!("{f:?}"));
            ControlFlow::Continue(())
        });
        framer.hold(b"xxxx\nnext\n");
        let _ = framer.feed(&[], 16, |f| {
            got.push(format!("{f:?}"));
            ControlFlow::Continue(())
        });
        assert_eq!(got, ["TooLong", "Line([110, 101, 120, 116])"]);
    }

    /// Feeds `chunks` one after the other and returns the frames as strings.
    fn frames(chunks: &[&[u8]], max_line: usize) -> Vec<String> {
        let mut framer = LineFramer::default();
        let mut out = Vec::new();
        for chunk in chunks {
            let _ = framer.feed(chunk, max_line, |frame| {
                out.push(match frame {
                    Frame::Line(l) => String::from_utf8_lossy(l).into_owned(),
                    Frame::TooLong => "<too long>".into(),
                });
                ControlFlow::Continue(())
            });
        }
        out
    }

    #[test]
    fn splits_lines_in_one_read() {
        assert_eq!(frames(&[b"a\r\nb\nc\r\n"], 512), ["a", "b", "c"]);
    }

    #[test]
    fn joins_a_line_split_across_reads() {
        assert_eq!(
            frames(&[b"PRIV", b"MSG #a :h", b"i\r", b"\nx\n"], 512),
            ["PRIVMSG #a :hi", "x"]
        );
    }

    #[test]
    fn keeps_an_unfinished_line() {
        assert_eq!(frames(&[b"a\nunfinished"], 512), ["a"]);
    }

    #[test]
    fn reports_an_over_long_line_once_and_resyncs() {
        let long = vec![b'x'; 600];
        assert_eq!(
            frames(&[&long, &long, b"\nok\n"], 512),
            ["<too long>", "ok"]
        );
        let mut one_read = long.clone();
        one_read.extend_from_slice(b"\r\nok\r\n");
        assert_eq!(frames(&[&one_read], 512), ["<too long>", "ok"]);
    }

    #[test]
    fn the_limit_includes_crlf() {
        let fits = [vec![b'x'; 510], b"\r\n".to_vec()].concat();
        assert_eq!(frames(&[&fits], 512).len(), 1);
        assert_ne!(frames(&[&fits], 512)[0], "<too long>");
        let over = [vec![b'x'; 511], b"\r\n".to_vec()].concat();
        assert_eq!(frames(&[&over], 512), ["<too long>"]);
        // The same line split just before its CRLF behaves the same.
        assert_eq!(frames(&[&over[..511], b"\r", b"\n"], 512), ["<too long>"]);
        assert_eq!(frames(&[&fits[..510], b"\r", b"\n"], 512).len(), 1);
    }

    #[test]
    fn breaking_holds_back_the_rest_in_order() {
        let mut framer = LineFramer::default();
        let mut seen = Vec::new();
        let flow = framer.feed(b"1\n2\n3\n4", 512, |f| {
            if let Frame::Line(l) = f {
                seen.push(String::from_utf8_lossy(l).into_owned());
            }
            if seen.len() == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert!(flow.is_break());
        assert_eq!(seen, ["1", "2"]);
        assert_eq!(framer.pending_len(), "3\n4".len());
        let _ = framer.feed(b"\n5\n", 512, |f| {
            if let Frame::Line(l) = f {
                seen.push(String::from_utf8_lossy(l).into_owned());
            }
            ControlFlow::Continue(())
        });
        assert_eq!(seen, ["1", "2", "3", "4", "5"]);
        assert_eq!(framer.pending_len(), 0);
    }
}
