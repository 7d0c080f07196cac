//! The byte stream to the server, plain TCP or TLS, cut into the two halves
//! the client's threads use: the connection's reader thread reads, the main
//! thread writes.
//!
//! Plain TCP splits with `try_clone`. A TLS session cannot be cloned: both
//! directions share one `rustls::ClientConnection` (keys, sequence numbers).
//! So each half keeps its own clone of the socket and the session sits
//! behind a mutex that is held only for work in memory and for writes: the
//! reader waits for the server's bytes *without* the lock, then takes it to
//! decrypt them. The main thread therefore never waits for the server to
//! speak before it can send, and there is no polling. TLS records reach the
//! socket in the order rustls made them because every socket write happens
//! under the lock. The price: a write stuck on a full socket holds the lock,
//! so reading waits with it, which takes a server that stops reading our
//! short lines altogether. (Alternatives were worse: a mutex around a
//! `StreamOwned` makes every send wait for the reader's read timeout, and a
//! reader thread that also writes needs a wake-up channel and `poll`.)
//!
//! Before anything is sent, [`Dialer::dial`] finishes the TLS handshake, so a
//! server that fails verification gets nothing from us, not even NICK.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, ClientConnection, RootCertStore};

use crate::server::Server;

/// For the TCP connect and, separately, for the TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection, ready for IRC lines.
pub struct Link {
    pub reader: Box<dyn Read + Send>,
    pub writer: Box<dyn Write + Send>,
    /// The socket under both halves, for its read timeout (shared by all
    /// clones) and to shut it down.
    pub socket: TcpStream,
}

/// Connects to one server, the same way on every reconnect.
pub struct Dialer {
    addr: String,
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

impl Dialer {
    /// Prepares TLS when `server` wants it: the system's trusted roots, or
    /// only the certificates in the PEM file `ca`.
    pub fn new(server: &Server, ca: Option<&Path>) -> Result<Dialer, String> {
        let tls = if server.tls {
            let name = ServerName::try_from(server.host.clone())
                .map_err(|_| format!("{}: not a host name TLS can verify", server.host))?;
            Some((client_config(ca)?, name))
        } else {
            None
        };
        Ok(Dialer {
            addr: server.addr(),
            tls,
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn dial(&self) -> Result<Link, DialError> {
        let error = |stage| {
            let addr = self.addr.clone();
            move |error| DialError { addr, stage, error }
        };
        let socket = connect(&self.addr).map_err(error(Stage::Connect))?;
        match &self.tls {
            None => Ok(Link {
                reader: Box::new(socket.try_clone().map_err(error(Stage::Connect))?),
                writer: Box::new(socket.try_clone().map_err(error(Stage::Connect))?),
                socket,
            }),
            Some((config, name)) => {
                let session = handshake(&socket, config, name).map_err(error(Stage::Tls))?;
                let session = Arc::new(Mutex::new(session));
                Ok(Link {
                    reader: Box::new(TlsReader {
                        session: Arc::clone(&session),
                        socket: socket.try_clone().map_err(error(Stage::Tls))?,
                        cipher: vec![0; 16 * 1024],
                        start: 0,
                        end: 0,
                    }),
                    writer: Box::new(TlsWriter {
                        session,
                        socket: socket.try_clone().map_err(error(Stage::Tls))?,
                    }),
                    socket,
                })
            }
        }
    }
}

fn client_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            let bad = |e: &dyn fmt::Display| format!("--ca {}: {e}", path.display());
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
                roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
            if roots.is_empty() {
                return Err(bad(&"no certificate in it (PEM expected)"));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                let why: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
                return Err(format!(
                    "no trusted root certificates on this system ({}); install \
                     ca-certificates, or pass the server's certificate with --ca FILE",
                    why.join("; ")
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn connect(addr: &str) -> io::Result<TcpStream> {
    let mut last = io::Error::new(ErrorKind::NotFound, "no address found");
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Runs the handshake to its end, certificate verification included.
fn handshake(
    socket: &TcpStream,
    config: &Arc<ClientConfig>,
    name: &ServerName<'static>,
) -> io::Result<ClientConnection> {
    socket.set_read_timeout(Some(CONNECT_TIMEOUT))?;
    let mut session = ClientConnection::new(Arc::clone(config), name.clone())
        .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
    while session.is_handshaking() {
        if session.complete_io(&mut &*socket)? == (0, 0) {
            return Err(ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(session)
}

/// Why a connection could not be made, worded for the person.
#[derive(Debug)]
pub struct DialError {
    addr: String,
    stage: Stage,
    error: io::Error,
}

#[derive(Debug)]
enum Stage {
    Connect,
    Tls,
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addr = &self.addr;
        match self.stage {
            Stage::Connect => write!(f, "cannot connect to {addr}: {}", self.error),
            Stage::Tls => match explain(&self.error) {
                (reason, Some(hint)) => write!(f, "TLS to {addr} failed: {reason} ({hint})"),
                (reason, None) => write!(f, "TLS to {addr} failed: {reason}"),
            },
        }
    }
}

/// A failed handshake's reason, and what to do about it when the cause is
/// a usual one.
fn explain(error: &io::Error) -> (String, Option<&'static str>) {
    const NOT_TLS: &str = "is it a TLS port? plain IRC is usually on port 6667";
    let Some(tls) = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    else {
        return match error.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => (
                format!("no answer in {}s", CONNECT_TIMEOUT.as_secs()),
                Some(NOT_TLS),
            ),
            ErrorKind::UnexpectedEof => (
                "the server closed the connection during the handshake".to_string(),
                Some(NOT_TLS),
            ),
            _ => (error.to_string(), None),
        };
    };
    let hint = match tls {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            Some("is the server's certificate self-signed? pass it with --ca FILE")
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => Some("connect by a name the certificate was issued for"),
        // What `openssl req -x509` makes by default; webpki never accepts it
        // from a server, even from --ca, and its own wording is cryptic.
        rustls::Error::InvalidCertificate(CertificateError::Other(other))
            if matches!(
                other.0.downcast_ref(),
                Some(webpki::Error::CaUsedAsEndEntity)
            ) =>
        {
            return (
                "the server's certificate is a CA certificate, not a server's".to_string(),
                Some(
                    "a self-signed server certificate needs basicConstraints CA:FALSE, \
                     e.g. openssl req -x509 -addext basicConstraints=critical,CA:FALSE ...",
                ),
            );
        }
        rustls::Error::InvalidMessage(_) => Some(NOT_TLS),
        _ => None,
    };
    (tls.to_string(), hint)
}

fn lock(session: &Mutex<ClientConnection>) -> io::Result<MutexGuard<'_, ClientConnection>> {
    session
        .lock()
        .map_err(|_| io::Error::other("the TLS session broke in another thread"))
}

/// The reading half of a TLS link (see the module doc).
struct TlsReader {
    session: Arc<Mutex<ClientConnection>>,
    socket: TcpStream,
    /// Ciphertext read from the socket; `start..end` is not yet given to
    /// rustls, which takes it only as fast as its plaintext is read.
    cipher: Vec<u8>,
    start: usize,
    end: usize,
}

impl Read for TlsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match lock(&self.session)?.reader().read(buf) {
                // Needs more ciphertext.
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // Many servers close without a close_notify; IRC lines carry
                // their own framing, so this is just the end.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                done => return done,
            }
            if self.start == self.end {
                // The only wait, and it holds no lock. A read timeout comes
                // back as an error, with nothing lost.
                self.end = (&self.socket).read(&mut self.cipher)?;
                self.start = 0;
            }
            self.decrypt()?;
        }
    }
}

impl TlsReader {
    /// Gives rustls the pending ciphertext (none at all: the end of the
    /// stream) and sends what it answers (alerts, key updates).
    fn decrypt(&mut self) -> io::Result<()> {
        let mut session = lock(&self.session)?;
        let mut pending = &self.cipher[self.start..self.end];
        self.start += session.read_tls(&mut pending)?;
        let state = session.process_new_packets();
        while session.wants_write() {
            session.write_tls(&mut &self.socket)?;
        }
        state
            .map(drop)
            .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))
    }
}

/// The writing half of a TLS link: encrypts and sends under the lock, so
/// records go out in order (see the module doc).
struct TlsWriter {
    session: Arc<Mutex<ClientConnection>>,
    socket: TcpStream,
}

impl Write for TlsWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut session = lock(&self.session)?;
        let n = session.writer().write(buf)?;
        while session.wants_write() {
            session.write_tls(&mut self.socket)?;
        }
        Ok(n)
    }

    /// Every write is already on the socket.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
