//! The reactor's link to history: what the hub records goes to the store's
//! worker (one group commit per loop turn) and to a window of recent lines
//! in memory; what the hub asks is answered from the window at once when it
//! can be, else by the worker, whose answers wake the loop.
//!
//! It also keeps the durability promise: output queued after a message was
//! recorded waits until the store has committed that message, so nobody
//! receives a line that a crash could take out of history. The wait is one
//! worker round trip (a transaction in WAL mode, no fsync).

use crate::clock::now_ms;
use crate::config::HistoryConfig;
use crate::history::{
    Backend, Done, Entry, History, MemoryBackend, Purge, Query, Retention, Scope, SqliteBackend,
};
use crate::hub::{Answering, Ask, ClientId, Found, MAX_CHATHISTORY};
use log::{error, info};
use mio::Waker;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

/// History lines handed to clients per loop turn. A thousand clients
/// catching up at once ask for hundreds of thousands of lines; handed on a
/// slice a turn, they go out between everybody else's messages instead of
/// in front of them.
const LINES_PER_TURN: usize = 2_000;

/// Whoever is waiting for an answer from the worker.
#[derive(Debug)]
pub(super) enum Asker {
    Client(ClientId, Answering),
    /// An admin connection, by its key (`groupchatctl history`).
    Admin(usize),
}

/// What the worker finished, ready for the loop to hand on.
pub(super) enum Finished {
    Client(ClientId, Answering, Result<Found, String>),
    Admin(usize, Result<AdminAnswer, String>),
}

/// Answers for `groupchatctl history`.
pub(super) enum AdminAnswer {
    Entries(Vec<Entry>),
    Purged(u64),
}

/// Whether history is kept.
pub(super) enum Store {
    /// `history.enabled = false`, or not started yet.
    Off,
    /// The store is open (its health tells how it is doing). Boxed: the
    /// other states are small, and there is one of these per server.
    Open(Box<History>),
    /// The store could not be opened: chat goes on without history.
    Unavailable(String),
}

pub(super) struct HistoryLink {
    store: Store,
    path: PathBuf,
    retention: Retention,
    /// Recent lines of each channel (private conversations are read from
    /// the store, so memory does not grow with their number).
    window: MemoryBackend,
    /// The batch the last recorded message goes out in: output queued
    /// after it waits for that batch's commit.
    recorded: u64,
    waiting: HashMap<u64, Asker>,
    next_ticket: u64,
    /// Answers waiting to be handed on, oldest first: at most
    /// [`LINES_PER_TURN`] of their lines a turn.
    ready: VecDeque<Finished>,
    /// Questions about channels whose log this node is reading (see
    /// `Cluster::filling`): asked once what the log held is recorded.
    held: Vec<(ClientId, Ask, Answering)>,
}

impl HistoryLink {
    /// History as configured, not started yet: off until [`start`].
    ///
    /// [`start`]: HistoryLink::start
    pub(super) fn new(config: &HistoryConfig) -> HistoryLink {
        HistoryLink {
            store: Store::Off,
            path: absolute(config.resolved_path()),
            retention: Retention {
                max_age_ms: config.max_age_ms(),
                max_messages: config.max_messages,
            },
            window: MemoryBackend::with_cap(MAX_CHATHISTORY, 1),
            recorded: 0,
            waiting: HashMap::new(),
            next_ticket: 0,
            ready: VecDeque::new(),
            held: Vec::new(),
        }
    }

    /// Opens the store and starts its worker, unless history is off; on
    /// failure chat goes on without history, and says so. Returns the
    /// highest seq stored, which new msgids must be above.
    pub(super) fn start(&mut self, config: &HistoryConfig, waker: Arc<Waker>) -> u64 {
        if !config.enabled {
            info!("history is off (history.enabled = false)");
            return 0;
        }
        match start(&self.path, waker, self.retention) {
            Ok((store, max_seq)) => {
                info!("history kept in {}", self.path.display());
                self.store = Store::Open(Box::new(store));
                self.window = MemoryBackend::with_cap(MAX_CHATHISTORY, max_seq + 1);
                max_seq
            }
            Err(e) => {
                error!("{e}; chatting without history");
                self.store = Store::Unavailable(e);
                0
            }
        }
    }

    /// Keeps an entry: in the window now (a channel's message), in the
    /// store with this turn's group commit. Output queued after a message
    /// waits for that commit; after a join, part or quit it does not (see
    /// `Hub::record_event`).
    pub(super) fn record(&mut self, entry: Entry) {
        let Store::Open(store) = &mut self.store else {
            return;
        };
        if entry.kind.is_event() {
            store.append(entry);
            return;
        }
        self.recorded = store.next_batch();
        if entry.target.starts_with('#') {
            // The window's append cannot fail.
            let _ = self.window.append(std::slice::from_ref(&entry));
        }
        store.append(entry);
    }

    /// The batch that output queued now must wait for, if any.
    pub(super) fn hold(&self) -> Option<u64> {
        (self.recorded > self.committed()).then_some(self.recorded)
    }

    /// Every batch up to this one is committed (or given up on).
    pub(super) fn committed(&self) -> u64 {
        match &self.store {
            Store::Open(store) => store.committed(),
            _ => u64::MAX,
        }
    }

    pub(super) fn ask(&mut self, id: ClientId, ask: Ask, answering: Answering) {
        let Store::Open(store) = &mut self.store else {
            let why = "history is not available".to_string();
            self.ready
                .push_back(Finished::Client(id, answering, Err(why)));
            return;
        };
        let ticket = self.next_ticket;
        match ask {
            Ask::Query { query, events } => {
                // The window holds messages only: history with events is
                // the store's to answer.
                if query.target().starts_with('#')
                    && !events
                    && let Some(entries) = self.window.try_answer(&query, false)
                {
                    let found = Ok(Found::Entries(entries));
                    self.ready.push_back(Finished::Client(id, answering, found));
                    return;
                }
                store.query(ticket, query, events);
            }
            Ask::Targets(q) => store.targets(ticket, q),
        }
        self.next_ticket += 1;
        self.waiting.insert(ticket, Asker::Client(id, answering));
    }

    /// `groupchatctl history`: the latest `limit` messages of a target.
    pub(super) fn admin_query(&mut self, key: usize, target: String, limit: usize) -> bool {
        let query = Query::Latest {
            target,
            after: None,
            limit,
        };
        self.admin_job(key, |store, ticket| store.query(ticket, query, false))
    }

    /// `groupchatctl history purge`: from the window now, from the store in
    /// order after every append sent before it.
    pub(super) fn admin_purge(&mut self, key: usize, what: Purge) -> bool {
        let _ = match &what {
            Purge::Nick(nick) => self.window.purge_nick(nick),
            Purge::Target(target) => self.window.purge_target(target),
        };
        self.admin_job(key, |store, ticket| store.purge(ticket, what))
    }

    fn admin_job(&mut self, key: usize, send: impl FnOnce(&mut History, u64)) -> bool {
        let Store::Open(store) = &mut self.store else {
            return false;
        };
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        store.flush();
        send(store, ticket);
        self.waiting.insert(ticket, Asker::Admin(key));
        true
    }

    /// Holds a question until [`HistoryLink::release`] finds its channel's
    /// log read.
    pub(super) fn hold_until_filled(&mut self, id: ClientId, ask: Ask, answering: Answering) {
        self.held.push((id, ask, answering));
    }

    /// Asks the held questions whose channel is no longer `filling`, after
    /// sending what was recorded (the lines of its log among it), so that
    /// they are answered with those lines.
    pub(super) fn release(&mut self, filling: impl Fn(&str) -> bool) {
        if self.held.is_empty() {
            return;
        }
        let (ready, held) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(_, ask, _)| !filling(ask.target()));
        self.held = held;
        let ready: Vec<_> = ready;
        if !ready.is_empty() {
            self.flush();
        }
        for (id, ask, answering) in ready {
            self.ask(id, ask, answering);
        }
    }

    /// A client is gone: answers for it are dropped when they come.
    pub(super) fn forget(&mut self, id: ClientId) {
        self.held.retain(|(c, ..)| *c != id);
        self.waiting
            .retain(|_, asker| !matches!(asker, Asker::Client(c, _) if *c == id));
        self.ready
            .retain(|f| !matches!(f, Finished::Client(c, ..) if *c == id));
    }

    /// Sends this turn's appends as one batch.
    pub(super) fn flush(&mut self) {
        if let Store::Open(store) = &mut self.store {
            store.flush();
        }
    }

    /// What to hand on this turn: answers made without the worker and what
    /// the worker finished, oldest first, up to [`LINES_PER_TURN`] lines
    /// (and at least one answer). Commits only move `committed` on.
    pub(super) fn take_finished(&mut self) -> Vec<Finished> {
        self.collect();
        let mut lines = 0;
        let mut finished = Vec::new();
        while lines < LINES_PER_TURN
            && let Some(next) = self.ready.pop_front()
        {
            lines += match &next {
                Finished::Client(_, _, Ok(Found::Entries(e))) => e.len(),
                Finished::Admin(_, Ok(AdminAnswer::Entries(e))) => e.len(),
                _ => 1,
            };
            finished.push(next);
        }
        finished
    }

    /// Answers are waiting for a later turn.
    pub(super) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Moves what the worker reported into `ready`.
    fn collect(&mut self) {
        let Store::Open(store) = &mut self.store else {
            return;
        };
        let finished = &mut self.ready;
        for done in store.take_done() {
            let (ticket, result) = match done {
                Done::Committed(_) => continue,
                Done::Failed { through, error } => {
                    error!("history: batch {through} of messages could not be stored: {error}");
                    continue;
                }
                Done::Answer { ticket, result } => (ticket, result.map(Found::Entries)),
                Done::Targets { ticket, result } => (ticket, result.map(Found::Targets)),
                Done::Purged { ticket, result } => {
                    if let Some(Asker::Admin(key)) = self.waiting.remove(&ticket) {
                        finished.push_back(Finished::Admin(key, result.map(AdminAnswer::Purged)));
                    }
                    continue;
                }
            };
            match self.waiting.remove(&ticket) {
                Some(Asker::Client(id, answering)) => {
                    finished.push_back(Finished::Client(id, answering, result));
                }
                Some(Asker::Admin(key)) => {
                    let result = result.and_then(|found| match found {
                        Found::Entries(entries) => Ok(AdminAnswer::Entries(entries)),
                        Found::Targets(_) => Err("unexpected answer".to_string()),
                    });
                    finished.push_back(Finished::Admin(key, result));
                }
                None => {}
            }
        }
    }

    /// Applies retention to the window too (the worker does the store), so
    /// an expired line is not served from memory; about once a second.
    pub(super) fn tick(&mut self) {
        if let Store::Open(_) = self.store {
            let r = self.retention;
            let _ = self
                .window
                .retain(now_ms(), r.max_age_ms, r.max_messages, Scope::All);
        }
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    pub(super) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Commits what was sent and stops the worker (at shutdown).
    pub(super) fn close(&mut self) {
        if let Store::Open(store) = std::mem::replace(&mut self.store, Store::Off) {
            let mut store = *store;
            store.flush();
            let queued = store.health().queued;
            store.close();
            if queued > 0 {
                info!("history: committed the last {queued} entries");
            }
        }
    }
}

/// The path as the logs and status show it: absolute, so that an operator
/// finds the file whatever the daemon's working directory was.
pub(super) fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

/// Opens the SQLite store at `path` and starts its worker.
fn start(
    path: &std::path::Path,
    waker: Arc<Waker>,
    retention: Retention,
) -> Result<(History, u64), String> {
    let mut backend = SqliteBackend::open(path).map_err(|e| e.to_string())?;
    let max_seq = backend.max_seq().map_err(|e| e.to_string())?;
    let store = History::spawn(Box::new(backend), waker, retention)
        .map_err(|e| format!("history: cannot start its thread: {e}"))?;
    Ok((store, max_seq))
}
