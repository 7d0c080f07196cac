//! SASL PLAIN, REGISTER/VERIFY, nick protection, require_account, the
//! failure limits, and what others see of an account, with the accounts
//! worker played by a map of names to passwords.

use super::*;
use crate::accounts::{AccountError, Outcome, Request};
use base64::Engine;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// Accounts by folded name: (name as registered, password).
pub(super) type Store = HashMap<String, (String, String)>;

pub(super) fn store(accounts: &[(&str, &str)]) -> Store {
    accounts
        .iter()
        .map(|(n, p)| (fold(n), (n.to_string(), p.to_string())))
        .collect()
}

fn plain(name: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("\0{name}\0{password}"))
}

impl World {
    /// A world whose hub knows the accounts of `store`.
    pub(super) fn with_accounts(config: HubConfig, store: &Store) -> World {
        let mut w = World::new(config);
        w.hub.set_accounts(store.values().map(|(n, _)| n.clone()));
        w
    }

    /// Answers what the hub asked of the accounts worker, as the worker
    /// does (without hashing).
    pub(super) fn answer_accounts(&mut self, store: &mut Store) {
        for (id, request) in std::mem::take(&mut self.out.accounts) {
            let answer = match request {
                Request::Verify { name, password } => Ok(Outcome::Verified(
                    store
                        .get(&fold(&name))
                        .filter(|(_, p)| p == password.expose())
                        .map(|(n, _)| n.clone()),
                )),
                Request::Create { name, password } => match store.entry(fold(&name)) {
                    Entry::Occupied(_) => Err(AccountError::Exists(name)),
                    Entry::Vacant(slot) => {
                        slot.insert((name.clone(), password.expose().to_string()));
                        Ok(Outcome::Created(name))
                    }
                },
                // The fake hash of a password is the password itself.
                Request::CheckHash { hash, password } => {
                    Ok(Outcome::Matched(hash == password.expose()))
                }
                other => panic!("clients do not ask {other:?}"),
            };
            self.hub.account_answer(id, answer, self.now, &mut self.out);
        }
    }

    /// Connects, logs in with SASL as `nick` and registers.
    pub(super) fn log_in(
        &mut self,
        id: ClientId,
        nick: &str,
        password: &str,
        caps: &str,
        store: &mut Store,
    ) {
        self.connect(id);
        self.send(id, &format!("CAP REQ :sasl {caps}"));
        self.send(id, &format!("NICK {nick}"));
        self.send(id, &format!("USER {nick} 0 * :Real {nick}"));
        self.send(id, "AUTHENTICATE PLAIN");
        self.send(id, &format!("AUTHENTICATE {}", plain(nick, password)));
        self.send(id, "CAP END");
        self.answer_accounts(store);
    }
}

pub(super) fn accounts_config() -> HubConfig {
    let mut c = config();
    c.accounts.max_failures = 3;
    c.accounts.max_failures_per_address = 5;
    c
}

#[test]
fn capabilities_advertise_plain_and_registration_before_connect() {
    let mut w = World::new(accounts_config());
    w.connect(1);
    w.send(1, "CAP LS 302");
    let ls = w.take(1).join("\n");
    for cap in [
        "sasl=PLAIN",
        "draft/account-registration=before-connect",
        "account-notify",
        "account-tag",
        "extended-join",
    ] {
        assert!(ls.contains(cap), "{cap} in {ls}");
    }
    let mut closed = accounts_config();
    closed.accounts.open_registration = false;
    let mut w = World::new(closed);
    w.connect(1);
    w.send(1, "CAP LS 302");
    assert!(!w.take(1).join("\n").contains("account-registration"));
    let mut off = accounts_config();
    off.accounts.enabled = false;
    let mut w = World::new(off);
    w.connect(1);
    w.send(1, "CAP LS 302");
    let ls = w.take(1).join("\n");
    assert!(!ls.contains("sasl") && !ls.contains("account"), "{ls}");
    w.send(1, "CAP REQ sasl");
    assert!(w.take(1)[0].contains(" NAK "));
}

#[test]
fn a_sasl_login_completes_before_registration_does() {
    let mut accounts = store(&[("alice", "correct horse")]);
    let mut w = World::with_accounts(accounts_config(), &accounts);
    w.connect(1);
    w.send(1, "CAP REQ :sasl");
    w.send(1, "NICK alice");
    w.send(1, "USER alice 0 * :Alice");
    w.send(1, "AUTHENTICATE PLAIN");
    w.send(
        1,
        &format!("AUTHENTICATE {}", plain("alice", "correct horse")),
    );
    w.send(1, "CAP END");
    let before = w.take(1);
    assert_eq!(before[1], "AUTHENTICATE +");
    assert!(
        !codes(&before).contains(&"001"),
        "waits for the login: {before:?}"
    );
    assert_eq!(w.out.accounts.len(), 1);
    assert!(!format!("{:?}", w.out.accounts).contains("correct horse"));
    w.answer_accounts(&mut accounts);
    let after = w.take(1);
    assert_eq!(
        after[0],
        ":groupchatd 900 alice alice!alice@127.0.0.1 alice :You are now logged in as alice"
    );
    assert_eq!(
        after[1],
        ":groupchatd 903 alice :SASL authentication successful"
    );
    assert_eq!(codes(&after)[2], "001");
    assert_eq!(w.hub.account(1), Some("alice"));
    assert_eq!(w.hub.stats().logins, 1);
}

#[test]
fn long_messages_come_in_chunks_of_400() {
    let password = "p".repeat(400);
    let mut accounts = store(&[("alice", &password)]);
    let mut w = World::with_accounts(accounts_config(), &accounts);
    w.connect(1);
    w.send(1, "CAP REQ :sasl");
    w.send(1, "AUTHENTICATE PLAIN");
    let encoded = plain("alice", &password);
    let chunks: Vec<&[u8]> = encoded.as_bytes().chunks(400).collect();
    assert_eq!(chunks.len(), 2);
    for chunk in chunks {
        assert!(w.out.accounts.is_empty(), "not before the last chunk");
        w.send(
            1,
            &format!(
                "AUTHENTICATE {}",
                std::str::from_utf8(chunk).expect("ascii")
            ),
        );
    }
    if encoded.len().is_multiple_of(400) {
        w.send(1, "AUTHENTICATE +");
    }
    w.answer_accounts(&mut accounts);
    assert!(codes(&w.take(1)).contains(&"903"));
    w.send(1, "AUTHENTICATE PLAIN");
    assert_eq!(codes(&w.take(1)), ["907"]);
}

#[test]
fn bad_exchanges_get_their_numerics() {
    let mut w = World::new(accounts_config());
    w.connect(1);
    w.send(1, "AUTHENTICATE SCRAM-SHA-256");
    assert_eq!(
        w.take(1),
        [
            ":groupchatd 908 * PLAIN :are available SASL mechanisms",
            ":groupchatd 904 * :SASL authentication failed"
        ]
    );
    w.send(1, "AUTHENTICATE PLAIN");
    w.take(1);
    w.send(1, &format!("AUTHENTICATE {}", "A".repeat(401)));
    assert_eq!(codes(&w.take(1)), ["905"]);
    w.send(1, "AUTHENTICATE PLAIN");
    w.take(1);
    for _ in 0..4 {
        w.send(1, &format!("AUTHENTICATE {}", "A".repeat(400)));
    }
    w.send(1, "AUTHENTICATE AAAA");
    assert_eq!(codes(&w.take(1)), ["905"], "too long in all");
    w.send(1, "AUTHENTICATE PLAIN");
    w.send(1, "AUTHENTICATE *");
    assert_eq!(codes(&w.take(1)), ["+", "906"]);
    w.send(1, "AUTHENTICATE PLAIN");
    w.send(1, "AUTHENTICATE bm90IHBsYWlu");
    assert_eq!(codes(&w.take(1))[1], "904");
    assert!(w.out.accounts.is_empty(), "malformed: nothing to check");
}

#[test]
fn failures_are_counted_and_cut_the_connection_at_the_limit() {
    let mut accounts = store(&[("alice", "correct horse")]);
    let mut w = World::with_accounts(accounts_config(), &accounts);
    w.connect(1);
    for attempt in 1..=3 {
        w.send(1, "AUTHENTICATE PLAIN");
        w.send(1, &format!("AUTHENTICATE {}", plain("alice", "guess")));
        w.answer_accounts(&mut accounts);
        let lines = w.take(1);
        assert_eq!(
            lines.last().map(String::as_str),
            Some(":groupchatd 904 * :SASL authentication failed: wrong account name or password"),
            "attempt {attempt}"
        );
    }
    assert_eq!(
        w.out.closed,
        [(
            1,
            DisconnectReason::LoginFailures,
            "Too many failed logins".into()
        )]
    );
    let stats = w.hub.stats();
    assert_eq!((stats.login_failures, stats.lockouts), (3, 1));
}

#[test]
fn an_address_that_failed_too_often_waits_out_the_window() {
    let mut accounts = store(&[("alice", "correct horse")]);
    let mut cfg = accounts_config();
    cfg.accounts.max_failures_per_address = 2;
    cfg.accounts.failure_window = Duration::from_secs(10);
    let window = cfg.accounts.failure_window;
    let mut w = World::with_accounts(cfg, &accounts);
    for id in 1..=2 {
        w.connect(id);
        w.send(id, "AUTHENTICATE PLAIN");
        w.send(id, &format!("AUTHENTICATE {}", plain("alice", "guess")));
        w.answer_accounts(&mut accounts);
    }
    w.connect(3);
    w.send(3, "AUTHENTICATE PLAIN");
    let refused = w.take(3);
    assert!(
        refused[0].contains("904 * :SASL authentication failed: too many failed logins from your address; try again in 1 minute(s)"),
        "{refused:?}"
    );
    w.now += window;
    w.hub.tick(w.now, &mut w.out);
    w.send(3, "AUTHENTICATE PLAIN");
    assert_eq!(w.take(3), ["AUTHENTICATE +"]);
}

#[test]
fn an_account_nick_is_kept_for_its_account() {
    let mut accounts = store(&[("alice", "correct horse")]);
    let mut w = World::with_accounts(accounts_config(), &accounts);
    w.register(1, "bob");
    w.send(1, "NICK Alice");
    assert_eq!(
        w.take(1),
        [
            ":groupchatd 433 bob Alice :Nickname is registered to an account, or looks like its name: log in to it with SASL, or choose another nick"
        ]
    );
    // Unregistered and not logged in: refused when registration completes.
    w.connect(2);
    w.send(2, "NICK alice");
    w.send(2, "USER x 0 * :X");
    let lines = w.take(2);
    assert_eq!(codes(&lines), ["433"]);
    w.send(2, "NICK carol");
    assert!(codes(&w.take(2)).contains(&"001"));
    // The account's owner may use it, before and after registering.
    w.log_in(3, "alice", "correct horse", "", &mut accounts);
    assert!(codes(&w.take(3)).contains(&"001"));
    w.send(3, "NICK alice2");
    w.send(3, "NICK ALICE");
    assert_eq!(w.hub.nick(3), Some("ALICE"));
    // protect_nicks = false lets anyone take it.
    let mut open = accounts_config();
    open.accounts.protect_nicks = false;
    let mut w = World::with_accounts(open, &accounts);
    w.register(1, "alice");
    assert_eq!(w.hub.nick(1), Some("alice"));
}

#[test]
fn look_alikes_of_an_account_name_are_kept_for_its_account() {
    // `cop` in Cyrillic letters.
    let look_alike = "\u{441}\u{43e}\u{440}";
    let mut accounts = store(&[("cop", "correct horse")]);
    let mut w = World::with_accounts(accounts_config(), &accounts);
    w.register(1, "bob");
    w.send(1, &format!("NICK {look_alike}"));
    assert_eq!(codes(&w.take(1)), ["433"]);
    // Its owner may take it.
    w.log_in(2, "cop", "correct horse", "", &mut accounts);
    w.send(2, &format!("NICK {look_alike}"));
    assert_eq!(w.hub.nick(2), Some(look_alike));
    // Once the account is gone, so is the protection.
    w.send(2, "NICK cop");
    w.hub.account_deleted("cop", &mut w.out);
    w.out.lines.clear();
    w.send(1, &format!("NICK {look_alike}"));
    assert_eq!(
        codes(&w.take(1)),
        ["433"],
        "still looks like the nick in use"
    );
    w.send(2, "NICK carol");
    w.send(1, &format!("NICK {look_alike}"));
    assert_eq!(w.hub.nick(1), Some(look_alike));
}

#[test]
fn require_account_refuses_registration_without_a_login() {
    let mut accounts = store(&[("alice", "correct horse")]);
    let mut cfg = accounts_config();
    cfg.accounts.require_account = true;
    let mut w = World::with_accounts(cfg, &accounts);
    w.connect(1);
    w.send(1, "NICK bob");
    w.send(1, "USER bob 0 * :Bob");
    assert_eq!(
        w.take(1),
        [
            ":groupchatd FAIL * ACCOUNT_REQUIRED :This server requires an account: log in with SASL (CAP REQ sasl, AUTHENTICATE PLAIN)"
        ]
    );
    assert_eq!(w.out.closed[0].1, DisconnectReason::AccountRequired);
    w.log_in(2, "alice", "correct horse", "", &mut accounts);
    assert!(codes(&w.take(2)).contains(&"001"));
}

#[test]
fn register_creates_an_account_and_logs_in_to_it() {
    let mut accounts = store(&[("alice", "correct horse")]);
    let mut w = World::with_accounts(accounts_config(), &accounts);
    w.connect(1);
    w.send(1, "REGISTER * * longenough");
    assert_eq!(
        w.take(1),
        [":groupchatd FAIL REGISTER NEED_NICK * :Choose a nick first: the account takes its name"]
    );
    w.send(1, "NICK carol");
    w.send(1, "REGISTER dave * longenough");
    assert!(w.take(1)[0].contains("FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK dave "));
    w.send(1, "REGISTER * * short");
    assert!(w.take(1)[0].contains("FAIL REGISTER WEAK_PASSWORD carol "));
    w.send(1, "REGISTER carol carol@example.org longenough");
    w.send(1, "USER carol 0 * :Carol");
    assert!(w.take(1).is_empty(), "registration waits for REGISTER");
    w.answer_accounts(&mut accounts);
    let lines = w.take(1);
    assert_eq!(
        lines[0],
        ":groupchatd REGISTER SUCCESS carol :Account created; you are logged in to it"
    );
    assert_eq!(codes(&lines)[1..3], ["900", "001"]);
    assert_eq!(accounts["carol"].1, "longenough");
    w.send(1, "REGISTER * * longenough");
    assert!(w.take(1)[0].contains("FAIL REGISTER ALREADY_AUTHENTICATED carol "));
    w.send(1, "VERIFY carol 1234");
    assert!(w.take(1)[0].contains("FAIL VERIFY INVALID_CODE carol "));
    // Its nick is protected from now on.
    w.register(2, "zed");
    w.send(2, "NICK carol");
    assert_eq!(codes(&w.take(2)), ["433"]);
    // An account that exists already.
    w.register(3, "alice2");
    w.send(3, "NICK x");
    w.connect(4);
    w.send(4, "NICK alice");
    w.send(4, "REGISTER * * longenough");
    assert!(w.take(4)[0].contains("FAIL REGISTER ACCOUNT_EXISTS alice "));
}

#[test]
fn one_address_registers_only_so_many_accounts_an_hour() {
    let mut accounts = store(&[]);
    let mut cfg = accounts_config();
    cfg.accounts.max_registrations_per_address = 2;
    let window = cfg.accounts.registration_window;
    let mut w = World::with_accounts(cfg, &accounts);
    let mut first = Vec::new();
    for (id, nick) in [(1, "ann"), (2, "bea"), (3, "cid")] {
        w.register(id, nick);
        w.send(id, "REGISTER * * longenough");
        w.answer_accounts(&mut accounts);
        first.push(w.take(id).remove(0));
    }
    assert!(first[0].contains("REGISTER SUCCESS ann "));
    assert!(first[1].contains("REGISTER SUCCESS bea "));
    let refused = &first[2..];
    assert_eq!(
        refused,
        [
            ":groupchatd FAIL REGISTER TEMPORARILY_UNAVAILABLE cid :Too many accounts were registered from your address lately; try again in 60 minute(s)"
        ]
    );
    assert!(
        !accounts.contains_key("cid"),
        "nothing was asked of the worker"
    );
    assert_eq!(w.hub.stats().registrations_refused, 1);
    w.now += window;
    w.hub.tick(w.now, &mut w.out);
    w.register(4, "dan");
    w.send(4, "REGISTER * * longenough");
    w.answer_accounts(&mut accounts);
    assert!(w.take(4)[0].contains("REGISTER SUCCESS dan "));
}

#[test]
fn register_is_refused_when_registration_is_closed() {
    let mut cfg = accounts_config();
    cfg.accounts.open_registration = false;
    let mut w = World::new(cfg);
    w.register(1, "carol");
    w.send(1, "REGISTER * * longenough");
    assert!(
        w.take(1)[0].contains("FAIL REGISTER TEMPORARILY_UNAVAILABLE * :Clients cannot register")
    );
    assert!(w.out.accounts.is_empty());
}

#[test]
fn others_see_the_account_in_joins_whois_notifications_and_tags() {
    let mut accounts = store(&[("alice", "correct horse")]);
    let mut w = World::with_accounts(accounts_config(), &accounts);
    w.register_with(2, "bob", "extended-join account-notify account-tag");
    w.take(2);
    w.log_in(1, "alice", "correct horse", "", &mut accounts);
    assert!(
        w.take(2)
            .contains(&":alice!alice@127.0.0.1 JOIN #lobby alice :Real alice".to_string())
    );
    w.send(2, "WHOIS alice");
    assert!(
        w.take(2)
            .contains(&":groupchatd 330 bob alice alice :is logged in as".to_string())
    );
    w.send(1, "PRIVMSG #lobby :hi");
    assert_eq!(
        w.take(2),
        ["@account=alice :alice!alice@127.0.0.1 PRIVMSG #lobby :hi"]
    );
    // Logged out when the host deletes the account.
    w.hub.account_deleted("alice", &mut w.out);
    assert_eq!(w.take(2), [":alice!alice@127.0.0.1 ACCOUNT :*"]);
    assert!(codes(&w.take(1)).contains(&"901"));
    // Someone without an account joins as `*`.
    w.connect(3);
    w.send(3, "NICK carol");
    w.send(3, "USER carol 0 * :Real carol");
    assert!(
        w.take(2)
            .contains(&":carol!carol@127.0.0.1 JOIN #lobby * :Real carol".to_string())
    );
}

#[test]
fn one_request_at_a_time_so_that_answers_cannot_be_mistaken() {
    let mut accounts = store(&[("alice", "correct horse")]);
    let mut w = World::with_accounts(accounts_config(), &accounts);
    w.connect(1);
    w.send(1, "NICK carol");
    w.send(1, "REGISTER * * longenough");
    w.send(1, "AUTHENTICATE PLAIN");
    let busy = w.take(1);
    assert!(
        busy[0].contains(" 904 carol :SASL authentication failed: a previous request"),
        "{busy:?}"
    );
    w.answer_accounts(&mut accounts);
    assert_eq!(w.hub.account(1), Some("carol"));
    // An aborted login still has its answer due: a new one waits for it.
    w.connect(2);
    w.send(2, "AUTHENTICATE PLAIN");
    w.send(
        2,
        &format!("AUTHENTICATE {}", plain("alice", "correct horse")),
    );
    w.send(2, "AUTHENTICATE *");
    w.send(2, "AUTHENTICATE PLAIN");
    assert_eq!(codes(&w.take(2))[1..], ["906", "904"]);
    w.answer_accounts(&mut accounts);
    assert_eq!(w.hub.account(2), None, "the aborted login does not count");
    w.send(2, "AUTHENTICATE PLAIN");
    assert_eq!(w.take(2), ["AUTHENTICATE +"]);
}

#[test]
fn a_login_after_registration_notifies_shared_channels() {
    let mut accounts = store(&[("alice", "correct horse")]);
    let mut w = World::with_accounts(accounts_config(), &accounts);
    w.register_with(2, "bob", "account-notify");
    w.register(1, "alice_");
    w.take(2);
    w.send(1, "AUTHENTICATE PLAIN");
    w.send(
        1,
        &format!("AUTHENTICATE {}", plain("alice", "correct horse")),
    );
    w.answer_accounts(&mut accounts);
    assert_eq!(w.take(2), [":alice_!alice_@127.0.0.1 ACCOUNT :alice"]);
}
