//! TIME, VERSION, INFO, ADMIN, WHOWAS, user mode `+w`, USER's checks.

use super::*;

#[test]
fn time_version_info_admin() {
    let mut cfg = config();
    cfg.admin_location = Some("Basement rack 3".into());
    cfg.admin_email = Some("ops@example.org".into());
    let mut w = World::new(cfg);
    w.register(1, "a");
    w.send(1, "TIME");
    let time = w.take(1);
    assert_eq!(codes(&time), ["391"]);
    assert!(
        time[0].starts_with(":groupchatd 391 a groupchatd "),
        "{}",
        time[0]
    );
    assert!(time[0].ends_with(" UTC"), "{}", time[0]);
    w.send(1, "VERSION");
    let version = w.take(1);
    assert_eq!(codes(&version), ["351", "005", "005"]);
    assert_eq!(
        version[0],
        ":groupchatd 351 a groupchatd-0.1.0 groupchatd :a small, fast group-chat server"
    );
    w.send(1, "INFO");
    let info = w.take(1);
    assert_eq!(codes(&info).last(), Some(&"374"));
    assert!(codes(&info[..info.len() - 1]).iter().all(|&c| c == "371"));
    w.send(1, "ADMIN");
    assert_eq!(
        w.take(1),
        [
            ":groupchatd 256 a groupchatd :Administrative info",
            ":groupchatd 257 a :Basement rack 3",
            ":groupchatd 258 a :groupchatd-0.1.0 on the groupchat network",
            ":groupchatd 259 a :ops@example.org",
        ]
    );
}

#[test]
fn admin_has_defaults() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.send(1, "ADMIN");
    let admin = w.take(1);
    assert_eq!(codes(&admin), ["256", "257", "258", "259"]);
    assert_eq!(admin[1], ":groupchatd 257 a :groupchat");
}

#[test]
fn whowas_remembers_nicks_that_left() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.register(2, "b");
    w.send(2, "NICK b2");
    w.send(2, "QUIT :bye");
    w.out.lines.clear();
    w.send(1, "WHOWAS B2");
    let lines = w.take(1);
    assert_eq!(codes(&lines), ["314", "312", "369"]);
    assert_eq!(lines[0], ":groupchatd 314 a b2 b 127.0.0.1 * :Real b");
    assert!(lines[1].starts_with(":groupchatd 312 a b2 groupchatd :"));
    assert_eq!(lines[2], ":groupchatd 369 a B2 :End of WHOWAS");
    w.send(1, "WHOWAS b");
    assert_eq!(codes(&w.take(1)), ["314", "312", "369"]);
    // Newest first, `count` of them.
    w.register(3, "b");
    w.send(3, "QUIT");
    w.out.lines.clear();
    w.send(1, "WHOWAS b 1");
    assert_eq!(codes(&w.take(1)), ["314", "312", "369"]);
    w.send(1, "WHOWAS b");
    assert_eq!(codes(&w.take(1)), ["314", "312", "314", "312", "369"]);
    w.send(1, "WHOWAS nobody");
    assert_eq!(
        w.take(1),
        [
            ":groupchatd 406 a nobody :There was no such nickname",
            ":groupchatd 369 a nobody :End of WHOWAS"
        ]
    );
    w.send(1, "WHOWAS");
    assert_eq!(codes(&w.take(1)), ["431"]);
}

#[test]
fn whowas_keeps_a_bounded_history() {
    let mut w = World::new(config());
    w.register(1, "a");
    for i in 0..1005 {
        w.send(1, &format!("NICK n{i}"));
    }
    w.out.lines.clear();
    w.send(1, "WHOWAS a");
    assert_eq!(codes(&w.take(1)), ["406", "369"]);
    w.send(1, "WHOWAS n5");
    assert_eq!(codes(&w.take(1)), ["314", "312", "369"]);
}

#[test]
fn user_mode_w_is_recorded() {
    let mut w = World::new(config());
    w.register(1, "a");
    w.send(1, "MODE a +wi");
    assert_eq!(w.take(1), [":a!a@127.0.0.1 MODE a :+wi"]);
    w.send(1, "MODE a -iw+x");
    assert_eq!(
        w.take(1),
        [
            ":a!a@127.0.0.1 MODE a :-iw",
            ":groupchatd 501 a :Unknown MODE flag"
        ]
    );
    w.send(1, "MODE a +wi");
    w.take(1);
    w.send(1, "MODE a");
    assert_eq!(w.take(1), [":groupchatd 221 a :+iw"]);
    w.send(1, "MODE a -w");
    assert_eq!(w.take(1), [":a!a@127.0.0.1 MODE a :-w"]);
}

#[test]
fn user_needs_a_real_name_and_messages_need_targets_and_text() {
    let mut w = World::new(config());
    w.connect(1);
    w.send(1, "NICK a");
    w.send(1, "USER a 0 * :");
    assert_eq!(w.take(1), [":groupchatd 461 a USER :Not enough parameters"]);
    w.send(1, "USER a 0 * :A");
    w.out.lines.clear();
    w.send(1, "PRIVMSG");
    assert_eq!(codes(&w.take(1)), ["411"]);
    w.send(1, "PRIVMSG #lobby :");
    assert_eq!(codes(&w.take(1)), ["412"]);
}
