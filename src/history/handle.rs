//! The loop's side of history: queues appends, sends them as one batch per
//! loop turn, and turns the worker's reports into [`Done`]s and [`Health`].
//!
//! Nothing here blocks (except [`History::close`], at shutdown): sends on an
//! unbounded channel, receives with `try_recv`. Health lives here, updated
//! from the reports, so the hot path shares no mutex with the worker.

use super::worker::{self, Job, Report};
use super::{Backend, Entry, Query, TargetActivity, TargetsQuery};
use log::error;
use mio::Waker;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;

/// What to delete (an operator's request, or a user's right to be
/// forgotten).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purge {
    /// Everything the folded nick said and its private conversations.
    Nick(String),
    /// One conversation, by key.
    Target(String),
}

/// How long history is kept; 0 in either field means no such limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub max_age_ms: i64,
    /// Entries kept per target.
    pub max_messages: usize,
}

/// What the worker finished.
///
/// Commits are told by batch number, not by seq: batches are numbered in the
/// order they are sent, while seqs need not arrive in order (a line heard
/// from another node carries the msgid it was given there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// Every batch numbered <= this is committed.
    Committed(u64),
    /// A batch could not be stored (disk full, …): the entries of batches
    /// up to this number are NOT in history; the error says why. The loop
    /// keeps chatting and shows history as failing.
    Failed { through: u64, error: String },
    Answer {
        ticket: u64,
        result: Result<Vec<super::Entry>, String>,
    },
    Targets {
        ticket: u64,
        result: Result<Vec<TargetActivity>, String>,
    },
    Purged {
        ticket: u64,
        result: Result<u64, String>,
    },
}

/// How history is doing, for `groupchatctl status` and the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// False from a failed batch (or the worker stopping) until a batch
    /// commits again.
    pub ok: bool,
    /// The last failure, kept after recovery so status can show it.
    pub last_error: Option<String>,
    /// Entries committed since start.
    pub stored: u64,
    /// Transactions committed since start (a group commit is one).
    pub batches: u64,
    /// Batches that failed since start.
    pub failures: u64,
    /// Entries those batches held: lost to history.
    pub failed_entries: u64,
    /// Entries appended but not yet committed or failed.
    pub queued: u64,
    /// Entries in the store after the last retention pass, if any yet.
    pub db_entries: Option<u64>,
    /// Its size on disk then (bytes).
    pub db_bytes: Option<u64>,
}

/// A request sent to the worker and not answered yet, so that a worker
/// that dies can still be answered for.
#[derive(Debug, Clone, Copy)]
enum Asked {
    Query,
    Targets,
    Purge,
}

/// History as the reactor thread sees it.
pub struct History {
    /// `None` once the worker is known gone.
    jobs: Option<Sender<Job>>,
    reports: Receiver<Report>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
    /// Appended since the last flush.
    pending: Vec<Entry>,
    /// Batches sent so far: the last one's number.
    sent: u64,
    /// Batches sent and not yet acknowledged: (number, entries).
    inflight: VecDeque<(u64, u64)>,
    asked: HashMap<u64, Asked>,
    /// Dones made on this side (the worker being gone).
    local: Vec<Done>,
    /// The highest batch a local `Done::Failed` was made for.
    given_up: u64,
    committed: u64,
    health: Health,
}

impl History {
    /// Starts the worker thread over `backend`; `waker` is woken whenever
    /// `take_done` has something. Read `backend.max_seq()` before, to
    /// number new entries after it.
    pub fn spawn(
        backend: Box<dyn Backend>,
        waker: Arc<Waker>,
        retention: Retention,
    ) -> io::Result<History> {
        let (jobs, job_rx) = mpsc::channel();
        let (report_tx, reports) = mpsc::channel();
        let thread_waker = waker.clone();
        let thread = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || worker::run(backend, job_rx, report_tx, thread_waker, retention))?;
        Ok(History {
            jobs: Some(jobs),
            reports,
            waker,
            thread: Some(thread),
            pending: Vec::new(),
            sent: 0,
            inflight: VecDeque::new(),
            asked: HashMap::new(),
            local: Vec::new(),
            given_up: 0,
            committed: 0,
            health: Health {
                ok: true,
                last_error: None,
                stored: 0,
                batches: 0,
                failures: 0,
                failed_entries: 0,
                queued: 0,
                db_entries: None,
                db_bytes: None,
            },
        })
    }

    /// Queues an entry for the next group commit (does not send yet).
    pub fn append(&mut self, entry: Entry) {
        self.pending.push(entry);
        self.health.queued += 1;
    }

    /// Sends what was appended since the last call as one batch (one
    /// transaction on the worker); call once per loop turn, before
    /// sleeping. Cheap when nothing is pending.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        self.sent += 1;
        self.inflight.push_back((self.sent, batch.len() as u64));
        self.send(Job::Append(self.sent, batch));
    }

    /// The number of the batch that what is appended now goes out in.
    pub fn next_batch(&self) -> u64 {
        self.sent + 1
    }

    /// The highest batch known committed (or given up on after a failure:
    /// see [`Done::Failed`]).
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// Asks for a query's answer (with joins, parts and quits when
    /// `events`), as [`Done::Answer`] with this ticket.
    pub fn query(&mut self, ticket: u64, q: Query, events: bool) {
        self.asked.insert(ticket, Asked::Query);
        self.send(Job::Query { ticket, q, events });
    }

    /// Asks for CHATHISTORY TARGETS, as [`Done::Targets`] with this ticket.
    pub fn targets(&mut self, ticket: u64, q: TargetsQuery) {
        self.asked.insert(ticket, Asked::Targets);
        self.send(Job::Targets { ticket, q });
    }

    /// Asks for a purge, as [`Done::Purged`] with this ticket. It runs after
    /// every append sent before it.
    pub fn purge(&mut self, ticket: u64, what: Purge) {
        self.asked.insert(ticket, Asked::Purge);
        self.send(Job::Purge { ticket, what });
    }

    /// What the worker finished since the last call (call on the waker's
    /// event).
    pub fn take_done(&mut self) -> Vec<Done> {
        let mut done = Vec::new();
        loop {
            match self.reports.try_recv() {
                Ok(Report::Done(d)) => {
                    self.note(&d);
                    done.push(d);
                }
                Ok(Report::Size(entries, bytes)) => {
                    self.health.db_entries = Some(entries);
                    self.health.db_bytes = Some(bytes);
                }
                Ok(Report::RetainFailed(e)) => self.health.last_error = Some(e),
                Ok(Report::Gone) | Err(TryRecvError::Disconnected) => {
                    if self.jobs.is_some() {
                        self.gone("the history worker stopped");
                    }
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        for d in std::mem::take(&mut self.local) {
            self.note(&d);
            done.push(d);
        }
        done
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Stops the worker after it has committed everything sent, and waits
    /// for it (used at shutdown; blocking is fine there).
    pub fn close(mut self) {
        self.flush();
        self.jobs = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            error!("the history worker panicked while closing");
        }
    }

    /// Sends a job; when the worker is gone, answers it here instead.
    fn send(&mut self, job: Job) {
        let Some(jobs) = &self.jobs else {
            self.refuse(job);
            return;
        };
        if let Err(mpsc::SendError(job)) = jobs.send(job) {
            self.gone("the history worker stopped");
            self.refuse(job);
        }
    }

    /// Gives up on everything the worker was sent: it will never answer.
    fn gone(&mut self, why: &str) {
        error!("{why}: history is not stored any more");
        self.jobs = None;
        self.fail_inflight(why);
        for (ticket, asked) in self.asked.drain() {
            self.local.push(failed_answer(ticket, asked, why));
        }
        self.health.ok = false;
        self.health.last_error = Some(why.to_string());
        self.wake();
    }

    /// Reports every batch in flight as failed, once.
    fn fail_inflight(&mut self, why: &str) {
        if let Some(&(through, _)) = self.inflight.back()
            && through > self.given_up
        {
            self.given_up = through;
            self.local.push(Done::Failed {
                through,
                error: why.to_string(),
            });
        }
    }

    /// Answers a job the worker will never see.
    fn refuse(&mut self, job: Job) {
        const WHY: &str = "the history worker is not running";
        match job {
            // `flush` counted it in flight already.
            Job::Append(..) => self.fail_inflight(WHY),
            Job::Query { ticket, .. } => self.local.push(failed_answer(ticket, Asked::Query, WHY)),
            Job::Targets { ticket, .. } => {
                self.local.push(failed_answer(ticket, Asked::Targets, WHY))
            }
            Job::Purge { ticket, .. } => self.local.push(failed_answer(ticket, Asked::Purge, WHY)),
        }
        self.wake();
    }

    /// Lets the loop see local Dones: it calls `take_done` on the waker.
    fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            error!("history cannot wake the event loop: {e}");
        }
    }

    /// Updates health and bookkeeping for a Done about to be handed out.
    fn note(&mut self, done: &Done) {
        let (through, failed) = match done {
            Done::Committed(through) => (*through, None),
            Done::Failed { through, error } => (*through, Some(error)),
            Done::Answer { ticket, .. }
            | Done::Targets { ticket, .. }
            | Done::Purged { ticket, .. } => {
                self.asked.remove(ticket);
                return;
            }
        };
        let mut entries = 0;
        while let Some(&(last, count)) = self.inflight.front() {
            if last > through {
                break;
            }
            self.inflight.pop_front();
            entries += count;
        }
        self.committed = self.committed.max(through);
        self.health.queued = self.health.queued.saturating_sub(entries);
        match failed {
            None => {
                self.health.ok = true;
                self.health.stored += entries;
                self.health.batches += 1;
            }
            Some(error) => {
                self.health.ok = false;
                self.health.failures += 1;
                self.health.failed_entries += entries;
                self.health.last_error = Some(error.clone());
            }
        }
    }
}

/// The Done for a request that cannot be answered.
fn failed_answer(ticket: u64, asked: Asked, why: &str) -> Done {
    let result = Err(why.to_string());
    match asked {
        Asked::Query => Done::Answer { ticket, result },
        Asked::Targets => Done::Targets {
            ticket,
            result: Err(why.to_string()),
        },
        Asked::Purge => Done::Purged {
            ticket,
            result: Err(why.to_string()),
        },
    }
}
