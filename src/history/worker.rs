//! The helper thread that owns a [`Backend`]: every blocking disk call of
//! history happens here, never on the reactor thread.
//!
//! It blocks on its job channel and answers through a report channel,
//! waking the loop's `mio::Waker` after each report. Appends waiting
//! together are committed in one transaction (group commit), so a burst of
//! messages costs one commit, not one each, and writes go before reads (see
//! [`sort`]). Retention runs at start and then every minute, between jobs.

use super::handle::{Done, Purge, Retention};
use super::{Backend, Entry, Query, Scope, StoreError, TargetsQuery};
use crate::helper::Reporter;
use log::{error, warn};
use mio::Waker;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// How often retention runs.
const RETAIN_EVERY: Duration = Duration::from_secs(60);

/// What the loop asks of the worker.
pub(super) enum Job {
    /// A batch to commit, by number (see [`Done::Committed`]).
    Append(u64, Vec<Entry>),
    Query {
        ticket: u64,
        q: Query,
        events: bool,
    },
    Targets {
        ticket: u64,
        q: TargetsQuery,
    },
    Purge {
        ticket: u64,
        what: Purge,
    },
}

/// What the worker tells the loop: the [`Done`]s it hands on, and what only
/// updates its [`Health`](super::Health).
pub(super) enum Report {
    Done(Done),
    /// Entries and bytes after a retention pass.
    Size(u64, u64),
    /// A retention pass or size reading failed.
    RetainFailed(String),
    /// The worker is stopping because of a panic outside any job: whatever
    /// it was sent is lost.
    Gone,
}

/// The worker thread's state.
struct Worker {
    backend: Box<dyn Backend>,
    reporter: Reporter<Report>,
    retention: Retention,
    /// Targets appended to since the last complete retention pass: the
    /// only ones `max_messages` can have been crossed in.
    written: HashSet<String>,
    /// A retention pass has completed: the first one covers every target.
    swept: bool,
    /// Entries in the store: counted once, then kept up to date from what
    /// appends, purges and retention report, so status never recounts.
    entries: Option<u64>,
}

/// The thread's body: serves `jobs` until the loop drops its end, having
/// then done everything sent before.
pub(super) fn run(
    backend: Box<dyn Backend>,
    jobs: Receiver<Job>,
    reports: Sender<Report>,
    waker: Arc<Waker>,
    retention: Retention,
) {
    let reporter = Reporter::new("history", reports, waker);
    let _guard = reporter.on_panic(Report::Gone);
    let mut worker = Worker {
        backend,
        reporter,
        retention,
        written: HashSet::new(),
        swept: false,
        entries: None,
    };
    let mut next_retain = Instant::now();
    let mut writes = VecDeque::new();
    let mut reads = VecDeque::new();
    loop {
        if Instant::now() >= next_retain {
            // A pass that stopped at its budget continues after the next job.
            next_retain = match worker.retain() {
                true => Instant::now(),
                false => Instant::now() + RETAIN_EVERY,
            };
        }
        // Wait only with nothing to do; then take everything sent so far.
        if writes.is_empty() && reads.is_empty() {
            match jobs.recv_timeout(next_retain.saturating_duration_since(Instant::now())) {
                Ok(job) => sort(job, &mut writes, &mut reads),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        while let Ok(job) = jobs.try_recv() {
            sort(job, &mut writes, &mut reads);
        }
        // Writes first; see `sort`.
        let Some(job) = writes.pop_front().or_else(|| reads.pop_front()) else {
            continue;
        };
        match job {
            Job::Append(mut through, mut batch) => {
                // Group commit: the appends waiting next to it go with it.
                while let Some(Job::Append(last, more)) = writes.front_mut() {
                    through = *last;
                    batch.append(more);
                    writes.pop_front();
                }
                worker.append(through, &batch);
            }
            Job::Purge { ticket, what } => {
                let result = worker.call(|b| match &what {
                    Purge::Nick(nick) => b.purge_nick(nick),
                    Purge::Target(target) => b.purge_target(target),
                });
                if let Ok(gone) = result {
                    worker.removed(gone);
                }
                worker.report(Report::Done(Done::Purged { ticket, result }));
            }
            Job::Query { ticket, q, events } => {
                let result = worker.call(|b| b.query(&q, events));
                worker.report(Report::Done(Done::Answer { ticket, result }));
            }
            Job::Targets { ticket, q } => {
                let result = worker.call(|b| b.targets(&q));
                worker.report(Report::Done(Done::Targets { ticket, result }));
            }
        }
    }
}

/// Puts a job in its queue. Writes (appends, purges) keep their order among
/// themselves and all go before any read, so a commit never waits behind a
/// thousand queries (the output of the whole loop waits for commits), and a
/// query still sees every write sent before it.
fn sort(job: Job, writes: &mut VecDeque<Job>, reads: &mut VecDeque<Job>) {
    match job {
        Job::Append(..) | Job::Purge { .. } => writes.push_back(job),
        Job::Query { .. } | Job::Targets { .. } => reads.push_back(job),
    }
}

impl Worker {
    /// Runs one backend call; a panic in it becomes an error of that call,
    /// so one bad request cannot take history down.
    fn call<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Backend) -> Result<T, StoreError>,
    ) -> Result<T, String> {
        let backend = self.backend.as_mut();
        self.reporter.call(|| f(backend))
    }

    fn append(&mut self, through: u64, batch: &[Entry]) {
        let done = match self.call(|b| b.append(batch)) {
            Ok(added) => {
                if self.retention.max_messages > 0 {
                    for e in batch {
                        if !self.written.contains(&*e.target) {
                            self.written.insert(e.target.to_string());
                        }
                    }
                }
                if let Some(n) = &mut self.entries {
                    *n += added;
                }
                Done::Committed(through)
            }
            Err(error) => {
                error!("{error}");
                Done::Failed { through, error }
            }
        };
        self.report(Report::Done(done));
    }

    /// `gone` entries left the store.
    fn removed(&mut self, gone: u64) {
        if let Some(n) = &mut self.entries {
            *n = n.saturating_sub(gone);
        }
    }

    /// One retention call, then the size for status; true when it stopped
    /// at its budget with more to do.
    fn retain(&mut self) -> bool {
        let Retention {
            max_age_ms,
            max_messages,
        } = self.retention;
        let now_ms = crate::clock::now_ms();
        let mut written = std::mem::take(&mut self.written);
        let scope = match self.swept {
            true => Scope::Only(&written),
            false => Scope::All,
        };
        let result = self.call(|b| b.retain(now_ms, max_age_ms, max_messages, scope));
        let gone = match result {
            Ok(gone) if gone < super::RETAIN_PER_CALL => gone,
            done => {
                // Stopped at its budget, or failed: the targets written so
                // far stay in scope for the next call.
                written.extend(self.written.drain());
                self.written = written;
                return match done {
                    Ok(gone) => {
                        self.removed(gone);
                        true
                    }
                    Err(e) => {
                        warn!("history retention: {e}");
                        self.report(Report::RetainFailed(e));
                        false
                    }
                };
            }
        };
        self.swept = true;
        self.removed(gone);
        let entries = match self.entries {
            Some(n) => Ok(n),
            None => self.call(|b| b.count()),
        };
        match entries.and_then(|n| Ok((n, self.call(|b| b.bytes())?))) {
            Ok((entries, bytes)) => {
                self.entries = Some(entries);
                self.report(Report::Size(entries, bytes));
            }
            Err(e) => {
                warn!("history size: {e}");
                self.report(Report::RetainFailed(e));
            }
        }
        false
    }

    fn report(&self, report: Report) {
        self.reporter.report(report);
    }
}
