//! A client's write queue: shared lines waiting to be written, flushed in
//! batches with one vectored write (`sendmsg`) for many lines.

use crate::message::Line;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

/// Lines gathered into one vectored write.
const BATCH: usize = 64;

/// A drained queue keeps this much capacity (in lines) so a client that gets
/// one line at a time does not allocate per line; anything above is freed so
/// idle clients stay small.
const KEEP_CAPACITY: usize = 8;

#[derive(Debug, Default)]
pub struct OutQueue {
    lines: VecDeque<Line>,
    /// Bytes of the front line already written.
    front_written: usize,
    /// Bytes queued and not yet written.
    bytes: usize,
}

impl OutQueue {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Queues a line after everything queued before; the bytes are shared,
    /// not copied.
    pub fn push(&mut self, line: &Line) {
        self.bytes += line.len();
        self.lines.push_back(Line::clone(line));
    }

    /// Takes the front line out of the queue (the rest of it, had it been
    /// partly written).
    pub fn pop_front(&mut self) -> Option<Line> {
        let line = self.lines.pop_front()?;
        self.bytes -= line.len() - self.front_written;
        self.front_written = 0;
        if self.lines.is_empty() && self.lines.capacity() > KEEP_CAPACITY {
            self.lines = VecDeque::new();
        }
        Some(line)
    }

    /// Drops everything queued; returns how many bytes were dropped.
    pub fn clear(&mut self) -> usize {
        let dropped = self.bytes;
        *self = OutQueue::default();
        dropped
    }

    /// Drops everything but the rest of a partly written line, so that a
    /// last line queued after it still starts on a line of its own.
    pub fn drop_unstarted(&mut self) {
        let keep = usize::from(self.front_written > 0);
        let dropped: usize = self.lines.iter().skip(keep).map(|l| l.len()).sum();
        self.lines.truncate(keep);
        self.bytes -= dropped;
    }

    /// Writes as much as `out` takes, many lines per call, until it would
    /// block (`Ok`) or fails. What was written before a failure is gone
    /// from the queue either way: [`OutQueue::bytes`] is always exact.
    pub fn write_to(&mut self, out: &mut impl Write) -> io::Result<()> {
        while !self.lines.is_empty() {
            match self.write_once(out) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One vectored write of up to [`BATCH`] lines from the front; returns
    /// the bytes `out` took.
    pub fn write_once(&mut self, out: &mut impl Write) -> io::Result<usize> {
        let mut slices = [IoSlice::new(&[]); BATCH];
        let mut count = 0;
        for (slot, line) in slices.iter_mut().zip(&self.lines) {
            let start = if count == 0 { self.front_written } else { 0 };
            *slot = IoSlice::new(&line[start..]);
            count += 1;
        }
        let n = out.write_vectored(&slices[..count])?;
        self.consume(n);
        Ok(n)
    }

    /// Marks `n` bytes written, dropping the lines they complete.
    fn consume(&mut self, mut n: usize) {
        self.bytes -= n;
        while let Some(front) = self.lines.front() {
            let left = front.len() - self.front_written;
            if n < left {
                self.front_written += n;
                return;
            }
            n -= left;
            self.front_written = 0;
            self.lines.pop_front();
        }
        // Only reached once the queue is empty.
        if self.lines.capacity() > KEEP_CAPACITY {
            self.lines = VecDeque::new();
        }
    }
}

impl crate::transport::Plaintext for OutQueue {
    fn is_empty(&self) -> bool {
        OutQueue::is_empty(self)
    }

    fn take_into(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        self.write_once(buf).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    /// Takes at most `room` bytes per call, then would block once empty.
    struct Pipe {
        data: Vec<u8>,
        room: usize,
        budget: usize,
        calls: usize,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            if self.budget == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.calls += 1;
            let mut room = self.room.min(self.budget);
            let mut written = 0;
            for buf in bufs {
                let take = buf.len().min(room);
                self.data.extend_from_slice(&buf[..take]);
                room -= take;
                written += take;
            }
            self.budget -= written;
            Ok(written)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn line(text: &str) -> Line {
        Rc::from(text.as_bytes())
    }

    #[test]
    fn batches_many_lines_per_write() {
        let mut q = OutQueue::default();
        for i in 0..10 {
            q.push(&line(&format!("line {i}\r\n")));
        }
        let mut pipe = Pipe {
            data: vec![],
            room: usize::MAX,
            budget: usize::MAX,
            calls: 0,
        };
        let before = q.bytes();
        q.write_to(&mut pipe).expect("writes");
        assert_eq!(before, pipe.data.len());
        assert_eq!(pipe.calls, 1);
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn partial_writes_resume_mid_line_in_order() {
        let mut q = OutQueue::default();
        let expected: String = (0..100)
            .map(|i| format!("message number {i}\r\n"))
            .collect();
        for i in 0..100 {
            q.push(&line(&format!("message number {i}\r\n")));
        }
        let mut pipe = Pipe {
            data: vec![],
            room: 7,
            budget: 500,
            calls: 0,
        };
        q.write_to(&mut pipe).expect("writes");
        assert_eq!(pipe.data.len(), 500);
        assert_eq!(q.bytes(), expected.len() - 500);
        pipe.budget = usize::MAX;
        q.write_to(&mut pipe).expect("writes");
        assert_eq!(String::from_utf8(pipe.data).expect("utf8"), expected);
        assert!(q.is_empty());
    }

    #[test]
    fn dropping_keeps_a_partly_written_line_whole() {
        let mut q = OutQueue::default();
        for text in ["first\r\n", "second\r\n", "third\r\n"] {
            q.push(&line(text));
        }
        let mut pipe = Pipe {
            data: vec![],
            room: usize::MAX,
            budget: 3,
            calls: 0,
        };
        q.write_to(&mut pipe).expect("writes");
        q.drop_unstarted();
        assert_eq!(q.bytes(), "first\r\n".len() - 3);
        q.push(&line("ERROR\r\n"));
        pipe.budget = usize::MAX;
        q.write_to(&mut pipe).expect("writes");
        assert_eq!(pipe.data, b"first\r\nERROR\r\n");
    }

    #[test]
    fn shared_lines_are_not_copied() {
        let shared = line("hello\r\n");
        let mut a = OutQueue::default();
        let mut b = OutQueue::default();
        a.push(&shared);
        b.push(&shared);
        assert_eq!(Rc::strong_count(&shared), 3);
        assert_eq!(a.clear(), 7);
        assert_eq!(Rc::strong_count(&shared), 2);
    }
}
