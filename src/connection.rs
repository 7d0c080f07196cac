//! One client connection: its socket, the unfinished input line, the write
//! queue, and where it stands with respect to the output limits.

use crate::flood::LineBudget;
use crate::framing::LineFramer;
use crate::message::Line;
use crate::outqueue::OutQueue;
use crate::transport::{Transport, Written};
use mio::net::TcpStream;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A web listener's connection before its request is answered: not a
    /// chat client (yet), and cut if the request takes longer than the
    /// registration timeout.
    Http { since: Instant },
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
    pub transport: Transport,
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
    /// Its queue holds output sent after a history entry that goes out in
    /// this batch: it is written once history has committed the batch.
    pub hold: u64,
    /// Listed in the reactor's list of connections waiting on history.
    pub held: bool,
}

impl Connection {
    pub fn new(stream: TcpStream, peer: SocketAddr, transport: Transport) -> Connection {
        Connection::starting(stream, peer, transport, Phase::Open)
    }

    /// A connection starting in `phase`: [`Phase::Http`] on web listeners.
    pub fn starting(
        stream: TcpStream,
        peer: SocketAddr,
        transport: Transport,
        phase: Phase,
    ) -> Connection {
        Connection {
            stream,
            transport,
            peer,
            phase,
            framer: LineFramer::default(),
            queue: OutQueue::default(),
            readable: true,
            read_listed: false,
            flush_listed: false,
            overflowed: false,
            over_soft_since: None,
            budget: LineBudget::default(),
            throttled: false,
            hold: 0,
            held: false,
        }
    }

    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// A web request rather than a chat client: before or after its
    /// answer, unless that answer was a WebSocket upgrade.
    pub fn is_web_request(&self) -> bool {
        self.transport.is_http()
    }

    /// Reads plaintext from the transport.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.transport.read(&self.stream, buf)
    }

    /// Writes as much of the queue as the transport and socket take.
    pub fn write_queue(&mut self) -> Written {
        self.transport.write(&self.stream, &mut self.queue)
    }

    /// Output bytes not yet taken by the socket: the queue's lines plus
    /// what the transport holds (TLS records). The output limits count this.
    pub fn queued(&self) -> usize {
        self.queue.bytes() + self.transport.held()
    }

    /// Whether a write now would send anything.
    pub fn wants_flush(&self) -> bool {
        self.transport.held() > 0 || (!self.queue.is_empty() && self.transport.carries_lines())
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
