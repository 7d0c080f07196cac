//! The `groupchat` client as people use it: the real binary in a real
//! pseudo-terminal (and through pipes) against the real daemon on loopback.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Instant;

use common::tls::TestCert;
use common::{CHEAP_HASHES, Daemon, PATIENCE, TempDir};
use rexpect::process::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

/// The client for `server`, with colors left to the client: TERM is set so
/// a pseudo-terminal counts as a capable one even where the test runner has
/// no terminal of its own, and the runner's NO_COLOR is not inherited.
fn groupchat(server: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_groupchat"));
    command
        .arg(server)
        .args(args)
        .env("TERM", "xterm")
        .env_remove("NO_COLOR");
    command
}

fn in_pty(command: Command) -> PtySession {
    let timeout = u64::try_from(PATIENCE.as_millis()).expect("patience fits in u64");
    spawn_command(command, Some(timeout)).expect("start groupchat in a pty")
}

/// The client in a pseudo-terminal, as a person would start it, with colors
/// off so the expected text is plain.
fn person(daemon: &Daemon, args: &[&str]) -> PtySession {
    person_at(&daemon.addr.to_string(), args)
}

fn person_at(server: &str, args: &[&str]) -> PtySession {
    let mut command = groupchat(server, args);
    command.env("NO_COLOR", "1");
    in_pty(command)
}

/// Someone who has joined and can talk.
fn joined(daemon: &Daemon, nick: &str) -> PtySession {
    let mut p = person(daemon, &["--nick", nick]);
    p.exp_string(&format!("you are {nick}, talking in #lobby"))
        .expect("joined #lobby");
    p
}

fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().expect("wait for groupchat") {
            return status;
        }
        assert!(Instant::now() < deadline, "groupchat did not exit");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn two_people_chat_act_whisper_and_rename() {
    let daemon = Daemon::start("");
    let mut alice = joined(&daemon, "alice");
    let mut bob = person(&daemon, &[]);
    bob.exp_string("Nickname: ").expect("asked for a name");
    bob.send_line("bob").expect("type name");
    bob.exp_string("you are bob, talking in #lobby")
        .expect("bob joined");
    alice
        .exp_string("* bob joined")
        .expect("alice sees bob join");

    bob.send_line("hello alice").expect("type");
    alice
        .exp_regex(r"\d\d:\d\d <bob> hello alice")
        .expect("alice reads bob");
    bob.exp_string("<bob> hello alice")
        .expect("bob sees his line");

    alice.send_line("/me waves").expect("type");
    bob.exp_string("* alice waves")
        .expect("bob sees the action");

    alice.send_line("/msg bob just between us").expect("type");
    bob.exp_string("[private] <alice> just between us")
        .expect("bob gets the private message");
    alice
        .exp_string("[private to bob] <alice> just between us")
        .expect("alice sees what she whispered");

    bob.send_line("/nick robert").expect("type");
    bob.exp_string("you are now known as robert")
        .expect("bob is renamed");
    alice
        .exp_string("* bob is now known as robert")
        .expect("alice sees the rename");
    bob.send_line("still me").expect("type");
    alice
        .exp_string("<robert> still me")
        .expect("the new name is used");

    alice.send_line("/who").expect("type");
    alice
        .exp_string("in #lobby: alice, robert")
        .expect("alice lists the channel");
}

#[test]
fn nicks_are_colored_on_a_terminal_unless_no_color() {
    let daemon = Daemon::start("");
    let mut colorful = in_pty(groupchat(&daemon.addr.to_string(), &["--nick", "colorful"]));
    colorful
        .exp_string("talking in #lobby")
        .expect("colorful joined");
    let mut plain = joined(&daemon, "plain");
    colorful.exp_string("plain").expect("plain arrives");
    plain.send_line("hi").expect("type");
    colorful
        .exp_regex(r"<\x1b\[\d+mplain\x1b\[0m> hi")
        .expect("the nick is colored");
    colorful.send_line("hello").expect("type");
    plain
        .exp_string("<colorful> hello")
        .expect("no color codes with NO_COLOR");
}

#[test]
fn a_taken_nick_is_asked_for_again() {
    let daemon = Daemon::start("");
    let _alice = joined(&daemon, "alice");
    let mut other = person(&daemon, &[]);
    other.exp_string("Nickname: ").expect("asked for a name");
    other.send_line("alice").expect("type taken name");
    other
        .exp_string("please choose another nickname")
        .expect("asked again");
    other.exp_string("Nickname: ").expect("prompted again");
    other.send_line("alicia").expect("type free name");
    other
        .exp_string("you are alicia, talking in #lobby")
        .expect("registered under the new name");
}

#[test]
fn an_empty_line_says_goodbye() {
    let daemon = Daemon::start("");
    let mut alice = joined(&daemon, "alice");
    let mut bob = joined(&daemon, "bob");
    alice.exp_string("* bob joined").expect("bob arrives");
    bob.send_line("").expect("empty line");
    bob.exp_string("Goodbye!").expect("goodbye");
    bob.exp_eof().expect("bob's client ends");
    let status = bob.process().wait().expect("wait");
    assert!(
        matches!(status, WaitStatus::Exited(_, 0)),
        "exit status {status:?}"
    );
    alice
        .exp_string("* bob left")
        .expect("alice sees bob leave");
}

#[test]
fn ctrl_d_also_leaves() {
    let daemon = Daemon::start("");
    let mut bob = joined(&daemon, "bob");
    bob.send_control('d').expect("Ctrl-D");
    bob.exp_string("Goodbye!").expect("goodbye");
    bob.exp_eof().expect("bob's client ends");
}

#[test]
fn a_dropped_connection_is_reported() {
    let daemon = Daemon::start("");
    let mut stays = joined(&daemon, "stays");
    let mut gives_up = person(&daemon, &["--nick", "quitter", "--no-reconnect"]);
    gives_up.exp_string("talking in #lobby").expect("joined");
    drop(daemon);
    gives_up.exp_string("connection lost").expect("told");
    gives_up.exp_eof().expect("exits without reconnecting");
    stays.exp_string("connection lost").expect("told");
    stays.exp_string("reconnecting in").expect("tries again");
}

#[test]
fn reconnects_and_rejoins_its_channel_after_a_server_restart() {
    // A port that stays the same across the restart.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port();
    let server = format!("127.0.0.1:{port}");
    let daemon = Daemon::start_with("", &["--listen", &server]);
    let mut carol = person_at(&server, &["--nick", "carol", "--channel", "dev"]);
    carol
        .exp_string("you are carol, talking in #dev")
        .expect("joined the channel given");
    drop(daemon);
    carol.exp_string("connection lost").expect("told");
    let daemon = Daemon::start_with("", &["--listen", &server]);
    carol
        .exp_string("you are carol, talking in #dev")
        .expect("back in the same channel");
    let mut watcher = daemon.register("watcher");
    watcher.send("JOIN #dev");
    watcher.expect(" 366 ");
    carol.send_line("back again").expect("type");
    watcher.expect("PRIVMSG #dev :back again");
}

#[test]
fn scripted_through_pipes() {
    let daemon = Daemon::start("");
    let mut watcher = daemon.register("watcher");
    let mut script = groupchat(&daemon.addr.to_string(), &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start groupchat on pipes");
    let mut input = script.stdin.take().expect("stdin");
    // Without --nick the first line is the name, as in the classroom client.
    input
        .write_all(b"piper\nhello from a script\n\n/me is scripted\n")
        .expect("write script");
    watcher.expect(":piper!");
    watcher.expect("PRIVMSG #lobby :hello from a script");
    watcher.expect("PRIVMSG #lobby :\x01ACTION is scripted\x01");
    watcher.send("PRIVMSG #lobby :hi piper");
    // The daemon handles one client's lines in order: once it answers the
    // PING, "hi piper" is on its way to the script.
    watcher.send("PING :sync");
    watcher.expect("PONG");
    input.write_all(b"last words\n").expect("write");
    drop(input);
    watcher.expect("PRIVMSG #lobby :last words");
    watcher.expect(" QUIT ");
    let status = wait_exit(&mut script);
    assert!(status.success(), "exit status {status:?}");
    let mut out = String::new();
    script
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read stdout");
    assert!(out.contains("<watcher> hi piper"), "stdout: {out}");
    assert!(
        !out.contains('\x1b'),
        "no terminal codes on a pipe: {out:?}"
    );
    assert!(
        !out.contains("hello from a script"),
        "own lines are not echoed to a script: {out}"
    );
}

/// A daemon with cheap password hashes and the account `alice`, and a file
/// holding her password.
fn daemon_with_alice() -> (Daemon, String) {
    let daemon = Daemon::start(CHEAP_HASHES);
    daemon.add_account("alice", "correct horse battery");
    let file = daemon.dir.path.join("alice-password");
    std::fs::write(&file, "correct horse battery\n").expect("write the password file");
    let path = file.to_str().expect("utf-8 path").to_string();
    (daemon, path)
}

#[test]
fn logs_in_to_an_account_with_a_password_file() {
    let (daemon, password_file) = daemon_with_alice();
    let mut watcher = daemon.register("watcher");
    let mut script = groupchat(
        &daemon.addr.to_string(),
        &["--account", "alice", "--password-file", &password_file],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start groupchat on pipes");
    let mut input = script.stdin.take().expect("stdin");
    input.write_all(b"hello as alice\n").expect("write");
    // The nick is the account's when --nick is left out.
    watcher.expect(":alice!");
    watcher.expect("PRIVMSG #lobby :hello as alice");
    watcher.send("WHOIS alice");
    assert!(watcher.expect(" 330 ").contains("alice alice"));
    drop(input);
    let status = wait_exit(&mut script);
    assert!(status.success(), "exit status {status:?}");
    let mut out = String::new();
    script
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read stdout");
    assert!(out.contains("logged in as alice"), "stdout: {out}");
}

#[test]
fn on_a_terminal_the_password_is_asked_for_without_echo() {
    let (daemon, _) = daemon_with_alice();
    let mut alice = person(&daemon, &["--account", "alice"]);
    alice
        .exp_string("Password: ")
        .expect("asked for the password");
    alice.send_line("correct horse battery").expect("type");
    // Everything shown after the prompt, up to the welcome.
    let typed = alice
        .exp_string("you are alice, talking in #lobby")
        .expect("logged in and joined");
    assert!(!typed.contains("correct horse"), "echoed: {typed:?}");
}

#[test]
fn a_failed_login_ends_the_client_instead_of_chatting_as_a_guest() {
    let (daemon, _) = daemon_with_alice();
    let mut watcher = daemon.register("watcher");
    // Without a file or a terminal, the password is the first input line.
    let mut script = groupchat(&daemon.addr.to_string(), &["--account", "alice"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start groupchat on pipes");
    let mut input = script.stdin.take().expect("stdin");
    input
        .write_all(b"not the password\nshould never be said\n")
        .expect("write");
    let status = wait_exit(&mut script);
    assert_eq!(status.code(), Some(1), "exit status {status:?}");
    let output = script.wait_with_output().expect("groupchat's output");
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(out.contains("login failed"), "stdout: {out}");
    assert!(err.contains("not logged in"), "stderr: {err}");
    assert!(!format!("{out}{err}").contains("not the password"));
    // Nothing was said: the next line the watcher gets is its own PONG.
    watcher.send("PING :sync");
    assert!(watcher.expect("PONG").contains("sync"));
    drop(input);
}

#[test]
fn an_operator_ops_and_kicks_from_the_client() {
    let daemon = Daemon::start("");
    let mut bob = daemon.register("bob");
    let mut script = groupchat(
        &daemon.addr.to_string(),
        &["--nick", "piper", "--channel", "#ops"],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start groupchat on pipes");
    let mut input = script.stdin.take().expect("stdin");
    // Input is read once the client is in #ops, the first one there, which
    // makes it the channel's operator.
    input.write_all(b"/msg bob come in\n").expect("write");
    bob.expect("PRIVMSG bob :come in");
    bob.send("JOIN #ops");
    assert!(bob.expect(" 353 ").contains("@piper"));
    bob.expect(" 366 ");
    input
        .write_all(b"/op bob\n/kick bob that will do\n/names\n")
        .expect("write");
    let mode = bob.expect(" MODE ");
    // The daemon writes every last parameter as a trailing one.
    assert!(mode.contains("MODE #ops +o :bob"), "{mode}");
    let kick = bob.expect(" KICK ");
    assert!(kick.contains("KICK #ops bob :that will do"), "{kick}");
    drop(input);
    let status = wait_exit(&mut script);
    assert!(status.success(), "exit status {status:?}");
    let output = script.wait_with_output().expect("groupchat's output");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(out.contains("piper gave bob operator status"), "{out}");
    assert!(out.contains("piper kicked bob (that will do)"), "{out}");
    assert!(out.contains("in #ops: @piper"), "{out}");
}

/// The daemon serving `cert` over TLS, and the address it serves it on.
fn tls_daemon(cert: &TestCert) -> (Daemon, String) {
    let daemon = Daemon::start(&cert.config());
    let addr = daemon.tls_addr().to_string();
    (daemon, addr)
}

/// A self-signed certificate for the daemon, in a directory of its own.
fn server_cert(dir: &TempDir) -> TestCert {
    TestCert::make(&dir.path, "server", 1, 30)
}

#[test]
fn tls_with_ca_chats_with_a_plain_client() {
    let dir = TempDir::new();
    let cert = server_cert(&dir);
    let (daemon, addr) = tls_daemon(&cert);
    let ca = cert.cert_file.to_str().expect("UTF-8 path");
    let mut alice = person_at(&addr, &["--tls", "--ca", ca, "--nick", "alice"]);
    alice
        .exp_string(&format!("connecting to {addr} over TLS"))
        .expect("says it uses TLS");
    alice
        .exp_string("you are alice, talking in #lobby")
        .expect("joined over TLS");
    let mut plain = daemon.register("plain");
    alice
        .exp_string("* plain joined")
        .expect("alice sees the plain client");
    alice.send_line("hello over tls").expect("type");
    plain.expect("PRIVMSG #lobby :hello over tls");
    plain.send("PRIVMSG #lobby :hello in plain");
    alice
        .exp_string("<plain> hello in plain")
        .expect("alice reads the plain client");
}

#[test]
fn an_ircs_url_means_tls_and_checks_the_name() {
    let dir = TempDir::new();
    let cert = server_cert(&dir);
    let (_daemon, addr) = tls_daemon(&cert);
    let port = addr.rsplit(':').next().expect("a port");
    let ca = cert.cert_file.to_str().expect("UTF-8 path");
    let url = format!("ircs://localhost:{port}");
    let mut bob = person_at(&url, &["--ca", ca, "--nick", "bob"]);
    bob.exp_string(&format!("connecting to localhost:{port} over TLS"))
        .expect("the URL asks for TLS");
    bob.exp_string("you are bob, talking in #lobby")
        .expect("joined over TLS");
}

#[test]
fn an_untrusted_certificate_is_refused_with_nothing_sent_in_plaintext() {
    let dir = TempDir::new();
    let cert = server_cert(&dir);
    let (_daemon, addr) = tls_daemon(&cert);
    let (relay, sent) = recording_relay(addr.parse().expect("TLS address"));
    // The "system" trust store holds some other certificate, so the test
    // does not depend on what the machine trusts.
    let other = TestCert::make(&dir.path, "other", 2, 30);
    let mut client = groupchat(&relay.to_string(), &["--tls", "--nick", "mallory"])
        .env("SSL_CERT_FILE", &other.cert_file)
        .env_remove("SSL_CERT_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start groupchat");
    let status = wait_exit(&mut client);
    let mut stderr = String::new();
    client
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "exit status {status:?}");
    let message = format!(
        "groupchat: TLS to {relay} failed: invalid peer certificate: UnknownIssuer \
         (is the server's certificate self-signed? pass it with --ca FILE)"
    );
    assert!(stderr.contains(&message), "stderr: {stderr}");
    let sent = sent.recv_timeout(PATIENCE).expect("the relay's record");
    assert_eq!(sent.first(), Some(&0x16), "a TLS handshake record first");
    let text = String::from_utf8_lossy(&sent);
    assert!(
        !text.contains("NICK") && !text.contains("mallory"),
        "nothing in plaintext: {text:?}"
    );
}

#[test]
fn reconnects_over_tls_after_a_server_restart() {
    let dir = TempDir::new();
    let cert = server_cert(&dir);
    // A TLS port that stays the same across the restart.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = cert.config().replace("127.0.0.1:0", &addr);
    let daemon = Daemon::start(&config);
    let ca = cert.cert_file.to_str().expect("UTF-8 path");
    let mut erin = person_at(&format!("ircs://{addr}"), &["--ca", ca, "--nick", "erin"]);
    erin.exp_string("you are erin, talking in #lobby")
        .expect("joined over TLS");
    drop(daemon);
    erin.exp_string("connection lost").expect("told");
    let daemon = Daemon::start(&config);
    erin.exp_string(&format!("connecting to {addr} over TLS"))
        .expect("reconnects with TLS");
    erin.exp_string("you are erin, talking in #lobby")
        .expect("back in #lobby");
    let mut watcher = daemon.register("watcher");
    erin.send_line("still private").expect("type");
    watcher.expect("PRIVMSG #lobby :still private");
}

/// A TCP relay to `to` for one connection, which hands over every byte the
/// client sent once the client is gone.
fn recording_relay(to: SocketAddr) -> (SocketAddr, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
    let addr = listener.local_addr().expect("relay address");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut client, _) = listener.accept().expect("accept");
        let mut server = TcpStream::connect(to).expect("connect to the daemon");
        let mut replies = server.try_clone().expect("clone");
        let mut back = client.try_clone().expect("clone");
        std::thread::spawn(move || {
            drop(std::io::copy(&mut replies, &mut back));
            drop(back.shutdown(Shutdown::Both));
        });
        let mut sent = Vec::new();
        let mut buf = [0; 4096];
        while let Ok(n @ 1..) = client.read(&mut buf) {
            sent.extend_from_slice(&buf[..n]);
            if server.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        drop(server.shutdown(Shutdown::Both));
        drop(tx.send(sent));
    });
    (addr, rx)
}

#[test]
fn joining_shows_the_earlier_lines_marked_as_history() {
    let daemon = Daemon::start("");
    let mut peer = daemon.register("peer");
    peer.send("PRIVMSG #lobby :said before you came");
    peer.send("PRIVMSG #lobby :and this too");
    // Once the PING is answered both lines are in history.
    peer.send("PING :sync");
    peer.expect("PONG");
    let mut alice = joined(&daemon, "alice");
    alice
        .exp_regex(r"\[\d\d:\d\d\] <peer> said before you came")
        .expect("the first earlier line, with its time in brackets");
    alice
        .exp_regex(r"\[\d\d:\d\d\] <peer> and this too")
        .expect("the second earlier line");
    peer.send("PRIVMSG #lobby :said just now");
    // A live line has the plain clock ("12:34 <peer>", not "12:34] <peer>").
    alice
        .exp_regex(r"\d\d:\d\d <peer> said just now")
        .expect("a live line looks live");
}

#[test]
fn a_reconnect_loses_nothing_said_while_away() {
    loses_nothing_said_while_away("");
}

/// Without a playback on joining, the first history batch after the
/// rejoin is the answer: it still shows as the missed lines.
#[test]
fn a_reconnect_without_join_playback_still_shows_the_missed_lines() {
    loses_nothing_said_while_away("[history]\njoin_playback = 0\n");
}

/// piper is cut off while peer talks in #lobby, then comes back: what
/// peer said shows once each, among the missed lines.
fn loses_nothing_said_while_away(config: &str) {
    let daemon = Daemon::start(config);
    let relay = Relay::start(daemon.addr);
    let mut peer = daemon.register("peer");
    let mut client = groupchat(&relay.addr.to_string(), &["--nick", "piper"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start groupchat on pipes");
    let mut input = client.stdin.take().expect("stdin");
    let mut out = Lines::of(client.stdout.take().expect("stdout"));
    peer.expect(":piper!");
    peer.send("PRIVMSG #lobby :before the cut");
    out.wait_for("<peer> before the cut");
    input.write_all(b"hello peer\n").expect("write");
    peer.expect("PRIVMSG #lobby :hello peer");
    // Once piper reads this, its own line has come back to it too.
    peer.send("PRIVMSG #lobby :got it");
    out.wait_for("<peer> got it");

    // The network fails: the daemon sees piper go, and piper cannot get
    // back until the relay lets it.
    relay.cut();
    peer.expect(":piper!");
    let said = ["missed one", "missed two", "missed three"];
    for text in said {
        peer.send(&format!("PRIVMSG #lobby :{text}"));
    }
    peer.send("PING :sync");
    peer.expect("PONG");
    relay.reopen();

    peer.expect(" JOIN ");
    out.wait_for("* end of missed lines");
    peer.send("PRIVMSG #lobby :welcome back");
    out.wait_for("<peer> welcome back");
    drop(input);
    let status = wait_exit(&mut client);
    assert!(status.success(), "exit status {status:?}");
    let lines = out.rest();

    let header = position(&lines, "* missed while disconnected:");
    let end = position(&lines, "* end of missed lines");
    for text in said {
        let shown: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].contains(text))
            .collect();
        assert_eq!(shown.len(), 1, "{text:?} once: {lines:#?}");
        assert!(
            header < shown[0] && shown[0] < end,
            "{text:?} among the missed lines: {lines:#?}"
        );
        let marked = format!("] <peer> {text}");
        assert!(
            lines[shown[0]].starts_with('[') && lines[shown[0]].ends_with(&marked),
            "{text:?} with the time it was said: {lines:#?}"
        );
    }
    let before = lines.iter().filter(|l| l.contains("before the cut"));
    assert_eq!(
        before.count(),
        1,
        "what was seen is not shown again: {lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("hello peer")),
        "own lines are not echoed to a script: {lines:#?}"
    );
}

#[test]
fn a_private_message_sent_into_a_dead_connection_is_shown_after_the_reconnect() {
    let daemon = Daemon::start("");
    let relay = Relay::start(daemon.addr);
    let mut peer = daemon.register("peer");
    let mut client = groupchat(&relay.addr.to_string(), &["--nick", "piper"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start groupchat on pipes");
    let input = client.stdin.take().expect("stdin");
    let mut out = Lines::of(client.stdout.take().expect("stdout"));
    peer.expect(":piper!");
    peer.send("PRIVMSG piper :before the cut");
    out.wait_for("[private] <peer> before the cut");

    // The network fails and the daemon does not notice at once: what it
    // sends piper meanwhile is lost on the way.
    relay.lose();
    peer.send("PRIVMSG piper :whispered into the void");
    peer.send("PING :sync");
    peer.expect("PONG");
    relay.cut();
    peer.expect(":piper!");
    relay.reopen();

    out.wait_for("* private messages from peer missed while disconnected:");
    out.wait_for("* end of missed lines");
    drop(input);
    let status = wait_exit(&mut client);
    assert!(status.success(), "exit status {status:?}");
    let lines = out.rest();
    let header = position(&lines, "private messages from peer missed");
    let missed = position(&lines, "whispered into the void");
    let end = position(&lines, "* end of missed lines");
    assert!(header < missed && missed < end, "{lines:#?}");
    assert!(
        lines[missed].starts_with('[')
            && lines[missed].ends_with("] [private] <peer> whispered into the void"),
        "shown with the time it was said: {lines:#?}"
    );
    position(&lines, "before the cut");
}

/// The index of the only line containing `text`.
fn position(lines: &[String], text: &str) -> usize {
    let found: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(text))
        .collect();
    assert_eq!(found.len(), 1, "one {text:?} in {lines:#?}");
    found[0]
}

/// A program's output lines, read as they come, kept for a look at the end.
struct Lines {
    rx: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn of(stream: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    /// Reads until a line contains `text`.
    fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    let done = line.contains(text);
                    self.seen.push(line);
                    if done {
                        return;
                    }
                }
                Err(_) => panic!("no line with {text:?}; got {:#?}", self.seen),
            }
        }
    }

    /// Every line, once the program has closed its output.
    fn rest(mut self) -> Vec<String> {
        while let Ok(line) = self.rx.recv_timeout(PATIENCE) {
            self.seen.push(line);
        }
        self.seen
    }
}

/// A TCP relay to the daemon that a test cuts, as a failing network
/// would: both ends are closed, and connections made after the cut wait
/// (accepted, but not passed on) until the relay is reopened.
struct Relay {
    addr: SocketAddr,
    /// Both sockets of every relayed connection (client's first), to cut
    /// them.
    open: Arc<Mutex<Vec<TcpStream>>>,
    /// Set: a client that goes leaves its daemon side open.
    losing: Arc<AtomicBool>,
    /// Whether new connections go through now.
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl Relay {
    fn start(to: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let open = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new((Mutex::new(true), Condvar::new()));
        let losing = Arc::new(AtomicBool::new(false));
        let (sockets, through) = (Arc::clone(&open), Arc::clone(&gate));
        let leave_open = Arc::clone(&losing);
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let (lock, opened) = &*through;
                let mut passing = lock.lock().expect("gate lock");
                while !*passing {
                    passing = opened.wait(passing).expect("gate wait");
                }
                drop(passing);
                let server = TcpStream::connect(to).expect("connect to the daemon");
                let mut list = sockets.lock().expect("relay lock");
                list.push(client.try_clone().expect("clone"));
                list.push(server.try_clone().expect("clone"));
                let mut to_server = server.try_clone().expect("clone");
                let mut from_client = client.try_clone().expect("clone");
                let leave_open = Arc::clone(&leave_open);
                std::thread::spawn(move || {
                    drop(std::io::copy(&mut from_client, &mut to_server));
                    if !leave_open.load(Ordering::SeqCst) {
                        drop(to_server.shutdown(Shutdown::Both));
                    }
                });
                pipe(server, client);
            }
        });
        Relay {
            addr,
            open,
            gate,
            losing,
        }
    }

    /// Cuts the clients off as a failing network would, before the daemon
    /// notices: their daemon sides stay open, and what the daemon sends
    /// there is lost, until [`Relay::cut`]. New connections are held until
    /// [`Relay::reopen`].
    fn lose(&self) {
        *self.gate.0.lock().expect("gate lock") = false;
        self.losing.store(true, Ordering::SeqCst);
        let open = self.open.lock().expect("relay lock");
        for client in open.iter().step_by(2) {
            drop(client.shutdown(Shutdown::Both));
        }
    }

    /// Closes every connection, and holds new ones until [`Relay::reopen`].
    fn cut(&self) {
        *self.gate.0.lock().expect("gate lock") = false;
        self.losing.store(false, Ordering::SeqCst);
        for socket in self.open.lock().expect("relay lock").drain(..) {
            drop(socket.shutdown(Shutdown::Both));
        }
    }

    fn reopen(&self) {
        *self.gate.0.lock().expect("gate lock") = true;
        self.gate.1.notify_all();
    }
}

/// Copies `from` to `to` on a thread of its own until either end closes.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        drop(std::io::copy(&mut from, &mut to));
        drop(to.shutdown(Shutdown::Both));
    });
}
