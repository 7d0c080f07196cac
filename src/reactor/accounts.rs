//! The reactor's link to the accounts worker: what the hub and the admin
//! socket ask goes to the worker, and its answers, which wake the loop,
//! go back to whoever asked.

use crate::accounts::{AccountError, AccountStore, Accounts, Answer, Hashing, Keep, Request};
use crate::config::Config;
use crate::hub::ClientId;
use crate::kline::Kline;
use log::{error, info};
use mio::Waker;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whoever waits for an answer.
#[derive(Debug, Clone, Copy)]
enum Asker {
    Client(ClientId),
    /// An admin connection, by its key (`groupchatctl account`).
    Admin(usize),
    /// Nobody: the hub's K-line changes, whose failures are only logged.
    Nobody,
}

/// An answer, ready to hand on.
pub(super) enum Finished {
    Client(ClientId, Answer),
    Admin(usize, Answer),
    /// The answer to a request nobody waits for.
    Unasked(Answer),
}

/// Whether accounts are kept.
pub(super) enum State {
    /// Not started yet, or closed.
    Off,
    Open(Accounts),
    /// The store could not be opened: logins and registrations fail.
    Unavailable(String),
}

pub(super) struct AccountsLink {
    state: State,
    /// `accounts.enabled`: the store is open either way, for K-lines and
    /// channels, but nobody logs in or registers when it is off.
    accounts_on: bool,
    path: PathBuf,
    waiting: HashMap<u64, Asker>,
    next_ticket: u64,
    /// Answers made here, without the worker (accounts off or failed).
    local: Vec<Finished>,
}

impl AccountsLink {
    /// Accounts as configured, not started yet.
    pub(super) fn new(config: &Config) -> AccountsLink {
        AccountsLink {
            state: State::Off,
            accounts_on: config.accounts.enabled,
            path: super::history::absolute(config.history.resolved_path()),
            waiting: HashMap::new(),
            next_ticket: 0,
            local: Vec::new(),
        }
    }

    /// Opens the store and starts the worker; returns every account's
    /// name, the K-lines in force and the registered channels (read here,
    /// once, so the hub can protect nicks and refuse connections without
    /// asking the disk). The store is opened even with accounts off, for
    /// the K-lines and channels it keeps. On failure the server runs
    /// without accounts and keeps nothing, and says so.
    pub(super) fn start(&mut self, config: &Config, waker: Arc<Waker>) -> Stored {
        self.accounts_on = config.accounts.enabled;
        let hashing = Hashing {
            memory_kib: config.accounts.hash_memory_kib,
            passes: config.accounts.hash_passes,
        };
        match start(&self.path, hashing, waker) {
            Ok((accounts, stored)) => {
                info!(
                    "{} account(s){}, {} K-line(s) and {} registered channel(s) kept in {}",
                    stored.names.len(),
                    if self.accounts_on {
                        ""
                    } else {
                        " (accounts are off: accounts.enabled = false)"
                    },
                    stored.klines.len(),
                    stored.channels.len(),
                    self.path.display()
                );
                self.state = State::Open(accounts);
                stored
            }
            Err(e) => {
                error!(
                    "{e}; running without accounts (logins fail), K-lines and channels are not kept"
                );
                self.state = State::Unavailable(e);
                Stored::default()
            }
        }
    }

    /// A client's request; the answer comes back from `take_finished`.
    pub(super) fn ask(&mut self, id: ClientId, request: Request) {
        self.send(Asker::Client(id), request);
    }

    /// A K-line or channel to store or forget; a failure is logged when
    /// it comes.
    pub(super) fn keep(&mut self, what: Keep) {
        self.send(Asker::Nobody, Request::Keep(what));
    }

    /// An admin connection's request about accounts; false when accounts
    /// are off or not running.
    pub(super) fn admin(&mut self, key: usize, request: Request) -> bool {
        if !self.accounts_on || !matches!(self.state, State::Open(_)) {
            return false;
        }
        self.send(Asker::Admin(key), request);
        true
    }

    fn send(&mut self, asker: Asker, request: Request) {
        let State::Open(accounts) = &mut self.state else {
            let why = AccountError::Failed("accounts are not available on this server".into());
            self.local.push(finished(asker, Err(why)));
            return;
        };
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.waiting.insert(ticket, asker);
        accounts.ask(ticket, request);
    }

    /// A client is gone: its answers are dropped when they come.
    pub(super) fn forget(&mut self, id: ClientId) {
        self.waiting
            .retain(|_, asker| !matches!(asker, Asker::Client(c) if *c == id));
        self.local
            .retain(|f| !matches!(f, Finished::Client(c, _) if *c == id));
    }

    /// Answers ready to hand on: what the worker finished, and what was
    /// answered here.
    pub(super) fn take_finished(&mut self) -> Vec<Finished> {
        let mut ready = std::mem::take(&mut self.local);
        if let State::Open(accounts) = &mut self.state {
            for (ticket, answer) in accounts.take_done() {
                if let Some(asker) = self.waiting.remove(&ticket) {
                    ready.push(finished(asker, answer));
                }
            }
        }
        ready
    }

    /// Answers were made here and wait for the next turn.
    pub(super) fn has_ready(&self) -> bool {
        !self.local.is_empty()
    }

    /// `off`, `ok` or `unavailable`, with the error if any, for status.
    pub(super) fn state(&self) -> (&'static str, Option<String>) {
        match &self.state {
            _ if !self.accounts_on => ("off", None),
            State::Off => ("off", None),
            State::Open(accounts) if accounts.running() => ("ok", None),
            State::Open(_) => ("failing", Some("the accounts worker stopped".into())),
            State::Unavailable(e) => ("unavailable", Some(e.clone())),
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Stops the worker after what it was sent (at shutdown).
    pub(super) fn close(&mut self) {
        if let State::Open(accounts) = std::mem::replace(&mut self.state, State::Off) {
            accounts.close();
        }
    }
}

fn finished(asker: Asker, answer: Answer) -> Finished {
    match asker {
        Asker::Client(id) => Finished::Client(id, answer),
        Asker::Admin(key) => Finished::Admin(key, answer),
        Asker::Nobody => Finished::Unasked(answer),
    }
}

/// What the store holds that the hub keeps in memory.
#[derive(Debug, Default)]
pub(super) struct Stored {
    pub(super) names: Vec<String>,
    pub(super) klines: Vec<Kline>,
    /// Registered channels' states, as the hub saved them.
    pub(super) channels: Vec<String>,
}

/// Opens the store at `path`, reads what the hub holds, and starts the
/// worker.
fn start(path: &Path, hashing: Hashing, waker: Arc<Waker>) -> Result<(Accounts, Stored), String> {
    let mut store = AccountStore::open(path)?;
    let names = store.names().map_err(|e| e.to_string())?;
    let klines = store
        .klines(crate::clock::now_ms())
        .map_err(|e| e.to_string())?;
    let channels = store.channels().map_err(|e| e.to_string())?;
    let accounts = Accounts::spawn(store, hashing, waker)
        .map_err(|e| format!("accounts: cannot start their thread: {e}"))?;
    Ok((
        accounts,
        Stored {
            names,
            klines,
            channels,
        },
    ))
}
