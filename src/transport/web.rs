//! A web listener's connection above its byte stream (plain, or the
//! plaintext of a TLS session): first an HTTP request, then either one
//! response or, after an upgrade, IRC lines in WebSocket frames.
//!
//! Input is decoded into the byte stream the line framer already reads
//! (one message, one line), so flood control and the line limits apply
//! unchanged. Output frames a batch of the write queue's lines into one
//! buffer that the loop's web connections share, sent with one `send`;
//! only what the socket does not take is kept, in the connection's `out`.
//! Gathering `[header][shared line]` slices into a `sendmsg` instead saves
//! the copy, but costs the kernel more: two slices a line cost about 1.5×
//! the CPU per delivery of plain TCP at max rate, against 0.9× for the
//! copy (BENCHMARKS.md, "Over WebSocket").

use super::{Plaintext, Unread, Unsent};
use crate::outqueue::OutQueue;
use crate::stats::DisconnectReason;
use crate::web::http::{self, HeadError, Request};
use crate::web::route::Subprotocol;
use crate::web::websocket::{self, Decoded, Decoder};
use std::cell::RefCell;
use std::io::{self, Read, Write};

/// Lines framed per write: as many as the queue gathers per write.
const BATCH: usize = 64;
/// One read from the layer below.
const READ_SIZE: usize = 16 * 1024;

thread_local! {
    /// Raw input of one read, shared by every web connection of the loop.
    static RAW: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_SIZE].into_boxed_slice());
    /// The frames of one write, shared by every web connection of the loop
    /// (no allocation per write, none kept per connection).
    static FRAMES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What the request phase produced, for the reactor to answer.
#[derive(Debug)]
pub enum Arrived {
    Request(Box<Request>),
    /// No request could be taken: answer with this status (400, 431).
    Refused(u16),
}

enum Phase {
    /// Reading the request head.
    Request { head: Vec<u8> },
    /// The request is read; the reactor has not answered yet. `rest` is
    /// what came after the head (WebSocket frames, after an upgrade).
    Arrived {
        arrived: Option<Arrived>,
        rest: Vec<u8>,
    },
    /// A plain response is on its way: input is read and dropped.
    Responded,
    /// Upgraded: IRC in WebSocket messages.
    Socket(Box<Socket>),
}

struct Socket {
    decoder: Decoder,
    binary: bool,
    /// Raw input that came with the request head, decoded first.
    rest: Vec<u8>,
    /// Decoded lines not handed out yet.
    lines: Unread,
    /// The peer sent a close frame.
    peer_closed: bool,
    /// Our close frame's code, sent once the queue is out.
    close: Option<u16>,
    close_code: u16,
}

pub struct WebSession {
    phase: Phase,
    /// Longest message a client may send (an IRC line with its tags).
    max_message: usize,
    /// Bytes that go before the queue's next line: the HTTP response,
    /// pongs, close frames, the rest of a frame a write cut short.
    out: Unsent,
}

impl WebSession {
    pub fn new(max_message: usize) -> WebSession {
        WebSession {
            phase: Phase::Request { head: Vec::new() },
            max_message,
            out: Unsent::default(),
        }
    }

    /// Reads IRC lines (LF-terminated) into `buf` once upgraded; before,
    /// reads the request, and returns `WouldBlock` once it has arrived
    /// (see [`WebSession::take_arrived`]).
    pub fn read(&mut self, lower: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match &mut self.phase {
                Phase::Request { head } => {
                    let before = head.len();
                    let room = http::MAX_HEAD + 1 - before;
                    let n = read_raw(lower, room, |data| head.extend_from_slice(data))?;
                    if n == 0 {
                        return Ok(0);
                    }
                    self.parse_head();
                }
                Phase::Arrived { .. } => return Err(io::ErrorKind::WouldBlock.into()),
                Phase::Responded => {
                    if read_raw(lower, READ_SIZE, |_| {})? == 0 {
                        return Ok(0);
                    }
                }
                Phase::Socket(socket) => {
                    if let Some(n) = socket.lines.take_into(buf) {
                        return Ok(n);
                    }
                    if socket.peer_closed {
                        return Ok(0);
                    }
                    let decoded = if socket.rest.is_empty() {
                        let mut decoded = Ok(Decoded::Open);
                        let n = read_raw(lower, READ_SIZE, |data| {
                            decoded =
                                socket
                                    .decoder
                                    .feed(data, socket.lines.bytes(), self.out.bytes());
                        })?;
                        if n == 0 {
                            return Ok(0);
                        }
                        decoded
                    } else {
                        let rest = std::mem::take(&mut socket.rest);
                        socket
                            .decoder
                            .feed(&rest, socket.lines.bytes(), self.out.bytes())
                    };
                    match decoded {
                        Ok(Decoded::Open) => {}
                        Ok(Decoded::Closed) => socket.peer_closed = true,
                        Err(failure) => {
                            return Err(io::Error::new(io::ErrorKind::InvalidData, failure));
                        }
                    }
                }
            }
        }
    }

    /// Parses what the request phase holds; once the head is complete
    /// (or cannot be), moves on to [`Phase::Arrived`].
    fn parse_head(&mut self) {
        let Phase::Request { head } = &mut self.phase else {
            return;
        };
        let (arrived, rest) = match http::parse(head) {
            Ok(None) => return,
            Ok(Some((request, used))) => {
                (Arrived::Request(Box::new(request)), head.split_off(used))
            }
            Err(HeadError::TooLarge) => (Arrived::Refused(431), Vec::new()),
            Err(HeadError::Bad) => (Arrived::Refused(400), Vec::new()),
        };
        self.phase = Phase::Arrived {
            arrived: Some(arrived),
            rest,
        };
    }

    /// The request (or refusal) that arrived, once: the reactor answers it
    /// with [`WebSession::respond`] or [`WebSession::upgrade`].
    pub fn take_arrived(&mut self) -> Option<Arrived> {
        match &mut self.phase {
            Phase::Arrived { arrived, .. } => arrived.take(),
            _ => None,
        }
    }

    /// Whether the connection is still in its HTTP phase.
    pub fn is_http(&self) -> bool {
        !matches!(self.phase, Phase::Socket(_))
    }

    /// Sends a whole HTTP response; the connection then only closes.
    pub fn respond(&mut self, response: &[u8]) {
        self.out.bytes().extend_from_slice(response);
        self.phase = Phase::Responded;
    }

    /// Sends the 101 response and switches to WebSocket messages.
    pub fn upgrade(&mut self, response: &[u8], subprotocol: Subprotocol) {
        let rest = match &mut self.phase {
            Phase::Arrived { rest, .. } => std::mem::take(rest),
            _ => Vec::new(),
        };
        self.out.bytes().extend_from_slice(response);
        self.phase = Phase::Socket(Box::new(Socket {
            decoder: Decoder::new(self.max_message),
            binary: subprotocol == Subprotocol::Binary,
            rest,
            lines: Unread::default(),
            peer_closed: false,
            close: None,
            close_code: websocket::NORMAL,
        }));
    }

    /// The close code our close frame will carry, from why the hub let
    /// the client go.
    pub fn set_close_reason(&mut self, why: DisconnectReason) {
        if let Phase::Socket(socket) = &mut self.phase {
            socket.close_code = close_code(why);
        }
    }

    /// Ends the WebSocket: a close frame follows the queue's last line.
    pub fn close(&mut self) {
        if let Phase::Socket(socket) = &mut self.phase
            && !socket.peer_closed
        {
            socket.close = Some(socket.close_code);
        }
    }

    /// Bytes waiting below the queue.
    pub fn held(&self) -> usize {
        self.out.held()
    }

    /// Writes straight to the socket (no TLS): what `out` holds, then the
    /// queue's lines framed a batch at a time, then a close frame if one is
    /// due; until the socket would block or all is sent.
    pub fn write(&mut self, socket: &mut impl Write, queue: &mut OutQueue) -> io::Result<()> {
        loop {
            if !self.out.send(socket)? {
                return Ok(());
            }
            let Phase::Socket(state) = &mut self.phase else {
                return Ok(());
            };
            let out = &mut self.out;
            let framed = FRAMES.with(|frames| {
                let mut frames = frames.borrow_mut();
                frames.clear();
                if !frame_batch(state, queue, &mut frames) {
                    return Ok(false);
                }
                let sent = match socket.write(&frames) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                    Err(e) => return Err(e),
                };
                // The lines have left the queue: what the socket did not
                // take goes out first next time.
                out.bytes().extend_from_slice(&frames[sent..]);
                Ok(true)
            })?;
            if !framed {
                return Ok(());
            }
        }
    }
}

/// Frames up to [`BATCH`] lines from the front of the queue into `buf`,
/// then our close frame once the queue is out and one is due; false when
/// there was nothing to frame.
///
/// Over TLS `buf` is the plaintext to seal; over plain TCP, the loop's
/// shared buffer of frames (see the module's comment for why a copy).
fn frame_batch(socket: &mut Socket, queue: &mut OutQueue, buf: &mut Vec<u8>) -> bool {
    if queue.is_empty() {
        return match socket.close.take() {
            Some(code) => {
                websocket::close_frame(code, "", buf);
                true
            }
            None => false,
        };
    }
    for _ in 0..BATCH {
        let Some(line) = queue.pop_front() else {
            break;
        };
        let body = payload(&line);
        if socket.binary || std::str::from_utf8(body).is_ok() {
            frame_into(buf, socket.binary, body);
        } else {
            // A text frame must be UTF-8: a lossy copy.
            frame_into(buf, false, String::from_utf8_lossy(body).as_bytes());
        }
    }
    true
}

/// A queued line without its line ending: the payload of its frame.
fn payload(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn frame_into(out: &mut Vec<u8>, binary: bool, body: &[u8]) {
    let (head, size) = websocket::header(binary, body.len());
    out.extend_from_slice(&head[..size]);
    out.extend_from_slice(body);
}

/// Over TLS the frames are built into the plaintext the session seals
/// (which copies them anyway, encrypting), then sealed many to a record.
pub struct Framed<'a> {
    pub web: &'a mut WebSession,
    pub queue: &'a mut OutQueue,
}

impl Plaintext for Framed<'_> {
    fn is_empty(&self) -> bool {
        let idle = match &self.web.phase {
            Phase::Socket(socket) => self.queue.is_empty() && socket.close.is_none(),
            _ => true,
        };
        self.web.held() == 0 && idle
    }

    fn take_into(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        let web = &mut *self.web;
        web.out.move_into(buf);
        if let Phase::Socket(socket) = &mut web.phase {
            frame_batch(socket, self.queue, buf);
        }
        Ok(())
    }
}

/// Reads once from the layer below into the shared buffer, at most `room`
/// bytes, and hands what came to `take`; returns how many bytes came.
fn read_raw(lower: &mut impl Read, room: usize, take: impl FnOnce(&[u8])) -> io::Result<usize> {
    RAW.with(|raw| {
        let mut raw = raw.borrow_mut();
        let room = room.clamp(1, raw.len());
        let n = lower.read(&mut raw[..room])?;
        take(&raw[..n]);
        Ok(n)
    })
}

/// The close code for a client the hub let go of.
fn close_code(why: DisconnectReason) -> u16 {
    match why {
        DisconnectReason::Shutdown => websocket::GOING_AWAY,
        DisconnectReason::SendQ
        | DisconnectReason::Flood
        | DisconnectReason::PingTimeout
        | DisconnectReason::RegistrationTimeout
        | DisconnectReason::BadPassword
        | DisconnectReason::LoginFailures
        | DisconnectReason::AccountRequired
        | DisconnectReason::TooManyConnections
        | DisconnectReason::Kicked
        | DisconnectReason::Killed
        | DisconnectReason::Klined => websocket::POLICY,
        DisconnectReason::Other => websocket::SERVER_ERROR,
        _ => websocket::NORMAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    /// A socket that takes `room` bytes, then would block until given more.
    struct Trickle {
        taken: Vec<u8>,
        room: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = bytes.len().min(self.room);
            self.room -= n;
            self.taken.extend_from_slice(&bytes[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn frames_cut_by_a_full_socket_go_out_whole_and_in_order() {
        const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        let mut web = WebSession::new(4096);
        web.upgrade(RESPONSE, Subprotocol::Text);
        let mut queue = OutQueue::default();
        let mut expected = RESPONSE.to_vec();
        for i in 0..200 {
            let mut body = vec![b'a' + (i % 26) as u8; (i * 37) % 700];
            if i % 50 == 7 {
                body.push(0xff);
            }
            let text = String::from_utf8_lossy(&body).into_owned();
            frame_into(&mut expected, false, text.as_bytes());
            body.extend_from_slice(b"\r\n");
            queue.push(&Rc::from(body));
        }
        let mut socket = Trickle {
            taken: Vec::new(),
            room: 0,
        };
        for _ in 0..10_000 {
            socket.room = 1000;
            web.write(&mut socket, &mut queue).expect("write");
            if queue.is_empty() && web.held() == 0 {
                break;
            }
            // What the socket refused is kept, and no more than a batch.
            assert!(web.held() <= BATCH * 700);
        }
        assert_eq!(socket.taken, expected);
    }
}
