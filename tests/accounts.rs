//! Accounts over real sockets: groupchatctl account add|del|passwd|list,
//! SASL PLAIN logins and their failure limits, REGISTER, nick protection,
//! require_account, what others see of an account, that the loop keeps
//! serving while a password is hashed, and that a password never shows in
//! a log line or in groupchatctl's output.

mod common;

use base64::Engine;
use common::{CHEAP_HASHES, Client, Daemon, NO_FLOOD_CONTROL};
use std::time::Instant;

const PASSWORD: &str = "tr0ub4dor&3-secret";

fn config(extra: &str) -> String {
    format!("{NO_FLOOD_CONTROL}{CHEAP_HASHES}{extra}")
}

fn plain(name: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("\0{name}\0{password}"))
}

/// Connects and logs in with SASL, then registers `nick`; returns the
/// client after the welcome and the lines up to it.
fn log_in(daemon: &Daemon, nick: &str, password: &str, caps: &str) -> (Client, Vec<String>) {
    let mut client = daemon.connect();
    client.send("CAP LS 302");
    client.send(&format!("CAP REQ :sasl {caps}"));
    client.send(&format!("NICK {nick}"));
    client.send(&format!("USER {nick} 0 * :{nick}'s real name"));
    client.send("AUTHENTICATE PLAIN");
    client.expect("AUTHENTICATE +");
    client.send(&format!("AUTHENTICATE {}", plain(nick, password)));
    client.send("CAP END");
    let lines = client.collect_until(" 366 ");
    (client, lines)
}

#[test]
fn a_channel_made_by_a_logged_in_user_is_kept_across_a_restart() {
    let daemon = Daemon::start(&config(""));
    daemon.add_account("teacher", PASSWORD);
    let (mut teacher, _) = log_in(&daemon, "teacher", PASSWORD, "");
    teacher.send("JOIN #class\r\nTOPIC #class :Fractions today\r\nMODE #class +mb troll!*@*");
    teacher.expect("MODE #class +mb");
    let daemon = daemon.stop_and_restart();
    let mut pupil = daemon.register("pupil");
    pupil.send("JOIN #class");
    let joined = pupil.collect_until(" 366 ");
    assert!(
        joined
            .iter()
            .any(|l| l.ends_with("332 pupil #class :Fractions today")),
        "{joined:?}"
    );
    assert!(
        joined
            .iter()
            .any(|l| l.ends_with("353 pupil = #class :pupil")),
        "the owner is not back yet: {joined:?}"
    );
    pupil.send("MODE #class");
    pupil.expect("324 pupil #class :+mnt");
    let mut troll = daemon.register("troll");
    troll.send("JOIN #class");
    troll.expect("474 troll #class");
    let (mut teacher, _) = log_in(&daemon, "teacher", PASSWORD, "");
    teacher.send("JOIN #class");
    let joined = teacher.collect_until(" 366 ");
    assert!(
        joined
            .iter()
            .any(|l| l.contains(" 353 ") && l.contains("@teacher")),
        "the owner gets @: {joined:?}"
    );
    let table = String::from_utf8_lossy(&daemon.ctl(&["channels"]).stdout).to_string();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("#class") && l.contains("teacher")),
        "{table}"
    );
    let dropped = daemon.ctl_json(&["channel", "drop", "#class"]);
    assert_eq!(
        dropped["message"], "#class is no longer registered",
        "{dropped}"
    );
    let again = daemon.ctl(&["channel", "drop", "#class"]);
    assert_eq!(again.status.code(), Some(1));
}

fn everything_logged(daemon: &Daemon) -> String {
    daemon.log.lock().expect("log").join("\n")
}

#[test]
fn the_host_manages_accounts_and_passwords_never_show() {
    let daemon = Daemon::start(&config(""));
    let out = daemon.ctl_with_password(&["account", "add", "alice"], PASSWORD);
    let shown = format!("{out:?}");
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("account alice added"), "{shown}");
    daemon.add_account("bob", "another password");
    let again = daemon.ctl_with_password(&["account", "add", "ALICE"], PASSWORD);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let short = daemon.ctl_with_password(&["account", "add", "carol"], "short");
    assert!(String::from_utf8_lossy(&short.stderr).contains("too short"));
    let list = daemon.ctl(&["account", "list"]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("alice") && listed.contains("bob"),
        "{listed}"
    );
    let json = daemon.ctl_json(&["account", "list"]);
    assert_eq!(json["accounts"].as_array().map(Vec::len), Some(2));

    // A new password from a file; the old one stops working.
    let file = daemon.dir.path.join("new-password");
    std::fs::write(&file, "a brand new one\n").expect("write");
    let path = file.to_str().expect("utf-8 path");
    let changed = daemon.ctl(&["account", "passwd", "alice", "--password-file", path]);
    assert!(changed.status.success(), "{changed:?}");
    let mut old = daemon.connect();
    old.send("AUTHENTICATE PLAIN");
    old.expect("AUTHENTICATE +");
    old.send(&format!("AUTHENTICATE {}", plain("alice", PASSWORD)));
    old.expect(" 904 ");
    let (_new, lines) = log_in(&daemon, "alice", "a brand new one", "");
    assert!(lines.iter().any(|l| l.contains(" 903 ")), "{lines:#?}");

    let deleted = daemon.ctl(&["account", "del", "bob"]);
    assert!(deleted.status.success(), "{deleted:?}");
    let json = daemon.ctl_json(&["account", "list"]);
    assert_eq!(json["accounts"][0]["name"], "alice");
    assert_eq!(json["accounts"].as_array().map(Vec::len), Some(1));

    let status = daemon.ctl(&["status"]);
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("1 account(s)"), "{status}");
    let logged = everything_logged(&daemon);
    for secret in [PASSWORD, "a brand new one", "another password"] {
        assert!(!logged.contains(secret), "{secret:?} in the log:\n{logged}");
        assert!(!listed.contains(secret) && !status.contains(secret));
    }
}

#[test]
fn a_sasl_login_registers_with_the_account_and_others_see_it() {
    let daemon = Daemon::start(&config(""));
    daemon.add_account("alice", PASSWORD);
    let mut bob = daemon.connect();
    bob.send("CAP REQ :extended-join account-notify account-tag");
    bob.send("CAP END");
    bob.register("bob");
    let (mut alice, lines) = log_in(&daemon, "alice", PASSWORD, "");
    let position = |code: &str| lines.iter().position(|l| l.contains(code));
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(":You are now logged in as alice")),
        "{lines:#?}"
    );
    assert!(position(" 900 ") < position(" 903 ") && position(" 903 ") < position(" 001 "));
    bob.expect("JOIN #lobby alice :alice's real name");
    bob.send("WHOIS alice");
    bob.expect(" 330 bob alice alice :is logged in as");
    alice.send("PRIVMSG #lobby :hello");
    let seen = bob.expect("PRIVMSG #lobby :hello");
    assert!(seen.starts_with("@account=alice "), "{seen}");
    // Logged out when the host deletes the account.
    assert!(daemon.ctl(&["account", "del", "alice"]).status.success());
    bob.expect("ACCOUNT :*");
    alice.expect(" 901 ");
    let status = daemon.status();
    assert_eq!(status["accounts"]["logins"], 1);
}

#[test]
fn failed_logins_are_logged_counted_and_locked_out() {
    let daemon = Daemon::start(&config("max_failures = 2\nmax_failures_per_address = 3\n"));
    daemon.add_account("alice", PASSWORD);
    let guess = "wrong-guess-123";
    let mut mallory = daemon.connect();
    for _ in 0..2 {
        mallory.send("AUTHENTICATE PLAIN");
        mallory.expect("AUTHENTICATE +");
        mallory.send(&format!("AUTHENTICATE {}", plain("alice", guess)));
        mallory.expect(" 904 ");
    }
    let end = mallory.read_to_close();
    assert!(
        end.iter().any(|l| l.contains("Too many failed logins")),
        "{end:#?}"
    );
    // One more failure from the address, and it has to wait.
    let mut again = daemon.connect();
    again.send("AUTHENTICATE PLAIN");
    again.expect("AUTHENTICATE +");
    again.send(&format!("AUTHENTICATE {}", plain("alice", guess)));
    again.expect(" 904 ");
    again.send("AUTHENTICATE PLAIN");
    again.expect("too many failed logins from your address");
    // Even with the right password.
    let mut owner = daemon.connect();
    owner.send("AUTHENTICATE PLAIN");
    owner.expect("too many failed logins from your address");

    let line = daemon.expect_log("failed SASL login for account \"alice\"");
    assert!(!line.contains(guess), "{line}");
    let status = daemon.wait_status(|s| s["accounts"]["login_failures"] == 3);
    assert_eq!(status["accounts"]["lockouts"], 2, "{status}");
    assert_eq!(status["disconnects"]["login_failures"], 1, "{status}");
    let shown = String::from_utf8_lossy(&daemon.ctl(&["status"]).stdout).to_string();
    assert!(
        shown.contains("3 failed, 0 failed OPER(s), 2 lockout(s)"),
        "{shown}"
    );
    let logged = everything_logged(&daemon);
    assert!(
        !logged.contains(guess) && !logged.contains(PASSWORD),
        "{logged}"
    );
    assert!(!shown.contains(guess) && !shown.contains(PASSWORD));
}

#[test]
fn register_creates_an_account_that_outlives_a_restart() {
    // Trace level logs every line a client sends, but not credentials.
    let daemon =
        Daemon::start(&config("").replace("[accounts]", "[log]\nlevel = \"trace\"\n\n[accounts]"));
    let mut carol = daemon.connect();
    carol.send("CAP LS 302");
    let ls = carol.expect(" LS ");
    assert!(
        ls.contains("draft/account-registration=before-connect") && ls.contains("sasl=PLAIN"),
        "{ls}"
    );
    carol.send("NICK carol");
    carol.send(&format!("REGISTER * * {PASSWORD}"));
    carol.send("USER carol 0 * :Carol");
    carol.send("CAP END");
    carol.expect("REGISTER SUCCESS carol :");
    carol.expect(" 900 carol ");
    carol.expect(" 001 carol ");
    // The nick is the account's now.
    let mut dave = daemon.register("dave");
    dave.send("NICK carol");
    dave.expect(" 433 dave carol :Nickname is registered to an account");
    let logged = everything_logged(&daemon);
    assert!(logged.contains("REGISTER <hidden>"), "{logged}");
    assert!(!logged.contains(PASSWORD), "{logged}");

    let daemon = daemon.restart();
    let (_carol, lines) = log_in(&daemon, "carol", PASSWORD, "");
    assert!(lines.iter().any(|l| l.contains(" 903 ")), "{lines:#?}");
    daemon.expect_log("AUTHENTICATE <hidden>");
    let logged = everything_logged(&daemon);
    assert!(!logged.contains(PASSWORD), "{logged}");
    assert!(!logged.contains(&plain("carol", PASSWORD)), "{logged}");
}

#[test]
fn closed_registration_refuses_register() {
    let daemon = Daemon::start(&config("registration = \"closed\"\n"));
    let mut carol = daemon.connect();
    carol.send("CAP LS 302");
    assert!(!carol.expect(" LS ").contains("account-registration"));
    carol.send("NICK carol");
    carol.send(&format!("REGISTER * * {PASSWORD}"));
    carol.expect("FAIL REGISTER TEMPORARILY_UNAVAILABLE * :Clients cannot register");
}

#[test]
fn registered_nicks_are_kept_for_their_account_before_registration_too() {
    let daemon = Daemon::start(&config(""));
    daemon.add_account("alice", PASSWORD);
    let mut impostor = daemon.connect();
    impostor.send("NICK alice");
    impostor.send("USER alice 0 * :not alice");
    impostor.expect(" 433 * alice :Nickname is registered to an account");
    impostor.send("NICK notalice");
    impostor.expect(" 001 notalice ");
    let (_alice, lines) = log_in(&daemon, "alice", PASSWORD, "");
    assert!(
        lines.iter().any(|l| l.contains(" 001 alice ")),
        "{lines:#?}"
    );
}

#[test]
fn require_account_turns_away_clients_without_one() {
    let daemon = Daemon::start(&config("").replace(
        "[accounts]",
        "[server]\nrequire_account = true\n\n[accounts]",
    ));
    daemon.add_account("alice", PASSWORD);
    let mut guest = daemon.connect();
    guest.send("NICK guest");
    guest.send("USER guest 0 * :Guest");
    let lines = guest.read_to_close();
    assert!(
        lines.iter().any(|l| l.contains(
            "FAIL * ACCOUNT_REQUIRED :This server requires an account: log in with SASL"
        )),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.starts_with("ERROR ")), "{lines:#?}");
    let (_alice, lines) = log_in(&daemon, "alice", PASSWORD, "");
    assert!(lines.iter().any(|l| l.contains(" 001 alice ")));
}

#[test]
fn chat_goes_on_while_a_password_is_hashed() {
    // Dear hashes on purpose: a quarter of a second or more each.
    let daemon = Daemon::start(&format!(
        "{NO_FLOOD_CONTROL}[accounts]\nhash_memory_kib = 262144\nhash_passes = 4\n"
    ));
    daemon.add_account("alice", PASSWORD);
    let mut bob = daemon.register("bob");
    let mut carol = daemon.register("carol");
    let mut alice = daemon.connect();
    alice.send("AUTHENTICATE PLAIN");
    alice.expect("AUTHENTICATE +");
    let started = Instant::now();
    alice.send(&format!("AUTHENTICATE {}", plain("alice", PASSWORD)));
    // Round trips between two others while the worker hashes.
    let mut round_trips = Vec::new();
    for n in 0..3 {
        let sent = Instant::now();
        bob.send(&format!("PRIVMSG carol :ping {n}"));
        carol.expect(&format!(":ping {n}"));
        round_trips.push(sent.elapsed());
    }
    let chatted = started.elapsed();
    alice.expect(" 903 ");
    let hashed = started.elapsed();
    assert!(
        chatted < hashed / 2,
        "three round trips took {chatted:?}, the login {hashed:?}: the loop waited for the hash"
    );
    assert!(
        round_trips.iter().all(|t| *t < hashed / 4),
        "{round_trips:?} against a login of {hashed:?}"
    );
}
