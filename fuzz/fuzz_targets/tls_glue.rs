//! The glue between rustls and a connection: a real TLS 1.3 session between
//! a rustls client and our `TlsSession`, over an in-memory socket whose
//! reads and writes the input cuts anywhere, with lines both ways, key
//! updates, close_notify and raw garbage in the stream. rustls itself is
//! not the target; what we do around it is.
//!
//! The input is a script of steps, each one header byte then operands:
//! - `0`: the client sends the next `len` bytes (len = next byte);
//! - `1`: the server reads, at most `k` bytes per socket read (k = next
//!   byte + 1), until the socket would block;
//! - `2`: the server queues a line of the next `len` bytes, then writes
//!   with room for `r` bytes (r = next byte * 16) before the socket blocks;
//! - `3`: the client asks for a key update (rustls cuts a peer after 32 in
//!   a row without application data, so the script stops short of that);
//! - `4`: the client sends close_notify;
//! - `5`: the next `len` bytes go raw into the server's socket (garbage).
//!
//! Checked: no panic; until garbage or a close, what the server reads is
//! exactly what the client sent, and what the client decrypts is exactly
//! the lines the server queued; what the session holds below the queue is
//! 0 once the socket took everything; after garbage the session fails
//! with an error, never with a panic or a hang.

#![no_main]

use groupchatd::outqueue::OutQueue;
use groupchatd::transport::TlsSession;
use libfuzzer_sys::fuzz_target;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig};
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

/// The server's side of an in-memory socket.
#[derive(Default)]
struct Pipe {
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    /// Bytes one read may return.
    read_limit: usize,
    /// Bytes writes may still take before they would block.
    write_room: usize,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.to_server.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.read_limit).min(self.to_server.len());
        buf[..n].copy_from_slice(&self.to_server[..n]);
        self.to_server.drain(..n);
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.write_room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.write_room);
        self.to_client.extend_from_slice(&buf[..n]);
        self.write_room -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn configs() -> &'static (Arc<ServerConfig>, Arc<ClientConfig>) {
    static CONFIGS: OnceLock<(Arc<ServerConfig>, Arc<ClientConfig>)> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
        let cert = params.self_signed(&key).expect("certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server config");
        let mut roots = RootCertStore::empty();
        roots.add(cert.der().clone()).expect("root");
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    })
}

/// Moves what the server wrote to the client and lets it process it.
fn deliver(pipe: &mut Pipe, client: &mut ClientConnection) {
    while !pipe.to_client.is_empty() {
        let mut data = &pipe.to_client[..];
        let n = client.read_tls(&mut data).expect("client reads");
        pipe.to_client.drain(..n);
        client
            .process_new_packets()
            .expect("the server sent valid TLS");
    }
}

fn send(pipe: &mut Pipe, client: &mut ClientConnection) {
    while client.wants_write() {
        client
            .write_tls(&mut pipe.to_server)
            .expect("client writes");
    }
}

fuzz_target!(|data: &[u8]| {
    let (server_config, client_config) = configs();
    let name = ServerName::try_from("localhost").expect("name");
    let mut client = ClientConnection::new(client_config.clone(), name).expect("client");
    let mut session = TlsSession::new(server_config.clone()).expect("session");
    let mut pipe = Pipe {
        read_limit: usize::MAX,
        write_room: usize::MAX,
        ..Pipe::default()
    };
    let mut queue = OutQueue::default();
    let mut buf = [0u8; 512];
    // The handshake, whole.
    for _ in 0..8 {
        send(&mut pipe, &mut client);
        loop {
            match session.read(&mut pipe, &mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                other => panic!("handshake read: {other:?}"),
            }
        }
        session
            .write(&mut pipe, &mut queue)
            .expect("handshake write");
        deliver(&mut pipe, &mut client);
        if !client.is_handshaking() && !session.is_handshaking() {
            break;
        }
    }
    assert!(!session.is_handshaking(), "the handshake did not finish");

    let mut sent_by_client = Vec::new();
    let mut read_by_server = Vec::new();
    let mut queued_by_server = Vec::new();
    let mut broken = false;
    let mut key_updates_in_a_row = 0;
    let mut input = data;
    while let [op, len, rest @ ..] = input {
        let len = usize::from(*len);
        input = rest;
        match op % 6 {
            0 if !broken => {
                let take = len.min(input.len());
                client
                    .writer()
                    .write_all(&input[..take])
                    .expect("client plaintext");
                sent_by_client.extend_from_slice(&input[..take]);
                if take > 0 {
                    key_updates_in_a_row = 0;
                }
                input = &input[take..];
                send(&mut pipe, &mut client);
            }
            1 => {
                pipe.read_limit = len + 1;
                loop {
                    match session.read(&mut pipe, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => read_by_server.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            assert!(broken, "a clean stream failed: {e}");
                            return;
                        }
                    }
                }
                if !broken {
                    assert_eq!(read_by_server[..], sent_by_client[..read_by_server.len()]);
                }
            }
            2 if !broken => {
                let take = len.min(input.len());
                let mut line = input[..take].to_vec();
                line.extend_from_slice(b"\r\n");
                input = &input[take..];
                queued_by_server.extend_from_slice(&line);
                queue.push(&Rc::from(line));
                pipe.write_room = len * 16;
                if session.write(&mut pipe, &mut queue).is_err() {
                    return;
                }
                pipe.write_room = usize::MAX;
                deliver(&mut pipe, &mut client);
            }
            3 if !broken && key_updates_in_a_row < 30 => {
                key_updates_in_a_row += 1;
                if client.refresh_traffic_keys().is_ok() {
                    send(&mut pipe, &mut client);
                }
            }
            4 if !broken => {
                client.send_close_notify();
                send(&mut pipe, &mut client);
                broken = true;
            }
            5 => {
                let take = len.min(input.len());
                pipe.to_server.extend_from_slice(&input[..take]);
                input = &input[take..];
                broken = true;
            }
            _ => {}
        }
    }
    if broken {
        return;
    }
    // Everything drains: the server reads all, the client gets every line.
    pipe.read_limit = usize::MAX;
    loop {
        match session.read(&mut pipe, &mut buf) {
            Ok(0) => panic!("end of stream without close_notify"),
            Ok(n) => read_by_server.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("a clean stream failed: {e}"),
        }
    }
    assert_eq!(read_by_server, sent_by_client);
    pipe.write_room = usize::MAX;
    session.write(&mut pipe, &mut queue).expect("final write");
    assert!(
        queue.is_empty() && session.held() == 0,
        "output left behind"
    );
    deliver(&mut pipe, &mut client);
    let mut received = Vec::new();
    let _ = client.reader().read_to_end(&mut received);
    assert_eq!(received, queued_by_server);
});
