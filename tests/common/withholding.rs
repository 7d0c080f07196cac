//! A tiny IRC server for harness tests that misbehaves on purpose: it
//! relays every benchmark message but the last of each sender's burst, and
//! says nothing about it, the way ngIRCd over TLS leaves the end of a burst
//! unread. Over plain TCP or TLS. One blocking thread per client: it is a
//! test fixture, not a server.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;

use super::tls::TestCert;

/// How long a client thread waits for input before passing on what others
/// said: the only way to interleave both on one blocking stream.
const POLL: Duration = Duration::from_millis(2);

/// Joined members: each client's nick and the queue its thread writes out.
type Members = Arc<Mutex<Vec<(String, Sender<Arc<str>>)>>>;

/// Starts the server on a free loopback port; `tls` serves that certificate.
/// A message whose sequence number is `last` (the harness's `-m` minus 1)
/// is dropped.
pub fn start(last: u32, tls: Option<&TestCert>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let config = tls.map(server_config);
    let members = Members::default();
    std::thread::spawn(move || {
        for sock in listener.incoming().map_while(Result::ok) {
            let (members, config) = (Arc::clone(&members), config.clone());
            std::thread::spawn(move || {
                sock.set_read_timeout(Some(POLL)).expect("read timeout");
                match config {
                    Some(c) => {
                        let conn = rustls::ServerConnection::new(c).expect("TLS session");
                        serve(rustls::StreamOwned::new(conn, sock), &members, last)
                    }
                    None => serve(sock, &members, last),
                }
            });
        }
    });
    addr
}

fn server_config(cert: &TestCert) -> Arc<rustls::ServerConfig> {
    let key = PrivateKeyDer::from_pem_file(&cert.key_file).expect("read test key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der.clone()], key)
        .expect("server certificate");
    Arc::new(config)
}

/// One client until it leaves or fails.
fn serve<S: Read + Write>(mut stream: S, members: &Members, last: u32) {
    let (tx, rx) = mpsc::channel();
    let mut client = Session {
        nick: String::new(),
        tx,
        members,
        last,
    };
    let mut input = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => input.extend_from_slice(&chunk[..n]),
            Err(e) if timed_out(&e) => {}
            Err(_) => break,
        }
        while let Some(end) = input.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = input.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            match client.on_line(line.trim_end()) {
                Reply::Lines(text) => {
                    if stream.write_all(text.as_bytes()).is_err() {
                        return client.leave();
                    }
                }
                Reply::Nothing => {}
                Reply::Quit => return client.leave(),
            }
        }
        if pass_on(&mut stream, &rx).is_err() {
            break;
        }
    }
    client.leave();
}

/// Writes what other members said since the last turn.
///
/// Over TLS, a flush in the middle of the handshake reads the client's
/// next flight first, and that read may time out like any other (the
/// client is slow on a busy machine): not an error, the handshake goes on
/// next turn. Taking it for one closed the connection now and then.
fn pass_on<S: Write>(stream: &mut S, rx: &Receiver<Arc<str>>) -> io::Result<()> {
    for line in rx.try_iter() {
        stream.write_all(line.as_bytes())?;
    }
    match stream.flush() {
        Err(e) if timed_out(&e) => Ok(()),
        done => done,
    }
}

/// A read that found nothing within [`POLL`].
fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

enum Reply {
    Lines(String),
    Nothing,
    Quit,
}

struct Session<'a> {
    nick: String,
    tx: Sender<Arc<str>>,
    members: &'a Members,
    last: u32,
}

impl Session<'_> {
    fn on_line(&mut self, line: &str) -> Reply {
        let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
        let nick = &self.nick;
        match command {
            "NICK" => {
                self.nick = rest.to_owned();
                Reply::Nothing
            }
            "USER" => Reply::Lines(format!(":fake 001 {nick} :welcome\r\n")),
            "PING" => Reply::Lines(format!(":fake PONG fake {rest}\r\n")),
            "JOIN" => {
                let me = (self.nick.clone(), self.tx.clone());
                self.members.lock().expect("members").push(me);
                Reply::Lines(format!(
                    ":{nick}!u@h JOIN {rest}\r\n:fake 366 {nick} {rest} :End of /NAMES list\r\n"
                ))
            }
            "PRIVMSG" => {
                if sequence(rest) != Some(self.last) {
                    let line: Arc<str> = format!(":{nick}!u@h PRIVMSG {rest}\r\n").into();
                    let members = self.members.lock().expect("members");
                    for (_, tx) in members.iter().filter(|(n, _)| n != nick) {
                        // A member that left drops its receiver; nothing to do.
                        let _ = tx.send(Arc::clone(&line));
                    }
                }
                Reply::Nothing
            }
            "QUIT" => Reply::Quit,
            _ => Reply::Nothing,
        }
    }

    fn leave(&self) {
        self.members
            .lock()
            .expect("members")
            .retain(|(n, _)| *n != self.nick);
    }
}

/// The sequence number in a harness message: `#chan :GCB<round> <sender>
/// <seq> <ns> xxx`.
fn sequence(params: &str) -> Option<u32> {
    let text = params.split_once(" :")?.1.strip_prefix("GCB")?;
    text.split(' ').nth(2)?.parse().ok()
}
