//! TLS for tests: certificates made at test time with rcgen, and clients
//! that trust exactly those.

use super::{Client, PATIENCE};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A TLS connection from a test.
pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A self-signed ECDSA P-256 certificate for `localhost` and 127.0.0.1,
/// written as PEM files.
pub struct TestCert {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub der: CertificateDer<'static>,
}

impl TestCert {
    /// Makes `<name>.crt` and `<name>.key` in `dir`, with serial number
    /// `serial`, valid from yesterday for `days` days from now.
    pub fn make(dir: &Path, name: &str, serial: u64, days: u64) -> TestCert {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("certificate parameters");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name}.test"));
        params.serial_number = Some(serial.into());
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970");
        let day = Duration::from_secs(86_400);
        params.not_before = epoch + (now - day);
        params.not_after = epoch + (now + day * days as u32);
        let key = rcgen::KeyPair::generate().expect("key pair");
        let cert = params.self_signed(&key).expect("self-sign");
        let cert_file = dir.join(format!("{name}.crt"));
        let key_file = dir.join(format!("{name}.key"));
        std::fs::write(&cert_file, cert.pem()).expect("write certificate");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        TestCert {
            cert_file,
            key_file,
            der: cert.der().clone(),
        }
    }

    /// A `[tls]` table serving this certificate on a free loopback port.
    pub fn config(&self) -> String {
        format!(
            "[tls]\nlisten = [\"127.0.0.1:0\"]\ncert_file = {:?}\nkey_file = {:?}\n",
            self.cert_file, self.key_file
        )
    }

    /// A client config that trusts this certificate only.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).expect("trust the test cert");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    /// Connects over TLS and finishes the handshake.
    pub fn connect(&self, addr: SocketAddr) -> Client<TlsStream> {
        connect_with(addr, self.client_config())
    }
}

/// Connects to `addr` as `localhost` with `config` and completes the
/// handshake, so that a failure shows here and not at the first line.
pub fn connect_with(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Client<TlsStream> {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(PATIENCE)).expect("read timeout");
    let name = ServerName::try_from("localhost").expect("server name");
    let conn = rustls::ClientConnection::new(config, name).expect("client connection");
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .expect("TLS handshake");
    }
    Client::over(stream)
}
