//! The chat rules, exercised without sockets through a recording outbox.

use super::*;
use crate::history::Query;
use std::net::Ipv4Addr;

mod accounts;
mod base;
mod chanops;
mod kept;
mod klines;
mod names;
mod network;
mod opers;
mod replies;

#[derive(Default)]
struct Recorder {
    lines: Vec<(ClientId, String)>,
    closed: Vec<(ClientId, DisconnectReason, String)>,
    /// Messages recorded for history.
    history: Vec<Entry>,
    /// Joins, parts and quits recorded for history.
    events: Vec<Entry>,
    asked: Vec<(ClientId, Ask, Answering)>,
    accounts: Vec<(ClientId, crate::accounts::Request)>,
    kept: Vec<crate::accounts::Keep>,
    /// Lines published for other nodes, with their bus's pub/sub channel.
    published: Vec<(String, String)>,
    /// Lines given to a channel's log: folded channel, line.
    logged: Vec<(String, String)>,
    /// Channels followed (or no longer).
    follows: Vec<(String, bool)>,
    /// Nick claims, as `take|keep|release|purge <name>`.
    claims: Vec<String>,
    /// What [`Outbox::nick_claim`] answers to a `Take`: whether a network
    /// is there to ask.
    network_up: bool,
}

impl Outbox for Recorder {
    fn send(&mut self, to: ClientId, line: &Line) {
        let text = String::from_utf8_lossy(line);
        self.lines.push((to, text.trim_end().to_string()));
    }
    fn record(&mut self, entry: Entry) {
        match entry.kind.is_event() {
            true => self.events.push(entry),
            false => self.history.push(entry),
        }
    }
    fn ask(&mut self, id: ClientId, ask: Ask, answering: Answering) {
        self.asked.push((id, ask, answering));
    }
    fn account(&mut self, id: ClientId, request: crate::accounts::Request) {
        self.accounts.push((id, request));
    }
    fn keep(&mut self, what: crate::accounts::Keep) {
        self.kept.push(what);
    }
    fn close(&mut self, who: ClientId, why: DisconnectReason, reason: &str) {
        self.closed.push((who, why, reason.to_string()));
    }
    fn publish(&mut self, bus: Bus, payload: &Line) {
        let text = String::from_utf8_lossy(payload).trim_end().to_string();
        self.published.push((crate::cluster::channel_of(bus), text));
    }
    fn log(&mut self, folded: &str, payload: &Line) {
        let text = String::from_utf8_lossy(payload).trim_end().to_string();
        self.logged.push((folded.to_string(), text));
    }
    fn follow(&mut self, folded: &str, on: bool) {
        self.follows.push((folded.to_string(), on));
    }
    fn nick_claim(&mut self, claim: NickClaim) -> bool {
        self.claims.push(match claim {
            NickClaim::Take { folded, .. } => format!("take {folded}"),
            NickClaim::Keep { folded } => format!("keep {folded}"),
            NickClaim::Release { folded } => format!("release {folded}"),
            NickClaim::Purge { node } => format!("purge {node}"),
        });
        matches!(claim, NickClaim::Take { .. }) && self.network_up
    }
}

impl Recorder {
    /// Lines sent to `id` since the last call, emptying the record.
    fn take(&mut self, id: ClientId) -> Vec<String> {
        let (mine, rest) = std::mem::take(&mut self.lines)
            .into_iter()
            .partition(|(to, _)| *to == id);
        self.lines = rest;
        mine.into_iter().map(|(_, l)| l).collect()
    }
}

fn config() -> HubConfig {
    HubConfig::new(&crate::config::Config::default(), None)
}

struct World {
    hub: Hub,
    out: Recorder,
    now: Instant,
}

impl World {
    fn new(config: HubConfig) -> World {
        World {
            hub: Hub::new(config),
            out: Recorder::default(),
            now: Instant::now(),
        }
    }

    fn connect(&mut self, id: ClientId) {
        self.hub
            .connect(id, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), false, self.now);
    }

    fn send(&mut self, id: ClientId, line: &str) {
        self.hub
            .handle_line(id, line.as_bytes(), self.now, &mut self.out);
    }

    /// Answers what the hub asked of history from what it recorded, as the
    /// reactor does (with the memory engine instead of SQLite).
    fn answer_history(&mut self) {
        use crate::history::{Backend, MemoryBackend};
        let mut store = MemoryBackend::new();
        let mut all: Vec<Entry> = self
            .out
            .history
            .iter()
            .chain(&self.out.events)
            .cloned()
            .collect();
        all.sort_by_key(|e| e.seq);
        store.append(&all).expect("memory append");
        for (id, ask, answering) in std::mem::take(&mut self.out.asked) {
            let found = match ask {
                Ask::Query { query, events } => store.query(&query, events).map(Found::Entries),
                Ask::Targets(q) => store.targets(&q).map(Found::Targets),
            };
            let found = found.map_err(|e| e.to_string());
            self.hub.history_answer(id, answering, found, &mut self.out);
        }
    }

    /// Connects and registers `nick`, discarding the welcome burst.
    fn register(&mut self, id: ClientId, nick: &str) {
        self.connect(id);
        self.send(id, &format!("NICK {nick}"));
        self.send(id, &format!("USER {nick} 0 * :Real {nick}"));
        self.out.lines.clear();
    }

    /// Connects, asks for `cap`, and registers `nick`; keeps what it got.
    fn register_with(&mut self, id: ClientId, nick: &str, cap: &str) {
        self.connect(id);
        self.send(id, &format!("CAP REQ :{cap}"));
        self.send(id, "CAP END");
        self.send(id, &format!("NICK {nick}"));
        self.send(id, &format!("USER {nick} 0 * :Real {nick}"));
    }

    fn take(&mut self, id: ClientId) -> Vec<String> {
        self.out.take(id)
    }
}

fn codes(lines: &[String]) -> Vec<&str> {
    lines.iter().filter_map(|l| l.split(' ').nth(1)).collect()
}

#[test]
fn registration_sends_welcome_then_joins_default_channel() {
    let mut w = World::new(config());
    w.connect(1);
    w.send(1, "NICK alice");
    assert!(w.take(1).is_empty(), "nothing before USER");
    w.send(1, "USER al 0 * :Alice A");
    let lines = w.take(1);
    let c = codes(&lines);
    for code in [
        "001", "002", "003", "004", "005", "251", "255", "422", "JOIN", "353", "366",
    ] {
        assert!(c.contains(&code), "missing {code} in {lines:#?}");
    }
    assert_eq!(
        lines[0],
        ":groupchatd 001 alice :Welcome to the groupchat IRC Network alice!al@127.0.0.1"
    );
    let isupport = &lines[4];
    for token in [
        "CHANTYPES=#",
        "NICKLEN=30",
        "CHANNELLEN=50",
        "CASEMAPPING=precis",
        "PREFIX=",
        "NETWORK=groupchat",
    ] {
        assert!(isupport.contains(token), "{isupport}");
    }
    assert!(lines.contains(&":alice!al@127.0.0.1 JOIN :#lobby".to_string()));
    assert!(lines.contains(&":groupchatd 353 alice = #lobby :alice".to_string()));
    assert_eq!(w.hub.client_counts(), (1, 0));
}

#[test]
fn motd_comes_from_config() {
    let mut cfg = config();
    cfg.motd = Some(vec!["be nice".into()]);
    let mut w = World::new(cfg);
    w.connect(1);
    w.send(1, "NICK a");
    w.send(1, "USER a 0 * :A");
    let lines = w.take(1);
    assert!(
        lines.contains(&":groupchatd 372 a :- be nice".to_string()),
        "{lines:#?}"
    );
    assert!(codes(&lines).contains(&"376"));
}

#[test]
fn cap_negotiation_holds_registration_until_end() {
    let mut w = World::new(config());
    w.connect(1);
    w.send(1, "CAP LS 302");
    w.send(1, "NICK a");
    w.send(1, "USER a 0 * :A");
    let lines = w.take(1);
    assert_eq!(
        lines,
        [
            ":groupchatd CAP * LS :account-notify account-tag cap-notify away-notify batch \
             draft/account-registration=before-connect draft/chathistory draft/event-playback \
             echo-message \
             extended-join invite-notify labeled-response message-tags multi-prefix sasl=PLAIN \
             server-time setname userhost-in-names"
        ]
    );
    w.send(1, "CAP REQ :draft/not-offered");
    assert_eq!(w.take(1), [":groupchatd CAP a NAK :draft/not-offered"]);
    w.send(1, "CAP END");
    assert_eq!(codes(&w.take(1))[0], "001");
}

#[test]
fn cap_req_is_all_or_nothing_and_list_tells_what_is_on() {
    let mut w = World::new(config());
    w.connect(1);
    w.send(1, "CAP LS");
    w.take(1);
    w.send(1, "CAP REQ :echo-message bogus");
    assert_eq!(w.take(1), [":groupchatd CAP * NAK :echo-message bogus"]);
    w.send(1, "CAP LIST");
    assert_eq!(w.take(1), [":groupchatd CAP * LIST :"]);
    w.send(1, "CAP REQ :echo-message userhost-in-names");
    assert_eq!(
        w.take(1),
        [":groupchatd CAP * ACK :echo-message userhost-in-names"]
    );
    w.send(1, "CAP REQ :-userhost-in-names");
    assert_eq!(w.take(1), [":groupchatd CAP * ACK :-userhost-in-names"]);
    w.send(1, "CAP LIST");
    assert_eq!(w.take(1), [":groupchatd CAP * LIST :echo-message"]);
    // sts is a policy to read, never a capability to ask for.
    w.send(1, "CAP REQ :sts");
    assert_eq!(w.take(1), [":groupchatd CAP * NAK :sts"]);
}

#[test]
fn cap_notify_stays_on_for_302_clients() {
    let mut w = World::new(config());
    w.connect(1);
    w.send(1, "CAP LS 302");
    w.take(1);
    w.send(1, "CAP LIST");
    assert_eq!(w.take(1), [":groupchatd CAP * LIST :cap-notify"]);
    w.send(1, "CAP REQ :-cap-notify");
    assert_eq!(w.take(1), [":groupchatd CAP * NAK :-cap-notify"]);
}

#[test]
fn echo_message_returns_what_the_sender_said() {
    let mut w = World::new(config());
    w.register_with(1, "a", "echo-message");
    w.register(2, "b");
    w.take(1);
    w.take(2);
    w.send(1, "PRIVMSG #lobby :hello");
    w.send(1, "NOTICE b :psst");
    let echo = [
        ":a!a@127.0.0.1 PRIVMSG #lobby :hello",
        ":a!a@127.0.0.1 NOTICE b :psst",
    ];
    assert_eq!(w.take(1), echo);
    assert_eq!(w.take(2), echo);
    // Without the capability nothing comes back.
    w.send(2, "PRIVMSG #lobby :hi");
    assert!(w.take(2).is_empty());
}

#[test]
fn userhost_in_names_lists_full_prefixes() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register_with(2, "b", "userhost-in-names");
    let names: Vec<String> = w
        .take(2)
        .into_iter()
        .filter(|l| l.contains(" 353 "))
        .collect();
    assert_eq!(
        names,
        [":groupchatd 353 b = #lobby :a!a@127.0.0.1 b!b@127.0.0.1"]
    );
    w.send(1, "NAMES #lobby");
    assert!(
        w.take(1)
            .contains(&":groupchatd 353 a = #lobby :a b".to_string())
    );
}

#[test]
fn sts_sends_plain_clients_to_the_tls_port_and_tells_tls_ones_how_long() {
    let mut config = config();
    config.sts = Some(StsPolicy {
        port: 6697,
        duration: 86400,
    });
    let mut w = World::new(config);
    w.connect(1);
    w.hub
        .connect(2, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), true, w.now);
    w.send(1, "CAP LS 302");
    assert!(w.take(1)[0].ends_with(" sts=port=6697"), "plain");
    w.send(2, "CAP LS 302");
    assert!(w.take(2)[0].ends_with(" sts=duration=86400"), "TLS");
    // Without 302 there are no values, so no policy either.
    w.connect(3);
    w.send(3, "CAP LS");
    assert!(!w.take(3)[0].contains("sts"));
}

#[test]
fn commands_before_registration_get_451() {
    let mut w = World::new(config());
    w.connect(1);
    w.send(1, "JOIN #x");
    assert_eq!(w.take(1), [":groupchatd 451 * :You have not registered"]);
}

#[test]
fn wrong_password_gets_464_and_is_closed() {
    let mut cfg = config();
    cfg.password = Some("secret".into());
    let mut w = World::new(cfg);
    w.connect(1);
    w.send(1, "PASS nope");
    w.send(1, "NICK a");
    w.send(1, "USER a 0 * :A");
    assert_eq!(w.take(1), [":groupchatd 464 a :Password incorrect"]);
    assert_eq!(
        w.out.closed,
        [(1, DisconnectReason::BadPassword, "Bad password".to_string())]
    );
    w.connect(2);
    w.send(2, "PASS secret");
    w.send(2, "NICK a");
    w.send(2, "USER a 0 * :A");
    assert_eq!(codes(&w.take(2))[0], "001");
}

#[test]
fn nick_collision_is_case_insensitive() {
    let mut w = World::new(config());
    w.register(1, "Alice");
    w.connect(2);
    w.send(2, "NICK aLiCe");
    assert_eq!(
        w.take(2),
        [":groupchatd 433 * aLiCe :Nickname is already in use"]
    );
    w.send(2, "NICK 9lives");
    assert_eq!(w.take(2), [":groupchatd 432 * 9lives :Erroneous nickname"]);
    w.send(2, "NICK");
    assert_eq!(w.take(2), [":groupchatd 431 * :No nickname given"]);
}

#[test]
fn channel_message_reaches_others_not_sender() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register(2, "b");
    w.register(3, "c");
    w.out.lines.clear();
    w.send(1, "PRIVMSG #lobby :hello all");
    assert!(w.take(1).is_empty());
    assert_eq!(w.take(2), [":a!a@127.0.0.1 PRIVMSG #lobby :hello all"]);
    assert_eq!(w.take(3), [":a!a@127.0.0.1 PRIVMSG #lobby :hello all"]);
    assert_eq!(w.hub.stats().deliveries, 2);
}

#[test]
fn broadcast_shares_one_line_between_recipients() {
    struct Pointers(Vec<*const u8>);
    impl Outbox for Pointers {
        fn send(&mut self, _: ClientId, line: &Line) {
            self.0.push(line.as_ptr());
        }
        fn record(&mut self, _: Entry) {}
        fn ask(&mut self, _: ClientId, _: Ask, _: Answering) {}
        fn account(&mut self, _: ClientId, _: crate::accounts::Request) {}
        fn keep(&mut self, _: crate::accounts::Keep) {}
        fn close(&mut self, _: ClientId, _: DisconnectReason, _: &str) {}
        fn publish(&mut self, _: Bus, _: &Line) {}
        fn log(&mut self, _: &str, _: &Line) {}
        fn follow(&mut self, _: &str, _: bool) {}
        fn nick_claim(&mut self, _: NickClaim) -> bool {
            false
        }
    }
    let mut w = World::new(config());
    for id in 1..=5 {
        w.register(id, &format!("n{id}"));
    }
    let mut seen = Pointers(Vec::new());
    w.hub.handle_line(1, b"PRIVMSG #lobby :x", w.now, &mut seen);
    assert_eq!(seen.0.len(), 4);
    assert!(
        seen.0.iter().all(|&p| p == seen.0[0]),
        "one allocation for all recipients"
    );
}

#[test]
fn relayed_prefixes_are_built_by_the_server() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register(2, "b");
    w.send(1, ":admin!root@server PRIVMSG #lobby :trust me");
    assert_eq!(w.take(2), [":a!a@127.0.0.1 PRIVMSG #lobby :trust me"]);
}

/// Regression (found by tests/properties.rs): a 510-byte PRIVMSG relayed
/// with a 30-character nick's prefix, or an unknown 500-byte command echoed
/// in 421, made lines over IRC's 512 bytes; both are cut to fit.
#[test]
fn relayed_and_echoed_lines_stay_within_512_bytes() {
    let mut w = World::new(config());
    let nick = "n".repeat(30);
    w.register(1, &nick);
    w.register(2, "b");
    let head = "PRIVMSG #lobby :";
    let line = format!("{head}{}", "x".repeat(510 - head.len()));
    w.send(1, &line);
    let relayed = w.take(2);
    assert_eq!(relayed.len(), 1);
    // The recorder keeps lines without their CRLF.
    assert_eq!(relayed[0].len() + 2, crate::message::MAX_LINE);
    let user = &nick[..10]; // USER names are cut to 10 characters
    assert!(relayed[0].starts_with(&format!(":{nick}!{user}@127.0.0.1 {head}xxx")));
    w.send(1, &"Q".repeat(500));
    let echoed = w.take(1);
    assert_eq!(echoed.len(), 1);
    assert!(echoed[0].len() + 2 <= crate::message::MAX_LINE);
    assert!(echoed[0].starts_with(&format!(":groupchatd 421 {nick} QQQ")));
}

#[test]
fn private_message_and_errors() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register(2, "b");
    w.send(1, "PRIVMSG B :psst");
    assert_eq!(w.take(2), [":a!a@127.0.0.1 PRIVMSG b :psst"]);
    w.send(1, "PRIVMSG nobody :x");
    assert_eq!(
        w.take(1),
        [":groupchatd 401 a nobody :No such nick/channel"]
    );
    w.send(1, "PRIVMSG");
    assert_eq!(
        w.take(1),
        [":groupchatd 411 a :No recipient given (PRIVMSG)"]
    );
    w.send(1, "PRIVMSG b");
    assert_eq!(w.take(1), [":groupchatd 412 a :No text to send"]);
    w.send(1, "NOTICE nobody :x");
    assert!(w.take(1).is_empty(), "NOTICE never gets an error");
    w.send(1, "PRIVMSG #nowhere :x");
    assert_eq!(
        w.take(1),
        [":groupchatd 401 a #nowhere :No such nick/channel"],
        "401, as the Modern document's PRIVMSG gives it"
    );
    w.send(2, "JOIN #side");
    w.send(1, "PRIVMSG #side :x");
    assert_eq!(codes(&w.take(1)), ["404"]);
}

#[test]
fn away_is_reported_to_senders() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register(2, "b");
    w.send(2, "AWAY :lunch");
    assert_eq!(codes(&w.take(2)), ["306"]);
    w.send(1, "PRIVMSG b :hi");
    assert_eq!(w.take(1), [":groupchatd 301 a b :lunch"]);
}

#[test]
fn away_notify_tells_peers_who_asked() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register_with(2, "b", "away-notify");
    w.register(3, "c");
    for id in 1..=3 {
        w.take(id);
    }
    w.send(1, "AWAY :lunch");
    assert_eq!(w.take(2), [":a!a@127.0.0.1 AWAY :lunch"]);
    assert!(w.take(3).is_empty());
    w.send(1, "AWAY");
    assert_eq!(w.take(2), [":a!a@127.0.0.1 AWAY"]);
    assert_eq!(codes(&w.take(1)), ["306", "305"]);
    // An empty message is no message: back, not away with "".
    w.send(1, "AWAY :lunch");
    w.send(1, "AWAY :");
    assert_eq!(
        w.take(2),
        [":a!a@127.0.0.1 AWAY :lunch", ":a!a@127.0.0.1 AWAY"]
    );
}

#[test]
fn nick_change_is_seen_by_peers_once() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register(2, "b");
    w.send(1, "JOIN #two");
    w.send(2, "JOIN #two");
    w.out.lines.clear();
    w.send(1, "NICK z");
    assert_eq!(w.take(1), [":a!a@127.0.0.1 NICK :z"]);
    assert_eq!(w.take(2), [":a!a@127.0.0.1 NICK :z"]);
    w.send(2, "PRIVMSG z :new name works");
    assert_eq!(w.take(1), [":b!b@127.0.0.1 PRIVMSG z :new name works"]);
    w.connect(3);
    w.send(3, "NICK a");
    assert!(w.take(3).is_empty(), "the old nick is free again");
}

#[test]
fn join_part_quit_are_announced_with_reasons() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.connect(2);
    w.send(2, "NICK b");
    w.send(2, "USER b 0 * :b");
    assert_eq!(w.take(1), [":b!b@127.0.0.1 JOIN :#lobby"]);
    w.take(2);
    w.send(2, "PART #lobby :bye now");
    assert_eq!(w.take(1), [":b!b@127.0.0.1 PART #lobby :bye now"]);
    assert_eq!(w.take(2), [":b!b@127.0.0.1 PART #lobby :bye now"]);
    w.send(2, "JOIN #lobby");
    w.out.lines.clear();
    w.send(2, "QUIT :gone fishing");
    assert_eq!(w.take(1), [":b!b@127.0.0.1 QUIT :Quit: gone fishing"]);
    assert_eq!(
        w.out.closed,
        [(2, DisconnectReason::Quit, "Quit: gone fishing".to_string())]
    );
    w.register(3, "c");
    w.out.lines.clear();
    w.hub.disconnect(3, "Connection reset", &mut w.out);
    assert_eq!(w.take(1), [":c!c@127.0.0.1 QUIT :Connection reset"]);
    assert_eq!(w.hub.client_counts(), (1, 0));
}

#[test]
fn channels_vanish_when_empty() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.send(1, "JOIN #x,#y");
    assert_eq!(w.hub.channel_count(), 3);
    w.send(1, "PART #x");
    assert_eq!(w.hub.channel_count(), 2);
    w.send(1, "JOIN 0");
    // The default channel stays, empty.
    assert_eq!(w.hub.channel_count(), 1);
    w.send(1, "PART #x");
    assert_eq!(codes(&w.take(1)).last(), Some(&"403"));
}

#[test]
fn topic_names_list_who_whois() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register(2, "b");
    // #lobby has no ops and no +t: any member sets its topic.
    w.send(1, "TOPIC #lobby :mine");
    assert_eq!(w.take(2), [":a!a@127.0.0.1 TOPIC #lobby :mine"]);
    w.send(1, "JOIN #t");
    w.send(2, "JOIN #t");
    w.out.lines.clear();
    w.send(1, "TOPIC #t");
    assert_eq!(codes(&w.take(1)), ["331"]);
    w.send(1, "TOPIC #t :welcome all");
    assert_eq!(w.take(2), [":a!a@127.0.0.1 TOPIC #t :welcome all"]);
    w.take(1);
    w.send(2, "TOPIC #t");
    assert_eq!(codes(&w.take(2)), ["332", "333"]);
    w.send(1, "NAMES #t");
    assert_eq!(
        w.take(1),
        [
            ":groupchatd 353 a = #t :@a b",
            ":groupchatd 366 a #t :End of /NAMES list"
        ]
    );
    w.send(1, "LIST #t");
    assert_eq!(w.take(1)[1], ":groupchatd 322 a #t 2 :welcome all");
    w.send(1, "WHO #t");
    let who = w.take(1);
    assert_eq!(codes(&who), ["352", "352", "315"]);
    assert_eq!(
        who[0],
        ":groupchatd 352 a #t a 127.0.0.1 groupchatd a H@ :0 Real a"
    );
    assert_eq!(
        who[1],
        ":groupchatd 352 a #t b 127.0.0.1 groupchatd b H :0 Real b"
    );
    w.send(2, "WHOIS a");
    let whois = w.take(2);
    assert_eq!(codes(&whois), ["311", "319", "312", "317", "318"]);
    assert_eq!(whois[1], ":groupchatd 319 b a :#lobby @#t");
    w.send(1, "WHOIS nobody");
    assert_eq!(codes(&w.take(1)), ["401", "318"]);
}

#[test]
fn modes_are_answered_never_ignored() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register(2, "b");
    w.send(1, "MODE #lobby");
    assert_eq!(codes(&w.take(1)), ["324", "329"]);
    w.send(1, "MODE #lobby +m");
    assert_eq!(codes(&w.take(1)), ["482"]);
    w.send(1, "MODE #lobby b");
    assert_eq!(codes(&w.take(1)), ["368"]);
    w.send(1, "MODE a");
    assert_eq!(w.take(1), [":groupchatd 221 a :+"]);
    w.send(1, "MODE a +i");
    assert_eq!(w.take(1), [":a!a@127.0.0.1 MODE a :+i"]);
    w.send(1, "MODE a +x");
    assert_eq!(codes(&w.take(1)), ["501"]);
    w.send(1, "MODE b +i");
    assert_eq!(codes(&w.take(1)), ["502"]);
}

#[test]
fn unknown_commands_and_missing_params() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.send(1, "FROB x");
    assert_eq!(w.take(1), [":groupchatd 421 a FROB :Unknown command"]);
    w.send(1, "join");
    assert_eq!(w.take(1), [":groupchatd 461 a JOIN :Not enough parameters"]);
    w.send(1, "USER x 0 * :x");
    assert_eq!(codes(&w.take(1)), ["462"]);
    w.send(1, "ping :tok");
    assert_eq!(w.take(1), [":groupchatd PONG groupchatd :tok"]);
}

#[test]
fn idle_clients_are_pinged_then_timed_out() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register(2, "b");
    let start = w.now;
    w.hub.tick(start + Duration::from_secs(119), &mut w.out);
    assert!(w.take(1).is_empty());
    w.hub.tick(start + Duration::from_secs(120), &mut w.out);
    assert_eq!(w.take(1), ["PING :groupchatd"]);
    assert_eq!(w.take(2), ["PING :groupchatd"]);
    w.now = start + Duration::from_secs(150);
    w.send(2, "PONG :groupchatd");
    w.hub.tick(start + Duration::from_secs(180), &mut w.out);
    assert_eq!(
        w.out.closed,
        [(1, DisconnectReason::PingTimeout, "Ping timeout".to_string())]
    );
    assert_eq!(w.take(2), [":a!a@127.0.0.1 QUIT :Ping timeout"]);
}

#[test]
fn clients_that_keep_talking_are_never_pinged() {
    let mut w = World::new(config());
    w.register(1, "a");
    let start = w.now;
    for minute in 1..=10 {
        w.now = start + Duration::from_secs(60 * minute);
        w.send(1, "AWAY");
        w.hub.tick(w.now, &mut w.out);
    }
    let lines = w.take(1);
    assert!(!lines.iter().any(|l| l.starts_with("PING")), "{lines:#?}");
    assert!(w.out.closed.is_empty());
    // Silent from here: pinged one interval after its last line, and
    // dropped one timeout later.
    let last = w.now;
    w.hub.tick(last + Duration::from_secs(119), &mut w.out);
    assert!(w.take(1).is_empty());
    w.hub.tick(last + Duration::from_secs(120), &mut w.out);
    assert_eq!(w.take(1), ["PING :groupchatd"]);
    w.hub.tick(last + Duration::from_secs(180), &mut w.out);
    assert_eq!(w.out.closed.len(), 1);
}

#[test]
fn a_ping_interval_shorter_than_registration_time_is_kept() {
    let mut cfg = config();
    cfg.registration_timeout = Duration::from_secs(60);
    cfg.ping_interval = Duration::from_secs(5);
    let mut w = World::new(cfg);
    w.register(1, "a");
    w.hub.tick(w.now + Duration::from_secs(5), &mut w.out);
    assert_eq!(w.take(1), ["PING :groupchatd"]);
}

#[test]
fn departed_clients_leave_no_checks_behind() {
    let mut w = World::new(config());
    w.register(1, "stays");
    for _ in 0..1000 {
        w.connect(2);
        w.send(2, "QUIT");
    }
    assert!(w.hub.checks.len() > 1000, "one check per connection so far");
    w.hub.tick(w.now + Duration::from_secs(60), &mut w.out);
    assert_eq!(
        w.hub.checks.len(),
        1,
        "only the live client's check is left"
    );
    assert!(w.out.closed.iter().all(|(id, ..)| *id == 2));
}

#[test]
fn unfinished_registration_times_out() {
    let mut w = World::new(config());
    w.connect(1);
    w.send(1, "NICK a");
    w.hub.tick(w.now + Duration::from_secs(30), &mut w.out);
    assert_eq!(
        w.out.closed,
        [(
            1,
            DisconnectReason::RegistrationTimeout,
            "Registration timeout".to_string()
        )]
    );
    assert_eq!(w.hub.client_counts(), (0, 0));
}

#[test]
fn large_channels_summarise_presence() {
    let mut cfg = config();
    cfg.large_channel = 3;
    let mut w = World::new(cfg);
    for id in 1..=3 {
        w.register(id, &format!("n{id}"));
    }
    w.out.lines.clear();
    w.register(4, "n4");
    w.register(5, "n5");
    w.connect(6);
    w.send(6, "NICK n6");
    w.send(6, "USER n6 0 * :x");
    let joiner = w.take(6);
    assert!(joiner.contains(&":n6!n6@127.0.0.1 JOIN :#lobby".to_string()));
    assert!(
        !codes(&joiner).contains(&"353"),
        "no full names on join: {joiner:#?}"
    );
    assert!(
        joiner.iter().any(|l| l.contains("6 people are here")),
        "{joiner:#?}"
    );
    w.send(5, "QUIT");
    assert!(
        w.take(1).is_empty(),
        "no per-event lines in a large channel"
    );
    w.hub.tick(w.now + Duration::from_secs(11), &mut w.out);
    assert_eq!(
        w.take(1),
        [":groupchatd NOTICE #lobby :* 3 joined, 1 left in the last 10 s (5 here)"]
    );
    w.send(1, "NAMES #lobby");
    assert_eq!(
        codes(&w.take(1)),
        ["353", "366"],
        "explicit NAMES lists everyone"
    );
}

#[test]
fn uppercase_only_touches_ascii_commands() {
    let mut buf = [0u8; 16];
    assert_eq!(uppercase("privmsg", &mut buf), "PRIVMSG");
    assert_eq!(
        uppercase("averyveryverylongcommand", &mut buf),
        "averyveryverylongcommand"
    );
}

#[test]
fn reserved_nicks_are_refused_in_any_case() {
    let mut config = crate::config::Config::default();
    config.server.reserved_nicks = vec!["Admin".into()];
    let mut w = World::new(HubConfig::new(&config, None));
    w.connect(1);
    w.send(1, "NICK aDMIN");
    assert_eq!(w.take(1), [":groupchatd 432 * aDMIN :Nickname is reserved"]);
    w.send(1, "NICK admin2");
    w.send(1, "USER a 0 * :A");
    assert_eq!(w.hub.nick(1), Some("admin2"));
}

#[test]
fn the_admin_overview_lists_clients_channels_and_acts() {
    let mut w = World::new(config());
    w.register(1, "ann");
    w.register(2, "bob");
    w.send(1, "JOIN #side");
    w.send(1, "TOPIC #side :quiet corner");
    w.connect(3);
    w.out.lines.clear();
    let clients = w.hub.client_summaries(w.now);
    let nicks: Vec<_> = clients.iter().map(|c| c.nick.as_deref()).collect();
    assert_eq!(nicks, [Some("ann"), Some("bob"), None]);
    assert_eq!(clients[0].channels, ["#lobby", "#side"]);
    assert!(!clients[2].registered);
    let channels = w.hub.channel_summaries();
    assert_eq!(channels.len(), 2);
    assert_eq!(
        (channels[1].name.as_str(), channels[1].members),
        ("#side", 1)
    );
    assert_eq!(channels[1].topic.as_deref(), Some("quiet corner"));

    assert_eq!(w.hub.wall("hello all", &mut w.out), 2);
    assert_eq!(w.take(1), [":groupchatd NOTICE * :hello all"]);
    assert_eq!(
        w.take(3),
        Vec::<String>::new(),
        "unregistered clients are not walled"
    );
    w.out.lines.clear();

    assert!(w.hub.kick("nobody", None, &mut w.out).is_err());
    let done = w.hub.kick("BOB", Some("spam"), &mut w.out).expect("kicked");
    assert_eq!(done, "kicked bob (Kicked by admin: spam)");
    assert_eq!(
        w.out.closed,
        [(
            2,
            DisconnectReason::Kicked,
            "Kicked by admin: spam".to_string()
        )]
    );
    assert_eq!(
        w.take(1),
        [":bob!bob@127.0.0.1 QUIT :Kicked by admin: spam"]
    );
}

#[test]
fn a_client_may_be_in_at_most_max_channels() {
    let mut config = crate::config::Config::default();
    config.limits.max_channels = 3;
    let mut w = World::new(HubConfig::new(&config, None));
    w.register(1, "ann");
    w.send(1, "JOIN #a,#b,#c,#lobby");
    let lines = w.take(1);
    let joined = lines.iter().filter(|l| l.contains(" JOIN ")).count();
    assert_eq!(joined, 2, "#lobby plus two: {lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l == ":groupchatd 405 ann #c :You have joined too many channels"),
        "{lines:?}"
    );
    assert_eq!(
        w.hub.channel_count(),
        3,
        "the refused channel is not created"
    );
    w.send(1, "PART #a");
    w.send(1, "JOIN #c");
    assert!(w.take(1).iter().any(|l| l.ends_with("JOIN :#c")));
}

#[test]
fn an_over_long_line_from_a_departed_client_is_not_answered() {
    let mut w = World::new(config());
    w.register(1, "ann");
    w.send(1, "QUIT");
    w.out.lines.clear();
    w.hub.line_too_long(1, &mut w.out);
    assert!(w.out.lines.is_empty());
}

/// The tags of a line, and the line without them.
fn split_tags(line: &str) -> (&str, &str) {
    match line.strip_prefix('@') {
        Some(rest) => rest.split_once(' ').unwrap_or((rest, "")),
        None => ("", line),
    }
}

#[test]
fn each_recipient_gets_the_tags_it_asked_for() {
    let mut w = World::new(config());
    w.register(1, "plain");
    w.register_with(2, "tagged", "message-tags");
    w.register_with(3, "timed", "server-time");
    w.register_with(4, "both", "message-tags server-time echo-message");
    w.out.lines.clear();
    w.send(4, "@+draft/react=x;+fun PRIVMSG #lobby :hello");
    let body = ":both!both@127.0.0.1 PRIVMSG #lobby :hello";
    assert_eq!(w.take(1), [body]);
    let tagged = w.take(2);
    let (tags, rest) = split_tags(&tagged[0]);
    assert_eq!(rest, body);
    let msgid = tags
        .strip_prefix("msgid=")
        .and_then(|t| t.strip_suffix(";+draft/react=x;+fun"))
        .expect("msgid and the client tags");
    assert_eq!(
        Some(msgid.parse::<u64>().expect("a number")),
        w.out.history.first().map(|e| e.seq)
    );
    let timed = w.take(3);
    let (tags, _) = split_tags(&timed[0]);
    let time = tags.strip_prefix("time=").expect("only time");
    assert!(crate::clock::parse_iso(time).is_some(), "{time}");
    // The echo carries the same msgid.
    let echo = w.take(4);
    assert!(echo[0].contains(&format!("msgid={msgid};")), "{echo:?}");
    // The history has it once, with the client tags.
    let [entry] = &w.out.history[..] else {
        panic!("one entry: {:?}", w.out.history);
    };
    assert_eq!(
        (&*entry.target, &*entry.to, &*entry.text, &*entry.tags),
        ("#lobby", "#lobby", "hello", "+draft/react=x;+fun")
    );
}

#[test]
fn msgids_increase_and_private_ones_go_to_history_under_the_pair() {
    let mut w = World::new(config());
    w.register(1, "Alice");
    w.register(2, "bob");
    w.hub.set_seq_floor(u64::MAX / 2);
    w.send(1, "PRIVMSG bob :one");
    w.send(2, "NOTICE alice :two");
    let seqs: Vec<u64> = w.out.history.iter().map(|e| e.seq).collect();
    // Above the floor, increasing, and a single node's (number 0).
    assert!(u64::MAX / 2 < seqs[0] && seqs[0] < seqs[1], "{seqs:?}");
    let node = |&seq: &u64| crate::history::msgid::node_of(seq);
    assert_eq!(seqs.iter().map(node).collect::<Vec<_>>(), [0, 0]);
    assert!(w.out.history.iter().all(|e| &*e.target == "alice bob"));
    assert_eq!(&*w.out.history[1].to, "Alice");
}

#[test]
fn tagmsg_reaches_only_those_with_message_tags() {
    let mut w = World::new(config());
    w.register(1, "plain");
    w.register_with(2, "tagged", "message-tags");
    w.register_with(3, "sender", "message-tags");
    w.out.lines.clear();
    w.send(3, "@+typing=active TAGMSG #lobby");
    assert_eq!(w.take(1), Vec::<String>::new());
    let got = w.take(2);
    let (tags, rest) = split_tags(&got[0]);
    assert!(tags.ends_with(";+typing=active"), "{tags}");
    assert_eq!(rest, ":sender!sender@127.0.0.1 TAGMSG :#lobby");
    w.send(3, "@+typing=done TAGMSG plain");
    assert_eq!(w.take(1), Vec::<String>::new());
    assert_eq!(w.take(3), Vec::<String>::new(), "no error for a TAGMSG");
}

#[test]
fn oversized_or_malformed_tags_are_refused_and_nothing_is_relayed() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register(2, "b");
    let big = format!("@+x={} PRIVMSG #lobby :hi", "y".repeat(4100));
    w.send(1, &big);
    assert_eq!(codes(&w.take(1)), ["417"]);
    w.send(1, "@+bad/;=v PRIVMSG #lobby :hi");
    assert_eq!(
        w.take(1),
        [":groupchatd FAIL PRIVMSG INVALID_TAGS :Message tags are malformed"]
    );
    w.send(1, &format!("PRIVMSG #lobby :{}", "z".repeat(520)));
    assert_eq!(
        codes(&w.take(1)),
        ["417"],
        "the line without tags is still limited"
    );
    assert_eq!(w.take(2), Vec::<String>::new());
    assert!(w.out.history.is_empty());
    // Up to 4094 bytes of tags on top of a full line are fine.
    let tags = format!("@+x={}", "y".repeat(4089));
    w.send(1, &format!("{tags} PRIVMSG #lobby :{}", "z".repeat(400)));
    assert_eq!(w.take(2).len(), 1);
}

#[test]
fn labelled_commands_get_labelled_replies() {
    let mut w = World::new(config());
    w.register_with(1, "a", "labeled-response batch echo-message");
    w.register(2, "b");
    w.out.lines.clear();
    w.send(1, "@label=p1 PING x");
    assert_eq!(w.take(1), ["@label=p1 :groupchatd PONG groupchatd :x"]);
    w.send(1, "@label=q PONG x");
    assert_eq!(w.take(1), ["@label=q :groupchatd ACK"]);
    w.send(1, "@label=m PRIVMSG #lobby :hi");
    assert_eq!(w.take(1), ["@label=m :a!a@127.0.0.1 PRIVMSG #lobby :hi"]);
    assert_eq!(
        w.take(2),
        [":a!a@127.0.0.1 PRIVMSG #lobby :hi"],
        "others see no label"
    );
    w.send(1, "@label=w WHOIS b");
    let lines = w.take(1);
    let reference = lines[0]
        .strip_prefix("@label=w :groupchatd BATCH +")
        .and_then(|l| l.strip_suffix(" :labeled-response"))
        .expect("a labeled-response batch");
    let inside = format!("@batch={reference} :groupchatd 3");
    assert!(
        lines[1..lines.len() - 1]
            .iter()
            .all(|l| l.starts_with(&inside)),
        "{lines:#?}"
    );
    let end = format!(":groupchatd BATCH :-{reference}");
    assert_eq!(lines.last(), Some(&end));
}

#[test]
fn labels_need_the_capability_and_batches_need_batch() {
    let mut w = World::new(config());
    w.register(1, "plain");
    w.register_with(2, "nobatch", "labeled-response");
    w.out.lines.clear();
    w.send(1, "@label=x PING y");
    assert_eq!(w.take(1), [":groupchatd PONG groupchatd :y"]);
    w.send(2, "@label=x WHOIS plain");
    let lines = w.take(2);
    assert!(
        lines.len() > 1 && lines.iter().all(|l| l.starts_with(":groupchatd 3")),
        "{lines:#?}"
    );
    w.send(2, &format!("@label={} PING y", "l".repeat(65)));
    assert_eq!(
        w.take(2),
        [":groupchatd PONG groupchatd :y"],
        "an over-long label is ignored"
    );
}

#[test]
fn chathistory_answers_in_a_batch_with_the_lines_as_they_were() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register_with(2, "reader", "batch server-time message-tags");
    for n in 1..=5 {
        w.send(1, &format!("PRIVMSG #lobby :line {n}"));
    }
    w.answer_history();
    w.out.lines.clear();
    let third = w.out.history[2].seq;
    w.send(2, &format!("CHATHISTORY BEFORE #lobby msgid={third} 10"));
    w.answer_history();
    let lines = w.take(2);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let reference = lines[0]
        .strip_prefix(":groupchatd BATCH +")
        .and_then(|l| l.strip_suffix(" chathistory :#lobby"))
        .expect("a chathistory batch");
    for (line, n) in lines[1..3].iter().zip(1..) {
        let (tags, body) = split_tags(line);
        assert!(
            tags.starts_with(&format!("batch={reference};time=")),
            "{tags}"
        );
        assert!(tags.contains(";msgid="), "{tags}");
        assert_eq!(body, format!(":a!a@127.0.0.1 PRIVMSG #lobby :line {n}"));
    }
    assert_eq!(lines[3], format!(":groupchatd BATCH :-{reference}"));
    w.send(2, "CHATHISTORY LATEST #lobby * 2");
    w.answer_history();
    let lines = w.take(2);
    assert!(
        lines[1].ends_with("line 4") && lines[2].ends_with("line 5"),
        "{lines:#?}"
    );
}

#[test]
fn event_playback_adds_joins_parts_and_quits_to_history_for_those_who_ask() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register_with(2, "events", "batch server-time draft/event-playback");
    w.register_with(3, "plain", "batch server-time");
    w.send(1, "PRIVMSG #lobby :one");
    w.register(4, "x");
    w.send(4, "PART #lobby :off for lunch");
    w.send(1, "PRIVMSG #lobby :two");
    w.send(4, "JOIN #lobby");
    w.send(4, "QUIT :bye");
    w.answer_history();
    let kinds: Vec<&str> = w.out.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(&kinds[kinds.len() - 4..], ["JOIN", "PART", "JOIN", "QUIT"]);
    w.out.lines.clear();
    let bodies = |lines: Vec<String>| -> Vec<String> {
        let inside = &lines[1..lines.len() - 1];
        inside.iter().map(|l| split_tags(l).1.to_string()).collect()
    };
    w.send(2, "CHATHISTORY LATEST #lobby * 5");
    w.answer_history();
    assert_eq!(
        bodies(w.take(2)),
        [
            ":x!x@127.0.0.1 JOIN :#lobby",
            ":x!x@127.0.0.1 PART #lobby :off for lunch",
            ":a!a@127.0.0.1 PRIVMSG #lobby :two",
            ":x!x@127.0.0.1 JOIN :#lobby",
            ":x!x@127.0.0.1 QUIT :Quit: bye",
        ]
    );
    // Without the capability: messages only, and the limit counts them.
    w.send(3, "CHATHISTORY LATEST #lobby * 2");
    w.answer_history();
    assert_eq!(
        bodies(w.take(3)),
        [
            ":a!a@127.0.0.1 PRIVMSG #lobby :one",
            ":a!a@127.0.0.1 PRIVMSG #lobby :two",
        ]
    );
}

#[test]
fn chathistory_refuses_bad_requests_with_fail() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register(2, "b");
    w.send(2, "JOIN #other");
    w.out.lines.clear();
    w.out.asked.clear();
    let cases = [
        ("CHATHISTORY", "FAIL CHATHISTORY NEED_MORE_PARAMS"),
        (
            "CHATHISTORY LATEST #lobby *",
            "FAIL CHATHISTORY NEED_MORE_PARAMS LATEST",
        ),
        (
            "CHATHISTORY SIDEWAYS #lobby * 10",
            "FAIL CHATHISTORY INVALID_PARAMS SIDEWAYS",
        ),
        (
            "CHATHISTORY LATEST #lobby * lots",
            "FAIL CHATHISTORY INVALID_PARAMS LATEST",
        ),
        (
            "CHATHISTORY LATEST #lobby * 0",
            "FAIL CHATHISTORY INVALID_PARAMS LATEST",
        ),
        (
            "CHATHISTORY BEFORE #lobby msgid=x 10",
            "FAIL CHATHISTORY INVALID_PARAMS BEFORE",
        ),
        (
            "CHATHISTORY BEFORE #lobby when=now 10",
            "FAIL CHATHISTORY INVALID_PARAMS BEFORE",
        ),
        (
            "CHATHISTORY LATEST #other * 10",
            "FAIL CHATHISTORY INVALID_TARGET LATEST #other",
        ),
        (
            "CHATHISTORY LATEST #nowhere * 10",
            "FAIL CHATHISTORY INVALID_TARGET LATEST #nowhere",
        ),
        (
            "CHATHISTORY TARGETS timestamp=x timestamp=y 5",
            "FAIL CHATHISTORY INVALID_PARAMS TARGETS",
        ),
    ];
    for (request, reply) in cases {
        w.send(1, request);
        let lines = w.take(1);
        assert_eq!(lines.len(), 1, "{request}: {lines:?}");
        assert!(
            lines[0].starts_with(&format!(":groupchatd {reply}")),
            "{request}: {lines:?}"
        );
    }
    assert!(w.out.asked.is_empty(), "nothing reached history");
}

#[test]
fn chathistory_limits_are_capped_and_private_history_is_for_its_two_parties() {
    let mut w = World::new(config());
    w.register(1, "alice");
    w.register(2, "bob");
    w.register(3, "eve");
    w.send(1, "PRIVMSG bob :secret");
    w.answer_history();
    w.out.lines.clear();
    w.send(2, "CHATHISTORY LATEST alice * 99999");
    let (_, Ask::Query { query, .. }, _) = &w.out.asked[0] else {
        panic!("a query");
    };
    assert_eq!(
        query,
        &Query::Latest {
            target: "alice bob".into(),
            after: None,
            limit: MAX_CHATHISTORY
        }
    );
    w.answer_history();
    assert!(w.take(2).iter().any(|l| l.ends_with("PRIVMSG bob :secret")));
    // Eve can only name conversations she is part of.
    w.send(3, "CHATHISTORY LATEST alice * 10");
    w.send(3, "CHATHISTORY LATEST bob * 10");
    w.answer_history();
    assert!(w.take(3).iter().all(|l| !l.contains("secret")));
}

#[test]
fn joining_plays_back_earlier_lines_as_notices_or_as_a_batch() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.send(1, "PRIVMSG #lobby :before");
    w.send(1, "NOTICE #lobby :notice before");
    w.register(2, "plain");
    w.register_with(3, "modern", "batch server-time");
    w.answer_history();
    let plain = w.take(2);
    let notices: Vec<&str> = plain
        .iter()
        .filter_map(|l| l.strip_prefix(":groupchatd NOTICE #lobby :"))
        .collect();
    assert_eq!(notices.len(), 4, "{plain:#?}");
    assert_eq!(notices[0], "--- 2 earlier messages ---");
    assert!(notices[1].ends_with("] <a> before") && notices[1].starts_with('['));
    assert!(notices[2].ends_with("] -a- notice before"));
    assert_eq!(notices[3], "--- end of earlier messages ---");
    let modern = w.take(3);
    let start = modern
        .iter()
        .position(|l| l.contains("BATCH +") && l.ends_with("chathistory :#lobby"))
        .expect("a chathistory batch");
    assert!(modern[start + 1].ends_with(":a!a@127.0.0.1 PRIVMSG #lobby :before"));
    // A channel with nothing said plays nothing back.
    w.send(2, "JOIN #quiet");
    w.answer_history();
    assert!(w.take(2).iter().all(|l| !l.contains("NOTICE")));
}

#[test]
fn a_labelled_chathistory_gets_its_label_on_the_batch_and_no_ack() {
    let mut w = World::new(config());
    w.register_with(1, "a", "labeled-response batch");
    w.send(1, "PRIVMSG #lobby :x");
    w.answer_history();
    w.out.lines.clear();
    w.send(1, "@label=h1 CHATHISTORY LATEST #lobby * 5");
    assert_eq!(w.take(1), Vec::<String>::new(), "no ACK before the answer");
    w.answer_history();
    let lines = w.take(1);
    assert!(
        lines[0].starts_with("@label=h1 :groupchatd BATCH +"),
        "{lines:#?}"
    );
    assert_eq!(lines.len(), 3);
}

#[test]
fn chathistory_targets_lists_channels_and_private_partners() {
    let mut w = World::new(config());
    w.register(1, "alice");
    w.register(2, "Bob");
    w.register(3, "carol");
    w.send(1, "PRIVMSG #lobby :hi");
    w.send(2, "PRIVMSG alice :psst");
    w.send(3, "PRIVMSG bob :not for alice");
    w.answer_history();
    w.out.lines.clear();
    w.send(
        1,
        "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10",
    );
    w.answer_history();
    let names: Vec<String> = w
        .take(1)
        .iter()
        .filter_map(|l| l.split(" CHATHISTORY TARGETS ").nth(1))
        .map(|rest| rest.split(' ').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, ["#lobby", "bob"]);
}

#[test]
fn setname_reaches_peers_that_asked_and_away_shows_on_join() {
    let mut w = World::new(config());
    w.register_with(1, "a", "setname away-notify");
    w.register(2, "b");
    w.register_with(3, "c", "setname");
    w.out.lines.clear();
    w.send(3, "SETNAME :Carol Q. Public");
    assert_eq!(w.take(1), [":c!c@127.0.0.1 SETNAME :Carol Q. Public"]);
    assert_eq!(w.take(2), Vec::<String>::new());
    assert_eq!(
        w.take(3),
        [":c!c@127.0.0.1 SETNAME :Carol Q. Public"],
        "echoed to the sender"
    );
    w.send(3, &format!("SETNAME :{}", "x".repeat(201)));
    assert_eq!(
        w.take(3),
        [":groupchatd FAIL SETNAME INVALID_REALNAME :Real name is empty or too long"]
    );
    w.send(2, "AWAY :lunch");
    w.send(2, "JOIN #food");
    w.send(1, "JOIN #food");
    w.out.lines.clear();
    w.send(2, "PART #food");
    w.send(2, "JOIN #food");
    let seen = w.take(1);
    assert_eq!(
        seen,
        [
            ":b!b@127.0.0.1 PART :#food",
            ":b!b@127.0.0.1 JOIN :#food",
            ":b!b@127.0.0.1 AWAY :lunch"
        ]
    );
}

mod msgid_order {
    use super::*;
    use proptest::prelude::*;

    /// A message: sender, and a channel (0, 1) or a nick (2 + client).
    fn said() -> impl Strategy<Value = (usize, usize)> {
        (0usize..4, 0usize..6)
    }

    proptest! {
        /// Per target, msgids come in the order messages are delivered, and
        /// history holds each delivered message under that target.
        #[test]
        fn msgid_order_is_delivery_order_per_target(said in proptest::collection::vec(said(), 1..60)) {
            let mut w = World::new(config());
            for id in 0..4 {
                w.register_with(id, &format!("n{id}"), "message-tags");
                w.send(id, "JOIN #a,#b");
            }
            w.out.lines.clear();
            for (from, to) in said {
                let target = match to {
                    0 => "#a".to_string(),
                    1 => "#b".to_string(),
                    n => format!("n{}", n - 2),
                };
                w.send(from, &format!("PRIVMSG {target} :x"));
            }
            let recorded: std::collections::HashMap<u64, String> =
                w.out.history.iter().map(|e| (e.seq, e.target.to_string())).collect();
            let seqs: Vec<u64> = w.out.history.iter().map(|e| e.seq).collect();
            prop_assert!(seqs.windows(2).all(|p| p[0] < p[1]), "recorded in msgid order");
            let mut last: std::collections::HashMap<(ClientId, String), u64> = Default::default();
            for (to, line) in &w.out.lines {
                let Some(id) = line.strip_prefix("@msgid=").and_then(|l| l.split(' ').next()) else {
                    continue;
                };
                let seq: u64 = id.parse().expect("a number");
                let target = recorded.get(&seq).expect("delivered lines are in history");
                let previous = last.insert((*to, target.clone()), seq);
                prop_assert!(previous.is_none_or(|p| p < seq), "out of order for {to} in {target}");
            }
        }
    }
}
