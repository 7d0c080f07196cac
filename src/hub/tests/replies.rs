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
