//! Accounts for clients: SASL PLAIN logins (`AUTHENTICATE`), IRCv3
//! `draft/account-registration` (`REGISTER`, `VERIFY`), nick protection,
//! `server.require_account`, and what others see of an account
//! (`account-notify`, `extended-join`, `account-tag`, WHOIS 330).
//!
//! The hub never touches a password beyond passing it on: checking and
//! hashing happen on the accounts worker ([`Outbox::account`]), and the
//! answer comes back through [`Hub::account_answer`]. What must be known at
//! once, such as whether a nick is an account's name, the hub keeps itself
//! ([`Hub::set_accounts`] at start, updated on every change).

use super::{Cap, Client, ClientId, Hub, Outbox};
use crate::accounts::{AccountError, Answer, Outcome, Request, Secret};
use crate::message::{Message, build};
use crate::names::{fold, skeleton, valid_nick};
use crate::numeric::*;
use crate::stats::DisconnectReason;
use base64::Engine;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The longest `AUTHENTICATE` parameter; one of exactly this length means
/// more follows (IRCv3 SASL).
const CHUNK: usize = 400;
/// The longest SASL message, base64: PLAIN needs two names and a password.
const MAX_SASL: usize = 4 * CHUNK;
/// The shortest password `REGISTER` and `groupchatctl account` accept.
pub const MIN_PASSWORD: usize = 8;

/// What the hub needs of `[accounts]` and `server.require_account`.
#[derive(Debug, Clone)]
pub struct AccountRules {
    pub enabled: bool,
    pub protect_nicks: bool,
    /// Clients may create accounts with `REGISTER`.
    pub open_registration: bool,
    pub require_account: bool,
    pub max_failures: u32,
    pub max_failures_per_address: u32,
    pub failure_window: Duration,
    pub max_registrations_per_address: u32,
    pub registration_window: Duration,
}

impl AccountRules {
    pub fn new(config: &crate::config::Config) -> AccountRules {
        let a = &config.accounts;
        AccountRules {
            enabled: a.enabled,
            protect_nicks: a.protect_nicks,
            open_registration: a.registration == crate::config::Registration::Open,
            require_account: config.server.require_account,
            max_failures: a.max_failures,
            max_failures_per_address: a.max_failures_per_address,
            failure_window: Duration::from_secs(a.failure_window),
            max_registrations_per_address: a.max_registrations_per_address,
            registration_window: Duration::from_secs(a.registration_window),
        }
    }
}

/// Where a client's SASL exchange stands.
#[derive(Debug, Default)]
pub(super) enum Sasl {
    #[default]
    Idle,
    /// `AUTHENTICATE PLAIN` was accepted: the base64 received so far.
    Plain(String),
}

/// A client's logging in: kept only while there is something to keep,
/// since most clients never log in and each client slot is memory paid
/// for every connection.
#[derive(Debug, Default)]
pub(super) struct Login {
    sasl: Sasl,
    /// A login or `REGISTER` the accounts worker has yet to answer.
    waiting: Option<Waiting>,
    /// Failed SASL logins and OPERs on this connection.
    failures: u32,
}

impl Client {
    /// The login state, made on first use.
    fn login(&mut self) -> &mut Login {
        self.login.get_or_insert_with(Box::default)
    }

    /// Notes a request for the accounts worker; registration waits for it.
    pub(super) fn set_waiting(&mut self, waiting: Waiting) {
        self.login().waiting = Some(waiting);
    }

    pub(super) fn waiting(&self) -> Option<&Waiting> {
        self.login.as_ref()?.waiting.as_ref()
    }

    pub(super) fn take_waiting(&mut self) -> Option<Waiting> {
        let waiting = self.login.as_mut()?.waiting.take();
        self.tidy_login();
        waiting
    }

    /// Ends a SASL exchange; returns whether one was under way.
    pub(super) fn end_sasl(&mut self) -> bool {
        let Some(login) = self.login.as_mut() else {
            return false;
        };
        let unfinished = matches!(login.sasl, Sasl::Plain(_));
        login.sasl = Sasl::Idle;
        self.tidy_login();
        unfinished
    }

    /// Drops the login state once nothing in it is left to keep.
    fn tidy_login(&mut self) {
        if self
            .login
            .as_ref()
            .is_some_and(|l| matches!(l.sasl, Sasl::Idle) && l.waiting.is_none() && l.failures == 0)
        {
            self.login = None;
        }
    }
}

/// A request of this client's the accounts worker has not answered yet.
/// Registration waits while there is one.
#[derive(Debug)]
pub(super) enum Waiting {
    /// A SASL login of `name`; `aborted` by `AUTHENTICATE *` since, so
    /// that its answer is ignored.
    Login { name: String, aborted: bool },
    /// `REGISTER` of `name`.
    Register { name: String },
    /// `OPER` as the operator block `name`, whose password is being checked.
    Oper { name: String },
    /// On a cluster, whether `nick` is free on the network: asked of Redis
    /// before a registration completes or a nick changes.
    Nick { nick: String },
}

/// What a wrong password was for (see [`Hub::password_failed`]).
#[derive(Debug, Clone, Copy)]
pub(super) enum Attempt<'a> {
    /// A SASL login to this account.
    Login(&'a str),
    /// `OPER` as this operator block.
    Oper(&'a str),
}

/// How often one address did something (failed a login, registered an
/// account) within the window that began at `since`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tally {
    count: u32,
    since: Instant,
}

impl Tally {
    /// Counts one more for `ip` at `now`, in a new window once `window` is
    /// over; returns the count.
    fn add(
        tallies: &mut HashMap<IpAddr, Tally>,
        ip: IpAddr,
        now: Instant,
        window: Duration,
    ) -> u32 {
        let tally = tallies.entry(ip).or_insert(Tally {
            count: 0,
            since: now,
        });
        if now.duration_since(tally.since) >= window {
            *tally = Tally {
                count: 0,
                since: now,
            };
        }
        tally.count += 1;
        tally.count
    }

    /// How long `ip` must still wait, if it reached `limit` within the
    /// window.
    fn wait(
        tallies: &HashMap<IpAddr, Tally>,
        ip: IpAddr,
        limit: u32,
        window: Duration,
        now: Instant,
    ) -> Option<Duration> {
        let tally = tallies.get(&ip)?;
        let end = tally.since + window;
        (tally.count >= limit && now < end).then(|| end - now)
    }
}

impl Hub {
    /// The accounts that exist, read from the store at start: their names
    /// are protected from then on.
    pub fn set_accounts(&mut self, names: impl IntoIterator<Item = String>) {
        self.accounts.clear();
        self.account_skeletons.clear();
        for name in names {
            self.add_account(&name);
        }
    }

    /// Enters an account's name in the set of names and of skeletons.
    fn add_account(&mut self, name: &str) {
        if self.accounts.insert(fold(name)) {
            *self.account_skeletons.entry(skeleton(name)).or_default() += 1;
        }
    }

    /// How many accounts exist.
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// An account was created by the host (`groupchatctl account add`).
    pub fn account_created(&mut self, name: &str) {
        self.add_account(name);
    }

    /// An account was deleted by the host: whoever is logged in to it is
    /// logged out, its name is free, and its channels are no longer kept.
    pub fn account_deleted(&mut self, name: &str, out: &mut dyn Outbox) {
        self.drop_channels_of(name, out);
        let folded = fold(name);
        if self.accounts.remove(&folded)
            && let Entry::Occupied(mut count) = self.account_skeletons.entry(skeleton(name))
        {
            *count.get_mut() -= 1;
            if *count.get() == 0 {
                count.remove();
            }
        }
        let ids: Vec<ClientId> = self
            .clients
            .iter()
            .enumerate()
            .filter_map(|(id, c)| {
                let account = c.as_ref()?.account.as_deref()?;
                (fold(account) == folded).then_some(id)
            })
            .collect();
        for id in ids {
            self.set_account(id, None, out);
            self.reply(
                id,
                RPL_LOGGEDOUT,
                &[
                    &self.mask(id),
                    "You are now logged out (the account was deleted)",
                ],
                out,
            );
        }
    }

    /// The client's account, if it is logged in.
    pub fn account(&self, id: ClientId) -> Option<&str> {
        self.client(id)?.account.as_deref()
    }

    /// `nick!user@host`, or as much of it as the client has given.
    fn mask(&self, id: ClientId) -> String {
        self.client(id).map_or_else(String::new, |c| {
            format!("{}!{}@{}", c.nick_or_star(), c.user, c.host)
        })
    }

    /// Whether a nick is an account's name, or looks like one (the same
    /// skeleton), and `id` is not logged in to that account.
    pub(super) fn nick_protected_from(&self, id: ClientId, nick: &str) -> bool {
        let rules = &self.config.accounts;
        if !rules.enabled || !rules.protect_nicks {
            return false;
        }
        let own = self.client(id).and_then(|c| c.account.as_deref());
        let folded = fold(nick);
        if self.accounts.contains(&folded) {
            return own.is_none_or(|account| fold(account) != folded);
        }
        let shape = skeleton(nick);
        self.account_skeletons.contains_key(&shape)
            && own.is_none_or(|account| skeleton(account) != shape)
    }

    /// `433` for a nick that belongs to an account, or looks like one's.
    pub(super) fn refuse_protected_nick(&self, id: ClientId, nick: &str, out: &mut dyn Outbox) {
        let text = "Nickname is registered to an account, or looks like its name: log in to it with SASL, or choose another nick";
        self.reply(id, ERR_NICKNAMEINUSE, &[nick, text], out);
    }

    pub(super) fn authenticate(
        &mut self,
        id: ClientId,
        msg: &Message,
        now: Instant,
        out: &mut dyn Outbox,
    ) {
        if !self.config.accounts.enabled {
            self.reply(
                id,
                ERR_UNKNOWNCOMMAND,
                &["AUTHENTICATE", "Unknown command"],
                out,
            );
            return;
        }
        let Some(param) = msg.param(0) else {
            let params = ["AUTHENTICATE", "Not enough parameters"];
            self.reply(id, ERR_NEEDMOREPARAMS, &params, out);
            return;
        };
        let Some(client) = self.client_mut(id) else {
            return;
        };
        if param == "*" {
            client.end_sasl();
            if let Some(Waiting::Login { aborted, .. }) =
                client.login.as_mut().and_then(|l| l.waiting.as_mut())
            {
                *aborted = true;
            }
            self.reply(id, ERR_SASLABORTED, &["SASL authentication aborted"], out);
            // Registration may have waited for this exchange.
            self.try_register(id, out);
            return;
        }
        if param.len() > CHUNK {
            client.end_sasl();
            self.reply(id, ERR_SASLTOOLONG, &["SASL message too long"], out);
            return;
        }
        match client.waiting() {
            // One login at a time: the answer to this one is coming.
            Some(Waiting::Login { aborted: false, .. }) => return,
            // An answer is due to an aborted login or a REGISTER: one
            // request at a time, so that answers cannot be mistaken.
            Some(_) => {
                let text = "SASL authentication failed: a previous request is still being answered; try again";
                self.reply(id, ERR_SASLFAIL, &[text], out);
                return;
            }
            None => {}
        }
        let Some(Sasl::Plain(so_far)) = client.login.as_mut().map(|l| &mut l.sasl) else {
            return self.start_sasl(id, param, now, out);
        };
        if param != "+" {
            so_far.push_str(param);
        }
        if so_far.len() > MAX_SASL {
            client.end_sasl();
            self.reply(id, ERR_SASLTOOLONG, &["SASL message too long"], out);
            return;
        }
        if param.len() == CHUNK {
            return;
        }
        let encoded = std::mem::take(so_far);
        client.end_sasl();
        let Some((name, password)) = plain_credentials(&encoded) else {
            self.reply(
                id,
                ERR_SASLFAIL,
                &["SASL authentication failed: malformed PLAIN message"],
                out,
            );
            return;
        };
        if let Some(client) = self.client_mut(id) {
            client.set_waiting(Waiting::Login {
                name: name.clone(),
                aborted: false,
            });
        }
        out.account(id, Request::Verify { name, password });
    }

    /// `AUTHENTICATE <mechanism>`: PLAIN is the one offered.
    fn start_sasl(&mut self, id: ClientId, mechanism: &str, now: Instant, out: &mut dyn Outbox) {
        let Some(client) = self.client(id) else {
            return;
        };
        if client.account.is_some() {
            let text = "You have already authenticated using SASL";
            self.reply(id, ERR_SASLALREADY, &[text], out);
            return;
        }
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            self.reply(
                id,
                RPL_SASLMECHS,
                &["PLAIN", "are available SASL mechanisms"],
                out,
            );
            self.reply(id, ERR_SASLFAIL, &["SASL authentication failed"], out);
            return;
        }
        let ip = client.ip;
        if let Some(wait) = self.address_locked(ip, now) {
            let minutes = wait.as_secs().div_ceil(60).max(1);
            let text = format!(
                "SASL authentication failed: too many failed logins from your address; try again in {minutes} minute(s)"
            );
            self.reply(id, ERR_SASLFAIL, &[&text], out);
            return;
        }
        if let Some(client) = self.client_mut(id) {
            client.login().sasl = Sasl::Plain(String::new());
        }
        // Built by hand: `build` would write the lone `+` as `:+`, which is
        // the same to a parser but not to clients that compare the line.
        let go_ahead: crate::message::Line = std::rc::Rc::from(&b"AUTHENTICATE +\r\n"[..]);
        out.send(id, &go_ahead);
    }

    /// How long `ip` must still wait before it may try to log in again, if
    /// it has failed too often lately.
    pub(super) fn address_locked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let rules = &self.config.accounts;
        let (limit, window) = (rules.max_failures_per_address, rules.failure_window);
        Tally::wait(&self.login_failures, ip, limit, window, now)
    }

    /// Forgets addresses whose windows are over (from the tick).
    pub(super) fn expire_address_tallies(&mut self, now: Instant) {
        let rules = &self.config.accounts;
        let (failures, registrations) = (rules.failure_window, rules.registration_window);
        self.login_failures
            .retain(|_, f| now.duration_since(f.since) < failures);
        self.registrations
            .retain(|_, r| now.duration_since(r.since) < registrations);
    }

    pub(super) fn register_account(
        &mut self,
        id: ClientId,
        msg: &Message,
        now: Instant,
        out: &mut dyn Outbox,
    ) {
        let rules = &self.config.accounts;
        if !rules.enabled {
            self.reply(
                id,
                ERR_UNKNOWNCOMMAND,
                &["REGISTER", "Unknown command"],
                out,
            );
            return;
        }
        let fail = |hub: &Hub, params: &[&str], out: &mut dyn Outbox| {
            let mut all = vec!["REGISTER"];
            all.extend_from_slice(params);
            hub.fail(id, &all, out);
        };
        if !rules.open_registration {
            let text = "Clients cannot register accounts on this server: ask its host for one";
            fail(self, &["TEMPORARILY_UNAVAILABLE", "*", text], out);
            return;
        }
        let (Some(wanted), Some(_email), Some(password)) =
            (msg.param(0), msg.param(1), msg.param(2))
        else {
            fail(
                self,
                &["NEED_MORE_PARAMS", "*", "Not enough parameters"],
                out,
            );
            return;
        };
        let Some(client) = self.client(id) else {
            return;
        };
        if let Some(account) = &client.account {
            fail(
                self,
                &[
                    "ALREADY_AUTHENTICATED",
                    account,
                    "You are already logged in",
                ],
                out,
            );
            return;
        }
        if client.waiting().is_some() {
            let text = "Another login or registration is in progress";
            fail(self, &["TEMPORARILY_UNAVAILABLE", wanted, text], out);
            return;
        }
        if client.nick.is_empty() {
            fail(
                self,
                &[
                    "NEED_NICK",
                    "*",
                    "Choose a nick first: the account takes its name",
                ],
                out,
            );
            return;
        }
        let name = if wanted == "*" {
            client.nick.clone()
        } else {
            wanted.to_string()
        };
        let folded = fold(&name);
        if folded != fold(&client.nick) {
            let text = "The account name must be your current nick";
            fail(self, &["ACCOUNT_NAME_MUST_BE_NICK", &name, text], out);
            return;
        }
        if !valid_nick(&name, self.config.nick_len)
            || self.config.reserved_nicks.contains(&skeleton(&name))
        {
            fail(
                self,
                &["BAD_ACCOUNT_NAME", &name, "That name cannot be an account"],
                out,
            );
            return;
        }
        if self.accounts.contains(&folded) {
            fail(
                self,
                &["ACCOUNT_EXISTS", &name, "That account already exists"],
                out,
            );
            return;
        }
        if self.account_skeletons.contains_key(&skeleton(&name)) {
            let text = "That name looks like an existing account's";
            fail(self, &["ACCOUNT_EXISTS", &name, text], out);
            return;
        }
        if password.chars().count() < MIN_PASSWORD || password == "*" {
            let text = format!("Passwords need at least {MIN_PASSWORD} characters");
            fail(self, &["WEAK_PASSWORD", &name, &text], out);
            return;
        }
        let ip = client.ip;
        let (limit, window) = (
            rules.max_registrations_per_address,
            rules.registration_window,
        );
        if let Some(wait) = Tally::wait(&self.registrations, ip, limit, window, now) {
            self.stats.registrations_refused += 1;
            log::warn!(
                "REGISTER {name:?} by {} refused: {limit} account(s) registered from its address within {}s",
                self.describe(id),
                window.as_secs()
            );
            let minutes = wait.as_secs().div_ceil(60).max(1);
            let text = format!(
                "Too many accounts were registered from your address lately; try again in {minutes} minute(s)"
            );
            fail(self, &["TEMPORARILY_UNAVAILABLE", &name, &text], out);
            return;
        }
        Tally::add(&mut self.registrations, ip, now, window);
        let password = Secret::new(password.to_string());
        if let Some(client) = self.client_mut(id) {
            client.set_waiting(Waiting::Register { name: name.clone() });
        }
        out.account(id, Request::Create { name, password });
    }

    /// `VERIFY`: accounts here need no verification, so there is never a
    /// code to check.
    pub(super) fn verify_account(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        if !self.config.accounts.enabled {
            self.reply(id, ERR_UNKNOWNCOMMAND, &["VERIFY", "Unknown command"], out);
            return;
        }
        let account = msg.param(0).unwrap_or("*");
        let text =
            "No verification is pending: accounts here are ready as soon as they are registered";
        self.fail(id, &["VERIFY", "INVALID_CODE", account, text], out);
    }

    /// The accounts worker's answer to what `id` asked.
    pub fn account_answer(
        &mut self,
        id: ClientId,
        answer: Answer,
        now: Instant,
        out: &mut dyn Outbox,
    ) {
        let Some(waiting) = self.client_mut(id).and_then(Client::take_waiting) else {
            return;
        };
        match waiting {
            Waiting::Login { aborted: true, .. } => {}
            Waiting::Login { name, .. } => self.login_answer(id, &name, answer, now, out),
            Waiting::Register { name } => self.register_answer(id, &name, answer, out),
            Waiting::Oper { name } => self.oper_answer(id, &name, answer, now, out),
            // Not what this answer is for; cannot happen, as a client waits
            // for one thing at a time.
            Waiting::Nick { .. } => {}
        }
        self.try_register(id, out);
    }

    fn login_answer(
        &mut self,
        id: ClientId,
        name: &str,
        answer: Answer,
        now: Instant,
        out: &mut dyn Outbox,
    ) {
        match answer {
            Ok(Outcome::Verified(Some(account))) => {
                self.stats.logins += 1;
                log::info!("{} logged in as {account}", self.describe(id));
                self.logged_in(id, &account, out);
                self.reply(
                    id,
                    RPL_SASLSUCCESS,
                    &["SASL authentication successful"],
                    out,
                );
            }
            Ok(_) => self.password_failed(id, Attempt::Login(name), now, out),
            Err(e) => {
                log::error!("cannot check a login for {name:?}: {e}");
                let text = "SASL authentication failed: accounts are unavailable right now";
                self.reply(id, ERR_SASLFAIL, &[text], out);
            }
        }
    }

    fn register_answer(&mut self, id: ClientId, name: &str, answer: Answer, out: &mut dyn Outbox) {
        match answer {
            Ok(Outcome::Created(account)) => {
                self.add_account(&account);
                log::info!("{} registered the account {account}", self.describe(id));
                let text = "Account created; you are logged in to it";
                let success = ["SUCCESS", account.as_str(), text];
                out.send(id, &build(&self.config.server_name, "REGISTER", &success));
                self.logged_in(id, &account, out);
            }
            Err(AccountError::Exists(_)) => {
                self.fail(
                    id,
                    &[
                        "REGISTER",
                        "ACCOUNT_EXISTS",
                        name,
                        "That account already exists",
                    ],
                    out,
                );
            }
            Ok(_) | Err(_) => {
                if let Err(e) = answer {
                    log::error!("cannot register the account {name:?}: {e}");
                }
                let text = "Accounts are unavailable right now; try again later";
                self.fail(
                    id,
                    &["REGISTER", "TEMPORARILY_UNAVAILABLE", name, text],
                    out,
                );
            }
        }
    }

    /// `900`, and the account shown from now on.
    fn logged_in(&mut self, id: ClientId, account: &str, out: &mut dyn Outbox) {
        self.set_account(id, Some(account.to_string()), out);
        let text = format!("You are now logged in as {account}");
        self.reply(id, RPL_LOGGEDIN, &[&self.mask(id), account, &text], out);
        // An `$a:` K-line applies as soon as the account is known.
        if !self.refuse_if_klined(id, out) {
            self.grant_lobby_op(id, out);
            // The network learns the account, and any status it brought.
            self.publish_intro(id, out);
        }
    }

    /// Sets a client's account and, once it is registered, tells
    /// `account-notify` clients in its channels (and itself).
    pub(super) fn set_account(
        &mut self,
        id: ClientId,
        account: Option<String>,
        out: &mut dyn Outbox,
    ) {
        let Some(client) = self.client_mut(id) else {
            return;
        };
        client.account = account;
        if !client.registered {
            return;
        }
        let shown = client.account.clone().unwrap_or_else(|| "*".into());
        let line = build(&client.prefix, "ACCOUNT", &[&shown]);
        if client.caps.has(Cap::AccountNotify) {
            out.send(id, &line);
        }
        self.send_to_peers(id, &line, false, Some(Cap::AccountNotify), out);
    }

    /// A wrong password, for a SASL login or an `OPER`: counted, logged
    /// (what was tried, never the password), and past the limits the
    /// connection is cut or the address made to wait. Both share the
    /// limits, so OPER is no way around SASL's.
    pub(super) fn password_failed(
        &mut self,
        id: ClientId,
        attempt: Attempt<'_>,
        now: Instant,
        out: &mut dyn Outbox,
    ) {
        let rules = self.config.accounts.clone();
        let Some(client) = self.client_mut(id) else {
            return;
        };
        let mine = {
            let login = client.login();
            login.failures += 1;
            login.failures
        };
        let ip = client.ip;
        let theirs = Tally::add(&mut self.login_failures, ip, now, rules.failure_window);
        let (what, code, text) = match attempt {
            Attempt::Login(name) => {
                self.stats.login_failures += 1;
                (
                    format!("SASL login for account {name:?}"),
                    ERR_SASLFAIL,
                    "SASL authentication failed: wrong account name or password",
                )
            }
            Attempt::Oper(name) => {
                self.stats.oper_failures += 1;
                (
                    format!("OPER as {name:?}"),
                    ERR_PASSWDMISMATCH,
                    "Password incorrect",
                )
            }
        };
        log::warn!(
            "failed {what} by {} ({mine} on this connection, {theirs} from its address)",
            self.describe(id)
        );
        self.reply(id, code, &[text], out);
        if theirs == rules.max_failures_per_address {
            self.stats.lockouts += 1;
            log::warn!(
                "{ip} may not log in for {}s: {theirs} failed logins",
                rules.failure_window.as_secs()
            );
        }
        if mine >= rules.max_failures {
            self.stats.lockouts += 1;
            log::warn!("{}: cut after {mine} failed logins", self.describe(id));
            let why = DisconnectReason::LoginFailures;
            self.drop_client(id, why, why.text(), out);
        }
    }

    /// `nick (address)` or `#id (address)`, for log lines.
    pub(super) fn describe(&self, id: ClientId) -> String {
        match self.client(id) {
            Some(c) if !c.nick.is_empty() => format!("{} ({})", c.nick, c.host),
            Some(c) => format!("#{id} ({})", c.host),
            None => format!("#{id}"),
        }
    }

    /// Refuses registration without an account when the server asks for
    /// one; returns whether it did.
    pub(super) fn refuse_without_account(&mut self, id: ClientId, out: &mut dyn Outbox) -> bool {
        if !self.config.accounts.require_account || self.account(id).is_some() {
            return false;
        }
        let why = DisconnectReason::AccountRequired;
        self.fail(id, &["*", "ACCOUNT_REQUIRED", why.text()], out);
        self.drop_client(id, why, why.text(), out);
        true
    }
}

/// The account name and password of a SASL PLAIN message (base64 of
/// `authzid NUL authcid NUL password`). The authorization identity must be
/// empty or the account itself: nobody logs in as someone else.
fn plain_credentials(encoded: &str) -> Option<(String, Secret)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let mut parts = text.splitn(3, '\0');
    let (authzid, authcid, password) = (parts.next()?, parts.next()?, parts.next()?);
    if authcid.is_empty() || password.is_empty() {
        return None;
    }
    if !authzid.is_empty() && fold(authzid) != fold(authcid) {
        return None;
    }
    Some((authcid.to_string(), Secret::new(password.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn plain_messages_give_the_account_and_password() {
        let (name, password) = plain_credentials(&encode("\0alice\0s3cret pw")).expect("valid");
        assert_eq!((name.as_str(), password.expose()), ("alice", "s3cret pw"));
        let (name, _) = plain_credentials(&encode("Alice\0alice\0pw")).expect("same identity");
        assert_eq!(name, "alice");
        for bad in ["bob\0alice\0pw", "\0alice\0", "\0\0pw", "alice", "\0alice"] {
            assert!(plain_credentials(&encode(bad)).is_none(), "{bad:?}");
        }
        assert!(plain_credentials("not base64!").is_none());
    }
}
