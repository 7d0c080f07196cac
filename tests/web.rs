//! The web listeners over real sockets: IRC over WebSocket (text and
//! binary subprotocols, plain and TLS) beside plain IRC clients, the HTTP
//! endpoints, and bad input, each answered with its status or close code.

mod common;

use common::tls::{TestCert, TlsStream};
use common::{Client, Daemon, NO_FLOOD_CONTROL, PATIENCE, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

const WEB: &str = "[web]\nlisten = [\"127.0.0.1:0\"]\n";
const WEB_LISTENING: &str = "listening for web on ";
const WEB_TLS_LISTENING: &str = "listening for web over TLS on ";

fn web_addr(daemon: &Daemon) -> SocketAddr {
    daemon.logged_addrs(WEB_LISTENING)[0]
}

/// A WebSocket IRC client (tungstenite, blocking).
struct Ws<S: Read + Write> {
    socket: WebSocket<S>,
    /// Sends binary messages (`binary.ircv3.net`).
    binary: bool,
}

impl Ws<TcpStream> {
    fn connect(addr: SocketAddr, protocol: Option<&str>) -> Ws<TcpStream> {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        Ws::over(stream, &format!("ws://{addr}/"), protocol)
    }
}

impl<S: Read + Write> Ws<S> {
    fn over(stream: S, url: &str, protocol: Option<&str>) -> Ws<S> {
        let mut request = url.into_client_request().expect("request");
        if let Some(protocol) = protocol {
            let value = protocol.parse().expect("header value");
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", value);
        }
        let (socket, response) = tungstenite::client(request, stream).expect("handshake");
        assert_eq!(
            response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok()),
            protocol
        );
        Ws {
            socket,
            binary: protocol == Some("binary.ircv3.net"),
        }
    }

    fn send(&mut self, line: &str) {
        let message = if self.binary {
            Message::binary(line.as_bytes().to_vec())
        } else {
            Message::text(line)
        };
        self.socket.send(message).expect("send");
    }

    /// The next IRC line, or the close frame's code once the server closes.
    fn next(&mut self) -> Result<String, Option<CloseCode>> {
        loop {
            match self.socket.read() {
                Ok(Message::Text(text)) => return Ok(text.to_string()),
                Ok(Message::Binary(bytes)) => {
                    return Ok(String::from_utf8_lossy(&bytes).into_owned());
                }
                Ok(Message::Close(frame)) => return Err(frame.map(|f| f.code)),
                Ok(_) => {}
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    fn expect(&mut self, text: &str) -> String {
        loop {
            let line = self
                .next()
                .unwrap_or_else(|code| panic!("closed ({code:?}) waiting for {text:?}"));
            assert!(!line.ends_with('\n'), "a line ending in a frame: {line:?}");
            if line.contains(text) {
                return line;
            }
        }
    }

    fn register(&mut self, nick: &str) {
        self.send(&format!("NICK {nick}"));
        self.send(&format!("USER {nick} 0 * :{nick}"));
        self.expect(" 366 ");
    }
}

#[test]
fn websocket_and_plain_clients_chat_both_ways() {
    let daemon = Daemon::start(&format!("{WEB}{NO_FLOOD_CONTROL}"));
    let addr = web_addr(&daemon);
    let mut alice = Ws::connect(addr, Some("text.ircv3.net"));
    alice.register("alice");
    let mut carol = Ws::connect(addr, Some("binary.ircv3.net"));
    carol.register("carol");
    let mut bob = daemon.register("bob");
    alice.expect(":bob!");

    alice.send("PRIVMSG #lobby :hello from a browser ünïcode");
    assert!(bob.expect("hello from a browser").starts_with(":alice!"));
    carol.expect("hello from a browser ünïcode");
    bob.send("PRIVMSG #lobby :hello from plain");
    assert!(alice.expect("hello from plain").starts_with(":bob!"));
    assert!(carol.expect("hello from plain").starts_with(":bob!"));
    // Bytes that are not UTF-8 reach binary clients as they are, and text
    // clients as valid text.
    bob.send_raw(b"PRIVMSG #lobby :latin1 caf\xe9\r\n");
    carol.expect("latin1 caf\u{fffd}");
    alice.expect("latin1 caf\u{fffd}");
    bob.send("PRIVMSG alice :psst");
    alice.expect("PRIVMSG alice :psst");

    let status = daemon.status();
    assert_eq!(status["clients"]["connected"], 3, "{status}");
    assert_eq!(status["clients"]["websocket"], 2, "{status}");
    assert_eq!(status["clients"]["tls"], 0, "{status}");
    let clients = daemon.ctl_json(&["clients"])["clients"].clone();
    let transport = |nick: &str| {
        clients
            .as_array()
            .and_then(|all| all.iter().find(|c| c["nick"] == nick))
            .map(|c| c["transport"].clone())
            .unwrap_or_else(|| panic!("{nick} missing: {clients}"))
    };
    assert_eq!(transport("alice"), "ws", "{clients}");
    assert_eq!(transport("bob"), "plain", "{clients}");
    assert!(daemon.count_log("(WebSocket, Text)") >= 1);

    // QUIT: the ERROR line, then a normal close.
    alice.send("QUIT :bye");
    alice.expect("ERROR :Closing Link");
    assert_eq!(alice.next(), Err(Some(CloseCode::Normal)));
    bob.expect("QUIT :Quit: bye");
    daemon.wait_status(|s| s["clients"]["websocket"] == 1 && s["queued_bytes"] == 0);
}

#[test]
fn secure_websocket_with_a_test_certificate() {
    let dir = TempDir::new();
    let cert = TestCert::make(&dir.path, "server", 1, 90);
    let config = format!(
        "[web]\ntls_listen = [\"127.0.0.1:0\"]\n[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        cert.cert_file, cert.key_file
    );
    let daemon = Daemon::start(&config);
    let addr = daemon.logged_addrs(WEB_TLS_LISTENING)[0];
    let tls: Client<TlsStream> = common::tls::connect_with(addr, cert.client_config());
    let mut alice = Ws::over(
        tls.stream,
        &format!("wss://localhost:{}/", addr.port()),
        None,
    );
    alice.register("alice");
    let mut bob = daemon.register("bob");
    alice.expect(":bob!");
    bob.send("WHOIS alice");
    let whois = bob.collect_until(" 318 ");
    assert!(
        whois.iter().any(|l| l.contains(" 671 bob alice ")),
        "{whois:#?}"
    );
    alice.send("PRIVMSG #lobby :over wss");
    bob.expect("over wss");
    let status = daemon.status();
    assert_eq!(status["clients"]["websocket_tls"], 1, "{status}");
    let table = String::from_utf8_lossy(&daemon.ctl(&["clients"]).stdout).to_string();
    assert!(table.contains("wss TLSv1_3"), "{table}");
    // A shutdown says so: ERROR, then "going away".
    daemon.signal(libc::SIGTERM);
    alice.expect("ERROR :Closing Link");
    assert_eq!(alice.next(), Err(Some(CloseCode::Away)));
}

/// Sends `request` raw and reads the whole response (the server closes).
fn http(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    stream.write_all(request).expect("send");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    (status, text)
}

#[test]
fn http_endpoints_answer_and_are_not_clients() {
    let daemon = Daemon::start(WEB);
    let addr = web_addr(&daemon);
    let mut bob = daemon.register("bob");
    let (status, text) = http(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200);
    assert!(text.ends_with("\r\n\r\nok\n") && text.contains("Connection: close\r\n"));
    let (status, text) = http(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200);
    assert!(
        text.contains("Content-Security-Policy: default-src 'self';"),
        "{text}"
    );
    assert!(text.contains("X-Content-Type-Options: nosniff\r\n"));
    let (status, text) = http(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(status, 200, "{text}");
    let metric = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    assert_eq!(metric("groupchatd_clients{transport=\"plain\"}"), 1);
    assert_eq!(metric("groupchatd_clients{transport=\"ws\"}"), 0);
    assert!(metric("groupchatd_loop_turn_seconds_count") > 0);
    assert!(metric("groupchatd_resident_memory_bytes") > 0);
    assert_eq!(http(addr, b"GET /nothing HTTP/1.1\r\n\r\n").0, 404);
    let (status, text) = http(addr, b"DELETE / HTTP/1.1\r\n\r\n");
    assert!(
        status == 405 && text.contains("Allow: GET, HEAD\r\n"),
        "{text}"
    );
    assert_eq!(http(addr, b"\x16\x03\x01 not http\r\n\r\n").0, 400);
    let mut huge = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
    huge.resize(9000, b'a');
    huge.extend_from_slice(b"\r\n\r\n");
    assert_eq!(http(addr, &huge).0, 431);
    // None of them was a chat client.
    bob.send("LUSERS");
    bob.expect(" 251 ");
    let clients = daemon.ctl_json(&["clients"])["clients"].clone();
    assert_eq!(clients.as_array().map(Vec::len), Some(1), "{clients}");
    assert_eq!(daemon.count_log("connect #"), 1);
    let status = daemon.wait_status(|s| s["queued_bytes"] == 0);
    assert_eq!(status["clients"]["connected"], 1, "{status}");
    assert!(
        status["listeners"]
            .as_array()
            .is_some_and(|l| l.iter().any(|a| a == format!("{addr} (web)").as_str())),
        "{status}"
    );
}

#[test]
fn metrics_only_for_the_listed_addresses() {
    let daemon = Daemon::start(&format!("{WEB}metrics_from = [\"192.0.2.0/24\"]\n"));
    let addr = web_addr(&daemon);
    assert_eq!(http(addr, b"GET /metrics HTTP/1.1\r\n\r\n").0, 403);
    assert_eq!(http(addr, b"GET /healthz HTTP/1.1\r\n\r\n").0, 200);
}

/// A WebSocket opened by hand, to send what no real client would.
struct Raw {
    stream: TcpStream,
}

const HANDSHAKE: &str = "GET / HTTP/1.1\r\nHost: HOST\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

impl Raw {
    fn open(addr: SocketAddr) -> Raw {
        let (status, raw) = Raw::handshake(addr, &HANDSHAKE.replace("HOST", &addr.to_string()));
        assert_eq!(status, 101);
        raw.stream
            .set_read_timeout(Some(PATIENCE))
            .expect("timeout");
        raw
    }

    /// Sends a handshake and reads the response head.
    fn handshake(addr: SocketAddr, request: &str) -> (u16, Raw) {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        stream.write_all(request.as_bytes()).expect("send");
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).expect("read"), 1, "{head:?}");
            head.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&head);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        (status, Raw { stream })
    }

    /// A masked frame with `first` (FIN, opcode) and `payload`.
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        out
    }

    fn send(&mut self, bytes: &[u8]) {
        // The server may close while we still write: that is its answer.
        let _ = self.stream.write_all(bytes);
    }

    /// Reads server frames until a close frame; returns its code.
    fn close_code(&mut self) -> u16 {
        loop {
            let mut head = [0u8; 2];
            self.stream.read_exact(&mut head).expect("frame header");
            let len = match head[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.stream.read_exact(&mut b).expect("length");
                    u16::from_be_bytes(b) as usize
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.stream.read_exact(&mut b).expect("length");
                    u64::from_be_bytes(b) as usize
                }
                n => n as usize,
            };
            assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
            let mut payload = vec![0u8; len];
            self.stream.read_exact(&mut payload).expect("payload");
            if head[0] == 0x88 {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    }
}

#[test]
fn bad_input_gets_its_status_or_close_code_and_a_log_line() {
    let daemon = Daemon::start(&format!(
        "{WEB}allowed_origins = [\"https://chat.example\"]\n"
    ));
    let addr = web_addr(&daemon);
    let mut bob = daemon.register("bob");
    let host = addr.to_string();
    let handshake = HANDSHAKE.replace("HOST", &host);

    let without_upgrade = handshake.replace("Upgrade: websocket\r\n", "");
    assert_eq!(Raw::handshake(addr, &without_upgrade).0, 400);
    let old = handshake.replace("Version: 13", "Version: 8");
    let (status, _) = Raw::handshake(addr, &old);
    assert_eq!(status, 426);
    let foreign = handshake.replace("\r\n\r\n", "\r\nOrigin: https://evil.example\r\n\r\n");
    assert_eq!(Raw::handshake(addr, &foreign).0, 403);
    daemon.expect_log("WebSocket refused with 403 (origin https://evil.example");
    let listed = handshake.replace("\r\n\r\n", "\r\nOrigin: https://chat.example\r\n\r\n");
    assert_eq!(Raw::handshake(addr, &listed).0, 101);

    let mut fragments = Raw::frame(0x01, b"PRIVMSG");
    for _ in 0..40 {
        fragments.extend(Raw::frame(0x00, b""));
    }
    let mut unmasked = vec![0x81, 4];
    unmasked.extend_from_slice(b"PING");
    let cases: [(&str, Vec<u8>, u16); 6] = [
        ("oversized", Raw::frame(0x81, &vec![b'a'; 5000]), 1009),
        ("fragment flood", fragments, 1008),
        ("unmasked", unmasked, 1002),
        (
            "invalid UTF-8",
            Raw::frame(0x81, b"PRIVMSG #lobby :\xc3\x28"),
            1007,
        ),
        ("CR/LF inside", Raw::frame(0x82, b"NICK a\r\nNICK b"), 1002),
        ("reserved opcode", Raw::frame(0x83, b"x"), 1002),
    ];
    for (what, input, code) in cases {
        let mut raw = Raw::open(addr);
        raw.send(&input);
        assert_eq!(raw.close_code(), code, "{what}");
    }
    daemon.wait_log_count("WebSocket error: ", 6);
    daemon.expect_log("WebSocket error: message too long (1009)");
    // Nothing else was disturbed.
    bob.send("PING :still here");
    bob.expect("PONG");
    let status = daemon.wait_status(|s| s["clients"]["connected"] == 1);
    assert_eq!(status["disconnects"]["websocket_error"], 6, "{status}");
}

#[test]
fn a_slow_request_is_cut_at_the_registration_timeout() {
    let daemon = Daemon::start(&format!("{WEB}[timeouts]\nregistration_timeout = 1\n"));
    let addr = web_addr(&daemon);
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut response = Vec::new();
    for piece in [&b"GET / HTTP/1.1\r\n"[..], b"Host: x\r\n", b"X-Slow: 1\r\n"] {
        stream.write_all(piece).expect("send");
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
    daemon.expect_log("request not complete in 1 s");
}

#[test]
fn five_thousand_idle_half_handshakes_are_held_then_given_back() {
    let daemon = Daemon::start(&format!(
        "{WEB}[limits]\nmax_clients_per_ip = 0\n[timeouts]\nregistration_timeout = 3\n"
    ));
    let addr = web_addr(&daemon);
    let mut watcher = daemon.register("watcher");
    let (base_fds, base_rss) = daemon.fds_and_rss();
    let half = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n";
    let idle: Vec<TcpStream> = (0..5000)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(half).expect("send");
            s
        })
        .collect();
    // The loop still serves a WebSocket client and a plain one meanwhile.
    let mut late = Ws::connect(addr, Some("text.ircv3.net"));
    late.register("late");
    watcher.expect(":late!");
    // Each one is cut at the timeout with a 408.
    daemon.wait_log_count("request not complete", 5000);
    let mut first = &idle[0];
    let mut response = Vec::new();
    first.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let _ = first.read_to_end(&mut response);
    assert!(response.starts_with(b"HTTP/1.1 408 "), "{response:?}");
    drop(idle);
    drop(late);
    let status = daemon.wait_status(|s| s["clients"]["connected"] == 1 && s["queued_bytes"] == 0);
    assert_eq!(status["clients"]["connected"], 1);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (fds, rss) = daemon.fds_and_rss();
        if fds <= base_fds && rss < base_rss + 8192 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not given back: {base_fds} -> {fds} descriptors, {base_rss} -> {rss} KiB"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
