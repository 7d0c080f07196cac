//! The floor: the least an IRC relay can do per delivery, to measure the
//! servers against (`PEERS=floor bench/compare.sh`).
//!
//! Just enough IRC for `groupchat-bench`: 001 after NICK and USER, its own
//! JOIN and a 366 for a JOIN, PONG for PING, and every PRIVMSG to a channel
//! written to every other member at once, with one `send` each. No nick or
//! channel bookkeeping, no limits, no logging. Whatever a real server spends
//! per delivery above this is its own; what this spends is the kernel's.
//!
//!     cargo run --release --example floor -- 127.0.0.1:6667

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

const LISTENER: Token = Token(usize::MAX);

#[derive(Default)]
struct Client {
    inbuf: Vec<u8>,
    /// What the socket did not take yet; empty nearly always.
    outbuf: Vec<u8>,
    nick: Option<String>,
    joined: bool,
}

struct Conn {
    stream: TcpStream,
    client: Client,
}

fn main() -> io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:6667".into())
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(addr)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Slab<Conn> = Slab::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0; 64 * 1024];
    loop {
        poll.poll(&mut events, None)?;
        for event in &events {
            if event.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    stream.set_nodelay(true)?;
                    let entry = conns.vacant_entry();
                    poll.registry().register(
                        &mut stream,
                        Token(entry.key()),
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    entry.insert(Conn {
                        stream,
                        client: Client::default(),
                    });
                }
                continue;
            }
            let key = event.token().0;
            if event.is_writable() {
                flush(&mut conns, key);
            }
            if event.is_readable()
                && !read(&mut conns, key, &mut buf)
                && let Some(mut gone) = conns.try_remove(key)
            {
                poll.registry().deregister(&mut gone.stream)?;
            }
        }
    }
}

/// Reads and handles what arrived; false when the connection is over.
fn read(conns: &mut Slab<Conn>, key: usize, buf: &mut [u8]) -> bool {
    loop {
        let Some(conn) = conns.get_mut(key) else {
            return false;
        };
        match conn.stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => conn.client.inbuf.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
        let inbuf = std::mem::take(&mut conn.client.inbuf);
        let mut lines = inbuf.split_inclusive(|&b| b == b'\n').peekable();
        while let Some(line) = lines.next() {
            if lines.peek().is_none() && !line.ends_with(b"\n") {
                if let Some(conn) = conns.get_mut(key) {
                    conn.client.inbuf = line.to_vec();
                }
                break;
            }
            let text = String::from_utf8_lossy(line);
            if !handle(conns, key, text.trim_end()) {
                return false;
            }
        }
    }
}

/// One IRC line from `key`; false on QUIT.
fn handle(conns: &mut Slab<Conn>, key: usize, line: &str) -> bool {
    let (command, params) = line.split_once(' ').unwrap_or((line, ""));
    let client = &mut conns[key].client;
    match command {
        "NICK" => client.nick = Some(params.trim_start_matches(':').to_string()),
        "USER" => {
            let nick = client.nick.clone().unwrap_or_default();
            send(
                conns,
                key,
                format!(":floor 001 {nick} :Welcome\r\n").as_bytes(),
            );
        }
        "PING" => send(
            conns,
            key,
            format!(":floor PONG floor {params}\r\n").as_bytes(),
        ),
        "JOIN" => {
            client.joined = true;
            let nick = client.nick.clone().unwrap_or_default();
            let reply = format!(
                ":{nick}!u@h JOIN {params}\r\n:floor 366 {nick} {params} :End of /NAMES list\r\n"
            );
            send(conns, key, reply.as_bytes());
        }
        "PRIVMSG" => {
            let nick = client.nick.clone().unwrap_or_default();
            let relayed = format!(":{nick}!u@h PRIVMSG {params}\r\n");
            let members: Vec<usize> = conns
                .iter()
                .filter(|&(k, c)| k != key && c.client.joined)
                .map(|(k, _)| k)
                .collect();
            for member in members {
                send(conns, member, relayed.as_bytes());
            }
        }
        "QUIT" => return false,
        _ => {}
    }
    true
}

/// Writes at once; keeps what the socket did not take for its next
/// writable event, behind anything kept before.
fn send(conns: &mut Slab<Conn>, key: usize, bytes: &[u8]) {
    let conn = &mut conns[key];
    if !conn.client.outbuf.is_empty() {
        conn.client.outbuf.extend_from_slice(bytes);
        return;
    }
    let written = match conn.stream.write(bytes) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(_) => bytes.len(),
    };
    conn.client.outbuf.extend_from_slice(&bytes[written..]);
}

fn flush(conns: &mut Slab<Conn>, key: usize) {
    let Some(conn) = conns.get_mut(key) else {
        return;
    };
    while !conn.client.outbuf.is_empty() {
        match conn.stream.write(&conn.client.outbuf) {
            Ok(0) => return,
            Ok(n) => {
                conn.client.outbuf.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
