//! K-lines: refused at connect (addresses), at registration (nick masks)
//! and at login (accounts), dropped at once when a KLINE matches, expired
//! ones ignored, KLINE/UNKLINE for opers only, and every change handed on
//! to be stored.

use super::accounts::{accounts_config, store};
use super::*;
use crate::accounts::Keep;
use crate::config::OperatorConfig;
use crate::kline::{Change, Kline};

fn kline(mask: &str, expires_ms: Option<i64>) -> Kline {
    Kline {
        mask: mask.into(),
        reason: "go away".into(),
        set_by: "admin".into(),
        set_at_ms: 0,
        expires_ms,
    }
}

fn oper_world() -> World {
    let mut c = accounts_config();
    c.operators = vec![OperatorConfig {
        name: "root".into(),
        password_hash: Some("pw".into()),
        account: None,
    }];
    let mut accounts = store(&[]);
    let mut w = World::with_accounts(c, &accounts);
    w.register(1, "bob");
    w.send(1, "OPER root pw");
    w.answer_accounts(&mut accounts);
    w.out.lines.clear();
    w
}

#[test]
fn an_address_kline_refuses_at_connect_with_its_reason() {
    let mut w = World::new(config());
    w.hub.set_klines(vec![kline("127.0.0.0/8", None)]);
    w.connect(1);
    assert!(w.hub.refuse_if_klined(1, &mut w.out));
    assert_eq!(
        w.take(1),
        [":groupchatd 465 * :You are banned from this server: go away"]
    );
    let why = (1, DisconnectReason::Klined, "K-lined: go away".to_string());
    assert_eq!(w.out.closed, [why]);
}

#[test]
fn a_nick_mask_refuses_at_registration_and_expired_klines_do_not() {
    let mut w = World::new(config());
    let past = crate::clock::now_ms() - 1;
    w.hub
        .set_klines(vec![kline("mallory", None), kline("eve", Some(past))]);
    w.connect(1);
    assert!(!w.hub.refuse_if_klined(1, &mut w.out));
    w.send(1, "NICK Mallory");
    w.send(1, "USER m 0 * :M");
    assert_eq!(codes(&w.take(1)), ["465"]);
    assert_eq!(w.out.closed[0].1, DisconnectReason::Klined);
    w.register(2, "eve");
    assert_eq!(w.hub.client_counts(), (1, 0));
    assert_eq!(w.hub.klines(), [kline("mallory", None)]);
}

#[test]
fn an_account_kline_applies_at_login() {
    let mut accounts = store(&[("mallory", "password1")]);
    let mut w = World::with_accounts(accounts_config(), &accounts);
    w.hub.set_klines(vec![kline("$a:Mallory", None)]);
    w.log_in(1, "mallory", "password1", "", &mut accounts);
    assert!(codes(&w.take(1)).contains(&"465"));
    assert_eq!(w.hub.client_counts(), (0, 0));
}

#[test]
fn kline_drops_matching_clients_at_once_and_is_stored() {
    let mut w = oper_world();
    w.register(2, "carol");
    w.register(3, "dave");
    w.send(1, "KLINE 30m Carol :spam");
    assert_eq!(
        w.take(1)[1],
        ":groupchatd NOTICE bob :K-line added on Carol!*@*: 1 client(s) dropped"
    );
    assert_eq!(codes(&w.take(2)), ["465"]);
    assert_eq!(w.out.closed[0].2, "K-lined: spam");
    let Keep::Kline(Change::Save(saved)) = &w.out.kept[0] else {
        panic!("{:?}", w.out.kept);
    };
    assert_eq!(
        (saved.mask.as_str(), saved.set_by.as_str()),
        ("Carol!*@*", "bob")
    );
    let minutes = (saved.expires_ms.expect("timed") - saved.set_at_ms) / 60_000;
    assert_eq!(minutes, 30);
    w.send(1, "UNKLINE carol");
    assert_eq!(
        w.take(1),
        [":groupchatd NOTICE bob :K-line on Carol!*@* removed"]
    );
    assert_eq!(
        w.out.kept[1],
        Keep::Kline(Change::Delete("Carol!*@*".into()))
    );
    w.register(4, "carol");
    assert_eq!(w.hub.client_counts().0, 3);
}

#[test]
fn kline_is_for_opers_and_checks_its_mask() {
    let mut w = oper_world();
    w.register(2, "carol");
    w.send(2, "KLINE bob :no");
    w.send(2, "UNKLINE bob");
    assert_eq!(codes(&w.take(2)), ["481", "481"]);
    w.send(1, "KLINE");
    w.send(1, "KLINE $a: :bad");
    let lines = w.take(1);
    assert_eq!(codes(&lines), ["461", "NOTICE"]);
    assert!(lines[1].contains("is not a mask"), "{lines:?}");
    w.send(1, "UNKLINE nobody");
    assert!(w.take(1)[0].ends_with(":There is no K-line on nobody"));
    assert!(w.out.kept.is_empty());
}
