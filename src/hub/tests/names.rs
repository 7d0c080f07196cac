//! UTF-8 nicks and channel names: Unicode case folding, look-alikes
//! (confusable skeletons) and invalid UTF-8.

use super::*;

/// `paypal` with a Cyrillic `а` (U+0430).
const CYRILLIC_PAYPAL: &str = "p\u{430}ypal";
/// `cop` in Cyrillic letters.
const CYRILLIC_COP: &str = "\u{441}\u{43e}\u{440}";

#[test]
fn utf8_nicks_fold_unicode_case_and_normalization() {
    let mut w = World::new(config());
    w.register(1, "João");
    assert_eq!(w.hub.find_nick("JOÃO"), Some(1));
    w.connect(2);
    for taken in ["joão", "JOÃO", "Joa\u{303}o"] {
        w.send(2, &format!("NICK {taken}"));
        let text = format!(":groupchatd 433 * {taken} :Nickname is already in use");
        assert_eq!(w.take(2), [text]);
    }
    w.send(2, "NICK Zoë");
    w.send(2, "USER z 0 * :Z");
    assert!(codes(&w.take(2)).contains(&"001"));
    w.out.lines.clear();
    w.send(2, "PRIVMSG joão :olá");
    assert_eq!(w.take(1), [":Zoë!z@127.0.0.1 PRIVMSG João :olá"]);
}

#[test]
fn look_alikes_of_a_nick_in_use_are_refused() {
    let mut w = World::new(config());
    w.register(1, "Cop");
    w.connect(2);
    w.send(2, &format!("NICK {CYRILLIC_COP}"));
    let text =
        format!(":groupchatd 433 * {CYRILLIC_COP} :Nickname looks like Cop, which is in use");
    assert_eq!(w.take(2), [text]);
    // Mixing scripts is refused whatever is in use.
    w.send(2, &format!("NICK {CYRILLIC_PAYPAL}"));
    let text = format!(
        ":groupchatd 432 * {CYRILLIC_PAYPAL} :Erroneous nickname: it mixes letters of scripts not written together"
    );
    assert_eq!(w.take(2), [text]);
    // The holder may take a look-alike of its own nick; then the old shape
    // is free for others, the new one is not.
    w.send(1, &format!("NICK {CYRILLIC_COP}"));
    assert_eq!(w.hub.nick(1), Some(CYRILLIC_COP));
    w.send(2, "NICK cop");
    assert_eq!(codes(&w.take(2)), ["433"]);
    w.send(1, "QUIT");
    w.send(2, "NICK cop");
    w.send(2, "USER p 0 * :P");
    assert!(codes(&w.take(2)).contains(&"001"));
    // ASCII names that could coexist before still can.
    w.register(4, "bob1");
    w.register(5, "bobl");
    assert_eq!(
        (w.hub.find_nick("bob1"), w.hub.find_nick("bobl")),
        (Some(4), Some(5))
    );
}

#[test]
fn a_new_channel_may_not_look_like_one_that_exists() {
    let mut w = World::new(config());
    w.register(1, "ann");
    w.register(2, "bob");
    w.send(1, "JOIN #PayPal");
    let look_alike = format!("#{CYRILLIC_PAYPAL}");
    w.send(2, &format!("JOIN {look_alike}"));
    let text = format!(
        ":groupchatd 403 bob {look_alike} :Channel name looks like #PayPal, which exists: join that one, or choose another name"
    );
    assert_eq!(w.take(2), [text]);
    assert_eq!(w.hub.channel_count(), 2, "nothing was made");
    // Case and normalization make the same channel, not a look-alike.
    w.send(2, "JOIN #PAYPAL");
    assert!(w.take(2)[0].ends_with("JOIN :#PayPal"));
    // The other way round: a Cyrillic name first, then its Latin twin.
    w.send(1, &format!("JOIN #{CYRILLIC_COP}"));
    w.send(2, "JOIN #cop");
    assert_eq!(codes(&w.take(2)), ["403"]);
    // Once the first is gone, the name is free.
    w.send(1, &format!("PART #{CYRILLIC_COP}"));
    w.send(2, "JOIN #cop");
    assert!(w.take(2)[0].ends_with("JOIN :#cop"));
}

#[test]
fn look_alikes_of_reserved_nicks_are_reserved() {
    let mut config = crate::config::Config::default();
    config.server.reserved_nicks = vec!["COP".into()];
    let mut w = World::new(HubConfig::new(&config, None));
    w.connect(1);
    w.send(1, &format!("NICK {CYRILLIC_COP}"));
    assert_eq!(
        w.take(1),
        [format!(
            ":groupchatd 432 * {CYRILLIC_COP} :Nickname is reserved"
        )]
    );
}

#[test]
fn invalid_utf8_in_names_is_refused() {
    let mut w = World::new(config());
    w.connect(1);
    w.hub.handle_line(1, b"NICK Jo\xe3o", w.now, &mut w.out);
    assert_eq!(
        w.take(1),
        [":groupchatd 432 * Jo\u{fffd}o :Erroneous nickname"]
    );
    // A zero-width joiner; a no-break space.
    for bad in ["NICK \u{441}\u{43e}\u{440}\u{200d}", "NICK a\u{a0}b"] {
        w.send(1, bad);
        assert_eq!(codes(&w.take(1)), ["432"], "{bad}");
    }
    w.send(1, "NICK 李雷");
    w.send(1, "USER l 0 * :L");
    assert!(codes(&w.take(1)).contains(&"001"));
    w.hub.handle_line(1, b"JOIN #caf\xe9", w.now, &mut w.out);
    assert_eq!(
        w.take(1),
        [":groupchatd 403 李雷 #caf\u{fffd} :Illegal channel name"]
    );
}

#[test]
fn channel_names_fold_like_nicks() {
    let mut w = World::new(config());
    let before = w.hub.channel_count();
    w.register(1, "ana");
    w.register(2, "bia");
    w.send(1, "JOIN #Café");
    w.send(2, "JOIN #CAFÉ");
    w.send(2, "JOIN #cafe\u{301}");
    assert_eq!(w.hub.channel_count(), before + 1);
    w.out.lines.clear();
    w.send(2, "PRIVMSG #café :oi");
    // Shown by the name it was created with.
    assert_eq!(w.take(1), [":bia!bia@127.0.0.1 PRIVMSG #Café :oi"]);
}
