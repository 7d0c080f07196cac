//! History over real sockets: IRCv3 tags and capabilities, CHATHISTORY,
//! join playback, the durability promise across SIGKILL and SIGTERM,
//! retention, privacy, groupchatctl history, and a store that fails.

mod common;

use common::{Daemon, NO_FLOOD_CONTROL, tag};
use groupchatd::clock::{format_iso, parse_iso};
use std::io::Write;

const CAPS: &str = "batch server-time message-tags draft/chathistory labeled-response";

fn texts(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.rsplit_once(" :").map(|(_, t)| t.to_string()))
        .collect()
}

#[test]
fn messages_carry_msgid_and_time_and_history_answers_by_msgid() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut alice = daemon.register_with_caps("alice", "echo-message message-tags server-time");
    let mut bob = daemon.register_with_caps("bob", CAPS);
    let mut ids = Vec::new();
    for n in 1..=6 {
        alice.send(&format!("PRIVMSG #lobby :line {n}"));
        let echo = alice.expect(&format!(":line {n}"));
        let seen = bob.expect(&format!(":line {n}"));
        assert_eq!(
            tag(&echo, "msgid"),
            tag(&seen, "msgid"),
            "the echo has the same msgid"
        );
        assert!(
            tag(&seen, "time").is_some_and(|t| t.ends_with('Z')),
            "{seen}"
        );
        ids.push(
            tag(&seen, "msgid")
                .expect("msgid")
                .parse::<u64>()
                .expect("a number"),
        );
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "msgids increase: {ids:?}"
    );
    let before = bob.chathistory(&format!("BEFORE #lobby msgid={} 2", ids[3]));
    assert_eq!(texts(&before), ["line 2", "line 3"]);
    let after = bob.chathistory(&format!("AFTER #lobby msgid={} 10", ids[3]));
    assert_eq!(texts(&after), ["line 5", "line 6"]);
    let between = bob.chathistory(&format!(
        "BETWEEN #lobby msgid={} msgid={} 10",
        ids[0], ids[5]
    ));
    assert_eq!(texts(&between), ["line 2", "line 3", "line 4", "line 5"]);
    let around = bob.chathistory(&format!("AROUND #lobby msgid={} 3", ids[2]));
    assert_eq!(texts(&around), ["line 2", "line 3", "line 4"]);
    let latest = bob.chathistory("LATEST #lobby * 3");
    assert_eq!(texts(&latest), ["line 4", "line 5", "line 6"]);
    // Timestamps: lines may share a millisecond, so the bounds are taken
    // a millisecond outside the first and last line's.
    let ms = |line: &String| tag(line, "time").and_then(parse_iso).expect("time");
    let all = bob.chathistory("LATEST #lobby * 10");
    let first = format_iso(ms(&all[0]) - 1);
    let last = format_iso(ms(&all[5]) + 1);
    let after = bob.chathistory(&format!("AFTER #lobby timestamp={first} 10"));
    assert_eq!(texts(&after), texts(&all));
    let before = bob.chathistory(&format!("BEFORE #lobby timestamp={last} 2"));
    assert_eq!(texts(&before), ["line 5", "line 6"]);
    let between = format!("BETWEEN #lobby timestamp={first} timestamp={last} 3");
    assert_eq!(
        texts(&bob.chathistory(&between)),
        ["line 1", "line 2", "line 3"]
    );
}

#[test]
fn client_tags_and_tagmsg_are_relayed_and_bad_tags_refused() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut alice = daemon.register_with_caps("alice", "message-tags");
    let mut bob = daemon.register_with_caps("bob", "message-tags");
    let mut plain = daemon.register("plain");
    alice.send("@+draft/react=wave;+example.org/x=1\\s2 TAGMSG #lobby");
    let got = bob.expect("TAGMSG");
    assert_eq!(tag(&got, "+draft/react"), Some("wave"));
    assert_eq!(
        tag(&got, "+example.org/x"),
        Some("1\\s2"),
        "values relayed as escaped"
    );
    alice.send(&format!(
        "@+x={} PRIVMSG #lobby :too much",
        "y".repeat(4100)
    ));
    alice.expect(" 417 ");
    alice.send("@+bad/;x=1 PRIVMSG #lobby :malformed");
    alice.expect("FAIL PRIVMSG INVALID_TAGS");
    alice.send("PRIVMSG #lobby :fine");
    // The client without message-tags got neither the TAGMSG nor the refused lines.
    let line = plain.expect(":fine");
    assert!(line.starts_with(":alice!"), "{line}");
    assert!(!bob.expect(":fine").contains("too much"));
}

#[test]
fn labelled_requests_get_labelled_answers() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut alice = daemon.register_with_caps("alice", CAPS);
    alice.send("@label=ping1 PING hello");
    assert!(alice.expect("PONG").starts_with("@label=ping1 "));
    alice.send("PRIVMSG #lobby :something");
    alice.send("@label=h2 CHATHISTORY LATEST #lobby * 5");
    let start = alice.expect(" chathistory ");
    assert!(start.starts_with("@label=h2 "), "{start}");
    alice.send("@label=w3 WHOIS alice");
    let start = alice.expect("labeled-response");
    assert!(start.starts_with("@label=w3 "), "{start}");
    alice.expect(" 318 ");
}

#[test]
fn joining_shows_earlier_lines_and_old_lines_never_look_live() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut alice = daemon.register("alice");
    alice.send("PRIVMSG #lobby :said before you came");
    alice.send("PING sync");
    alice.expect("PONG");
    // Without batch and server-time: framed server notices.
    let mut plain = daemon.connect();
    plain.send("NICK plain\r\nUSER plain 0 * :p");
    let lines = plain.collect_until("end of earlier messages");
    let played: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("NOTICE #lobby"))
        .collect();
    assert_eq!(played.len(), 3, "{lines:#?}");
    assert!(played[0].ends_with(":--- 1 earlier message ---"));
    assert!(played[1].contains("] <alice> said before you came"));
    assert!(
        played[1].starts_with(":groupchatd NOTICE"),
        "from the server, not from alice"
    );
    // With them: a chathistory batch of lines as they were.
    let mut modern = daemon.connect();
    modern.send("CAP REQ :batch server-time\r\nCAP END\r\nNICK modern\r\nUSER m 0 * :m");
    modern.expect("chathistory");
    let line = modern.expect("said before you came");
    assert!(line.starts_with("@batch="), "{line}");
}

#[test]
fn every_line_anyone_received_survives_sigkill_mid_burst() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut sender = daemon.register("sender");
    let mut reader = daemon.register_with_caps("reader", "message-tags");
    let writer = std::thread::spawn(move || {
        for n in 0..20_000 {
            if sender
                .stream
                .write_all(format!("PRIVMSG #lobby :burst {n}\r\n").as_bytes())
                .is_err()
            {
                break;
            }
        }
    });
    let mut received = Vec::new();
    while received.len() < 500 {
        let line = reader.expect("PRIVMSG #lobby :burst ");
        received.push(tag(&line, "msgid").expect("msgid").to_string());
    }
    daemon.signal(libc::SIGKILL);
    // Whatever else was already on its way to the reader counts too.
    while let Some(line) = reader.line() {
        if let Some(id) = tag(&line, "msgid") {
            received.push(id.to_string());
        }
    }
    let _ = writer.join();
    let daemon = daemon.restart();
    let stored: Vec<String> = daemon.ctl_json(&["history", "#lobby", "--last", "10000"])["history"]
        .as_array()
        .expect("history lines")
        .iter()
        .map(|l| l["msgid"].as_str().expect("msgid").to_string())
        .collect();
    let missing: Vec<&String> = received.iter().filter(|id| !stored.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} received lines lost, the first: {:?}",
        missing.len(),
        received.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn sigterm_keeps_everything_accepted_and_msgids_go_on_increasing() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut alice = daemon.register("alice");
    for n in 0..300 {
        alice.send(&format!("PRIVMSG #lobby :term {n}"));
    }
    alice.send("PING done");
    alice.expect("PONG");
    let daemon = daemon.stop_and_restart();
    let history = daemon.ctl_json(&["history", "#lobby", "--last", "1000"]);
    let lines = history["history"].as_array().expect("lines");
    assert_eq!(lines.len(), 300);
    let last: u64 = lines[299]["msgid"]
        .as_str()
        .and_then(|m| m.parse().ok())
        .expect("msgid");
    let mut bob = daemon.register_with_caps("bob", "message-tags echo-message");
    bob.send("PRIVMSG #lobby :after the restart");
    let echo = bob.expect("after the restart");
    let next: u64 = tag(&echo, "msgid")
        .and_then(|m| m.parse().ok())
        .expect("msgid");
    assert!(next > last, "{next} after {last}");
}

#[test]
fn private_conversations_are_for_their_two_parties_and_can_be_kept_out() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut alice = daemon.register_with_caps("alice", CAPS);
    let mut bob = daemon.register_with_caps("bob", CAPS);
    let mut eve = daemon.register_with_caps("eve", CAPS);
    alice.send("PRIVMSG bob :just between us");
    bob.expect("just between us");
    assert_eq!(
        texts(&bob.chathistory("LATEST alice * 10")),
        ["just between us"]
    );
    assert_eq!(
        texts(&alice.chathistory("LATEST bob * 10")),
        ["just between us"]
    );
    assert!(eve.chathistory("LATEST alice * 10").is_empty());
    assert!(eve.chathistory("LATEST bob * 10").is_empty());

    let daemon = Daemon::start(&format!("{NO_FLOOD_CONTROL}[history]\nprivate = false\n"));
    let mut alice = daemon.register_with_caps("alice", CAPS);
    let mut bob = daemon.register_with_caps("bob", CAPS);
    alice.send("PRIVMSG bob :not kept");
    bob.expect("not kept");
    assert!(bob.chathistory("LATEST alice * 10").is_empty());
}

#[test]
fn retention_drops_old_and_surplus_lines() {
    let daemon = Daemon::start(&format!("{NO_FLOOD_CONTROL}[history]\nmax_messages = 3\n"));
    let mut alice = daemon.register("alice");
    for n in 1..=5 {
        alice.send(&format!("PRIVMSG #lobby :kept? {n}"));
    }
    alice.send("PING x");
    alice.expect("PONG");
    drop(alice);
    // Her quit is kept too (an event), and events count towards the
    // limit: once the daemon has seen her go, the newest three entries
    // of #lobby are two messages and the quit. (Restarting before it has
    // would keep three messages, and so would a restart, which is a
    // SIGKILL, before the quit was committed: the test waits for both, so
    // that it is one or the other, never by chance.)
    daemon.wait_status(|s| s["clients"]["connected"] == 0 && s["history"]["queued"] == 0);
    // Retention runs in the background at start and every minute.
    let daemon = daemon.restart();
    let lines = daemon.ctl_json(&["history", "#lobby"])["history"].clone();
    let texts: Vec<&str> = lines
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| l["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(texts, ["kept? 4", "kept? 5"]);

    let daemon = Daemon::start(&format!("{NO_FLOOD_CONTROL}[history]\nmax_age = \"1s\"\n"));
    let mut alice = daemon.register("alice");
    alice.send("PRIVMSG #lobby :short-lived");
    alice.send("PING x");
    alice.expect("PONG");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let mut bob = daemon.register_with_caps("bob", CAPS);
    assert!(
        bob.chathistory("LATEST #lobby * 10").is_empty(),
        "expired lines are not served"
    );
    let daemon = daemon.restart();
    assert_eq!(
        daemon.ctl_json(&["history", "#lobby"])["history"],
        serde_json::json!([])
    );
}

#[test]
fn groupchatctl_reads_and_purges_history() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut alice = daemon.register("alice");
    let mut bob = daemon.register("bob");
    alice.send("PRIVMSG #lobby :from alice");
    bob.send("PRIVMSG #lobby :from bob");
    alice.send("PRIVMSG bob :private");
    bob.expect(":private");
    let out = daemon.ctl(&["history", "#lobby"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("<alice> from alice") && text.contains("<bob> from bob"),
        "{text}"
    );
    let out = daemon.ctl(&["history", "alice,bob"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("(to bob) <alice> private"));
    let purged = daemon.ctl_json(&["history", "purge", "--nick", "ALICE"]);
    // Her two messages and her join: presence is hers to erase too.
    assert_eq!(purged["message"], "purged 3 entries");
    let left = daemon.ctl_json(&["history", "#lobby"]);
    assert_eq!(left["history"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        daemon.ctl_json(&["history", "alice,bob"])["history"],
        serde_json::json!([])
    );
    let out = daemon.ctl(&["history", "nobody"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither a channel nor two nicks"));
}

#[test]
fn a_store_that_cannot_open_leaves_chat_working_and_says_so() {
    let dir = common::TempDir::new();
    let garbage = dir.path.join("history.sqlite3");
    std::fs::write(&garbage, vec![0x42u8; 8192]).expect("write garbage");
    let config = format!("{NO_FLOOD_CONTROL}[history]\npath = {garbage:?}\n");
    let daemon = Daemon::start(&config);
    daemon.expect_log("chatting without history");
    let mut alice = daemon.register("alice");
    let mut bob = daemon.register_with_caps("bob", CAPS);
    alice.send("PRIVMSG #lobby :still chatting");
    bob.expect("still chatting");
    bob.send("CHATHISTORY LATEST #lobby * 10");
    bob.expect("FAIL CHATHISTORY MESSAGE_ERROR");
    let status = daemon.status();
    assert_eq!(status["history"]["state"], "unavailable");
    let error = status["history"]["error"].as_str().expect("an error");
    assert!(error.contains(&*garbage.to_string_lossy()), "{error}");
    // --check-config says so too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_groupchatd"))
        .arg("--config")
        .arg(&daemon.config_path)
        .arg("--check-config")
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn history_off_offers_nothing() {
    let daemon = Daemon::start("[history]\nenabled = false\n");
    let mut client = daemon.connect();
    client.send("CAP LS 302");
    let ls = client.expect("CAP * LS");
    assert!(!ls.contains("chathistory"), "{ls}");
    client.send("CAP END\r\nNICK a\r\nUSER a 0 * :a");
    let isupport = client.expect(" 005 ");
    assert!(!isupport.contains("CHATHISTORY"), "{isupport}");
    client.expect(" 366 ");
    client.send("CHATHISTORY LATEST #lobby * 10");
    client.expect("FAIL CHATHISTORY MESSAGE_ERROR");
    assert_eq!(daemon.status()["history"]["state"], "off");
}

#[test]
fn a_reload_keeps_the_running_store_and_applies_what_it_can() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut alice = daemon.register_with_caps("alice", CAPS);
    alice.send("PRIVMSG #lobby :kept across the reload");
    std::fs::write(
        &daemon.config_path,
        format!("{NO_FLOOD_CONTROL}[history]\nenabled = false\njoin_playback = 0\n"),
    )
    .expect("write config");
    let out = daemon.ctl(&["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    daemon.expect_log("take effect after a restart");
    assert_eq!(
        texts(&alice.chathistory("LATEST #lobby * 5")),
        ["kept across the reload"]
    );
    // join_playback = 0 applies at once: a newcomer gets no earlier lines.
    let mut bob = daemon.connect();
    bob.send("CAP REQ :batch server-time\r\nCAP END\r\nNICK bob\r\nUSER b 0 * :b\r\nPING done");
    let lines = bob.collect_until("PONG");
    assert!(
        lines.iter().all(|l| !l.contains("chathistory")),
        "{lines:#?}"
    );
}

#[test]
fn chathistory_counts_against_flood_control() {
    let daemon = Daemon::start("[flood]\nburst = 5\nlines_per_second = 1\n");
    let mut alice = daemon.register_with_caps("alice", CAPS);
    for _ in 0..30 {
        alice.send("CHATHISTORY LATEST #lobby * 100");
    }
    let status = daemon.wait_status(|s| s["throttled_clients"] == 1);
    assert_eq!(status["clients"]["registered"], 1);
}

#[test]
fn after_a_restart_history_joins_what_is_on_disk_with_what_is_new() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut alice = daemon.register("alice");
    for n in 1..=5 {
        alice.send(&format!("PRIVMSG #lobby :old {n}"));
    }
    alice.send("PING x");
    alice.expect("PONG");
    let daemon = daemon.restart();
    let mut alice = daemon.register("alice");
    alice.send("PRIVMSG #lobby :new 1");
    let mut bob = daemon.register_with_caps("bob", CAPS);
    assert_eq!(
        texts(&bob.chathistory("LATEST #lobby * 10")),
        ["old 1", "old 2", "old 3", "old 4", "old 5", "new 1"]
    );
    assert_eq!(
        texts(&bob.chathistory("LATEST #lobby * 2")),
        ["old 5", "new 1"]
    );
}

#[test]
fn event_playback_shows_joins_parts_and_quits_from_the_store() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut alice = daemon.register("alice");
    let mut bob = daemon.register("bob");
    let mut carol = daemon.register("carol");
    carol.send("PART #lobby :back soon");
    carol.expect("PART #lobby");
    alice.send("PRIVMSG #lobby :while carol is out");
    carol.send("JOIN #lobby");
    carol.expect("JOIN");
    carol.send("QUIT :done");
    alice.expect("QUIT");
    // Events hold no output back, messages do: once bob has a message
    // said after the quit, everything before it is committed too.
    alice.send("PRIVMSG #lobby :after");
    bob.expect(":after");
    // SIGKILL and restart: the events come from the store.
    let daemon = daemon.restart();
    let mut events = daemon.register_with_caps("ev", &format!("{CAPS} draft/event-playback"));
    let lines = events.chathistory("LATEST #lobby * 6");
    let bodies: Vec<&str> = lines
        .iter()
        .map(|l| l.split_once(' ').map_or(l.as_str(), |(_, body)| body))
        .collect();
    assert_eq!(
        bodies,
        [
            ":carol!carol@127.0.0.1 PART #lobby :back soon",
            ":alice!alice@127.0.0.1 PRIVMSG #lobby :while carol is out",
            ":carol!carol@127.0.0.1 JOIN :#lobby",
            ":carol!carol@127.0.0.1 QUIT :Quit: done",
            ":alice!alice@127.0.0.1 PRIVMSG #lobby :after",
            ":ev!ev@127.0.0.1 JOIN :#lobby",
        ]
    );
    let mut plain = daemon.register_with_caps("plain", CAPS);
    assert_eq!(
        texts(&plain.chathistory("LATEST #lobby * 2")),
        ["while carol is out", "after"]
    );
}

#[test]
fn check_config_beside_a_running_daemon_leaves_its_database_alone() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut alice = daemon.register("alice");
    let mut bob = daemon.register("bob");
    alice.send("PRIVMSG #lobby :in the log");
    bob.expect("in the log");
    let wal = daemon.dir.path.join("groupchatd-history.sqlite3-wal");
    let before = std::fs::metadata(&wal).map(|m| m.len()).expect("a WAL");
    assert!(before > 0);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_groupchatd"))
        .arg("--config")
        .arg(&daemon.config_path)
        .arg("--check-config")
        .current_dir(&daemon.dir.path)
        .output()
        .expect("run");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("opens"), "{said}");
    // Read only: no checkpoint truncated the daemon's WAL.
    assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).ok(), Some(before));
    alice.send("PRIVMSG #lobby :still fine");
    bob.expect("still fine");
}
