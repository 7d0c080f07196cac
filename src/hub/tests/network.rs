//! Two nodes of a cluster, their hubs wired by hand through what each
//! publishes: the network's rules without Redis (tests/cluster.rs has it).

use super::*;
use crate::accounts::Keep;
use crate::cluster::channel_of;
use crate::history::msgid;

fn node(name: &str) -> World {
    let mut config = config();
    config.node = Some(name.into());
    World::new(config)
}

/// Hands `to` what `from` published on the buses `to` listens to: the
/// net, its own node's, and the channels it follows.
fn relay(from: &mut World, to: &mut World) {
    let name = to.hub.config.node.clone().expect("a node");
    let mut following = HashSet::new();
    for (folded, on) in &to.out.follows {
        match on {
            true => following.insert(folded.clone()),
            false => following.remove(folded),
        };
    }
    for (bus, line) in std::mem::take(&mut from.out.published) {
        let heard = bus == channel_of(Bus::Net)
            || bus == channel_of(Bus::Node(&name))
            || following.iter().any(|f| bus == channel_of(Bus::Channel(f)));
        if heard {
            to.hub.cluster_line(line.as_bytes(), to.now, &mut to.out);
        }
    }
}

/// Nodes a and b, each announced to the other, with alice (1) on a and
/// bob (2) on b.
fn two_nodes() -> (World, World) {
    let (mut a, mut b) = (node("a"), node("b"));
    a.register(1, "alice");
    b.register(2, "bob");
    a.hub.join_network(&mut a.out);
    b.hub.join_network(&mut b.out);
    relay(&mut a, &mut b);
    relay(&mut b, &mut a);
    relay(&mut a, &mut b);
    a.out.lines.clear();
    b.out.lines.clear();
    (a, b)
}

#[test]
fn each_node_sees_the_others_users_in_its_channels() {
    let (mut a, mut b) = two_nodes();
    a.send(1, "NAMES #lobby");
    let names = a.take(1);
    assert!(names[0].ends_with(":alice bob"), "{names:?}");
    b.send(2, "WHOIS alice");
    let whois = b.take(2);
    assert!(
        whois[0].starts_with(":groupchatd 311 bob alice alice 127.0.0.1"),
        "{whois:?}"
    );
    assert!(
        whois.contains(&":groupchatd 312 bob alice a :another node of groupchat".to_string()),
        "{whois:?}"
    );
    assert!(
        !codes(&whois).contains(&"317"),
        "no idle time for a remote user"
    );
    // A remote nick is taken here too.
    a.connect(3);
    a.send(3, "NICK bob");
    assert_eq!(codes(&a.take(3)), ["433"]);
}

/// The msgid and time of the last entry `w` kept in history.
fn last_kept(w: &World) -> (u64, i64) {
    let entry = w.out.history.last().expect("an entry");
    (entry.seq, entry.time_ms)
}

#[test]
fn a_message_keeps_its_msgid_and_time_on_every_node() {
    let (mut a, mut b) = two_nodes();
    // a's clock runs ahead of b's (or a heard of lines from the future).
    let ahead = (crate::clock::now_ms() as u64 + 60_000) * 1000 * msgid::NODE_SPAN;
    a.hub.set_seq_floor(ahead);
    a.send(1, "PRIVMSG #lobby :first");
    relay(&mut a, &mut b);
    let first = last_kept(&a);
    assert_eq!(last_kept(&b), first);
    assert_eq!(msgid::node_of(first.0), msgid::node_number("a"));
    // b's answer, privately, sorts after what it answers on both nodes.
    b.send(2, "PRIVMSG alice :second");
    relay(&mut b, &mut a);
    assert_eq!(a.take(1), [":bob!bob@127.0.0.1 PRIVMSG alice :second"]);
    let second = last_kept(&b);
    assert_eq!(last_kept(&a), second);
    assert!(second.0 > first.0, "{second:?} after {first:?}");
    assert_eq!(msgid::node_of(second.0), msgid::node_number("b"));
    // A msgid that is not b's (a damaged or foreign line) is not taken:
    // the line is delivered under one of a's.
    let forged = format!(
        "@n=b;t=1;i={} :bob!bob@127.0.0.1 PRIVMSG #lobby :x",
        first.0 + 1
    );
    a.hub.cluster_line(forged.as_bytes(), a.now, &mut a.out);
    assert_eq!(a.take(1), [":bob!bob@127.0.0.1 PRIVMSG #lobby :x"]);
    let (seq, _) = last_kept(&a);
    assert_eq!(msgid::node_of(seq), msgid::node_number("a"));
    assert!(seq > second.0);
}

/// The joins, parts and quits `w` kept in history: msgid, time, kind and
/// target of each.
fn kept(w: &World) -> Vec<(u64, i64, Kind, String)> {
    let entries = w.out.events.iter();
    entries
        .map(|e| (e.seq, e.time_ms, e.kind, e.target.to_string()))
        .collect()
}

#[test]
fn joins_parts_and_quits_keep_their_msgids_on_every_node() {
    let (mut a, mut b) = two_nodes();
    for w in [&mut a, &mut b] {
        w.hub.config.history = true;
        w.out.events.clear();
    }
    for line in ["JOIN #x", "JOIN #y", "PART #x :bye", "JOIN #z"] {
        a.send(1, line);
        relay(&mut a, &mut b);
    }
    // Quitting three channels takes three msgids, told by the first.
    a.hub.disconnect(1, "gone", &mut a.out);
    relay(&mut a, &mut b);
    let kinds: Vec<Kind> = kept(&a).iter().map(|e| e.2).collect();
    use Kind::*;
    assert_eq!(kinds, [Join, Join, Part, Join, Quit, Quit, Quit]);
    assert_eq!(kept(&b), kept(&a));
    let quits: Vec<String> = kept(&a)[4..].iter().map(|e| e.3.clone()).collect();
    assert_eq!(quits, ["#lobby", "#y", "#z"]);
    assert!(kept(&a).windows(2).all(|w| w[0].0 < w[1].0));
    assert!(
        kept(&a)
            .iter()
            .all(|e| msgid::node_of(e.0) == msgid::node_number("a"))
    );
    // What b gives next sorts after all of them.
    b.send(2, "PRIVMSG #lobby :after");
    assert!(last_kept(&b).0 > kept(&a)[6].0);
}

#[test]
fn a_quit_telling_too_many_msgids_takes_this_nodes_own() {
    let (_a, mut b) = two_nodes();
    b.hub.config.history = true;
    b.out.events.clear();
    let now_us = crate::clock::now_ms() as u64 * 1000;
    let seq = now_us * msgid::NODE_SPAN + msgid::node_number("a");
    let quit = format!("@n=a;t=1;i={seq};c=1000000 :alice!alice@127.0.0.1 QUIT :bye");
    b.hub.cluster_line(quit.as_bytes(), b.now, &mut b.out);
    assert_eq!(b.take(2), [":alice!alice@127.0.0.1 QUIT :bye"]);
    let kept = kept(&b);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(msgid::node_of(kept[0].0), msgid::node_number("b"));
    // The damaged count did not push b's msgids a million steps on.
    b.send(2, "PRIVMSG #lobby :next");
    assert!(last_kept(&b).0 < msgid::nth(seq, 1_000_000));
}

#[test]
fn every_channel_message_is_logged_and_a_log_fills_history_without_showing() {
    let (mut a, mut b) = two_nodes();
    b.hub.config.history = true;
    a.send(1, "JOIN #alone");
    a.out.published.clear();
    a.send(1, "PRIVMSG #alone :nobody elsewhere");
    assert!(a.out.published.is_empty(), "no node follows #alone");
    let [(folded, line)] = &a.out.logged[..] else {
        panic!("one line logged: {:?}", a.out.logged);
    };
    assert_eq!(folded, "#alone");
    // b reads it from the log: kept, as a said it, and shown to nobody.
    b.hub.backfill(line.as_bytes(), &mut b.out);
    assert_eq!(last_kept(&b), last_kept(&a));
    assert_eq!(&*b.out.history[0].text, "nobody elsewhere");
    assert!(b.take(2).is_empty());
    // Its own lines, events and lines not of ours are not kept.
    let own = line.replace("@n=a;", "@n=b;");
    let quit = "@n=a;t=1;i=1 :alice!alice@127.0.0.1 QUIT :bye".to_string();
    let seq = last_kept(&a).0;
    let forged = line.replace(&format!(";i={seq}"), &format!(";i={}", seq + 1));
    for other in [own, quit, forged, "garbage".to_string()] {
        b.hub.backfill(other.as_bytes(), &mut b.out);
    }
    assert_eq!(b.out.history.len(), 1, "{:?}", b.out.history);
}

#[test]
fn messages_cross_once_per_channel_and_reach_the_members() {
    let (mut a, mut b) = two_nodes();
    a.send(1, "@+draft/react=x PRIVMSG #lobby :hello bob");
    let published = a.out.published.clone();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].0, "groupchatd:chan:{#lobby}");
    relay(&mut a, &mut b);
    assert_eq!(
        b.take(2),
        [":alice!alice@127.0.0.1 PRIVMSG #lobby :hello bob"]
    );
    assert_eq!(b.out.history.len(), 1, "kept in b's history too");
    assert_eq!(&*b.out.history[0].tags, "+draft/react=x");
    // Private, both ways; nothing is published for a local recipient.
    b.send(2, "PRIVMSG alice :hi alice");
    relay(&mut b, &mut a);
    assert_eq!(a.take(1), [":bob!bob@127.0.0.1 PRIVMSG alice :hi alice"]);
    a.register(3, "carol");
    a.out.published.clear();
    a.send(1, "PRIVMSG carol :local");
    assert!(a.out.published.is_empty());
    // A channel without members elsewhere costs no publication.
    a.send(1, "JOIN #quiet");
    a.out.published.clear();
    a.send(1, "PRIVMSG #quiet :just us");
    assert!(a.out.published.is_empty());
}

#[test]
fn presence_crosses_nodes() {
    let (mut a, mut b) = two_nodes();
    b.send(2, "JOIN #rust");
    relay(&mut b, &mut a);
    a.send(1, "JOIN #rust");
    relay(&mut a, &mut b);
    assert!(
        b.take(2)
            .contains(&":alice!alice@127.0.0.1 JOIN :#rust".to_string())
    );
    let joined = a.take(1);
    assert!(
        joined.iter().any(|l| l.ends_with(":alice @bob")),
        "{joined:?}"
    );
    b.send(2, "TOPIC #rust :all things rust");
    b.send(2, "NICK robert");
    b.send(2, "PART #rust :bye");
    relay(&mut b, &mut a);
    assert_eq!(
        a.take(1),
        [
            ":bob!bob@127.0.0.1 TOPIC #rust :all things rust",
            ":bob!bob@127.0.0.1 NICK :robert",
            ":robert!bob@127.0.0.1 PART #rust :bye",
        ]
    );
    b.send(2, "QUIT :later");
    relay(&mut b, &mut a);
    assert_eq!(a.take(1), [":robert!bob@127.0.0.1 QUIT :Quit: later"]);
    assert_eq!(a.hub.find_nick("robert"), None);
}

#[test]
fn a_lost_node_takes_its_users_with_it() {
    let (mut a, _b) = two_nodes();
    let later = a.now + Duration::from_secs(1);
    a.hub.nodes_alive(&["a".to_string()], later, &mut a.out);
    assert_eq!(a.take(1), [":bob!bob@127.0.0.1 QUIT :Quit: node b lost"]);
    assert_eq!(a.hub.find_nick("bob"), None);
}

#[test]
fn a_node_not_yet_listed_is_not_lost() {
    let (mut a, _b) = two_nodes();
    let before = a.now - Duration::from_secs(1);
    a.hub.nodes_alive(&["a".to_string()], before, &mut a.out);
    assert!(a.take(1).is_empty());
    assert!(a.hub.find_nick("bob").is_some());
}

#[test]
fn a_nick_taken_on_two_nodes_apart_goes_to_one_and_the_other_is_told() {
    let (mut a, mut b) = (node("a"), node("b"));
    a.register(1, "sam");
    b.register(2, "sam");
    a.hub.join_network(&mut a.out);
    b.hub.join_network(&mut b.out);
    relay(&mut a, &mut b);
    relay(&mut b, &mut a);
    relay(&mut a, &mut b);
    relay(&mut b, &mut a);
    // Same second, so the lower node name keeps it.
    let told = b.take(2);
    assert!(told.iter().any(|l| l.contains("NICK :Guest2")), "{told:?}");
    assert!(
        told.iter().any(|l| l.contains("taken on another node")),
        "{told:?}"
    );
    a.send(1, "NAMES #lobby");
    let names = a.take(1);
    assert!(
        names
            .iter()
            .any(|l| l.ends_with(" 353 sam = #lobby :sam Guest2")),
        "{names:?}"
    );
    b.out.lines.clear();
    b.send(2, "NAMES #lobby");
    let names = b.take(2);
    assert!(
        names[0].ends_with(" 353 Guest2 = #lobby :Guest2 sam"),
        "{names:?}"
    );
}

#[test]
fn a_resync_removes_who_left_while_apart() {
    let (mut a, mut b) = two_nodes();
    b.register(3, "carl");
    relay(&mut b, &mut a);
    assert!(a.hub.find_nick("carl").is_some());
    // carl quits while a hears nothing; then b announces itself again.
    b.send(3, "QUIT");
    b.out.published.clear();
    b.hub.join_network(&mut b.out);
    relay(&mut b, &mut a);
    assert_eq!(a.hub.find_nick("carl"), None);
    assert!(a.hub.find_nick("bob").is_some());
    let seen = a.take(1);
    assert!(
        seen.iter().any(|l| l.contains("carl!carl@127.0.0.1 QUIT")),
        "{seen:?}"
    );
}

#[test]
fn foreign_payloads_are_dropped() {
    let (mut a, _b) = two_nodes();
    for junk in [
        &b""[..],
        b"hello",
        b":x PRIVMSG #lobby :no node tag",
        b"@n=z :nobody!x@y PRIVMSG #lobby :unknown sender",
        b"@n=b :bob!bob@127.0.0.1 INTRO notanumber * + * :x",
        b"@n=b :bob!bob@127.0.0.1 FROB",
    ] {
        a.hub.cluster_line(junk, a.now, &mut a.out);
    }
    assert!(a.take(1).is_empty());
    // The unknown sender's line is held for its INTRO a moment; then its
    // node is asked to tell everything again.
    a.hub.tick(a.now + Duration::from_secs(1), &mut a.out);
    assert!(
        a.out
            .published
            .iter()
            .any(|(bus, line)| bus == "groupchatd:node:{z}" && line.ends_with("HELLO"))
    );
}

#[test]
fn kicks_kills_walls_and_lusers_span_the_network() {
    let (mut a, mut b) = two_nodes();
    a.send(1, "LUSERS");
    let lusers = a.take(1);
    assert!(
        lusers[0].ends_with(":There are 2 users and 0 invisible on 2 servers"),
        "{lusers:?}"
    );
    assert!(!lusers[1].contains(" 252 "), "no operators, no 252");
    // bob goes invisible on b: a counts him so, and keeps him out of WHO.
    b.send(2, "MODE bob +i");
    relay(&mut b, &mut a);
    a.send(1, "LUSERS");
    let lusers = a.take(1);
    assert!(
        lusers[0].ends_with(":There are 1 users and 1 invisible on 2 servers"),
        "{lusers:?}"
    );
    a.send(1, "PART #lobby");
    a.send(1, "WHO #lobby");
    assert_eq!(codes(&a.take(1)), ["PART", "315"], "invisible to outsiders");
    a.send(1, "JOIN #lobby");
    b.send(2, "MODE bob -i");
    relay(&mut b, &mut a);
    a.take(1);
    // The admin of a kicks bob: b cuts him off, and a sees him quit.
    let said = a.hub.kick("bob", Some("spam"), &mut a.out);
    assert_eq!(
        said.as_deref().ok(),
        Some("kicked bob on node b (Kicked by admin: spam)")
    );
    assert!(a.take(1).is_empty(), "not until b says so");
    relay(&mut a, &mut b);
    assert_eq!(b.out.closed.len(), 1);
    assert_eq!(b.out.closed[0].0, 2);
    relay(&mut b, &mut a);
    assert_eq!(
        a.take(1),
        [":bob!bob@127.0.0.1 QUIT :Kicked by admin: spam"]
    );
    b.register(3, "bea");
    relay(&mut b, &mut a);
    a.out.lines.clear();
    assert_eq!(a.hub.wall("maintenance at noon", &mut a.out), 1);
    relay(&mut a, &mut b);
    assert_eq!(b.take(3), [":groupchatd NOTICE * :maintenance at noon"]);
}

#[test]
fn channel_modes_cross_nodes() {
    let (mut a, mut b) = two_nodes();
    b.send(2, "JOIN #rust");
    relay(&mut b, &mut a);
    a.send(1, "JOIN #rust");
    relay(&mut a, &mut b);
    a.out.lines.clear();
    b.send(2, "MODE #rust +m");
    relay(&mut b, &mut a);
    assert_eq!(a.take(1), [":bob!bob@127.0.0.1 MODE #rust :+m"]);
    a.send(1, "PRIVMSG #rust :may I?");
    assert_eq!(codes(&a.take(1)), ["404"]);
    b.send(2, "MODE #rust +v alice");
    relay(&mut b, &mut a);
    assert_eq!(a.take(1), [":bob!bob@127.0.0.1 MODE #rust +v :alice"]);
    a.send(1, "PRIVMSG #rust :thanks");
    relay(&mut a, &mut b);
    assert!(
        b.take(2)
            .iter()
            .any(|l| l.ends_with("PRIVMSG #rust :thanks"))
    );
}

#[test]
fn a_nick_is_asked_of_the_network_before_it_is_given() {
    let mut a = node("a");
    a.out.network_up = true;
    a.connect(1);
    a.send(1, "NICK zed");
    a.send(1, "USER zed 0 * :Zed");
    assert_eq!(a.out.claims, ["take zed"]);
    assert!(a.take(1).is_empty(), "registration waits for the answer");
    // Someone on another node has it: 433, and the client picks another.
    a.hub.nick_answer(1, "zed", false, &mut a.out);
    assert_eq!(
        a.take(1),
        [":groupchatd 433 * zed :Nickname is already in use on the network"]
    );
    a.send(1, "NICK zed2");
    assert_eq!(a.out.claims, ["take zed", "take zed2"]);
    a.hub.nick_answer(1, "zed2", true, &mut a.out);
    assert_eq!(codes(&a.take(1))[0], "001");
    // A change of nick waits the same way, then gives the old one back.
    a.out.claims.clear();
    a.send(1, "NICK zoe");
    assert!(a.take(1).is_empty());
    a.send(1, "NICK zara");
    assert_eq!(codes(&a.take(1)), ["437"], "one request at a time");
    a.hub.nick_answer(1, "zoe", true, &mut a.out);
    assert_eq!(a.take(1), [":zed2!zed@127.0.0.1 NICK :zoe"]);
    assert_eq!(a.out.claims, ["take zoe", "release zed2", "keep zoe"]);
    // An answer nobody waits for any more gives the nick back.
    a.out.claims.clear();
    a.hub.nick_answer(7, "ghost", true, &mut a.out);
    assert_eq!(a.out.claims, ["release ghost"]);
    a.send(1, "QUIT");
    assert_eq!(a.out.claims, ["release ghost", "release zoe"]);
}

#[test]
fn an_invitation_lets_another_nodes_user_in() {
    let (mut a, mut b) = two_nodes();
    a.send(1, "JOIN #club");
    a.send(1, "MODE #club +i");
    relay(&mut a, &mut b);
    a.out.lines.clear();
    b.send(2, "JOIN #club");
    assert_eq!(codes(&b.take(2)), ["473"]);
    a.send(1, "INVITE bob #club");
    assert_eq!(codes(&a.take(1)), ["341"]);
    relay(&mut a, &mut b);
    assert_eq!(b.take(2), [":alice!alice@127.0.0.1 INVITE bob :#club"]);
    b.send(2, "JOIN #club");
    assert!(
        b.take(2)
            .contains(&":bob!bob@127.0.0.1 JOIN :#club".to_string())
    );
}

#[test]
fn a_kline_holds_on_every_node() {
    let (mut a, mut b) = two_nodes();
    let set = a.hub.add_kline("bob!*@*", 0, "spam", "admin", &mut a.out);
    assert_eq!(set, Ok(("bob!*@*".to_string(), 0)));
    relay(&mut a, &mut b);
    assert_eq!(b.out.closed.len(), 1, "b drops its bob");
    assert!(
        b.out
            .kept
            .iter()
            .any(|k| matches!(k, Keep::Kline(crate::kline::Change::Save(_))))
    );
    a.hub.remove_kline("bob!*@*", &mut a.out);
    relay(&mut a, &mut b);
    assert!(b.hub.klines().is_empty());
}

#[test]
fn a_channel_recreated_apart_brings_no_operator_status() {
    let (mut a, _b) = two_nodes();
    a.send(1, "JOIN #x");
    let created: u64 = a.hub.channels[a.hub.channel_ids["#x"]].created;
    a.out.lines.clear();
    // bob made his own #x on b while apart, later: he joins without @.
    let younger = format!("@n=b :bob!bob@127.0.0.1 JOIN #x @ {}", created + 100);
    a.hub.cluster_line(younger.as_bytes(), a.now, &mut a.out);
    assert_eq!(a.take(1), [":bob!bob@127.0.0.1 JOIN :#x"]);
    a.send(1, "NAMES #x");
    assert!(a.take(1)[0].ends_with(":@alice bob"));
    // A #y older on b than here: alice's @ made here goes, bob's stays.
    a.send(1, "JOIN #y");
    a.out.lines.clear();
    let older = format!("@n=b :bob!bob@127.0.0.1 JOIN #y @ {}", created - 100);
    a.hub.cluster_line(older.as_bytes(), a.now, &mut a.out);
    assert_eq!(
        a.take(1),
        [
            ":groupchatd MODE #y -o :alice",
            ":bob!bob@127.0.0.1 JOIN :#y",
        ]
    );
    a.send(1, "NAMES #y");
    assert!(a.take(1)[0].ends_with(":alice @bob"));
    a.send(1, "MODE #y +m");
    assert_eq!(codes(&a.take(1)), ["482"]);
}

#[test]
fn a_login_on_another_node_is_seen_with_account_notify() {
    let (mut a, mut b) = two_nodes();
    a.register_with(3, "cara", "account-notify");
    relay(&mut a, &mut b);
    b.out.lines.clear();
    // bob logs in on b after registering: b announces him again.
    let intro = "@n=b :bob!bob@127.0.0.1 INTRO 0 bobacct + #lobby :Real bob";
    a.out.lines.clear();
    a.hub.cluster_line(intro.as_bytes(), a.now, &mut a.out);
    assert_eq!(a.take(3), [":bob!bob@127.0.0.1 ACCOUNT :bobacct"]);
    assert!(a.take(1).is_empty(), "alice did not ask for account-notify");
    a.send(3, "WHOIS bob");
    assert!(
        a.take(3)
            .iter()
            .any(|l| l.contains(" 330 cara bob bobacct "))
    );
}

#[test]
fn a_look_alike_from_another_node_collides_like_the_nick_itself() {
    let (mut a, _b) = two_nodes();
    // "аlice" with a Cyrillic а, announced by b later than alice signed on.
    let intro = "@n=b :\u{430}lice!x@127.0.0.1 INTRO 99999999999 * + * :fake";
    a.hub.cluster_line(intro.as_bytes(), a.now, &mut a.out);
    assert!(a.take(1).is_empty(), "alice keeps her nick");
    assert_eq!(a.hub.find_nick("\u{430}lice"), None);
    assert_eq!(a.hub.find_nick("alice"), Some(1));
}

#[test]
fn a_message_that_overtakes_its_senders_intro_waits_for_it() {
    let (mut a, mut b) = two_nodes();
    // carol registers on a and speaks at once; b hears the message first,
    // as it may when a Redis Cluster carries them by different masters.
    a.register(3, "carol");
    a.send(3, "PRIVMSG #lobby :first words");
    let mut published = std::mem::take(&mut a.out.published);
    let message = published
        .iter()
        .position(|(_, line)| line.contains("PRIVMSG #lobby"))
        .expect("published");
    let overtaking = published.remove(message);
    published.insert(0, overtaking);
    a.out.published = published;
    relay(&mut a, &mut b);
    let bob = b.take(2);
    let join = bob
        .iter()
        .position(|l| l.contains("carol!carol@127.0.0.1 JOIN"));
    let said = bob
        .iter()
        .position(|l| l.ends_with("PRIVMSG #lobby :first words"));
    assert!(join.is_some() && said > join, "{bob:?}");
    assert!(b.out.published.iter().all(|(_, l)| !l.ends_with("HELLO")));
    // A line whose sender never comes: HELLO after a second, dropped after five.
    b.hub.cluster_line(
        b"@n=a :ghost!g@127.0.0.1 PRIVMSG #lobby :boo",
        b.now,
        &mut b.out,
    );
    b.hub.tick(b.now + Duration::from_secs(1), &mut b.out);
    let hellos = |w: &World| {
        w.out
            .published
            .iter()
            .filter(|(bus, l)| bus == "groupchatd:node:{a}" && l.ends_with("HELLO"))
            .count()
    };
    assert_eq!(hellos(&b), 1);
    b.hub.tick(b.now + Duration::from_secs(5), &mut b.out);
    b.hub.tick(b.now + Duration::from_secs(6), &mut b.out);
    assert_eq!(hellos(&b), 1, "asked once");
    assert!(b.take(2).iter().all(|l| !l.contains("boo")));
    // A node that never introduces anyone fills no more than the bound.
    for n in 0..1500 {
        let line = format!("@n=a :ghost{n}!g@127.0.0.1 PRIVMSG #lobby :boo");
        b.hub.cluster_line(line.as_bytes(), b.now, &mut b.out);
    }
    assert_eq!(b.hub.early.len(), 1000);
    assert_eq!(
        b.hub
            .early
            .front()
            .map(|e| e.payload.starts_with(b"@n=a :ghost500!")),
        Some(true),
        "the oldest went first"
    );
}

#[test]
fn a_user_killed_from_another_node_sees_the_kill_line() {
    let (mut a, mut b) = two_nodes();
    a.hub.config.operators = vec![crate::config::OperatorConfig {
        name: "root".into(),
        password_hash: Some("s3cret".into()),
        account: None,
    }];
    let mut accounts = super::accounts::store(&[]);
    a.send(1, "OPER root s3cret");
    a.answer_accounts(&mut accounts);
    a.take(1);
    a.send(1, "KILL bob :enough");
    relay(&mut a, &mut b);
    assert_eq!(
        b.take(2).first().map(String::as_str),
        Some(":alice!alice@127.0.0.1 KILL bob :enough")
    );
    assert_eq!(b.out.closed.len(), 1, "then cut off");
    assert!(b.out.closed[0].2.contains("Killed (alice (enough))"));
}
