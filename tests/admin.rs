//! The admin socket and `groupchatctl` against a live daemon.

mod common;

use common::{Daemon, PATIENCE, TempDir};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn status_clients_and_channels_describe_the_live_daemon() {
    let daemon = Daemon::start("");
    let mut alice = daemon.register("alice");
    let mut bob = daemon.register("bob");
    alice.expect(":bob!");
    // #lobby is +t without operators: the topic is set where alice, who
    // made the channel, is its operator.
    alice.send("JOIN #dev");
    alice.expect(" 366 ");
    bob.send("JOIN #dev");
    alice.expect(":bob!bob@127.0.0.1 JOIN :#dev");
    alice.send("TOPIC #dev :all about tests");
    bob.expect("TOPIC #dev");
    bob.send("PRIVMSG #lobby :hello alice");
    alice.expect("hello alice");

    let status = daemon.ctl_json(&["status"]);
    assert_eq!(status["ok"], true);
    let s = &status["status"];
    assert_eq!(s["clients"]["connected"], 2);
    assert_eq!(s["clients"]["registered"], 2);
    assert_eq!(s["clients"]["peak"], 2);
    assert_eq!(s["channels"], 2);
    assert_eq!(s["messages_in"], 1);
    assert_eq!(s["messages_out"], 1);
    assert_eq!(s["pid"], daemon.child.id());
    assert!(s["bytes_out"].as_u64().is_some_and(|b| b > 0), "{s}");
    assert!(s["rss_bytes"].as_u64().is_some_and(|b| b > 0), "{s}");
    assert_eq!(s["listeners"][0], daemon.addr.to_string());
    assert_eq!(s["disconnects"]["sendq_exceeded"], 0);

    let out = daemon.ctl(&["status"]);
    let (human, _) = text(&out);
    assert!(out.status.success());
    assert!(
        human.contains("clients      2 connected, 2 registered, peak 2"),
        "{human}"
    );
    assert!(human.contains(&daemon.addr.to_string()), "{human}");

    let clients = daemon.ctl_json(&["clients"]);
    let nicks: Vec<&str> = clients["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .filter_map(|c| c["nick"].as_str())
        .collect();
    assert_eq!(nicks, ["alice", "bob"]);
    assert_eq!(clients["clients"][0]["channels"][0], "#lobby");
    let out = daemon.ctl(&["clients"]);
    let (human, _) = text(&out);
    let lines: Vec<&str> = human.lines().collect();
    assert!(lines[0].starts_with("NICK   ADDRESS"), "{human}");
    assert!(
        lines[1].starts_with("alice  127.0.0.1:") && lines[1].contains("#lobby"),
        "{human}"
    );

    let channels = daemon.ctl_json(&["channels"]);
    assert_eq!(channels["channels"][0]["name"], "#dev");
    assert_eq!(channels["channels"][0]["members"], 2);
    assert_eq!(channels["channels"][0]["topic"], "all about tests");
    assert_eq!(channels["channels"][1]["name"], "#lobby");
    assert_eq!(channels["channels"][1]["members"], 2);
    let (human, _) = text(&daemon.ctl(&["channels"]));
    assert!(
        human.contains("#dev     2        -      all about tests"),
        "{human}"
    );
}

#[test]
fn kick_and_wall_reach_the_clients() {
    let daemon = Daemon::start("");
    let mut alice = daemon.register("alice");
    let mut bob = daemon.register("bob");
    alice.expect(":bob!");

    let wall = daemon.ctl_json(&["wall", "maintenance", "at", "noon"]);
    assert_eq!(wall["message"], "sent to 2 client(s)");
    alice.expect("NOTICE * :maintenance at noon");
    bob.expect("NOTICE * :maintenance at noon");

    let out = daemon.ctl(&["kick", "BOB", "too", "loud"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let closing = bob.read_to_close();
    assert!(
        closing.last().is_some_and(
            |l| l.starts_with("ERROR :Closing Link: 127.0.0.1 (Kicked by admin: too loud)")
        ),
        "{closing:?}"
    );
    alice.expect(":bob!bob@127.0.0.1 QUIT :Kicked by admin: too loud");
    let status = daemon.ctl_json(&["status"]);
    assert_eq!(status["status"]["disconnects"]["kicked"], 1);
    assert_eq!(status["status"]["clients"]["registered"], 1);

    let out = daemon.ctl(&["kick", "nobody-here"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out)
            .1
            .contains("no client is using the nick nobody-here")
    );
    let out = daemon.ctl(&["--json", "kick", "nobody-here"]);
    assert_eq!(out.status.code(), Some(1));
    let reply: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(reply["ok"], false);
}

#[test]
fn reload_reports_errors_and_shutdown_stops_the_daemon() {
    let mut daemon = Daemon::start("");
    let mut alice = daemon.register("alice");
    std::fs::write(&daemon.config_path, "[limits]\nsendq_sfot = 1\n").expect("write");
    let out = daemon.ctl(&["reload"]);
    assert_eq!(out.status.code(), Some(1));
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(&format!(
            "{}:2: key `sendq_sfot`",
            daemon.config_path.display()
        )),
        "{stderr}"
    );
    std::fs::write(&daemon.config_path, "[limits]\ntopic_len = 100\n").expect("write");
    let out = daemon.ctl(&["reload"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.starts_with("reloaded "));

    let out = daemon.ctl(&["shutdown", "--grace", "3"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let closing = alice.read_to_close();
    assert!(
        closing
            .last()
            .is_some_and(|l| l.contains("(Server shutting down)")),
        "{closing:?}"
    );
    assert_eq!(daemon.wait_exit(), Some(0));
    assert!(!daemon.admin_socket.exists(), "socket file left behind");
}

#[test]
fn an_unreachable_daemon_exits_3_naming_the_socket() {
    let dir = TempDir::new();
    let path = dir.path.join("missing.sock");
    let out = Command::new(env!("CARGO_BIN_EXE_groupchatctl"))
        .arg("--socket")
        .arg(&path)
        .arg("status")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    let (_, stderr) = text(&out);
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("is groupchatd running"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_groupchatctl"))
        .arg("frobnicate")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_refused() {
    let dir = TempDir::new();
    let path = dir.path.join("admin.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    assert!(
        path.exists(),
        "the stale socket file stays after its listener closed"
    );
    let socket = path.to_string_lossy().into_owned();
    let first = Daemon::start_with("", &["--admin-socket", &socket]);
    first.expect_log("removing stale admin socket");
    let out = Command::new(env!("CARGO_BIN_EXE_groupchatctl"))
        .args(["--socket", &socket, "status"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{:?}", text(&out));

    let out = Command::new(env!("CARGO_BIN_EXE_groupchatd"))
        .args(["--listen", "127.0.0.1:0", "--admin-socket", &socket])
        .output()
        .expect("run a second daemon");
    assert_eq!(out.status.code(), Some(1));
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(&format!("another daemon is already serving {socket}")),
        "{stderr}"
    );
    assert!(path.exists(), "the live daemon's socket must stay");
}

#[test]
fn other_users_are_refused() {
    if !nix::unistd::Uid::effective().is_root() {
        println!("skipped: needs root to run groupchatctl as another user");
        return;
    }
    let daemon = Daemon::start("");
    let as_nobody = || {
        Command::new(env!("CARGO_BIN_EXE_groupchatctl"))
            .arg("--socket")
            .arg(&daemon.admin_socket)
            .arg("status")
            .uid(65534)
            .gid(65534)
            .output()
    };
    let out = match as_nobody() {
        Ok(out) => out,
        Err(e) => {
            println!("skipped: cannot run groupchatctl as uid 65534: {e}");
            return;
        }
    };
    // The socket file is 0660: the kernel refuses the connection.
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("ermission denied"),
        "{:?}",
        text(&out)
    );

    // With the file opened up, the daemon's own credential check refuses.
    std::fs::set_permissions(&daemon.admin_socket, std::fs::Permissions::from_mode(0o666))
        .expect("chmod");
    let out = as_nobody().expect("run");
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        text(&out)
            .1
            .contains("permission denied: uid 65534 may not use"),
        "{:?}",
        text(&out)
    );
    daemon.expect_log("admin socket: refused uid 65534");
    let out = daemon.ctl(&["status"]);
    assert!(out.status.success(), "root is still served");
}

/// Collects datagrams from a socket standing in for systemd's.
fn expect_notification(socket: &std::os::unix::net::UnixDatagram, wanted: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buffer) {
            let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
            if message.contains(wanted) {
                return message;
            }
            seen.push(message);
        }
    }
    panic!("no notification with {wanted:?}; saw {seen:?}");
}

#[test]
fn systemd_is_notified_of_readiness_reload_and_stopping() {
    let dir = TempDir::new();
    let path = dir.path.join("notify.sock");
    let systemd = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
    systemd
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let notify = path.to_string_lossy().into_owned();
    let mut daemon = Daemon::start_with_env(
        "",
        &[],
        &[("NOTIFY_SOCKET", &notify), ("WATCHDOG_USEC", "2000000")],
    );
    expect_notification(&systemd, "READY=1");
    let _alice = daemon.register("alice");
    expect_notification(&systemd, "STATUS=1 clients, 1 channels");
    expect_notification(&systemd, "WATCHDOG=1");
    daemon.signal(libc::SIGHUP);
    let reloading = expect_notification(&systemd, "RELOADING=1");
    let usec: u64 = reloading
        .split("MONOTONIC_USEC=")
        .nth(1)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {reloading:?}"));
    assert!(usec > 0);
    expect_notification(&systemd, "READY=1");
    daemon.signal(libc::SIGTERM);
    expect_notification(&systemd, "STOPPING=1");
    assert_eq!(daemon.wait_exit(), Some(0));
}
