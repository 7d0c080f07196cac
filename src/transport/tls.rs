//! One client's TLS session inside the event loop: rustls's unbuffered
//! server connection, driven sans-IO, with no thread and no blocking call.
//!
//! The unbuffered API leaves every buffer to us, which is what lets an idle
//! session hold none: socket reads land in one scratch buffer shared by the
//! whole loop, and only the tail of an unfinished record is kept per
//! connection, as the line framer keeps only an unfinished line. Output is
//! sealed into a buffer of the connection's own that is freed as soon as the
//! socket has taken it, so the bytes held below the write queue are known
//! exactly (the output limits count them).

use super::{Plaintext, Unread, Unsent};
use rustls::ServerConfig;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;

/// Ciphertext sealed before it is handed to the socket in one `send`: a
/// few records' worth, so a long queue is not encrypted far ahead of what
/// the socket can take.
const SEAL_AHEAD: usize = 64 * 1024;
/// One socket read: a whole record of the largest size (16 KiB of payload
/// plus header, tag and padding) fits.
const READ_SIZE: usize = 16 * 1024 + 2048;
/// Room for a record's header, tag and content type, per record.
const RECORD_OVERHEAD: usize = 64;

thread_local! {
    /// Shared by every session of the loop's thread: what a socket read
    /// brought, and the lines gathered for one encryption.
    static SCRATCH: RefCell<(Box<[u8]>, Vec<u8>)> =
        RefCell::new((vec![0; READ_SIZE].into_boxed_slice(), Vec::new()));
}

pub struct TlsSession {
    conn: UnbufferedServerConnection,
    /// The start of a record not complete yet; empty between records.
    incoming: Vec<u8>,
    /// Plaintext decrypted and not handed out yet.
    plain: Unread,
    /// The peer sent close_notify: the end of its stream.
    peer_closed: bool,
    /// Ciphertext waiting for the socket; `out[sent..]` is still to go.
    out: Unsent,
}

/// A TLS protocol failure, as the error of a read or write.
#[derive(Debug)]
pub struct TlsFailure(pub String);

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS error: {}", self.0)
    }
}

impl std::error::Error for TlsFailure {}

fn failure(error: impl fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, TlsFailure(error.to_string()))
}

/// Where rustls stopped.
#[derive(PartialEq)]
enum Stop {
    /// It needs more bytes from the peer (in the handshake, or for the next
    /// record).
    NeedData,
    /// The handshake is done and nothing else is pending: application data
    /// may be sealed.
    Writable,
}

impl TlsSession {
    pub fn new(config: Arc<ServerConfig>) -> Result<TlsSession, rustls::Error> {
        Ok(TlsSession {
            conn: UnbufferedServerConnection::new(config)?,
            incoming: Vec::new(),
            plain: Unread::default(),
            peer_closed: false,
            out: Unsent::default(),
        })
    }

    /// Reads plaintext into `buf`: first what is already decrypted, then
    /// from the socket, until there is some, the stream ends (`Ok(0)`), or
    /// the socket would block (`WouldBlock`, and only then).
    pub fn read(&mut self, socket: &mut (impl Read + Write), buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(n) = self.plain.take_into(buf) {
                return Ok(n);
            }
            if self.peer_closed {
                return Ok(0);
            }
            SCRATCH.with(|scratch| {
                let (read_buffer, _) = &mut *scratch.borrow_mut();
                let n = socket.read(read_buffer)?;
                if n == 0 {
                    // The peer closed, maybe in the middle of a record.
                    self.peer_closed = true;
                    return Ok(());
                }
                let result = if self.incoming.is_empty() {
                    let data = &mut read_buffer[..n];
                    let used = self.process(data);
                    if let Ok(used) = used {
                        self.incoming.extend_from_slice(&data[used..]);
                    }
                    used.map(drop)
                } else {
                    let mut data = std::mem::take(&mut self.incoming);
                    data.extend_from_slice(&read_buffer[..n]);
                    let used = self.process(&mut data);
                    if let Ok(used) = used {
                        data.drain(..used);
                        if !data.is_empty() {
                            self.incoming = data;
                        }
                    }
                    used.map(drop)
                };
                result.map_err(|e| {
                    self.seal_alerts();
                    let _ = self.send(socket);
                    failure(e)
                })
            })?;
        }
    }

    /// Runs rustls over `data` (received ciphertext): handshake messages
    /// and alerts it makes are sealed into `out`, the plaintext it decrypts
    /// goes to `plain`. Returns how many bytes of `data` it used up.
    fn process(&mut self, data: &mut [u8]) -> Result<usize, rustls::Error> {
        let mut used = 0;
        self.drive(data, &mut used).map(|_| used)
    }

    /// Drives rustls until it needs more data or may send application
    /// data; counts in `used` the bytes of `data` it is done with.
    fn drive(&mut self, data: &mut [u8], used: &mut usize) -> Result<Stop, rustls::Error> {
        loop {
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(&mut data[*used..]);
            *used += discard;
            match state? {
                ConnectionState::ReadTraffic(mut records) => {
                    while let Some(record) = records.next_record() {
                        let record = record?;
                        self.plain.bytes().extend_from_slice(record.payload);
                        *used += record.discard;
                    }
                }
                ConnectionState::EncodeTlsData(mut message) => {
                    append(self.out.bytes(), RECORD_OVERHEAD, |buf| {
                        message.encode(buf).map_err(|e| match e {
                            EncodeError::InsufficientSize(size) => Some(size.required_size),
                            EncodeError::AlreadyEncoded => None,
                        })
                    });
                }
                // Sent by the next write, after everything sealed before.
                ConnectionState::TransmitTlsData(transmit) => transmit.done(),
                ConnectionState::PeerClosed => self.peer_closed = true,
                ConnectionState::WriteTraffic(_) => return Ok(Stop::Writable),
                _ => return Ok(Stop::NeedData),
            }
        }
    }

    /// After a failure rustls has an alert for the peer: seals it.
    fn seal_alerts(&mut self) {
        let _ = self.drive(&mut [], &mut 0);
    }

    /// Sends what is sealed, then seals and sends the queue's lines (or
    /// what the layer above makes of them), until the socket would block
    /// or the queue is empty. Lines wait in the queue while the handshake
    /// goes on.
    pub fn write(&mut self, socket: &mut impl Write, queue: &mut impl Plaintext) -> io::Result<()> {
        loop {
            if !self.send(socket)? || queue.is_empty() {
                return Ok(());
            }
            if self.drive(&mut [], &mut 0).map_err(failure)? != Stop::Writable {
                // Still in the handshake; send what it made.
                self.send(socket)?;
                return Ok(());
            }
            self.seal(queue)?;
        }
    }

    /// Encrypts lines from the front of the queue into `out`, many lines
    /// to a record, up to [`SEAL_AHEAD`]; the next write sends them.
    pub fn seal(&mut self, queue: &mut impl Plaintext) -> io::Result<()> {
        let status = self.conn.process_tls_records(&mut []);
        let Ok(ConnectionState::WriteTraffic(mut traffic)) = status.state else {
            return Ok(());
        };
        SCRATCH.with(|scratch| {
            let (_, lines) = &mut *scratch.borrow_mut();
            while self.out.held() < SEAL_AHEAD && !queue.is_empty() {
                lines.clear();
                queue.take_into(lines)?;
                let records = lines.len() / (16 * 1024) + 1;
                let sealed = append(
                    self.out.bytes(),
                    lines.len() + records * RECORD_OVERHEAD,
                    |buf| traffic.encrypt(&lines[..], buf).map_err(room_needed),
                );
                if !sealed {
                    return Err(failure("the connection's keys are used up"));
                }
            }
            Ok(())
        })
    }

    /// Sends sealed bytes; true once all are gone, false if the socket
    /// would block first.
    fn send(&mut self, socket: &mut impl Write) -> io::Result<bool> {
        self.out.send(socket)
    }

    pub fn held(&self) -> usize {
        self.out.held()
    }

    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Seals `close_notify` behind what is queued; the next write sends it.
    pub fn close(&mut self) {
        if let Ok(ConnectionState::WriteTraffic(mut traffic)) =
            self.conn.process_tls_records(&mut []).state
        {
            append(self.out.bytes(), RECORD_OVERHEAD, |buf| {
                traffic.queue_close_notify(buf).map_err(room_needed)
            });
        }
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

/// The room an encryption said it needs, or `None` if room is not why it
/// failed (the connection's keys are used up).
fn room_needed(error: EncryptError) -> Option<usize> {
    match error {
        EncryptError::InsufficientSize(size) => Some(size.required_size),
        EncryptError::EncryptExhausted => None,
    }
}

/// Appends what `fill` writes to `out`, giving it `guess` bytes of room,
/// or as many as it says it needs (`Err(Some(n))`). False if it failed.
fn append(
    out: &mut Vec<u8>,
    guess: usize,
    mut fill: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>,
) -> bool {
    let start = out.len();
    let mut room = guess;
    loop {
        out.resize(start + room, 0);
        match fill(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return true;
            }
            Err(Some(needed)) if needed > room => room = needed,
            Err(_) => {
                out.truncate(start);
                return false;
            }
        }
    }
}
