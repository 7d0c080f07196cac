//! One client connection: its socket, the unfinished input line, the write
//! queue, and where it stands with respect to the output limits.

use crate::flood::LineBudget;
use crate::framing::LineFramer;
use crate::message::Line;
use crate::outqueue::OutQueue;
use mio::net::TcpStream;
use socket2::SockRef;
use std::io::{self, IoSlice, Write};
use std::net::SocketAddr;
use std::time::Instant;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Chatting: input goes to the hub.
    Open,
    /// The hub let go of the client: flush the queue (ending in an ERROR
    /// line), then shut down our side.
    Closing { since: Instant },
    /// Our side is shut down; input is read and discarded until the peer
    /// closes too, so closing never resets a connection with data in flight.
    Draining { since: Instant },
}

pub struct Connection {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub phase: Phase,
    pub framer: LineFramer,
    pub queue: OutQueue,
    /// The socket may hold unread input: readiness is edge-triggered, so this
    /// stays set until a read would block.
    pub readable: bool,
    /// Listed in the reactor's read list.
    pub read_listed: bool,
    /// Listed in the reactor's flush list.
    pub flush_listed: bool,
    /// Past the hard output limit: output to it is dropped and it is about
    /// to be disconnected with `SendQ exceeded`.
    pub overflowed: bool,
    /// Since when its queue has been above the soft limit.
    pub over_soft_since: Option<Instant>,
    /// Flood control: its lines so far against the rate limit.
    pub budget: LineBudget,
    /// Over its line budget: input is kept unprocessed until it may go on.
    pub throttled: bool,
}

impl Connection {
    pub fn new(stream: TcpStream, peer: SocketAddr) -> Connection {
        Connection {
            stream,
            peer,
            phase: Phase::Open,
            framer: LineFramer::default(),
            queue: OutQueue::default(),
            readable: true,
            read_listed: false,
            flush_listed: false,
            overflowed: false,
            over_soft_since: None,
            budget: LineBudget::default(),
            throttled: false,
        }
    }

    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Writes as much of the queue as the socket takes; returns the bytes
    /// written.
    pub fn write_queue(&mut self) -> io::Result<usize> {
        self.queue
            .write_to(&mut SocketWriter(SockRef::from(&self.stream)))
    }

    /// The last line a closing client receives.
    pub fn closing_line(&self, reason: &str) -> Line {
        crate::message::build(
            "",
            "ERROR",
            &[&format!("Closing Link: {} ({reason})", self.peer.ip())],
        )
    }
}

/// Writes with `send`/`sendmsg` rather than `write`/`writev`: straight into
/// the socket layer, skipping the file layer's position lock and checks. At
/// low message rates every delivery is one call, so the cheaper entry
/// shows (about 8% less CPU per delivery, measured in BENCHMARKS.md).
struct SocketWriter<'a>(SockRef<'a>);

impl Write for SocketWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send_with_flags(buf, libc::MSG_NOSIGNAL)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match bufs {
            [one] => self.write(one),
            _ => self.0.send_vectored_with_flags(bufs, libc::MSG_NOSIGNAL),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
