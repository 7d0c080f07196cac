//! A web listener's connection above its byte stream (plain, or the
//! plaintext of a TLS session): first an HTTP request, then either one
//! response or, after an upgrade, IRC lines in WebSocket frames.
//!
//! Input is decoded into the byte stream the line framer already reads
//! (one message, one line), so flood control and the line limits apply
//! unchanged. Output frames the write queue's shared lines without copying
//! them: a server frame's header depends only on the payload's length, so
//! each write gathers `[header][line without CRLF]` pairs into one
//! `sendmsg`. Only a frame the socket cut short is copied (its rest waits
//! in `out`), and lines a text frame cannot carry as they are.

use super::{Plaintext, Unread, Unsent};
use crate::outqueue::OutQueue;
use crate::stats::DisconnectReason;
use crate::web::http::{self, HeadError, Request};
use crate::web::route::Subprotocol;
use crate::web::websocket::{self, Decoded, Decoder};
use std::cell::RefCell;
use std::io::{self, IoSlice, Read, Write};

/// Lines framed per write: as many as the queue gathers per write.
const BATCH: usize = 32;
/// One read from the layer below.
const READ_SIZE: usize = 16 * 1024;

thread_local! {
    /// Raw input of one read, shared by every web connection of the loop.
    static RAW: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_SIZE].into_boxed_slice());
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
    /// queue's lines as frames, many per `sendmsg`, then a close frame if
    /// one is due; until the socket would block or all is sent.
    pub fn write(&mut self, socket: &mut impl Write, queue: &mut OutQueue) -> io::Result<()> {
        loop {
            if !self.out.send(socket)? {
                return Ok(());
            }
            let Phase::Socket(state) = &mut self.phase else {
                return Ok(());
            };
            if queue.is_empty() {
                match state.close.take() {
                    Some(code) => websocket::close_frame(code, "", self.out.bytes()),
                    None => return Ok(()),
                }
                continue;
            }
            let binary = state.binary;
            match write_frames(socket, queue, binary, self.out.bytes()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
                Ok(()) => {}
            }
        }
    }
}

/// One vectored write of up to [`BATCH`] frames from the front of the
/// queue. A frame the socket took only part of leaves the queue, its rest
/// going to `out`; a line a text frame cannot carry as it is (not UTF-8)
/// is framed from a lossy copy into `out`.
fn write_frames(
    socket: &mut impl Write,
    queue: &mut OutQueue,
    binary: bool,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let mut heads = [([0u8; websocket::MAX_HEADER], 0usize); BATCH];
    let mut sizes = [0usize; BATCH];
    let mut count = 0;
    for line in queue.lines().take(BATCH) {
        let body = payload(line);
        if !binary && std::str::from_utf8(body).is_err() {
            break;
        }
        heads[count] = websocket::header(binary, body.len());
        sizes[count] = heads[count].1 + body.len();
        count += 1;
    }
    if count == 0 {
        // The front line is not UTF-8: framed from a lossy copy, so that
        // the text frame is valid.
        if let Some(line) = queue.pop_front() {
            frame_into(
                out,
                false,
                String::from_utf8_lossy(payload(&line)).as_bytes(),
            );
        }
        return Ok(());
    }
    let written = {
        let mut slices = [IoSlice::new(&[]); 2 * BATCH];
        for (i, line) in queue.lines().take(count).enumerate() {
            let (head, size) = &heads[i];
            slices[2 * i] = IoSlice::new(&head[..*size]);
            slices[2 * i + 1] = IoSlice::new(payload(line));
        }
        socket.write_vectored(&slices[..2 * count])?
    };
    if written == 0 {
        return Err(io::ErrorKind::WriteZero.into());
    }
    let mut left = written;
    for (i, &size) in sizes[..count].iter().enumerate() {
        if left < size {
            // Cut short: the rest of this frame goes before anything else.
            let (head, head_size) = &heads[i];
            if let Some(line) = queue.lines().next() {
                let frame: Vec<u8> = [&head[..*head_size], payload(line)].concat();
                out.extend_from_slice(&frame[left..]);
            }
            queue.pop_front();
            return Ok(());
        }
        left -= size;
        queue.pop_front();
    }
    Ok(())
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
        let Phase::Socket(socket) = &mut web.phase else {
            return Ok(());
        };
        for _ in 0..BATCH {
            let Some(line) = self.queue.pop_front() else {
                break;
            };
            let body = payload(&line);
            if socket.binary || std::str::from_utf8(body).is_ok() {
                frame_into(buf, socket.binary, body);
            } else {
                frame_into(buf, false, String::from_utf8_lossy(body).as_bytes());
            }
        }
        if self.queue.is_empty()
            && let Some(code) = socket.close.take()
        {
            websocket::close_frame(code, "", buf);
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
