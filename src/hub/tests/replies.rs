//! Replies checked against the Modern IRC Client Protocol document and
//! RFC 2812: numerics, their parameters, and the optional parameters each
//! command takes.

use super::*;

#[test]
fn a_nick_held_before_registration_is_nobody_to_query() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.connect(2);
    w.send(2, "NICK half");
    w.send(1, "USERHOST half");
    assert_eq!(w.take(1), [":groupchatd 302 a :"]);
    w.send(1, "ISON half");
    assert_eq!(w.take(1), [":groupchatd 303 a :"]);
    w.send(1, "WHO half");
    assert_eq!(w.take(1), [":groupchatd 315 a half :End of /WHO list"]);
    w.send(1, "MODE half");
    assert_eq!(w.take(1), [":groupchatd 401 a half :No such nick/channel"]);
}

#[test]
fn ison_needs_a_nick() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.send(1, "ISON");
    assert_eq!(w.take(1), [":groupchatd 461 a ISON :Not enough parameters"]);
    w.send(1, "ISON :a nobody");
    assert_eq!(w.take(1), [":groupchatd 303 a :a"]);
}

#[test]
fn server_queries_take_a_target_server_and_refuse_unknown_ones() {
    let mut w = World::new(config());
    w.register(1, "a");
    for query in ["MOTD", "TIME", "VERSION", "INFO", "ADMIN"] {
        for target in ["groupchatd", "GROUPCHAT*", "a"] {
            w.send(1, &format!("{query} {target}"));
            let lines = w.take(1);
            assert!(
                !codes(&lines).contains(&"402"),
                "{query} {target}: {lines:?}"
            );
            assert!(!lines.is_empty(), "{query} {target}");
        }
        w.send(1, &format!("{query} irc.elsewhere.org"));
        assert_eq!(
            w.take(1),
            [":groupchatd 402 a irc.elsewhere.org :No such server"],
            "{query}"
        );
    }
    w.send(1, "WHOIS groupchatd a");
    assert_eq!(codes(&w.take(1)).last(), Some(&"318"));
    w.send(1, "WHOIS a a");
    assert_eq!(codes(&w.take(1)).last(), Some(&"318"));
    w.send(1, "WHOIS irc.elsewhere.org a");
    assert_eq!(
        w.take(1),
        [":groupchatd 402 a irc.elsewhere.org :No such server"]
    );
}

#[test]
fn an_empty_quit_reason_still_says_quit() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register(2, "b");
    w.register(3, "c");
    w.send(2, "QUIT :");
    w.send(3, "QUIT");
    assert_eq!(
        w.out.closed,
        [
            (2, DisconnectReason::Quit, "Quit: ".to_string()),
            (3, DisconnectReason::Quit, "Client Quit".to_string())
        ]
    );
}

#[test]
fn invisible_members_show_only_to_their_channel() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register(2, "b");
    w.register(3, "c");
    w.send(1, "JOIN #t");
    w.send(2, "JOIN #t");
    w.send(2, "MODE b +i");
    w.out.lines.clear();
    w.send(3, "NAMES #t");
    assert_eq!(
        w.take(3),
        [
            ":groupchatd 353 c = #t :@a",
            ":groupchatd 366 c #t :End of /NAMES list"
        ]
    );
    w.send(3, "WHO #t");
    assert_eq!(codes(&w.take(3)), ["352", "315"]);
    w.send(1, "NAMES #t");
    assert_eq!(codes(&w.take(1)), ["353", "366"]);
    w.send(1, "WHO #t");
    assert_eq!(codes(&w.take(1)), ["352", "352", "315"]);
}

#[test]
fn list_takes_channel_names_and_user_counts() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register(2, "b");
    w.send(1, "JOIN #one");
    w.send(1, "JOIN #two");
    w.send(2, "JOIN #two");
    w.out.lines.clear();
    let listed = |w: &mut World, line: &str| -> Vec<String> {
        w.send(1, line);
        let lines = w.take(1);
        assert_eq!(codes(&lines).first(), Some(&"321"), "{line}");
        assert_eq!(codes(&lines).last(), Some(&"323"), "{line}");
        let rows = lines.iter().filter(|l| l.split(' ').nth(1) == Some("322"));
        let mut channels: Vec<String> = rows
            .filter_map(|l| l.split(' ').nth(3))
            .map(String::from)
            .collect();
        channels.sort();
        channels
    };
    assert_eq!(listed(&mut w, "LIST"), ["#lobby", "#one", "#two"]);
    assert_eq!(listed(&mut w, "LIST >1"), ["#lobby", "#two"]);
    assert_eq!(listed(&mut w, "LIST #one,#TWO <2"), ["#one"]);
    assert_eq!(listed(&mut w, "LIST #one,#two >1"), ["#two"]);
    assert_eq!(listed(&mut w, "LIST #nowhere"), Vec::<String>::new());
    w.send(1, "VERSION");
    assert!(w.take(1).iter().any(|l| l.contains(" ELIST=U ")));
}

#[test]
fn privmsg_past_targmax_gets_407_and_notice_does_not() {
    let mut w = World::new(config());
    w.register(1, "a");
    for (id, nick) in [(2, "b"), (3, "c"), (4, "d"), (5, "e"), (6, "f")] {
        w.register(id, nick);
    }
    w.send(1, "PRIVMSG b,c,d,e,f :hi");
    assert_eq!(
        w.take(1),
        [":groupchatd 407 a f :Too many recipients. Only 4 processed"]
    );
    assert_eq!(w.take(5), [":a!a@127.0.0.1 PRIVMSG e :hi"]);
    assert!(w.take(6).is_empty());
    w.send(1, "NOTICE b,c,d,e,f :hi");
    assert!(w.take(1).is_empty());
}

#[test]
fn the_documented_optional_forms_are_taken() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register(2, "b");
    w.send(1, "JOIN #x,#y");
    w.send(2, "JOIN #x");
    w.out.lines.clear();
    // TOPIC with an empty trailing parameter clears the topic.
    w.send(1, "TOPIC #x :something");
    w.send(1, "TOPIC #x :");
    assert_eq!(
        w.take(2).last().map(String::as_str),
        Some(":a!a@127.0.0.1 TOPIC #x :")
    );
    w.out.lines.clear();
    w.send(2, "TOPIC #x");
    assert_eq!(w.take(2), [":groupchatd 331 b #x :No topic is set"]);
    // NAMES of several channels: a 366 for each, known or not.
    w.send(2, "NAMES #x,#nowhere");
    assert_eq!(codes(&w.take(2)), ["353", "366", "366"]);
    // PART of several channels, each with the reason.
    w.send(1, "PART #x,#y :bye");
    assert_eq!(
        w.take(1),
        [":a!a@127.0.0.1 PART #x :bye", ":a!a@127.0.0.1 PART #y :bye"]
    );
    // JOIN 0 parts every channel.
    w.out.lines.clear();
    w.send(2, "JOIN 0");
    assert_eq!(
        w.take(2),
        [":b!b@127.0.0.1 PART :#lobby", ":b!b@127.0.0.1 PART :#x"]
    );
    // PING's token comes back in PONG.
    w.send(2, "PING :a b c");
    assert_eq!(w.take(2), [":groupchatd PONG groupchatd :a b c"]);
}

#[test]
fn lusers_leaves_out_the_counts_that_are_zero() {
    // No default channel, so that there can be no channel at all.
    let mut cfg = config();
    cfg.default_channel = String::new();
    let mut w = World::new(cfg);
    w.register(1, "a");
    w.send(1, "LUSERS");
    assert_eq!(
        w.take(1),
        [
            ":groupchatd 251 a :There are 1 users and 0 invisible on 1 servers",
            ":groupchatd 255 a :I have 1 clients and 0 servers",
            ":groupchatd 265 a 1 1 :Current local users 1, max 1",
            ":groupchatd 266 a 1 1 :Current global users 1, max 1",
        ]
    );
    // One connection not yet registered, one channel: 253 and 254.
    w.connect(2);
    w.send(1, "JOIN #x");
    w.out.lines.clear();
    w.send(1, "LUSERS");
    assert_eq!(
        w.take(1),
        [
            ":groupchatd 251 a :There are 1 users and 0 invisible on 1 servers",
            ":groupchatd 253 a 1 :unknown connection(s)",
            ":groupchatd 254 a 1 :channels formed",
            ":groupchatd 255 a :I have 1 clients and 0 servers",
            ":groupchatd 265 a 1 1 :Current local users 1, max 1",
            ":groupchatd 266 a 1 1 :Current global users 1, max 1",
        ]
    );
}
