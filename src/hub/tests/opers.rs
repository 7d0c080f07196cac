//! OPER (by password and by account), user mode +o, KILL, WALLOPS, server
//! operators acting as channel operators, and the lobby's operators. The
//! accounts worker is played as in `accounts.rs`: a fake hash is the
//! password itself.

use super::accounts::{Store, accounts_config, store};
use super::*;
use crate::config::OperatorConfig;

fn opers_config() -> HubConfig {
    let mut c = accounts_config();
    c.operators = vec![
        OperatorConfig {
            name: "root".into(),
            password_hash: Some("s3cret".into()),
            account: None,
        },
        OperatorConfig {
            name: "teacher".into(),
            password_hash: None,
            account: Some("Alice".into()),
        },
    ];
    c
}

/// A world with `bob` (1) and `carol` (2) registered, and `bob` opered.
fn with_oper() -> (World, Store) {
    let mut accounts = store(&[]);
    let mut w = World::with_accounts(opers_config(), &accounts);
    w.register(1, "bob");
    w.register(2, "carol");
    w.send(1, "OPER root s3cret");
    w.answer_accounts(&mut accounts);
    w.out.lines.clear();
    (w, accounts)
}

#[test]
fn oper_with_the_right_password_gets_381_and_plus_o() {
    let mut accounts = store(&[]);
    let mut w = World::with_accounts(opers_config(), &accounts);
    w.register(1, "bob");
    w.send(1, "OPER ROOT s3cret");
    assert!(w.take(1).is_empty(), "waits for the worker");
    w.answer_accounts(&mut accounts);
    assert_eq!(
        w.take(1),
        [
            ":groupchatd 381 bob :You are now an IRC operator",
            ":bob!bob@127.0.0.1 MODE bob :+o",
        ]
    );
    w.send(1, "MODE bob");
    assert_eq!(w.take(1), [":groupchatd 221 bob :+o"]);
    w.register(2, "carol");
    w.send(2, "WHOIS bob");
    assert!(
        w.take(2)
            .contains(&":groupchatd 313 carol bob :is an IRC operator".to_string())
    );
}

#[test]
fn a_wrong_password_gets_464_and_counts_like_a_failed_login() {
    let mut accounts = store(&[]);
    let mut w = World::with_accounts(opers_config(), &accounts);
    w.register(1, "bob");
    for _ in 0..3 {
        w.send(1, "OPER root wrong");
        w.answer_accounts(&mut accounts);
    }
    let lines = w.take(1);
    assert_eq!(lines[0], ":groupchatd 464 bob :Password incorrect");
    assert_eq!(codes(&lines), ["464", "464", "464"]);
    let stats = w.hub.stats();
    assert_eq!((stats.oper_failures, stats.login_failures), (3, 0));
    assert_eq!(w.out.closed[0].1, DisconnectReason::LoginFailures);
}

#[test]
fn no_block_gets_491_and_missing_parameters_461() {
    let (mut w, _) = with_oper();
    w.send(2, "OPER nobody pw");
    assert_eq!(
        w.take(2),
        [":groupchatd 491 carol :No O-lines for your host"]
    );
    w.send(2, "OPER");
    w.send(2, "OPER root");
    assert_eq!(codes(&w.take(2)), ["461", "461"]);
    assert!(w.out.accounts.is_empty());
}

#[test]
fn an_account_block_needs_a_login_to_it_and_no_password() {
    let mut accounts = store(&[("Alice", "correct horse")]);
    let mut w = World::with_accounts(opers_config(), &accounts);
    w.register(2, "carol");
    w.send(2, "OPER teacher");
    assert_eq!(codes(&w.take(2)), ["464"]);
    w.log_in(1, "alice", "correct horse", "", &mut accounts);
    w.out.lines.clear();
    w.send(1, "OPER teacher");
    assert_eq!(codes(&w.take(1)), ["381", "MODE"]);
}

#[test]
fn minus_o_drops_it_and_nobody_gains_plus_o_by_mode() {
    let (mut w, _) = with_oper();
    w.send(2, "MODE carol +o");
    assert!(w.take(2).is_empty());
    w.send(2, "KILL bob :no");
    assert_eq!(codes(&w.take(2)), ["481"]);
    w.send(1, "MODE bob -o");
    assert_eq!(w.take(1), [":bob!bob@127.0.0.1 MODE bob :-o"]);
    w.send(1, "KILL carol");
    assert_eq!(codes(&w.take(1)), ["481"]);
}

#[test]
fn kill_disconnects_with_the_oper_and_reason() {
    let (mut w, _) = with_oper();
    w.send(1, "KILL nobody :x");
    assert_eq!(codes(&w.take(1)), ["401"]);
    w.send(1, "KILL carol :spamming");
    assert_eq!(w.take(2), [":bob!bob@127.0.0.1 KILL carol :spamming"]);
    let reason = "Killed (bob (spamming))".to_string();
    assert_eq!(w.out.closed, [(2, DisconnectReason::Killed, reason)]);
    assert!(
        w.take(1)
            .contains(&":carol!carol@127.0.0.1 QUIT :Killed (bob (spamming))".to_string())
    );
}

#[test]
fn wallops_reach_plus_w_clients_only() {
    let (mut w, _) = with_oper();
    w.register(3, "dave");
    w.send(2, "WALLOPS :hi");
    assert_eq!(codes(&w.take(2)), ["481"]);
    w.send(3, "MODE dave +w");
    w.out.lines.clear();
    w.send(1, "WALLOPS :server going down");
    assert_eq!(w.take(3), [":bob!bob@127.0.0.1 WALLOPS :server going down"]);
    assert!(w.take(2).is_empty());
}

#[test]
fn opers_act_as_channel_operators_anywhere() {
    let (mut w, _) = with_oper();
    w.register(3, "dave");
    w.send(3, "JOIN #room");
    w.send(2, "JOIN #room");
    w.out.lines.clear();
    w.send(1, "TOPIC #room :set by an oper");
    w.send(1, "MODE #room +m");
    w.send(1, "KICK #room carol :out");
    let seen = w.take(2);
    assert!(seen[0].ends_with("TOPIC #room :set by an oper"), "{seen:?}");
    assert!(seen[1].ends_with("MODE #room :+m"), "{seen:?}");
    assert!(seen[2].ends_with("KICK #room carol :out"), "{seen:?}");
    assert!(w.take(1).iter().all(|l| !l.contains(" 482 ")));
}

#[test]
fn lobby_operators_get_op_in_the_default_channel_and_nobody_else() {
    let mut accounts = store(&[("Alice", "correct horse"), ("eve", "password1")]);
    let mut cfg = opers_config();
    cfg.lobby_operators = vec!["alice".into()];
    let mut w = World::with_accounts(cfg, &accounts);
    w.register(2, "carol");
    w.send(2, "MODE #lobby");
    let modes = w.take(2);
    assert!(modes[0].ends_with(" #lobby :+nt"), "{modes:?}");
    w.log_in(1, "alice", "correct horse", "", &mut accounts);
    let alice = w.take(1);
    let mode = ":groupchatd MODE #lobby +o :alice";
    assert!(alice.contains(&mode.to_string()), "{alice:?}");
    assert!(
        alice
            .iter()
            .any(|l| l.contains(" 353 ") && l.contains("@alice"))
    );
    assert!(w.take(2).contains(&mode.to_string()));
    w.log_in(3, "eve", "password1", "", &mut accounts);
    assert!(w.take(3).iter().all(|l| !l.contains("+o")));
    w.send(3, "MODE #lobby +o eve");
    assert_eq!(codes(&w.take(3)), ["482"]);
}

#[test]
fn a_lobby_operator_logging_in_later_gets_op_then() {
    let mut accounts = store(&[("Alice", "correct horse")]);
    let mut cfg = opers_config();
    cfg.lobby_operators = vec!["alice".into()];
    let mut w = World::with_accounts(cfg, &accounts);
    w.register(1, "alice_");
    w.send(1, "CAP REQ sasl");
    w.send(1, "AUTHENTICATE PLAIN");
    let plain = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "\0alice\0correct horse",
    );
    w.send(1, &format!("AUTHENTICATE {plain}"));
    w.answer_accounts(&mut accounts);
    assert!(
        w.take(1)
            .contains(&":groupchatd MODE #lobby +o :alice_".to_string())
    );
}

#[test]
fn without_lobby_operators_the_lobby_stays_plus_n_without_ops() {
    let mut accounts = store(&[("Alice", "correct horse")]);
    let mut w = World::with_accounts(opers_config(), &accounts);
    w.log_in(1, "alice", "correct horse", "", &mut accounts);
    assert!(w.take(1).iter().all(|l| !l.contains("+o")));
    w.send(1, "MODE #lobby");
    let modes = w.take(1);
    assert!(modes[0].ends_with(" #lobby :+n"), "{modes:?}");
}

#[test]
fn userhost_and_who_mark_operators_and_who_o_lists_only_them() {
    let (mut w, _accounts) = with_oper();
    w.send(2, "USERHOST bob carol");
    assert_eq!(
        w.take(2),
        [":groupchatd 302 carol :bob*=+bob@127.0.0.1 carol=+carol@127.0.0.1"]
    );
    w.send(2, "WHO bob");
    assert_eq!(
        w.take(2)[0],
        ":groupchatd 352 carol * bob 127.0.0.1 groupchatd bob H* :0 Real bob"
    );
    w.send(2, "WHO #lobby o");
    let who = w.take(2);
    assert_eq!(codes(&who), ["352", "315"]);
    assert!(who[0].contains(" bob H* "), "{}", who[0]);
    w.send(2, "WHO carol o");
    assert_eq!(codes(&w.take(2)), ["315"]);
}

#[test]
fn lusers_counts_operators_and_invisible_users() {
    let (mut w, _) = with_oper();
    w.send(2, "MODE carol +i");
    w.send(2, "LUSERS");
    let lusers = w.take(2);
    assert!(lusers[1].ends_with(":There are 1 users and 1 invisible on 1 servers"));
    assert!(
        lusers[2].ends_with(" 252 carol 1 :operator(s) online"),
        "{lusers:?}"
    );
    w.send(1, "MODE bob -o");
    w.send(1, "QUIT");
    w.send(2, "LUSERS");
    let lusers = w.take(2);
    assert!(
        lusers
            .iter()
            .any(|l| l.ends_with(":There are 0 users and 1 invisible on 1 servers"))
    );
    assert!(!lusers.iter().any(|l| l.contains(" 252 ")), "{lusers:?}");
}
