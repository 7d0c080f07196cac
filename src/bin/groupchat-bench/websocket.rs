//! IRC over WebSocket (`--websocket`): the IRCv3 WebSocket binding as a
//! client speaks it to a web listener (`ws://`, or `wss://` with `--tls`),
//! under the same engine that reads and writes IRC lines.
//!
//! The handshake is one HTTP/1.1 Upgrade request, sent as the client's
//! first bytes; its 101 response is parsed with `httparse` and its
//! `Sec-WebSocket-Accept` checked. Only then do IRC lines go out, each one
//! masked text frame without its CRLF (RFC 6455 4.1: nothing is sent before
//! the server's handshake). Frame headers are formatted and parsed by
//! `tungstenite`, as the daemon does.
//!
//! Incoming frames are unwrapped in the engine's read buffer itself: each
//! data message becomes its payload and a CRLF, so the engine's line
//! reader sees what it sees over TCP. Nothing decoded is kept back (a
//! payload cut by a read goes on as the start of a line, which the line
//! reader keeps until the rest comes), so no bytes wait here unannounced
//! under edge-triggered readiness; only a header cut in two and a control
//! frame's payload are kept between reads. Pings are answered with pongs;
//! a close frame is answered and ends the connection with its code and
//! reason as the error.

use std::io::{self, Cursor, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;
use rustls::ClientConnection;
use tungstenite::handshake::client::generate_key;
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use crate::transport::{TlsClient, Transport, send_records, tls_read, tls_write};

/// The subprotocol asked for: text frames, one IRC line each.
const SUBPROTOCOL: &str = "text.ircv3.net";
/// Longest 101 response head taken.
const MAX_RESPONSE: usize = 8 * 1024;
/// Longest frame header: 2 bytes, a 64-bit length and a mask.
const MAX_HEADER: usize = 14;
/// Room the in-place decoding needs before the first raw byte; see
/// [`WebSocket::decode`].
const SLACK: usize = 2;

/// How every client of a run opens its WebSocket.
#[derive(Clone)]
pub struct WsClient {
    /// `host:port` of the web listener: the request's Host, and the host of
    /// its Origin, which groupchatd accepts with no `allowed_origins` set
    /// (a page from the daemon's own origin).
    authority: String,
    /// `--tls`: wss://, each client a TLS session under its frames.
    tls: Option<TlsClient>,
}

impl WsClient {
    pub fn new(server: SocketAddr, tls: Option<TlsClient>) -> WsClient {
        WsClient {
            authority: server.to_string(),
            tls,
        }
    }

    /// A new client's transport; its Upgrade request (and ClientHello)
    /// waits in it until the first write.
    pub fn transport(&self) -> Result<Transport, rustls::Error> {
        let tls = self.tls.as_ref().map(TlsClient::connection).transpose()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let key = generate_key();
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {host}\r\nOrigin: {scheme}://{host}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n",
            host = self.authority
        );
        let handshake = Handshake {
            accept: derive_accept_key(key.as_bytes()),
            response: Vec::new(),
        };
        let mut ws = WebSocket::new(Some(handshake), request.into_bytes());
        ws.tls = tls;
        Ok(Transport::WebSocket(Box::new(ws)))
    }
}

/// The opening handshake in progress.
struct Handshake {
    /// The `Sec-WebSocket-Accept` the server must answer with.
    accept: String,
    /// The response head read so far.
    response: Vec<u8>,
}

/// The server frame being read.
struct Frame {
    opcode: OpCode,
    is_final: bool,
    /// Payload bytes still to come.
    left: u64,
}

/// One client's WebSocket state.
pub struct WebSocket {
    /// wss://: the TLS session the frames go through.
    tls: Option<Box<ClientConnection>>,
    /// Until the 101 has arrived.
    handshake: Option<Handshake>,
    /// Bytes for the socket: the request, then frames (lines, pongs, the
    /// close reply); `out_pos` of them are sent.
    out: Vec<u8>,
    out_pos: usize,
    /// The start of a line the engine wrote without its LF yet.
    partial: Vec<u8>,
    /// Frames sent, from which each one's mask is made.
    frames: u32,
    /// The start of a frame header cut by a read, `kept` bytes of it.
    head: [u8; MAX_HEADER],
    kept: usize,
    frame: Option<Frame>,
    /// The payload of the control frame being read.
    control: Vec<u8>,
    /// The server's close frame arrived: its code and reason.
    closed: Option<String>,
}

impl WebSocket {
    fn new(handshake: Option<Handshake>, out: Vec<u8>) -> WebSocket {
        WebSocket {
            tls: None,
            handshake,
            out,
            out_pos: 0,
            partial: Vec::new(),
            frames: 0,
            head: [0; MAX_HEADER],
            kept: 0,
            frame: None,
            control: Vec::new(),
            closed: None,
        }
    }

    /// Reads IRC lines (CRLF-terminated): `Ok(0)` at the end, `WouldBlock`
    /// once the socket has nothing. `buf` must be longer than [`SLACK`].
    pub fn read(&mut self, sock: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(reason) = &self.closed {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    reason.clone(),
                ));
            }
            let raw = &mut buf[SLACK..];
            let n = match &mut self.tls {
                None => sock.read(raw)?,
                Some(conn) => tls_read(conn, sock, raw)?,
            };
            if n == 0 {
                if self.handshake.is_some() {
                    return Err(invalid("the server closed during the handshake"));
                }
                return Ok(0);
            }
            let end = match self.handshake.is_some() {
                true => match self.handshake_response(&mut buf[SLACK..], n)? {
                    Some(rest) => SLACK + rest,
                    None => continue,
                },
                false => SLACK + n,
            };
            let decoded = self.decode(buf, end)?;
            // Pongs and the close reply; what the socket does not take now
            // goes with the next write or writable event.
            self.send_out(sock)?;
            if decoded > 0 {
                return Ok(decoded);
            }
        }
    }

    /// Takes the `n` bytes at the start of `raw` as part of the response;
    /// once it is complete and accepted, moves what came after it (frames)
    /// to the start of `raw` and returns its length.
    fn handshake_response(&mut self, raw: &mut [u8], n: usize) -> io::Result<Option<usize>> {
        let Some(handshake) = &mut self.handshake else {
            return Ok(Some(n));
        };
        handshake.response.extend_from_slice(&raw[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let used = match response.parse(&handshake.response) {
            Ok(httparse::Status::Complete(used)) => used,
            Ok(httparse::Status::Partial) if handshake.response.len() < MAX_RESPONSE => {
                return Ok(None);
            }
            Ok(httparse::Status::Partial) => return Err(invalid("response head too long")),
            Err(e) => return Err(invalid(&format!("bad response: {e}"))),
        };
        if response.code != Some(101) {
            let status = format!(
                "HTTP {} {}",
                response.code.unwrap_or(0),
                response.reason.unwrap_or("")
            );
            return Err(invalid(&status));
        }
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .and_then(|h| std::str::from_utf8(h.value).ok())
        };
        if !header("Upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
            return Err(invalid("101 without Upgrade: websocket"));
        }
        if header("Sec-WebSocket-Accept") != Some(handshake.accept.as_str()) {
            return Err(invalid("wrong Sec-WebSocket-Accept"));
        }
        if header("Sec-WebSocket-Protocol") != Some(SUBPROTOCOL) {
            return Err(invalid("the server did not choose text.ircv3.net"));
        }
        let rest = &handshake.response[used..];
        raw[..rest.len()].copy_from_slice(rest);
        let len = rest.len();
        self.handshake = None;
        Ok(Some(len))
    }

    /// Decodes the frames in `buf[SLACK..end]` in place into IRC lines at
    /// the start of `buf`; returns their length.
    ///
    /// The output never overtakes the input: every frame whose header is in
    /// this read gives back at least the 2 bytes of its header before it
    /// adds a CRLF, and only the first frame can have had its header (or
    /// part of it) in the read before, which costs at most the 2 bytes of
    /// [`SLACK`].
    fn decode(&mut self, buf: &mut [u8], end: usize) -> io::Result<usize> {
        let (mut read, mut written) = (SLACK, 0);
        while read < end && self.closed.is_none() {
            if self.frame.is_none() {
                read += self.read_header(&buf[read..end])?;
            }
            let Some(frame) = &mut self.frame else {
                continue;
            };
            let take = (end - read).min(usize::try_from(frame.left).unwrap_or(usize::MAX));
            match frame.opcode {
                OpCode::Control(_) => self.control.extend_from_slice(&buf[read..read + take]),
                OpCode::Data(_) => {
                    buf.copy_within(read..read + take, written);
                    written += take;
                }
            }
            read += take;
            frame.left -= take as u64;
            if frame.left > 0 {
                continue;
            }
            let (opcode, is_final) = (frame.opcode, frame.is_final);
            self.frame = None;
            match opcode {
                OpCode::Data(_) if is_final => {
                    buf[written..written + 2].copy_from_slice(b"\r\n");
                    written += 2;
                }
                OpCode::Data(_) => {}
                OpCode::Control(control) => self.finish_control(control)?,
            }
        }
        Ok(written)
    }

    /// Reads a frame header from the start of `data` (after any part kept
    /// from the read before); returns the bytes of `data` it took.
    fn read_header(&mut self, data: &[u8]) -> io::Result<usize> {
        let kept = self.kept;
        // A header is at most MAX_HEADER bytes, so this completes any.
        let add = data.len().min(MAX_HEADER - kept);
        let parsed = if kept == 0 {
            FrameHeader::parse(&mut Cursor::new(data))
        } else {
            self.head[kept..kept + add].copy_from_slice(&data[..add]);
            FrameHeader::parse(&mut Cursor::new(&self.head[..kept + add]))
        };
        match parsed {
            Err(e) => Err(invalid(&format!("bad frame header: {e}"))),
            // Still short of a whole header, so all of `data` fits.
            Ok(None) => {
                if kept == 0 {
                    self.head[..add].copy_from_slice(&data[..add]);
                }
                self.kept = kept + add;
                Ok(add)
            }
            Ok(Some((header, length))) => {
                self.kept = 0;
                if header.mask.is_some() || header.rsv1 || header.rsv2 || header.rsv3 {
                    return Err(invalid("masked or reserved bits in a server frame"));
                }
                if matches!(
                    header.opcode,
                    OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_))
                ) {
                    return Err(invalid("reserved opcode"));
                }
                self.frame = Some(Frame {
                    opcode: header.opcode,
                    is_final: header.is_final,
                    left: length,
                });
                Ok(header.len(length) - kept)
            }
        }
    }

    /// A control frame's payload is complete: answers a ping, takes a close.
    fn finish_control(&mut self, control: Control) -> io::Result<()> {
        let payload = std::mem::take(&mut self.control);
        match control {
            Control::Ping => self.queue_frame(OpCode::Control(Control::Pong), &payload)?,
            Control::Close => {
                let why = match payload.as_slice() {
                    [high, low, reason @ ..] => {
                        let code = u16::from_be_bytes([*high, *low]);
                        match String::from_utf8_lossy(reason) {
                            reason if reason.is_empty() => code.to_string(),
                            reason => format!("{code} ({reason})"),
                        }
                    }
                    _ => "no code".to_owned(),
                };
                // The close handshake: our close frame echoes the code.
                let echo = payload.get(..2).unwrap_or(&[]);
                self.queue_frame(OpCode::Control(Control::Close), echo)?;
                self.closed = Some(format!("WebSocket closed by the server: {why}"));
            }
            Control::Pong | Control::Reserved(_) => {}
        }
        Ok(())
    }

    /// Takes IRC line bytes (any cut); `WouldBlock` when nothing could be
    /// taken: before the handshake has ended, and while frames from before
    /// are still above the kernel, so that what waits here stays small and
    /// a message's timestamp is still taken just before the kernel gets it.
    pub fn write(&mut self, sock: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
        if !self.send_out(sock)? || self.handshake.is_some() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut rest = data;
        while let Some(lf) = rest.iter().position(|&b| b == b'\n') {
            let piece = &rest[..lf];
            rest = &rest[lf + 1..];
            if self.partial.is_empty() {
                self.queue_line(piece)?;
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(piece);
                self.queue_line(&line)?;
                line.clear();
                self.partial = line;
            }
        }
        self.partial.extend_from_slice(rest);
        self.send_out(sock)?;
        Ok(data.len())
    }

    /// Queues one line (without its LF) as a text frame.
    fn queue_line(&mut self, line: &[u8]) -> io::Result<()> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.queue_frame(OpCode::Data(Data::Text), line)
    }

    /// Queues one masked frame.
    fn queue_frame(&mut self, opcode: OpCode, payload: &[u8]) -> io::Result<()> {
        // Masks only need to vary between frames here: their
        // unpredictability protects proxies from a hostile page's bytes,
        // and on loopback there is none. The server unmasks as it would
        // for a browser.
        self.frames = self.frames.wrapping_add(1);
        let mask = self.frames.wrapping_mul(0x9e37_79b9).to_be_bytes();
        let header = FrameHeader {
            opcode,
            mask: Some(mask),
            ..FrameHeader::default()
        };
        header
            .format(payload.len() as u64, &mut self.out)
            .map_err(io::Error::other)?;
        let start = self.out.len();
        self.out.extend_from_slice(payload);
        for (i, byte) in self.out[start..].iter_mut().enumerate() {
            *byte ^= mask[i & 3];
        }
        Ok(())
    }

    /// Writes queued bytes until none is left (true) or the socket is full
    /// (false).
    pub fn send_out(&mut self, sock: &mut TcpStream) -> io::Result<bool> {
        while self.out_pos < self.out.len() {
            let bytes = &self.out[self.out_pos..];
            let written = match &mut self.tls {
                None => sock.write(bytes),
                Some(conn) => tls_write(conn, sock, bytes),
            };
            match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        match &mut self.tls {
            None => Ok(true),
            Some(conn) => send_records(conn, sock),
        }
    }

    /// Output taken but not yet handed to the kernel.
    pub fn holds_output(&self) -> bool {
        self.out_pos < self.out.len() || self.tls.as_ref().is_some_and(|c| c.wants_write())
    }

    /// The TLS session under the frames (wss://).
    pub fn tls(&self) -> Option<&ClientConnection> {
        self.tls.as_deref()
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("WebSocket: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unmasked server frame.
    fn frame(opcode: OpCode, is_final: bool, payload: &[u8]) -> Vec<u8> {
        let header = FrameHeader {
            opcode,
            is_final,
            ..FrameHeader::default()
        };
        let mut out = Vec::new();
        header
            .format(payload.len() as u64, &mut out)
            .expect("format");
        out.extend_from_slice(payload);
        out
    }

    const TEXT: OpCode = OpCode::Data(Data::Text);

    #[test]
    fn frames_become_lines_however_the_reads_cut_them() {
        let long = vec![b'x'; 70_000];
        let mut input = frame(TEXT, true, b":a PRIVMSG #b :hi");
        input.extend(frame(TEXT, true, b""));
        input.extend(frame(TEXT, false, b":a PRIVMSG #b :fra"));
        input.extend(frame(
            OpCode::Control(Control::Ping),
            true,
            b"are you there",
        ));
        input.extend(frame(OpCode::Data(Data::Continue), true, b"gmented"));
        input.extend(frame(OpCode::Data(Data::Binary), true, &[b'y'; 300]));
        input.extend(frame(TEXT, true, &long));
        input.extend(frame(OpCode::Control(Control::Close), true, b"\x03\xe8bye"));
        input.extend(frame(TEXT, true, b"after the close: not read"));
        let expected = [
            &b":a PRIVMSG #b :hi\r\n\r\n:a PRIVMSG #b :fragmented\r\n"[..],
            &[b'y'; 300],
            b"\r\n",
            &long,
            b"\r\n",
        ]
        .concat();
        for cut in [1, 2, 3, 7, 13, 1000, input.len()] {
            let mut ws = WebSocket::new(None, Vec::new());
            let mut lines = Vec::new();
            let mut buf = vec![0; SLACK + cut];
            for piece in input.chunks(cut) {
                buf[SLACK..SLACK + piece.len()].copy_from_slice(piece);
                let n = ws.decode(&mut buf, SLACK + piece.len()).expect("decode");
                lines.extend_from_slice(&buf[..n]);
            }
            assert_eq!(lines, expected, "cut {cut}");
            assert_eq!(
                ws.closed.as_deref(),
                Some("WebSocket closed by the server: 1000 (bye)")
            );
            // A masked pong with the ping's payload, then the close reply.
            let mut replies = ws.out.as_slice();
            for (opcode, payload) in [
                (Control::Pong, &b"are you there"[..]),
                (Control::Close, b"\x03\xe8"),
            ] {
                let (header, length) = FrameHeader::parse(&mut Cursor::new(replies))
                    .expect("parse")
                    .expect("a whole header");
                assert_eq!(header.opcode, OpCode::Control(opcode));
                let start = header.len(length);
                let mask = header.mask.expect("masked");
                let body: Vec<u8> = replies[start..start + payload.len()]
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ mask[i & 3])
                    .collect();
                assert_eq!(body, payload);
                replies = &replies[start + payload.len()..];
            }
            assert!(replies.is_empty());
        }
    }

    #[test]
    fn a_masked_server_frame_is_refused() {
        let mut ws = WebSocket::new(None, Vec::new());
        let mut buf = vec![0; SLACK];
        buf.extend_from_slice(&[0x81, 0x81, 1, 2, 3, 4, b'x']);
        let end = buf.len();
        let err = ws.decode(&mut buf, end).expect_err("masked");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
