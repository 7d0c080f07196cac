//! The byte stream under one client: plain TCP, TLS over it (`--tls`), or
//! IRC over WebSocket (`--websocket`, see [`crate::websocket`]).
//!
//! TLS is rustls driven sans-IO from the event loop: no thread per client
//! and no blocking call, the engine reads and writes plaintext through
//! [`Transport`] exactly as it does through a socket; over WebSocket it
//! reads and writes IRC lines the same way. The plain path is one `match`
//! arm that calls the socket, so it costs what it did without the others.
//!
//! For benchmarking on loopback only: the server's certificate is **not
//! verified** (see [`AcceptAnyCertificate`]). Every client makes a full
//! handshake (no session resumption), the server's worst case, and the
//! handshake counts in the time to connect and register.

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

use crate::TlsVersion;
use crate::websocket::{WebSocket, WsClient};

/// How every client of a run opens its transport.
#[derive(Clone)]
pub enum Opener {
    Plain,
    Tls(TlsClient),
    WebSocket(WsClient),
}

impl Opener {
    /// A new client's transport.
    pub fn transport(&self) -> Result<Transport, rustls::Error> {
        match self {
            Opener::Plain => Ok(Transport::Plain),
            Opener::Tls(tls) => Ok(Transport::Tls(tls.connection()?)),
            Opener::WebSocket(ws) => ws.transport(),
        }
    }
}

/// How every client of a run opens its TLS sessions.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl TlsClient {
    /// TLS `version` only, to the server at `ip` (an IP address as server
    /// name: no SNI is sent, and nothing is checked against it).
    pub fn new(version: TlsVersion, ip: IpAddr) -> Result<TlsClient, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = match version {
            TlsVersion::V13 => &[&rustls::version::TLS13],
            TlsVersion::V12 => &[&rustls::version::TLS12],
        };
        let verifier = Arc::new(AcceptAnyCertificate {
            algorithms: provider.signature_verification_algorithms,
        });
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.resumption = Resumption::disabled();
        Ok(TlsClient {
            config: Arc::new(config),
            name: ServerName::IpAddress(ip.into()),
        })
    }

    /// A new client's TLS session; its ClientHello waits in it until the
    /// first write.
    pub fn connection(&self) -> Result<Box<ClientConnection>, rustls::Error> {
        let conn = ClientConnection::new(Arc::clone(&self.config), self.name.clone())?;
        Ok(Box::new(conn))
    }
}

/// FOR BENCHMARKING ONLY: takes any certificate from anyone, so a client
/// using it can be talked to by whoever sits on the path. The harness only
/// ever connects to 127.0.0.0/8, and what it measures is the server.
///
/// The handshake signature is still checked against the certificate's key,
/// so the client does the public-key work a real client does and a broken
/// server handshake still fails.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What one client's bytes go through on their way to and from the socket.
pub enum Transport {
    Plain,
    Tls(Box<ClientConnection>),
    WebSocket(Box<WebSocket>),
}

impl Transport {
    /// Reads plaintext: `Ok(0)` at the end, `WouldBlock` once nothing is
    /// left anywhere. Over TLS, what rustls already decrypted is handed out
    /// before the socket is read again: readiness is edge-triggered, so
    /// bytes left inside rustls would never be announced again (the last
    /// lines of a burst would sit there unread).
    #[inline]
    pub fn read(&mut self, sock: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain => sock.read(buf),
            Transport::Tls(conn) => tls_read(conn, sock, buf),
            Transport::WebSocket(ws) => ws.read(sock, buf),
        }
    }

    /// Writes plaintext; `WouldBlock` when nothing could be taken.
    #[inline]
    pub fn write(&mut self, sock: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain => sock.write(data),
            Transport::Tls(conn) => tls_write(conn, sock, data),
            Transport::WebSocket(ws) => ws.write(sock, data),
        }
    }

    /// Writes what this layer still holds (TLS records, WebSocket frames);
    /// true once nothing is left above the kernel.
    #[inline]
    pub fn flush(&mut self, sock: &mut TcpStream) -> io::Result<bool> {
        match self {
            Transport::Plain => Ok(true),
            Transport::Tls(conn) => send_records(conn, sock),
            Transport::WebSocket(ws) => ws.send_out(sock),
        }
    }

    /// Output taken but not yet handed to the kernel.
    #[inline]
    pub fn holds_output(&self) -> bool {
        match self {
            Transport::Plain => false,
            Transport::Tls(conn) => conn.wants_write(),
            Transport::WebSocket(ws) => ws.holds_output(),
        }
    }

    /// Whether output may wait for a handshake to end (TLS, WebSocket):
    /// reading may end it, and that is no socket event.
    #[inline]
    pub fn has_handshake(&self) -> bool {
        !matches!(self, Transport::Plain)
    }

    /// The TLS protocol and cipher suite, once the handshake is done.
    pub fn describe(&self) -> Option<String> {
        match self {
            Transport::Plain => None,
            Transport::Tls(conn) => describe(conn),
            Transport::WebSocket(ws) => ws.tls().and_then(describe),
        }
    }
}

fn describe(conn: &ClientConnection) -> Option<String> {
    let version = conn.protocol_version()?;
    let suite = conn.negotiated_cipher_suite()?;
    Some(format!("{version:?} {:?}", suite.suite()))
}

pub fn tls_read(
    conn: &mut ClientConnection,
    sock: &mut TcpStream,
    buf: &mut [u8],
) -> io::Result<usize> {
    loop {
        match conn.reader().read(buf) {
            // 0: the server's close_notify, after the last of its data.
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // A TCP close without close_notify, after the last plaintext:
            // many IRC servers end connections so; the engine tells a
            // close from the server's ERROR line, as over plain TCP.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
            Err(e) => return Err(e),
        }
        // Nothing decrypted is left: take more from the socket. Its
        // WouldBlock means that nothing is left anywhere.
        conn.read_tls(sock)?;
        if let Err(e) = conn.process_new_packets() {
            // rustls queued an alert telling the server why; a failure to
            // send it changes nothing.
            let _ = send_records(conn, sock);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("TLS: {e}"),
            ));
        }
        // Handshake messages and the plaintext written before the handshake
        // ended; what the socket does not take now goes when it is writable.
        send_records(conn, sock)?;
    }
}

pub fn tls_write(
    conn: &mut ClientConnection,
    sock: &mut TcpStream,
    data: &[u8],
) -> io::Result<usize> {
    // Encrypt more only once the records before it are with the kernel:
    // what waits here stays small, and a message's timestamp is still taken
    // just before the kernel gets it.
    if !send_records(conn, sock)? {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    let n = conn.writer().write(data)?;
    if n == 0 && !data.is_empty() {
        // Before the handshake ends rustls holds plaintext up to a limit.
        return Err(io::ErrorKind::WouldBlock.into());
    }
    send_records(conn, sock)?;
    Ok(n)
}

/// Writes queued TLS records until none is left (true) or the socket is
/// full (false).
pub fn send_records(conn: &mut ClientConnection, sock: &mut TcpStream) -> io::Result<bool> {
    while conn.wants_write() {
        match conn.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
