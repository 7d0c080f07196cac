//! The daemon as a service: config checking, graceful shutdown, reload.

mod common;

use common::{Daemon, NO_FLOOD_CONTROL, TempDir};
use std::process::Command;

fn groupchatd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_groupchatd"))
        .args(args)
        .output()
        .expect("run groupchatd")
}

#[test]
fn the_example_config_passes_check_config() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/groupchatd.toml");
    let out = groupchatd(&["--config", path, "--check-config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("default_channel = \"#lobby\""),
        "{printed}"
    );
}

#[test]
fn a_bad_config_names_file_line_and_key() {
    let dir = TempDir::new();
    let path = dir.path.join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nname = \"x\"\n\n[limits]\nsendq_sfot = 10\n",
    )
    .expect("write");
    let path = path.to_string_lossy().into_owned();
    let out = groupchatd(&["--config", &path, "--check-config"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{path}:5: key `sendq_sfot`")),
        "{err}"
    );
    let out = groupchatd(&["--config", "/nonexistent/groupchatd.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/groupchatd.toml"));
}

#[test]
fn sigterm_delivers_queued_output_then_exits_zero() {
    let mut daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut a = daemon.register("alice");
    let mut b = daemon.register("bob");
    a.expect(":bob!");
    for i in 0..200 {
        b.send(&format!("PRIVMSG #lobby :before shutdown {i}"));
    }
    b.send("PING :sync");
    b.expect("PONG");
    daemon.signal(libc::SIGTERM);
    let lines = a.read_to_close();
    let got: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("before shutdown"))
        .collect();
    assert_eq!(
        got.len(),
        200,
        "everything queued before the signal arrives"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("ERROR :Closing Link: 127.0.0.1 (Server shutting down)")
    );
    assert_eq!(daemon.wait_exit(), Some(0));
}

#[test]
fn sighup_reloads_and_keeps_the_old_config_when_broken() {
    let daemon = Daemon::start("");
    let dir = TempDir::new();
    let motd = dir.path.join("motd.txt");
    std::fs::write(&motd, "reloaded motd line\n").expect("write motd");
    let config = format!("[server]\nmotd_file = {:?}\n", motd.to_string_lossy());
    std::fs::write(&daemon.config_path, config).expect("write config");
    daemon.signal(libc::SIGHUP);
    daemon.expect_log("reloaded");
    let mut c = daemon.connect();
    c.send("NICK reader\r\nUSER r 0 * :r");
    c.expect(":- reloaded motd line");

    std::fs::write(&daemon.config_path, "[limits]\nmax_line = \"huge\"\n").expect("write");
    daemon.signal(libc::SIGHUP);
    let logged = daemon.expect_log("reload failed");
    assert!(logged.contains("max_line"), "{logged}");
    c.send("MOTD");
    c.expect(":- reloaded motd line");
}

/// A registered client that stopped reading with output queued for it in
/// the daemon (as the admin socket reports), and the client that talked.
fn stalled_reader(daemon: &Daemon) -> (common::Client, common::Client) {
    let mut sleeper = daemon.connect_with_small_receive_buffer();
    sleeper.send("NICK sleeper\r\nUSER s 0 * :never reads");
    let mut talker = daemon.register("talker");
    let text = "z".repeat(400);
    for round in 0.. {
        for i in 0..200 {
            talker.send(&format!("PRIVMSG #lobby :{round}.{i} {text}"));
        }
        talker.send("PING :sync");
        talker.expect("PONG");
        let reply = daemon.ctl_json(&["clients"]);
        let queued = reply["clients"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["nick"] == "sleeper"))
            .and_then(|c| c["queued_bytes"].as_u64())
            .unwrap_or(0);
        if queued > 0 {
            return (sleeper, talker);
        }
        assert!(round < 100, "output never backed up for the sleeper");
    }
    unreachable!()
}

#[test]
fn a_client_that_never_reads_does_not_hold_shutdown_past_the_grace() {
    let mut daemon = Daemon::start("[timeouts]\nshutdown_grace = 1\n[flood]\nenabled = false\n");
    let (_sleeper, mut talker) = stalled_reader(&daemon);
    daemon.signal(libc::SIGTERM);
    let lines = talker.read_to_close();
    assert_eq!(
        lines.last().map(String::as_str),
        Some("ERROR :Closing Link: 127.0.0.1 (Server shutting down)")
    );
    assert_eq!(daemon.wait_exit(), Some(0));
    daemon.expect_log("grace over, 1 connection(s) still had output queued");
}

#[test]
fn a_second_termination_signal_exits_at_once() {
    let mut daemon = Daemon::start("[timeouts]\nshutdown_grace = 3600\n[flood]\nenabled = false\n");
    let (_sleeper, _talker) = stalled_reader(&daemon);
    daemon.signal(libc::SIGTERM);
    daemon.expect_log("shutting down: closing");
    assert!(
        daemon.child.try_wait().expect("wait").is_none(),
        "the first signal waits for the stalled client"
    );
    daemon.signal(libc::SIGINT);
    assert_eq!(daemon.wait_exit(), Some(0));
    daemon.expect_log("second termination signal: exiting now");
}
