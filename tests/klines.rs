//! K-lines over real sockets: `groupchatctl ban add|del|list`, a client
//! refused at connect with the reason, a KLINE by an oper dropping a
//! connected client, K-lines surviving a restart, and expiry.

mod common;

use common::{Daemon, NO_FLOOD_CONTROL};
use groupchatd::accounts::{Hashing, Secret};

const OPER_PASSWORD: &str = "0per-pa55word";

/// A daemon with an operator `root` (a cheap hash, made here).
fn daemon() -> Daemon {
    let hash = Hashing {
        memory_kib: 8,
        passes: 1,
    }
    .hash(&Secret::new(OPER_PASSWORD.into()))
    .expect("hash");
    Daemon::start(&format!(
        "{NO_FLOOD_CONTROL}[[operators]]\nname = \"root\"\npassword_hash = \"{hash}\"\n"
    ))
}

/// Connects and reads what the server says until it closes.
fn refused(daemon: &Daemon, nick: &str) -> Vec<String> {
    let mut client = daemon.connect();
    client.send(&format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}"));
    client.read_to_close()
}

#[test]
fn groupchatctl_bans_refuse_at_connect_until_deleted() {
    let daemon = daemon();
    let added = daemon.ctl_json(&["ban", "add", "127.0.0.0/8", "--reason", "not from here"]);
    assert!(
        added["message"]
            .as_str()
            .unwrap_or_default()
            .contains("banned 127.0.0.0/8"),
        "{added}"
    );
    let lines = refused(&daemon, "alice");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" 465 ") && l.contains("not from here")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"ERROR :Closing Link: 127.0.0.1 (K-lined: not from here)".to_string()),
        "{lines:?}"
    );
    let listed = daemon.ctl_json(&["ban", "list"]);
    assert_eq!(listed["bans"][0]["mask"], "127.0.0.0/8", "{listed}");
    assert_eq!(listed["bans"][0]["set_by"], "admin", "{listed}");
    let table = String::from_utf8_lossy(&daemon.ctl(&["ban", "list"]).stdout).to_string();
    assert!(
        table.contains("127.0.0.0/8") && table.contains("never"),
        "{table}"
    );
    daemon.ctl_json(&["ban", "del", "127.0.0.0/8"]);
    assert_eq!(
        daemon.ctl(&["ban", "del", "127.0.0.0/8"]).status.code(),
        Some(1)
    );
    daemon.register("alice");
    let status = daemon.status();
    assert_eq!(status["disconnects"]["klined"], 1, "{status}");
}

#[test]
fn a_kline_drops_a_connected_client_and_survives_a_restart() {
    let daemon = daemon();
    let mut bob = daemon.register("bob");
    let mut carol = daemon.register("carol");
    bob.send(&format!("OPER root {OPER_PASSWORD}"));
    bob.expect(" 381 bob ");
    bob.send("KLINE carol!*@* :be nice");
    bob.expect("K-line added on carol!*@*: 1 client(s) dropped");
    let last = carol.read_to_close();
    assert!(
        last.iter().any(|l| l.contains("(K-lined: be nice)")),
        "{last:?}"
    );
    // The worker answers in order: once this is answered, the K-line is
    // on disk.
    daemon.ctl_json(&["account", "list"]);
    let daemon = daemon.restart();
    let lines = refused(&daemon, "carol");
    assert!(
        lines.iter().any(|l| l.contains("(K-lined: be nice)")),
        "{lines:?}"
    );
    daemon.register("dave");
}

#[test]
fn klines_are_kept_with_accounts_off() {
    let daemon = Daemon::start(&format!("{NO_FLOOD_CONTROL}[accounts]\nenabled = false\n"));
    daemon.ctl_json(&["ban", "add", "mallory", "--reason", "spam"]);
    let daemon = daemon.stop_and_restart();
    let listed = daemon.ctl_json(&["ban", "list"]);
    assert_eq!(listed["bans"][0]["mask"], "mallory!*@*", "{listed}");
    let lines = refused(&daemon, "mallory");
    assert!(
        lines.iter().any(|l| l.contains("(K-lined: spam)")),
        "{lines:?}"
    );
    let accounts = daemon.ctl(&["account", "list"]);
    assert_eq!(accounts.status.code(), Some(1), "accounts stay off");
}

#[test]
fn an_expired_kline_no_longer_applies() {
    let daemon = daemon();
    daemon.ctl_json(&[
        "ban",
        "add",
        "eve",
        "--duration",
        "1s",
        "--reason",
        "cool off",
    ]);
    let lines = refused(&daemon, "eve");
    assert!(lines.iter().any(|l| l.contains("cool off")), "{lines:?}");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    daemon.register("eve");
    let listed = daemon.ctl_json(&["ban", "list"]);
    assert_eq!(listed["bans"], serde_json::json!([]), "{listed}");
}
