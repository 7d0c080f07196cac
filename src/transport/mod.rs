//! Transports: what sits between a connection's socket and its line
//! framing. The reactor reads plaintext from a transport and hands it the
//! connection's write queue; above this layer nothing knows whether a
//! client speaks plain TCP or TLS.

pub mod certs;
mod tls;

pub use tls::{TlsFailure, TlsSession};

use crate::outqueue::OutQueue;
use mio::net::TcpStream;
use socket2::SockRef;
use std::io::{self, IoSlice, Read, Write};

pub enum Transport {
    Plain,
    /// Boxed: a rustls session is large next to the rest of a connection.
    Tls(Box<TlsSession>),
}

/// What one write pass did: the bytes the socket took (for the traffic
/// counters) and the first error other than would-block. Both are kept,
/// because a pass can take bytes and then fail.
pub struct Written {
    pub sent: usize,
    pub result: io::Result<()>,
}

impl Transport {
    /// Reads plaintext into `buf`. `Ok(0)` is the end of the stream;
    /// `WouldBlock` means the socket has nothing more for now, and only
    /// then: a TLS session hands out everything it has decrypted first,
    /// because readiness is edge-triggered and would not come again for it.
    pub fn read(&mut self, stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain => (&*stream).read(buf),
            Transport::Tls(session) => session.read(&mut Socket::new(stream), buf),
        }
    }

    /// Writes as much of `queue` as the socket takes, many lines per call.
    pub fn write(&mut self, stream: &TcpStream, queue: &mut OutQueue) -> Written {
        let mut socket = Socket::new(stream);
        let result = match self {
            Transport::Plain => queue.write_to(&mut socket),
            Transport::Tls(session) => session.write(&mut socket, queue),
        };
        Written {
            sent: socket.sent,
            result,
        }
    }

    /// Bytes held below the queue: ciphertext the socket has not taken.
    pub fn held(&self) -> usize {
        match self {
            Transport::Plain => 0,
            Transport::Tls(session) => session.held(),
        }
    }

    /// False while a TLS handshake is going on: lines wait in the queue.
    pub fn carries_lines(&self) -> bool {
        match self {
            Transport::Plain => true,
            Transport::Tls(session) => !session.is_handshaking(),
        }
    }

    /// Ends the session politely before our side of the socket is shut:
    /// TLS seals `close_notify`, which the next write sends.
    pub fn close(&mut self) {
        if let Transport::Tls(session) = self {
            session.close();
        }
    }

    /// `TLSv1_3 TLS13_AES_128_GCM_SHA256`, or `None` for plain.
    pub fn describe(&self) -> Option<String> {
        match self {
            Transport::Plain => None,
            Transport::Tls(session) => session.describe(),
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
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
