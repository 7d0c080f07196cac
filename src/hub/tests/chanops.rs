//! Channel operators, channel modes, bans, KICK and INVITE.

use super::*;

/// `a` (1) made `#c` and is its operator; `b` (2) is a member; `c` (3)
/// is registered but not in `#c`. Output so far is discarded.
fn channel() -> World {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register(2, "b");
    w.register(3, "c");
    w.send(1, "JOIN #c");
    w.send(2, "JOIN #c");
    w.out.lines.clear();
    w
}

/// The first `353` line `id` gets for `chan` now.
fn names(w: &mut World, id: ClientId, chan: &str) -> String {
    w.out.lines.clear();
    w.send(id, &format!("NAMES {chan}"));
    let lines = w.take(id);
    lines
        .into_iter()
        .find(|l| l.contains(" 353 "))
        .unwrap_or_default()
}

#[test]
fn the_first_member_of_a_new_channel_is_its_operator_and_the_lobby_has_none() {
    let mut w = channel();
    assert_eq!(names(&mut w, 1, "#c"), ":groupchatd 353 a = #c :@a b");
    assert_eq!(
        names(&mut w, 1, "#lobby"),
        ":groupchatd 353 a = #lobby :a b c"
    );
    w.send(1, "MODE #lobby");
    assert_eq!(w.take(1)[0], ":groupchatd 324 a #lobby :+n");
    w.send(1, "MODE #c");
    let modes = w.take(1);
    assert_eq!(modes[0], ":groupchatd 324 a #c :+nt");
    assert_eq!(codes(&modes), ["324", "329"]);
}

#[test]
fn the_lobby_is_there_from_the_start_and_stays_when_empty() {
    let mut w = World::new(config());
    assert_eq!(w.hub.channel_count(), 1);
    w.register(1, "a");
    w.send(1, "PART #lobby");
    assert_eq!(w.hub.channel_count(), 1);
    w.send(1, "JOIN #lobby");
    assert_eq!(names(&mut w, 1, "#lobby"), ":groupchatd 353 a = #lobby :a");
}

#[test]
fn no_default_channel_means_no_auto_join() {
    let mut cfg = config();
    cfg.default_channel = String::new();
    let mut w = World::new(cfg);
    assert_eq!(w.hub.channel_count(), 0);
    w.connect(1);
    w.send(1, "NICK a");
    w.send(1, "USER a 0 * :A");
    let lines = w.take(1);
    assert!(codes(&lines).contains(&"376") || codes(&lines).contains(&"422"));
    assert!(!codes(&lines).contains(&"JOIN"), "{lines:#?}");
    assert_eq!(w.hub.channel_count(), 0);
}

#[test]
fn isupport_tells_what_the_server_does() {
    let mut w = World::new(config());
    w.connect(1);
    w.send(1, "NICK a");
    w.send(1, "USER a 0 * :A");
    let lines = w.take(1);
    assert!(lines.contains(
        &":groupchatd 004 a groupchatd groupchatd-0.1.0 iow beiklmnotv :beklov".to_string()
    ));
    let isupport: Vec<&String> = lines.iter().filter(|l| l.contains(" 005 ")).collect();
    assert_eq!(isupport.len(), 2);
    let all = format!("{} {}", isupport[0], isupport[1]);
    for token in [
        " CHANMODES=be,k,l,imnt ",
        " PREFIX=(ov)@+ ",
        " MAXLIST=b:200,e:100 ",
        " MODES=4 ",
        " EXCEPTS=e ",
        " KEYLEN=23 ",
    ] {
        assert!(all.contains(token), "{token} in {all}");
    }
    assert!(!all.contains("INVEX"));
    for line in isupport {
        // target, at most 13 tokens, the trailing text
        assert!(line.split(' ').count() <= 3 + 13 + 5, "{line}");
    }
}

#[test]
fn ops_give_and_take_op_and_voice_and_everyone_sees_it() {
    let mut w = channel();
    w.send(1, "MODE #c +v b");
    let told = ":a!a@127.0.0.1 MODE #c +v :b";
    assert_eq!(w.take(1), [told]);
    assert_eq!(w.take(2), [told]);
    assert!(w.take(3).is_empty(), "not in #c");
    w.send(1, "MODE #c +o-v b b");
    assert_eq!(w.take(2), [":a!a@127.0.0.1 MODE #c +o-v b :b"]);
    assert_eq!(names(&mut w, 2, "#c"), ":groupchatd 353 b = #c :@a @b");
    // Already so: nothing changes, nobody is told.
    w.out.lines.clear();
    w.send(1, "MODE #c +o b");
    assert!(w.take(1).is_empty());
    w.send(2, "MODE #c -o a");
    assert_eq!(w.take(1), [":b!b@127.0.0.1 MODE #c -o :a"]);
}

#[test]
fn mode_changes_by_non_ops_and_bad_ones_are_refused() {
    let mut w = channel();
    w.send(2, "MODE #c +mi-t+o b");
    assert_eq!(
        w.take(2),
        [":groupchatd 482 b #c :You're not channel operator"]
    );
    assert!(w.take(1).is_empty());
    w.send(3, "MODE #c +m");
    assert_eq!(codes(&w.take(3)), ["482"]);
    w.send(1, "MODE #c +Z");
    assert_eq!(
        w.take(1),
        [":groupchatd 472 a Z :is unknown mode char to me"]
    );
    w.send(1, "MODE #c +o nobody");
    assert_eq!(codes(&w.take(1)), ["401"]);
    w.send(1, "MODE #c +o c");
    assert_eq!(
        w.take(1),
        [":groupchatd 441 a c #c :They aren't on that channel"]
    );
    w.send(1, "MODE #c +o");
    assert_eq!(codes(&w.take(1)), ["461"]);
    w.send(1, "MODE #c +l many");
    assert_eq!(w.take(1), [":groupchatd 696 a #c l many :Invalid limit"]);
    w.send(1, "MODE #c +k :two words");
    assert_eq!(codes(&w.take(1)), ["525"]);
    w.send(1, "MODE #nowhere +m");
    assert_eq!(codes(&w.take(1)), ["403"]);
    // The modes are as they were.
    w.send(1, "MODE #c");
    assert_eq!(w.take(1)[0], ":groupchatd 324 a #c :+nt");
}

#[test]
fn op_status_follows_a_nick_change_and_is_lost_on_part() {
    let mut w = channel();
    w.send(1, "NICK a2");
    assert_eq!(names(&mut w, 2, "#c"), ":groupchatd 353 b = #c :@a2 b");
    w.send(1, "MODE #c +o b");
    w.send(2, "PART #c");
    w.send(2, "JOIN #c");
    assert_eq!(names(&mut w, 2, "#c"), ":groupchatd 353 b = #c :@a2 b");
    w.out.lines.clear();
    w.send(2, "MODE #c +m");
    assert_eq!(codes(&w.take(2)), ["482"]);
}

#[test]
fn multi_prefix_shows_every_prefix_elsewhere_the_highest() {
    let mut w = channel();
    w.register_with(4, "d", "multi-prefix");
    w.send(4, "JOIN #c");
    w.send(1, "MODE #c +v a");
    w.out.lines.clear();
    assert_eq!(names(&mut w, 4, "#c"), ":groupchatd 353 d = #c :@+a b d");
    assert_eq!(names(&mut w, 2, "#c"), ":groupchatd 353 b = #c :@a b d");
    w.send(4, "WHO #c");
    assert_eq!(
        w.take(4)[0],
        ":groupchatd 352 d #c a 127.0.0.1 groupchatd a H@+ :0 Real a"
    );
    w.send(1, "AWAY :out");
    w.send(2, "WHO #c");
    assert_eq!(
        w.take(2)[0],
        ":groupchatd 352 b #c a 127.0.0.1 groupchatd a G@ :0 Real a"
    );
    w.send(4, "WHOIS a");
    let whois = w.take(4);
    assert!(whois.contains(&":groupchatd 319 d a :#lobby @+#c".to_string()));
}

#[test]
fn moderated_channels_let_only_ops_and_voiced_members_speak() {
    let mut w = channel();
    w.send(1, "MODE #c +m");
    w.out.lines.clear();
    w.send(2, "PRIVMSG #c :hello");
    assert_eq!(w.take(2), [":groupchatd 404 b #c :Cannot send to channel"]);
    assert!(w.take(1).is_empty());
    w.send(2, "NOTICE #c :quietly");
    assert!(w.take(2).is_empty(), "NOTICE draws no error");
    w.send(1, "MODE #c +v b");
    w.out.lines.clear();
    w.send(2, "PRIVMSG #c :hello");
    assert_eq!(w.take(1), [":b!b@127.0.0.1 PRIVMSG #c :hello"]);
}

#[test]
fn topic_lock_and_outside_messages() {
    let mut w = channel();
    w.send(2, "TOPIC #c :mine");
    assert_eq!(codes(&w.take(2)), ["482"]);
    w.send(3, "PRIVMSG #c :from outside");
    assert_eq!(codes(&w.take(3)), ["404"]);
    w.send(1, "MODE #c -nt");
    assert_eq!(w.take(2), [":a!a@127.0.0.1 MODE #c :-nt"]);
    w.out.lines.clear();
    w.send(2, "TOPIC #c :mine");
    assert_eq!(w.take(1), [":b!b@127.0.0.1 TOPIC #c :mine"]);
    w.send(3, "PRIVMSG #c :from outside");
    assert_eq!(w.take(1), [":c!c@127.0.0.1 PRIVMSG #c :from outside"]);
    assert!(w.take(3).is_empty());
}

#[test]
fn invite_only_channels_take_the_invited() {
    let mut w = channel();
    w.send(1, "MODE #c +i");
    w.out.lines.clear();
    w.send(3, "JOIN #c");
    assert_eq!(
        w.take(3),
        [":groupchatd 473 c #c :Cannot join channel (+i)"]
    );
    w.send(2, "INVITE c #c");
    assert_eq!(codes(&w.take(2)), ["482"]);
    w.send(1, "INVITE c #c");
    assert_eq!(w.take(1), [":groupchatd 341 a c :#c"]);
    assert_eq!(w.take(3), [":a!a@127.0.0.1 INVITE c :#c"]);
    w.send(3, "INVITE");
    assert_eq!(
        w.take(3),
        [
            ":groupchatd 336 c :#c",
            ":groupchatd 337 c :End of /INVITE list"
        ]
    );
    w.send(3, "JOIN #c");
    assert!(codes(&w.take(3)).contains(&"366"));
    // The invitation is used up.
    w.send(3, "PART #c");
    w.send(3, "JOIN #c");
    assert_eq!(codes(&w.take(3)), ["PART", "473"]);
    w.send(3, "INVITE");
    assert_eq!(codes(&w.take(3)), ["337"]);
}

#[test]
fn invite_refusals() {
    let mut w = channel();
    w.send(1, "INVITE nobody #c");
    assert_eq!(codes(&w.take(1)), ["401"]);
    w.send(1, "INVITE c #nowhere");
    assert_eq!(codes(&w.take(1)), ["403"]);
    w.send(3, "INVITE a #c");
    assert_eq!(codes(&w.take(3)), ["442"]);
    w.send(1, "INVITE b #c");
    assert_eq!(w.take(1), [":groupchatd 443 a b #c :is already on channel"]);
    w.send(1, "INVITE c");
    assert_eq!(codes(&w.take(1)), ["461"]);
    // Without +i any member may invite.
    w.send(2, "INVITE c #c");
    assert_eq!(codes(&w.take(2)), ["341"]);
}

#[test]
fn invite_notify_tells_those_who_could_have_invited() {
    let mut w = channel();
    w.register_with(4, "d", "invite-notify");
    w.send(4, "JOIN #c");
    w.register(5, "e");
    w.out.lines.clear();
    w.send(2, "INVITE e #c");
    assert_eq!(w.take(4), [":b!b@127.0.0.1 INVITE e :#c"]);
    assert!(w.take(1).is_empty(), "a did not ask");
    w.send(1, "MODE #c +i");
    w.out.lines.clear();
    w.send(1, "INVITE c #c");
    assert!(w.take(4).is_empty(), "d is no op of a +i channel");
    w.send(1, "MODE #c +o d");
    w.out.lines.clear();
    w.send(1, "INVITE e #c");
    assert_eq!(w.take(4), [":a!a@127.0.0.1 INVITE e :#c"]);
}

#[test]
fn keys_and_limits() {
    let mut w = channel();
    w.send(1, "MODE #c +kl sesame 3");
    assert_eq!(w.take(2), [":a!a@127.0.0.1 MODE #c +kl sesame :3"]);
    w.send(3, "JOIN #c");
    assert_eq!(
        w.take(3),
        [":groupchatd 475 c #c :Cannot join channel (+k)"]
    );
    w.send(3, "MODE #c");
    assert_eq!(w.take(3)[0], ":groupchatd 324 c #c +ntkl <key> :3");
    w.send(2, "MODE #c");
    assert_eq!(w.take(2)[0], ":groupchatd 324 b #c +ntkl sesame :3");
    w.send(3, "JOIN #x,#c x,sesame");
    assert!(codes(&w.take(3)).contains(&"366"));
    w.register(4, "d");
    w.send(4, "JOIN #c sesame");
    assert_eq!(
        w.take(4),
        [":groupchatd 471 d #c :Cannot join channel (+l)"]
    );
    w.send(1, "MODE #c -lk *");
    assert_eq!(w.take(1), [":a!a@127.0.0.1 MODE #c -lk :sesame"]);
    w.send(4, "JOIN #c");
    assert!(codes(&w.take(4)).contains(&"366"));
}

#[test]
fn bans_keep_out_and_silence_and_exceptions_let_through() {
    let mut w = channel();
    w.send(1, "MODE #c +b C");
    assert_eq!(w.take(2), [":a!a@127.0.0.1 MODE #c +b :C!*@*"]);
    w.send(3, "JOIN #c");
    assert_eq!(
        w.take(3),
        [":groupchatd 474 c #c :Cannot join channel (+b)"]
    );
    w.send(3, "MODE #c b");
    let list = w.take(3);
    assert_eq!(codes(&list), ["367", "368"]);
    assert!(
        list[0].starts_with(":groupchatd 367 c #c C!*@* a!a@127.0.0.1 :"),
        "{}",
        list[0]
    );
    // A ban on a member silences it.
    w.send(1, "MODE #c +b *!b@*");
    w.out.lines.clear();
    w.send(2, "PRIVMSG #c :hi");
    assert_eq!(codes(&w.take(2)), ["404"]);
    w.send(1, "MODE #c +e B!*@127.0.0.1");
    assert_eq!(w.take(2), [":a!a@127.0.0.1 MODE #c +e :B!*@127.0.0.1"]);
    w.send(2, "PRIVMSG #c :hi");
    assert_eq!(
        w.take(1).last().map(String::as_str),
        Some(":b!b@127.0.0.1 PRIVMSG #c :hi")
    );
    w.send(2, "MODE #c e");
    assert_eq!(
        w.take(2),
        [
            ":groupchatd 348 b #c :B!*@127.0.0.1",
            ":groupchatd 349 b #c :End of channel exception list"
        ]
    );
    // Lifting the exception silences b again; lifting the ban frees b.
    w.send(1, "MODE #c -e b!*@127.0.0.1");
    w.send(2, "PRIVMSG #c :hi");
    assert_eq!(codes(&w.take(2)), ["MODE", "404"]);
    w.send(1, "MODE #c -b *!B@*");
    w.send(2, "PRIVMSG #c :hi");
    assert_eq!(
        w.take(1).last().map(String::as_str),
        Some(":b!b@127.0.0.1 PRIVMSG #c :hi")
    );
    // Voice speaks through a ban.
    w.send(1, "MODE #c +bv b b");
    w.out.lines.clear();
    w.send(2, "PRIVMSG #c :voiced");
    assert_eq!(w.take(1), [":b!b@127.0.0.1 PRIVMSG #c :voiced"]);
    // An invitation gets past a ban.
    w.send(1, "INVITE c #c");
    w.send(3, "JOIN #c");
    assert!(codes(&w.take(3)).contains(&"366"));
}

#[test]
fn the_ban_flag_follows_nick_changes() {
    let mut w = channel();
    w.send(1, "MODE #c +b bad*");
    w.out.lines.clear();
    w.send(2, "PRIVMSG #c :fine");
    assert_eq!(w.take(1), [":b!b@127.0.0.1 PRIVMSG #c :fine"]);
    // Into a banned nick: silenced.
    w.send(2, "NICK badger");
    w.out.lines.clear();
    w.send(2, "PRIVMSG #c :hi");
    assert_eq!(codes(&w.take(2)), ["404"]);
    // And no way out by another nick while banned.
    w.send(2, "NICK good");
    assert_eq!(
        w.take(2),
        [":groupchatd 435 badger good #c :Cannot change nickname while banned on channel"]
    );
    w.send(1, "MODE #c -b bad*");
    w.send(2, "NICK good");
    w.out.lines.clear();
    w.send(2, "PRIVMSG #c :free");
    assert_eq!(w.take(1), [":good!b@127.0.0.1 PRIVMSG #c :free"]);
}

#[test]
fn lists_have_a_limit_and_modes_per_command_too() {
    let mut w = channel();
    w.send(1, "MODE #c +bbbbb m1 m2 m3 m4 m5");
    assert_eq!(
        w.take(2),
        [":a!a@127.0.0.1 MODE #c +bbbb m1!*@* m2!*@* m3!*@* :m4!*@*"]
    );
    for i in 5..201 {
        w.send(1, &format!("MODE #c +b n{i}"));
    }
    w.out.lines.clear();
    w.send(1, "MODE #c +b one-more");
    assert_eq!(w.take(1), [":groupchatd 478 a #c b :Channel list is full"]);
    w.send(1, "MODE #c +b $a:account");
    assert_eq!(codes(&w.take(1)), ["696"]);
}

#[test]
fn long_mode_changes_are_split_to_fit_512_bytes() {
    let mut w = channel();
    let masks: Vec<String> = (0..4)
        .map(|i| format!("{i}{}!*@*", "x".repeat(115)))
        .collect();
    w.send(1, &format!("MODE #c +bbbb {}", masks.join(" ")));
    let lines = w.take(2);
    assert!(lines.len() >= 2, "{lines:#?}");
    let shown: usize = lines.iter().map(|l| l.matches("x!*@*").count()).sum();
    assert_eq!(shown, 4);
    for line in &lines {
        assert!(line.len() + 2 <= 512, "{} bytes", line.len());
    }
}

#[test]
fn kicks_are_for_ops_and_seen_by_everyone() {
    let mut w = channel();
    w.send(2, "KICK #c a");
    assert_eq!(codes(&w.take(2)), ["482"]);
    w.send(3, "KICK #c a");
    assert_eq!(codes(&w.take(3)), ["442"]);
    w.send(1, "KICK #nowhere b");
    assert_eq!(codes(&w.take(1)), ["403"]);
    w.send(1, "KICK #c c");
    assert_eq!(
        w.take(1),
        [":groupchatd 441 a c #c :They aren't on that channel"]
    );
    w.send(1, "KICK #c");
    assert_eq!(codes(&w.take(1)), ["461"]);
    w.send(1, "KICK #c b :too loud");
    let kick = ":a!a@127.0.0.1 KICK #c b :too loud";
    assert_eq!(w.take(1), [kick]);
    assert_eq!(w.take(2), [kick]);
    assert_eq!(names(&mut w, 1, "#c"), ":groupchatd 353 a = #c :@a");
    w.send(2, "PRIVMSG #c :still here?");
    assert_eq!(codes(&w.take(2)), ["404"]);
    // The reason defaults to the kicker's nick.
    w.send(2, "JOIN #c");
    w.send(1, "KICK #c b");
    assert_eq!(
        w.take(1).last().map(String::as_str),
        Some(":a!a@127.0.0.1 KICK #c b :a")
    );
}

#[test]
fn whether_a_member_may_speak_is_read_from_its_flag_not_from_the_ban_list() {
    let mut w = channel();
    // A ban put in the list without the flag being worked out: a message
    // that matched the list would be refused, one that reads the flag goes.
    let chan = w.hub.channel_ids[&crate::names::fold("#c")];
    let mask = crate::mask::Mask::parse("b!*@*").expect("a mask");
    w.hub.channels[chan].bans.push(super::channel::ListEntry {
        mask,
        set_by: "test".into(),
        set_at: 0,
    });
    w.send(2, "PRIVMSG #c :still heard");
    assert_eq!(w.take(1), [":b!b@127.0.0.1 PRIVMSG #c :still heard"]);
    // Set the way MODE sets it, the flag is worked out and the ban holds.
    w.send(1, "MODE #c +b b*!*@*");
    w.out.lines.clear();
    w.send(2, "PRIVMSG #c :silenced");
    assert_eq!(codes(&w.take(2)), ["404"]);
    assert_eq!(w.take(1), Vec::<String>::new());
}

#[test]
fn kick_takes_a_nick_for_each_of_several_channels() {
    let mut w = channel();
    for (id, chan) in [(1, "#d"), (2, "#d"), (3, "#c"), (3, "#d")] {
        w.send(id, &format!("JOIN {chan}"));
    }
    w.out.lines.clear();
    w.send(1, "KICK #c,#d b");
    assert_eq!(w.take(1), [":groupchatd 461 a KICK :Not enough parameters"]);
    w.send(1, "KICK #c,#d b,c :out");
    assert_eq!(
        w.take(1),
        [
            ":a!a@127.0.0.1 KICK #c b :out",
            ":a!a@127.0.0.1 KICK #d c :out"
        ]
    );
    w.send(1, "KICK #c c,b");
    assert_eq!(
        w.take(1),
        [
            ":a!a@127.0.0.1 KICK #c c :a",
            ":groupchatd 441 a b #c :They aren't on that channel"
        ]
    );
}
