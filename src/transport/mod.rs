//! Transports: what sits between a connection's socket and its line
//! framing. The reactor reads plaintext from a transport and hands it the
//! connection's write queue; above this layer nothing knows whether a
//! client speaks plain TCP, TLS, or WebSocket over either.
//!
//! Two layers compose: the byte stream (the socket, or a TLS session's
//! plaintext) and, on web listeners, the HTTP/WebSocket layer above it.

pub mod certs;
mod tls;
mod web;

pub use tls::{TlsFailure, TlsSession};
pub use web::{Arrived, WebSession};

use crate::outqueue::OutQueue;
use crate::stats::DisconnectReason;
use mio::net::TcpStream;
use socket2::SockRef;
use std::io::{self, IoSlice, Read, Write};
use web::Framed;

/// Where a TLS session takes the plaintext it seals: the write queue's
/// lines, or the WebSocket frames made of them.
pub trait Plaintext {
    fn is_empty(&self) -> bool;
    /// Appends the next batch of bytes to `buf`, taking them out.
    fn take_into(&mut self, buf: &mut Vec<u8>) -> io::Result<()>;
}

pub struct Transport {
    /// Boxed: a rustls session is large next to the rest of a connection.
    tls: Option<Box<TlsSession>>,
    web: Option<Box<WebSession>>,
}

/// Bytes a layer decoded ahead of the framer (TLS plaintext, WebSocket
/// lines) and has not handed out yet. Freed once all is handed out, so an
/// idle connection holds no buffer.
#[derive(Default)]
pub struct Unread {
    bytes: Vec<u8>,
    taken: usize,
}

impl Unread {
    /// Where decoded bytes are appended.
    pub fn bytes(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// Copies as much as fits into `buf`; `None` when nothing is left.
    pub fn take_into(&mut self, buf: &mut [u8]) -> Option<usize> {
        let left = self.bytes.get(self.taken..).filter(|l| !l.is_empty())?;
        let n = buf.len().min(left.len());
        buf[..n].copy_from_slice(&left[..n]);
        self.taken += n;
        if self.taken == self.bytes.len() {
            *self = Unread::default();
        }
        Some(n)
    }
}

/// Bytes a layer made for the socket (TLS records, HTTP responses,
/// WebSocket control frames) and the socket has not taken yet. Freed once
/// sent, so an idle connection holds no output buffer, and always known
/// exactly (the output limits count it).
#[derive(Default)]
pub struct Unsent {
    bytes: Vec<u8>,
    sent: usize,
}

impl Unsent {
    /// Where new bytes are appended.
    pub fn bytes(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// Bytes not sent yet.
    pub fn held(&self) -> usize {
        self.bytes.len() - self.sent
    }

    /// Moves what is held to the end of `buf` (to go out through another
    /// layer, e.g. sealed by TLS).
    pub fn move_into(&mut self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.bytes[self.sent..]);
        *self = Unsent::default();
    }

    /// Sends what is held; true once all is gone, false if the socket would
    /// block first.
    pub fn send(&mut self, socket: &mut impl Write) -> io::Result<bool> {
        while self.sent < self.bytes.len() {
            match socket.write(&self.bytes[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        *self = Unsent::default();
        Ok(true)
    }
}

/// What one write pass did: the bytes the socket took (for the traffic
/// counters) and the first error other than would-block. Both are kept,
/// because a pass can take bytes and then fail.
pub struct Written {
    pub sent: usize,
    pub result: io::Result<()>,
}

impl Transport {
    pub fn plain() -> Transport {
        Transport {
            tls: None,
            web: None,
        }
    }

    pub fn tls(session: TlsSession) -> Transport {
        Transport {
            tls: Some(Box::new(session)),
            web: None,
        }
    }

    /// The same byte stream, carrying HTTP and then WebSocket.
    pub fn with_web(self, web: WebSession) -> Transport {
        Transport {
            web: Some(Box::new(web)),
            ..self
        }
    }

    /// Reads plaintext into `buf`. `Ok(0)` is the end of the stream;
    /// `WouldBlock` means the socket has nothing more for now, and only
    /// then: a TLS session hands out everything it has decrypted first,
    /// because readiness is edge-triggered and would not come again for it.
    /// (A web connection's request phase is the exception: it stops with
    /// `WouldBlock` once its request has arrived.)
    pub fn read(&mut self, stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        let mut socket = Socket::new(stream);
        let Some(web) = &mut self.web else {
            return match &mut self.tls {
                None => socket.read(buf),
                Some(tls) => tls.read(&mut socket, buf),
            };
        };
        let result = match &mut self.tls {
            None => web.read(&mut socket, buf),
            Some(tls) => web.read(
                &mut Decrypted {
                    tls,
                    socket: &mut socket,
                },
                buf,
            ),
        };
        let ending = match &result {
            Ok(n) => *n == 0,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ),
        };
        if ending {
            // The close frame answering the peer's, or saying why we end:
            // sent now if the socket takes it, as the connection is going.
            let _ = self.write_to(&mut socket, &mut OutQueue::default());
        }
        result
    }

    /// Writes as much of `queue` as the socket takes, many lines per call.
    pub fn write(&mut self, stream: &TcpStream, queue: &mut OutQueue) -> Written {
        let mut socket = Socket::new(stream);
        let result = self.write_to(&mut socket, queue);
        Written {
            sent: socket.sent,
            result,
        }
    }

    fn write_to(&mut self, socket: &mut Socket<'_>, queue: &mut OutQueue) -> io::Result<()> {
        match (&mut self.tls, &mut self.web) {
            (None, None) => queue.write_to(socket),
            (Some(tls), None) => tls.write(socket, queue),
            (None, Some(web)) => web.write(socket, queue),
            (Some(tls), Some(web)) => tls.write(socket, &mut Framed { web, queue }),
        }
    }

    /// Bytes held below the queue: ciphertext the socket has not taken,
    /// and HTTP or WebSocket bytes not sealed or sent yet.
    pub fn held(&self) -> usize {
        self.tls.as_ref().map_or(0, |t| t.held()) + self.web.as_ref().map_or(0, |w| w.held())
    }

    /// False while a TLS handshake is going on: lines wait in the queue.
    pub fn carries_lines(&self) -> bool {
        self.tls.as_ref().is_none_or(|t| !t.is_handshaking())
    }

    /// Ends the session politely before our side of the socket is shut,
    /// after what `queue` holds: a WebSocket close frame, then TLS
    /// `close_notify`; the next write sends them.
    pub fn close(&mut self, queue: &mut OutQueue) {
        if let Some(web) = &mut self.web {
            web.close();
        }
        if let Some(tls) = &mut self.tls {
            if let Some(web) = &mut self.web {
                // The close frame is sealed before close_notify.
                let _ = tls.seal(&mut Framed { web, queue });
            }
            tls.close();
        }
    }

    /// Why the hub let the client go, for the WebSocket close code.
    pub fn set_close_reason(&mut self, why: DisconnectReason) {
        if let Some(web) = &mut self.web {
            web.set_close_reason(why);
        }
    }

    /// `TLSv1_3 TLS13_AES_128_GCM_SHA256`, or `None` without TLS.
    pub fn describe(&self) -> Option<String> {
        self.tls.as_ref().and_then(|t| t.describe())
    }

    /// For `groupchatctl clients`: `plain`, the TLS description, `ws`,
    /// or `wss` and the TLS description.
    pub fn name(&self) -> String {
        match (self.describe(), self.is_websocket()) {
            (None, false) => "plain".into(),
            (Some(tls), false) => tls,
            (None, true) => "ws".into(),
            (Some(tls), true) => format!("wss {tls}"),
        }
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Upgraded to WebSocket: an IRC client like any other.
    pub fn is_websocket(&self) -> bool {
        self.web.as_ref().is_some_and(|w| !w.is_http())
    }

    /// A web listener's connection that has not upgraded (yet).
    pub fn is_http(&self) -> bool {
        self.web.as_ref().is_some_and(|w| w.is_http())
    }

    /// The HTTP/WebSocket layer of a web listener's connection.
    pub fn web(&mut self) -> Option<&mut WebSession> {
        self.web.as_deref_mut()
    }
}

/// A TLS session's plaintext, as the layer above reads it.
struct Decrypted<'a, 'b> {
    tls: &'a mut TlsSession,
    socket: &'a mut Socket<'b>,
}

impl Read for Decrypted<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tls.read(self.socket, buf)
    }
}

/// A connection's socket as a transport reads and writes it. Writes with
/// `send`/`sendmsg` rather than `write`/`writev`: straight into the socket
/// layer, skipping the file layer's position lock and checks. At low
/// message rates every delivery is one call, so the cheaper entry shows
/// (about 8% less CPU per delivery, measured in BENCHMARKS.md). Counts what
/// the socket took, whatever happens after.
pub struct Socket<'a> {
    socket: SockRef<'a>,
    pub sent: usize,
}

impl<'a> Socket<'a> {
    pub fn new(stream: &'a TcpStream) -> Socket<'a> {
        Socket {
            socket: SockRef::from(stream),
            sent: 0,
        }
    }
}

impl Read for Socket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.socket).read(buf)
    }
}

impl Write for Socket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.socket.send_with_flags(buf, libc::MSG_NOSIGNAL)?;
        self.sent += n;
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match bufs {
            [one] => self.write(one),
            _ => {
                let n = self
                    .socket
                    .send_vectored_with_flags(bufs, libc::MSG_NOSIGNAL)?;
                self.sent += n;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
