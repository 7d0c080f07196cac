//! One client's TLS session inside the event loop: rustls's
//! `ServerConnection` driven sans-IO, with no thread and no blocking call.
//!
//! Ciphertext rustls makes is moved at once into a buffer of our own, so the
//! bytes held below the write queue are known exactly (the output limits
//! count them) and are freed as soon as the socket has taken them.

use super::SocketWriter;
use crate::outqueue::OutQueue;
use mio::net::TcpStream;
use rustls::{ServerConfig, ServerConnection};
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;

/// Ciphertext sealed before it is handed to the socket in one `send`: a
/// few records' worth, so a long queue is not encrypted far ahead of what
/// the socket can take.
const SEAL_AHEAD: usize = 64 * 1024;

pub struct TlsSession {
    conn: ServerConnection,
    /// Ciphertext waiting for the socket; `out[sent..]` is still to go.
    out: Vec<u8>,
    sent: usize,
}

/// A TLS protocol failure, as the error of a read.
#[derive(Debug)]
pub struct TlsFailure(pub rustls::Error);

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS error: {}", self.0)
    }
}

impl std::error::Error for TlsFailure {}

impl TlsSession {
    pub fn new(config: Arc<ServerConfig>) -> Result<TlsSession, rustls::Error> {
        Ok(TlsSession {
            conn: ServerConnection::new(config)?,
            out: Vec::new(),
            sent: 0,
        })
    }

    /// Reads plaintext into `buf`, reading and decrypting records from the
    /// socket only when rustls has no plaintext left to hand out.
    pub fn read(&mut self, stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                // `Ok(0)`: the peer sent close_notify.
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if self.conn.read_tls(&mut &*stream)? == 0 {
                return Ok(0);
            }
            let processed = self.conn.process_new_packets();
            // Handshake messages, key updates or the alert for a failure.
            self.seal();
            if let Err(e) = processed {
                let _ = self.send(&mut SocketWriter::new(stream));
                return Err(io::Error::new(io::ErrorKind::InvalidData, TlsFailure(e)));
            }
        }
    }

    /// Sends what is sealed, then seals and sends the queue's lines, until
    /// the socket would block or the queue is empty.
    pub fn write(&mut self, socket: &mut SocketWriter, queue: &mut OutQueue) -> io::Result<()> {
        loop {
            if !self.send(socket)? {
                return Ok(());
            }
            if queue.is_empty() || self.conn.is_handshaking() {
                return Ok(());
            }
            while self.out.len() < SEAL_AHEAD && !queue.is_empty() {
                let taken = queue.write_once(&mut self.conn.writer())?;
                self.seal();
                if taken == 0 {
                    break;
                }
            }
        }
    }

    /// Sends sealed bytes; true once all are gone, false if the socket
    /// would block first.
    fn send(&mut self, socket: &mut SocketWriter) -> io::Result<bool> {
        while self.sent < self.out.len() {
            match socket.write(&self.out[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Freed, not kept: an idle client holds no output buffer.
        self.out = Vec::new();
        self.sent = 0;
        Ok(true)
    }

    /// Moves whatever rustls has to send into `out`.
    fn seal(&mut self) {
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut self.out).is_err() {
                break;
            }
        }
    }

    pub fn held(&self) -> usize {
        self.out.len() - self.sent
    }

    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Queues `close_notify` and sends what the socket takes now.
    pub fn close(&mut self, socket: &mut SocketWriter) {
        self.conn.send_close_notify();
        self.seal();
        let _ = self.send(socket);
    }

    pub fn describe(&self) -> Option<String> {
        let version = self.conn.protocol_version()?;
        let suite = self.conn.negotiated_cipher_suite()?;
        Some(format!(
            "{} {}",
            version.as_str().unwrap_or("TLS"),
            suite.suite().as_str().unwrap_or("unknown")
        ))
    }
}
