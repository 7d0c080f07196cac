//! UTF-8 nicks and channel names: Unicode case folding, look-alikes
//! (confusable skeletons) and invalid UTF-8.

use super::*;

/// `paypal` with a Cyrillic `а` (U+0430).
const CYRILLIC_PAYPAL: &str = "p\u{430}ypal";

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
    w.register(1, "PayPal");
    w.connect(2);
    w.send(2, &format!("NICK {CYRILLIC_PAYPAL}"));
    let text =
        format!(":groupchatd 433 * {CYRILLIC_PAYPAL} :Nickname looks like PayPal, which is in use");
    assert_eq!(w.take(2), [text]);
    // All Cyrillic against all Latin.
    w.register(3, "cop");
    w.send(2, "NICK \u{441}\u{43e}\u{440}");
    assert_eq!(codes(&w.take(2)), ["433"]);
    // The holder may take a look-alike of its own nick; then the old shape
    // is free for others, the new one is not.
    w.send(1, &format!("NICK {CYRILLIC_PAYPAL}"));
    assert_eq!(w.hub.nick(1), Some(CYRILLIC_PAYPAL));
    w.send(2, "NICK paypal");
    assert_eq!(codes(&w.take(2)), ["433"]);
    w.send(1, "QUIT");
    w.send(2, "NICK paypal");
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
fn look_alikes_of_reserved_nicks_are_reserved() {
    let mut config = crate::config::Config::default();
    config.server.reserved_nicks = vec!["Admin".into()];
    let mut w = World::new(HubConfig::new(&config, None));
    w.connect(1);
    w.send(1, "NICK \u{430}dmin");
    assert_eq!(
        w.take(1),
        [":groupchatd 432 * \u{430}dmin :Nickname is reserved"]
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
