//! TLS over real sockets: certificates made at test time, the real daemon,
//! rustls clients, and `openssl s_client` where it is installed.

mod common;

use common::tls::TestCert;
use common::{Client, Daemon, PATIENCE, TempDir, have_tool};
use rustls::pki_types::ServerName;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// A daemon serving a fresh certificate on a TLS port beside its plain one.
fn start(dir: &TempDir, extra: &str) -> (Daemon, TestCert) {
    let cert = TestCert::make(&dir.path, "server", 1, 90);
    let daemon = Daemon::start(&format!("{}{extra}", cert.config()));
    (daemon, cert)
}

#[test]
fn tls_and_plain_clients_chat_in_one_channel() {
    let dir = TempDir::new();
    let (daemon, cert) = start(&dir, "");
    let mut alice = cert.connect(daemon.tls_addr());
    alice.register("alice");
    let mut bob = daemon.register("bob");
    alice.expect(":bob!");

    alice.send("PRIVMSG #lobby :hello from TLS");
    assert!(bob.expect("hello from TLS").starts_with(":alice!"));
    bob.send("PRIVMSG #lobby :hello from plain");
    assert!(alice.expect("hello from plain").starts_with(":bob!"));
    bob.send("PRIVMSG alice :psst");
    alice.expect("PRIVMSG alice :psst");

    // WHOIS tells who is on TLS (671), and only them.
    bob.send("WHOIS alice");
    let whois = bob.collect_until(" 318 ");
    assert!(
        whois
            .iter()
            .any(|l| l.contains(" 671 bob alice :is using a secure connection")),
        "{whois:#?}"
    );
    alice.send("WHOIS bob");
    let whois = alice.collect_until(" 318 ");
    assert!(!whois.iter().any(|l| l.contains(" 671 ")), "{whois:#?}");

    let status = daemon.status();
    assert_eq!(status["clients"]["connected"], 2, "{status}");
    assert_eq!(status["clients"]["tls"], 1, "{status}");
    let tls_listener = format!("{} (TLS)", daemon.tls_addr());
    assert!(
        status["listeners"]
            .as_array()
            .is_some_and(|l| l.iter().any(|a| a == tls_listener.as_str())),
        "{status}"
    );
    let clients = daemon.ctl_json(&["clients"])["clients"].clone();
    let transport = |nick: &str| {
        clients
            .as_array()
            .and_then(|all| all.iter().find(|c| c["nick"] == nick))
            .map(|c| c["tls"].clone())
            .unwrap_or_else(|| panic!("{nick} missing: {clients}"))
    };
    assert!(
        transport("alice")
            .as_str()
            .is_some_and(|t| t.starts_with("TLSv1_3 TLS13_")),
        "{clients}"
    );
    assert!(transport("bob").is_null(), "{clients}");
    let table = String::from_utf8_lossy(&daemon.ctl(&["clients"]).stdout).to_string();
    assert!(
        table.contains("TLSv1_3") && table.contains("plain"),
        "{table}"
    );

    // QUIT over TLS: the ERROR line arrives, then the session ends cleanly.
    alice.send("QUIT :bye");
    let last = alice.read_to_close();
    assert!(
        last.iter().any(|l| l.starts_with("ERROR :Closing Link")),
        "{last:#?}"
    );
    bob.expect("QUIT :Quit: bye");
}

#[test]
fn reload_serves_a_renewed_certificate_and_keeps_open_sessions() {
    let dir = TempDir::new();
    let (daemon, first) = start(&dir, "");
    let addr = daemon.tls_addr();
    let mut early = first.connect(addr);
    early.register("early");

    // Renewed in place, as certbot does; new connections get the new one.
    let renewed = TestCert::make(&dir.path, "server", 2, 90);
    let reply = daemon.ctl_json(&["reload"]);
    assert_eq!(reply["ok"], true, "{reply}");
    let mut late = renewed.connect(addr);
    let served = late
        .stream
        .conn
        .peer_certificates()
        .and_then(|chain| chain.first().cloned())
        .expect("a certificate");
    assert_eq!(
        served, renewed.der,
        "a new connection must see the new serial"
    );
    late.register("late");
    late.send("PRIVMSG #lobby :after the renewal");
    early.expect("after the renewal");
    early.send("PRIVMSG #lobby :still here");
    late.expect("still here");

    // A broken pair is refused, said, and the running one kept.
    std::fs::write(&renewed.key_file, "not a key\n").expect("break the key");
    let out = daemon.ctl(&["reload"]);
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("server.key"), "{said}");
    daemon.expect_log("reload failed, keeping the running config");
    let mut third = renewed.connect(addr);
    third.register("third");
}

#[test]
fn removing_and_adding_tls_listeners_by_reload() {
    let dir = TempDir::new();
    let (daemon, cert) = start(&dir, "");
    let addr = daemon.tls_addr();
    std::fs::write(&daemon.config_path, "").expect("config without TLS");
    assert_eq!(daemon.ctl_json(&["reload"])["ok"], true);
    daemon.expect_log("stopped listening on 127.0.0.1:0");
    assert!(TcpStream::connect(addr).is_err(), "{addr} still listens");
    std::fs::write(&daemon.config_path, cert.config()).expect("config with TLS");
    assert_eq!(daemon.ctl_json(&["reload"])["ok"], true);
    daemon.wait_log_count("listening for TLS on ", 2);
    let new_addr = daemon.tls_addrs()[1];
    cert.connect(new_addr).register("back");
}

/// `groupchatd --check-config` with `[tls]` pointing at `cert` and `key`.
fn check_config(dir: &TempDir, cert: &std::path::Path, key: &std::path::Path) -> (bool, String) {
    let path = dir.path.join("check.toml");
    std::fs::write(
        &path,
        format!("[tls]\nlisten = [\"127.0.0.1:6697\"]\ncert_file = {cert:?}\nkey_file = {key:?}\n"),
    )
    .expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_groupchatd"))
        .arg("--config")
        .arg(&path)
        .arg("--check-config")
        .output()
        .expect("run groupchatd");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn check_config_names_the_tls_file_at_fault() {
    let dir = TempDir::new();
    let good = TestCert::make(&dir.path, "good", 1, 90);
    let other = TestCert::make(&dir.path, "other", 2, 90);
    let soon = TestCert::make(&dir.path, "soon", 3, 5);
    let missing = dir.path.join("missing.crt");
    let garbage = dir.path.join("garbage.crt");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64!\n").expect("write");

    let (ok, said) = check_config(&dir, &good.cert_file, &good.key_file);
    assert!(
        ok && said.contains("CN=good.test") && !said.contains("warning"),
        "{said}"
    );

    let (ok, said) = check_config(&dir, &missing, &good.key_file);
    assert!(
        !ok && said.contains("cannot read") && said.contains("missing.crt"),
        "{said}"
    );

    let (ok, said) = check_config(&dir, &garbage, &good.key_file);
    assert!(!ok && said.contains("garbage.crt"), "{said}");

    let (ok, said) = check_config(&dir, &good.cert_file, &good.cert_file);
    assert!(!ok && said.contains("no PEM private key"), "{said}");

    let (ok, said) = check_config(&dir, &good.cert_file, &other.key_file);
    assert!(
        !ok && said.contains("other.key: the key does not match the certificate in"),
        "{said}"
    );

    let (ok, said) = check_config(&dir, &soon.cert_file, &soon.key_file);
    assert!(
        ok && said.contains("warning") && said.contains("expires in"),
        "{said}"
    );
}

#[test]
fn tls_from_systemd_credentials() {
    let dir = TempDir::new();
    let credentials = TempDir::new();
    let cert = TestCert::make(&dir.path, "server", 1, 90);
    std::fs::copy(&cert.cert_file, credentials.path.join("tls.crt")).expect("copy");
    std::fs::copy(&cert.key_file, credentials.path.join("tls.key")).expect("copy");
    let credentials_dir = credentials.path.to_string_lossy().to_string();
    let daemon = Daemon::start_with_env(
        "[tls]\nlisten = [\"127.0.0.1:0\"]\n",
        &[],
        &[("CREDENTIALS_DIRECTORY", &credentials_dir)],
    );
    daemon.expect_log("tls.crt: CN=server.test");
    cert.connect(daemon.tls_addr()).register("credited");
}

/// The first bytes a real client sends: its ClientHello.
fn client_hello(cert: &TestCert) -> Vec<u8> {
    let name = ServerName::try_from("localhost").expect("name");
    let mut conn = rustls::ClientConnection::new(cert.client_config(), name).expect("client");
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).expect("hello");
    hello
}

/// Waits until the server closes `stream`, reading and dropping what it
/// sends (an alert, or nothing).
fn closed_by_server(mut stream: TcpStream) {
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut sink = [0u8; 4096];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
}

#[test]
fn bad_input_on_the_tls_port_is_cut_and_said_and_costs_nothing() {
    let dir = TempDir::new();
    let (daemon, cert) = start(
        &dir,
        "[limits]\nmax_clients_per_ip = 0\n[timeouts]\nregistration_timeout = 2\n",
    );
    let addr = daemon.tls_addr();
    let mut watcher = cert.connect(addr);
    watcher.register("watcher");
    let mut speaker = daemon.register("speaker");
    watcher.expect(":speaker!");
    // A first session warms up what stays allocated once.
    drop(cert.connect(addr));
    daemon.wait_status(|s| s["clients"]["connected"] == 2);
    let (base_fds, base_rss) = daemon.fds_and_rss();

    let mut noise = vec![0u8; 4096];
    let mut x: u32 = 12345;
    for byte in &mut noise {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *byte = (x >> 16) as u8;
    }
    let hello = client_hello(&cert);
    let cases: [(&str, &[u8]); 4] = [
        ("plain IRC", b"NICK plain\r\nUSER plain 0 * :plain\r\n"),
        (
            "an HTTP request",
            b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ),
        ("random bytes", &noise),
        (
            "a ClientHello with garbage after it",
            &[&hello[..], b"garbage"].concat(),
        ),
    ];
    for (what, bytes) in cases {
        let before = daemon.count_log("TLS error:");
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        closed_by_server(stream);
        daemon.wait_log_count("TLS error:", before + 1);
    }

    // A truncated ClientHello, then the client gives up.
    let before = daemon.count_log("Connection closed");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(&hello[..hello.len() / 2]).expect("send");
    stream.shutdown(Shutdown::Write).expect("half-close");
    closed_by_server(stream);
    daemon.wait_log_count("Connection closed", before + 1);

    // A handshake that stops half way is cut by the registration timeout.
    let mut slow = TcpStream::connect(addr).expect("connect");
    slow.write_all(&hello[..10]).expect("send");
    closed_by_server(slow);
    daemon.expect_log("Registration timeout");

    // A registered client that closes in the middle of a record.
    let mut torn = cert.connect(addr);
    torn.register("torn");
    watcher.expect(":torn!");
    torn.stream
        .conn
        .writer()
        .write_all(b"PRIVMSG #lobby :never whole\r\n")
        .expect("plaintext");
    let mut record = Vec::new();
    torn.stream.conn.write_tls(&mut record).expect("record");
    torn.stream
        .sock
        .write_all(&record[..record.len() / 2])
        .expect("half a record");
    drop(torn);
    let quit = watcher.expect(":torn!");
    assert!(quit.contains("QUIT :Connection closed"), "{quit}");

    // Everyone else went on, and everything was given back.
    speaker.send("PRIVMSG #lobby :still serving");
    watcher.expect("still serving");
    watcher.send("PRIVMSG #lobby :and over TLS");
    speaker.expect("and over TLS");
    let status = daemon.wait_status(|s| s["clients"]["connected"] == 2);
    assert_eq!(status["queued_bytes"], 0, "{status}");
    assert!(
        status["disconnects"]["tls_error"].as_u64() >= Some(4),
        "{status}"
    );
    // Waited for: the admin connection of the last status may still be
    // closing (and the baseline may hold one).
    let deadline = std::time::Instant::now() + PATIENCE;
    let (fds, rss) = loop {
        let (fds, rss) = daemon.fds_and_rss();
        if fds <= base_fds || std::time::Instant::now() > deadline {
            break (fds, rss);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(fds <= base_fds, "descriptors leaked: {base_fds} -> {fds}");
    assert!(
        rss < base_rss + 4096,
        "RSS grew from {base_rss} KiB to {rss} KiB"
    );
}

#[test]
fn five_thousand_silent_tls_connections_are_held_then_given_back() {
    let dir = TempDir::new();
    let (daemon, cert) = start(&dir, "[limits]\nmax_clients_per_ip = 0\n");
    let addr = daemon.tls_addr();
    let mut watcher = cert.connect(addr);
    watcher.register("watcher");
    daemon.wait_status(|s| s["clients"]["connected"] == 1);
    let (base_fds, _) = daemon.fds_and_rss();
    let silent: Vec<TcpStream> = (0..5000)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    daemon.wait_status(|s| s["clients"]["connected"] == 5001);
    // The loop still serves: a handshake and a line go through.
    let mut late = cert.connect(addr);
    late.register("late");
    watcher.expect(":late!");
    drop(silent);
    drop(late);
    let status = daemon.wait_status(|s| s["clients"]["connected"] == 1);
    assert_eq!(status["queued_bytes"], 0, "{status}");
    let deadline = std::time::Instant::now() + PATIENCE;
    while daemon.fds_and_rss().0 > base_fds {
        assert!(std::time::Instant::now() < deadline, "descriptors leaked");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `openssl s_client` against the daemon's TLS port. Without `-quiet` its
/// command letters are live (`R` at the start of a line renegotiates).
fn s_client(addr: SocketAddr, cert: &TestCert, extra: &[&str]) -> std::process::Child {
    Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string(), "-CAfile"])
        .arg(&cert.cert_file)
        .args(["-verify_return_error", "-servername", "localhost"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl")
}

#[test]
fn irc_through_openssl_s_client() {
    if !have_tool("openssl", &["version"], "the s_client test needs openssl") {
        return;
    }
    let dir = TempDir::new();
    let (daemon, cert) = start(&dir, "");
    let mut bob = daemon.register("bob");
    let mut child = s_client(daemon.tls_addr(), &cert, &["-quiet"]);
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    stdin
        .write_all(b"NICK sam\r\nUSER sam 0 * :Sam\r\nPRIVMSG #lobby :hi from openssl\r\n")
        .expect("send");
    bob.expect(":sam!");
    assert!(bob.expect("hi from openssl").starts_with(":sam!"));
    bob.send("PRIVMSG #lobby :hi back");
    let mut reader = std::io::BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        let n = std::io::BufRead::read_line(&mut reader, &mut line).expect("read");
        assert!(n > 0, "openssl ended before the reply");
        if line.contains("hi back") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_key_update_storm_is_cut() {
    let dir = TempDir::new();
    let (daemon, cert) = start(&dir, "");
    let mut bob = daemon.register("bob");
    let mut storm = cert.connect(daemon.tls_addr());
    // Each key update asks the server for one back; rustls allows 32 in a
    // row without application data between them.
    for _ in 0..100 {
        storm
            .stream
            .conn
            .refresh_traffic_keys()
            .expect("key update");
        let mut records = Vec::new();
        storm.stream.conn.write_tls(&mut records).expect("records");
        if storm.stream.sock.write_all(&records).is_err() {
            break;
        }
    }
    daemon.expect_log("TooManyKeyUpdateRequests");
    closed_by_server(storm.stream.sock);
    bob.send("PING :still");
    bob.expect("PONG");
    daemon.wait_status(|s| s["clients"]["connected"] == 1);
}

#[test]
fn renegotiation_is_refused() {
    if !have_tool(
        "openssl",
        &["version"],
        "the renegotiation test needs openssl",
    ) {
        return;
    }
    let dir = TempDir::new();
    let (daemon, cert) = start(&dir, "");
    let mut bob = daemon.register("bob");
    // TLS 1.2 with `R` lines: openssl asks to renegotiate, rustls refuses
    // (no_renegotiation), and openssl gives up on the connection.
    let mut child = s_client(daemon.tls_addr(), &cert, &["-tls1_2"]);
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("Verify return code: 0") {
        let n = stdout.read(&mut chunk).expect("read openssl");
        assert!(n > 0, "openssl ended: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&chunk[..n]);
    }
    let _ = stdin.write_all("R\n".repeat(50).as_bytes());
    daemon.expect_log("TLS error:");
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    bob.send("PING :still");
    bob.expect("PONG");
    daemon.wait_status(|s| s["clients"]["connected"] == 1);
}

/// A client that trusts nothing: the handshake fails on its side, and the
/// server says so and goes on.
#[test]
fn a_client_refusing_the_certificate_costs_the_server_nothing() {
    let dir = TempDir::new();
    let (daemon, _) = start(&dir, "");
    let stranger = TestCert::make(&dir.path, "stranger", 9, 90);
    let config: Arc<rustls::ClientConfig> = stranger.client_config();
    let tcp = TcpStream::connect(daemon.tls_addr()).expect("connect");
    tcp.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let name = ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(config, name).expect("client");
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    let failed = loop {
        if !stream.conn.is_handshaking() {
            break None;
        }
        if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
            break Some(e);
        }
    };
    assert!(failed.is_some(), "the handshake should fail on the client");
    daemon.expect_log("TLS error:");
    daemon.wait_status(|s| s["clients"]["connected"] == 0);
    let mut after = Client::connect(daemon.addr);
    after.register("after");
}

#[test]
fn sts_policy_sends_plain_clients_to_tls() {
    let dir = TempDir::new();
    let cert = TestCert::make(&dir.path, "server", 1, 90);
    // The policy names a fixed port: take a free one.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let daemon = Daemon::start(&format!(
        "[tls]\nlisten = [\"127.0.0.1:{port}\"]\ncert_file = {:?}\nkey_file = {:?}\nsts_duration = 2592000\n",
        cert.cert_file, cert.key_file
    ));
    let mut plain = daemon.connect();
    plain.send("CAP LS 302");
    let offer = plain.expect(" CAP * LS ");
    assert!(offer.contains(&format!("sts=port={port}")), "{offer}");
    let mut secure = cert.connect(daemon.tls_addr());
    secure.send("CAP LS 302");
    let offer = secure.expect(" CAP * LS ");
    assert!(offer.contains("sts=duration=2592000"), "{offer}");
    secure.send("CAP REQ :echo-message");
    secure.expect(" CAP * ACK :echo-message");
    secure.send("CAP END");
    secure.register("sam");
    secure.send("PRIVMSG #lobby :echoed");
    assert!(secure.expect("echoed").starts_with(":sam!"));
}
