//! The server's certificate and key: loaded from their files (or systemd
//! credentials), checked, and turned into the rustls config that TLS
//! listeners serve. Loaded at start-up, by `--check-config` and on reload,
//! never on the event loop's hot path.

use crate::config::TlsConfig;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A certificate expiring sooner than this is warned about.
const EXPIRY_WARNING_DAYS: i64 = 14;

/// A certificate and key that belong together, ready to serve.
pub struct Identity {
    pub config: Arc<ServerConfig>,
    pub cert_file: PathBuf,
    /// The certificate's subject, e.g. `CN=chat.example.org`.
    pub subject: String,
    /// When it expires, as the certificate says (UTC).
    pub not_after: String,
    pub days_left: i64,
}

impl Identity {
    /// Reads and checks the configured pair. Every error names the file.
    pub fn load(tls: &TlsConfig) -> Result<Identity, String> {
        let (cert_file, key_file) = tls.files()?;
        let chain = read_chain(&cert_file)?;
        let key = read_key(&key_file)?;
        let leaf = chain.first().ok_or_else(|| {
            format!(
                "{}: no certificate in the file (expected PEM `BEGIN CERTIFICATE` blocks)",
                cert_file.display()
            )
        })?;
        let (subject, not_after, expires_at) = describe(leaf).map_err(|e| {
            format!(
                "{}: not a valid X.509 certificate: {e}",
                cert_file.display()
            )
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => format!(
                    "{}: the key does not match the certificate in {}",
                    key_file.display(),
                    cert_file.display()
                ),
                e => format!("{} / {}: {e}", cert_file.display(), key_file.display()),
            })?;
        Ok(Identity {
            config: Arc::new(config),
            cert_file,
            subject,
            not_after,
            days_left: (expires_at - unix_now()).div_euclid(86_400),
        })
    }

    /// One line for the log: what is served and until when.
    pub fn summary(&self) -> String {
        format!(
            "TLS certificate {}: {}, expires {} (in {} days)",
            self.cert_file.display(),
            self.subject,
            self.not_after,
            self.days_left
        )
    }

    /// A warning when the certificate has expired or expires soon.
    pub fn expiry_warning(&self) -> Option<String> {
        if self.days_left < 0 {
            Some(format!(
                "TLS certificate {} expired on {}: clients will refuse it",
                self.cert_file.display(),
                self.not_after
            ))
        } else if self.days_left < EXPIRY_WARNING_DAYS {
            Some(format!(
                "TLS certificate {} expires in {} days ({}): renew it",
                self.cert_file.display(),
                self.days_left,
                self.not_after
            ))
        } else {
            None
        }
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read(path)?;
    CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", path.display()))
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        format!(
            "{}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in the file: {e}",
            path.display()
        )
    })
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Subject, expiry as text, and expiry in Unix seconds.
fn describe(der: &CertificateDer<'_>) -> Result<(String, String, i64), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let not_after = cert.validity().not_after;
    Ok((
        cert.subject().to_string(),
        not_after.to_string(),
        not_after.timestamp(),
    ))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
