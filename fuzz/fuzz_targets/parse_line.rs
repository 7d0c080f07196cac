//! The line parser on arbitrary bytes: LineFramer, then Message::parse on
//! every line, as the reactor and the hub do.
//!
//! Checked on every input: no panic; splitting the input into chunks gives
//! the same frames as feeding it whole; no line is longer than the limit or
//! holds a LF; the framer never holds more than one line; a parsed message
//! has the shape the hub relies on; and building a parsed message back into
//! a line and parsing that gives the same message.

#![no_main]

use groupchatd::framing::{Frame, LineFramer};
use groupchatd::message::{MAX_LINE, Message, build};
use libfuzzer_sys::fuzz_target;
use std::ops::ControlFlow;

/// A frame with its line copied out, so two feeds can be compared.
#[derive(Debug, PartialEq)]
enum Owned {
    Line(Vec<u8>),
    TooLong,
}

/// Feeds `chunks` in turn and returns every frame, checking the framer's
/// bound after each feed.
fn frames<'a>(chunks: impl Iterator<Item = &'a [u8]>, max_line: usize) -> Vec<Owned> {
    let mut framer = LineFramer::default();
    let mut out = Vec::new();
    for chunk in chunks {
        let _ = framer.feed(chunk, max_line, |f| {
            out.push(match f {
                Frame::Line(l) => Owned::Line(l.to_vec()),
                Frame::TooLong => Owned::TooLong,
            });
            ControlFlow::Continue(())
        });
        assert!(
            framer.pending_len() < max_line,
            "framer holds more than a line"
        );
    }
    out
}

fn check_message(text: &str) {
    let Some(m) = Message::parse(text) else {
        return;
    };
    assert!(!m.command.is_empty() && !m.command.contains(' '));
    assert!(m.params.len() <= 15);
    if let Some((_, middle)) = m.params.split_last() {
        for p in middle {
            assert!(!p.is_empty() && !p.contains(' ') && !p.starts_with(':'));
        }
    }
    // build replaces CR and NUL (lone CRs reach the parser) and cannot write
    // a command that reads as a prefix or tags: only the rest round-trips.
    let words = std::iter::once(m.prefix)
        .chain(std::iter::once(m.command))
        .chain(m.params.iter().copied());
    if words.clone().any(|w| w.contains(['\r', '\0'])) || m.command.starts_with([':', '@']) {
        return;
    }
    let line = build(m.prefix, m.command, &m.params);
    // A line cut to fit lost its end by design. The cut falls on a character
    // boundary, up to 3 bytes short of the limit (invalid bytes read as
    // 3-byte U+FFFD make long texts out of short lines).
    if line.len() > MAX_LINE - 4 {
        return;
    }
    let rebuilt = std::str::from_utf8(&line).expect("build writes UTF-8");
    let again = Message::parse(rebuilt.trim_end_matches("\r\n")).expect("a command");
    assert_eq!(again, m, "{text:?} -> {rebuilt:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&knob, stream)) = data.split_first() else {
        return;
    };
    // Small limits make over-long lines common; 512 is the daemon's own.
    let max_line = if knob & 0x80 == 0 {
        512
    } else {
        3 + usize::from(knob & 0x3f)
    };
    let chunk = 1 + usize::from(knob % 7);
    let whole = frames(std::iter::once(stream), max_line);
    assert_eq!(whole, frames(stream.chunks(chunk), max_line));
    for frame in &whole {
        if let Owned::Line(line) = frame {
            assert!(line.len() <= max_line.saturating_sub(2).max(1));
            assert!(!line.contains(&b'\n'));
            check_message(&String::from_utf8_lossy(line));
        }
    }
});
