//! The helper thread that owns a [`Backend`]: every blocking disk call of
//! history happens here, never on the reactor thread.
//!
//! It blocks on its job channel and answers through a report channel,
//! waking the loop's `mio::Waker` after each report. Appends waiting
//! together are committed in one transaction (group commit), so a burst of
//! messages costs one commit, not one each, and writes go before reads (see
//! [`sort`]). Retention runs at start and then every minute, between jobs.

use super::handle::{Done, Purge, Retention};
use super::{Backend, Entry, Query, StoreError, TargetsQuery};
use crate::helper::Reporter;
use log::{error, warn};
use mio::Waker;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// How often retention runs.
const RETAIN_EVERY: Duration = Duration::from_secs(60);

/// What the loop asks of the worker.
pub(super) enum Job {
    Append(Vec<Entry>),
    Query { ticket: u64, q: Query },
    Targets { ticket: u64, q: TargetsQuery },
    Purge { ticket: u64, what: Purge },
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
            Job::Append(mut batch) => {
                // Group commit: the appends waiting next to it go with it.
                while let Some(Job::Append(more)) = writes.front_mut() {
                    batch.append(more);
                    writes.pop_front();
                }
                worker.append(&batch);
            }
            Job::Purge { ticket, what } => {
                let result = worker.call(|b| match &what {
                    Purge::Nick(nick) => b.purge_nick(nick),
                    Purge::Target(target) => b.purge_target(target),
                });
                worker.report(Report::Done(Done::Purged { ticket, result }));
            }
            Job::Query { ticket, q } => {
                let result = worker.call(|b| b.query(&q));
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
        Job::Append(_) | Job::Purge { .. } => writes.push_back(job),
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

    fn append(&mut self, batch: &[Entry]) {
        let Some(through) = batch.iter().map(|e| e.seq).max() else {
            return;
        };
        let done = match self.call(|b| b.append(batch)) {
            Ok(()) => Done::Committed(through),
            Err(error) => {
                error!("{error}");
                Done::Failed { through, error }
            }
        };
        self.report(Report::Done(done));
    }

    /// One retention call, then the size for status; true when it stopped
    /// at its budget with more to do.
    fn retain(&mut self) -> bool {
        let Retention {
            max_age_ms,
            max_messages,
        } = self.retention;
        let now_ms = crate::clock::now_ms();
        let gone = match self.call(|b| b.retain(now_ms, max_age_ms, max_messages)) {
            Ok(gone) => gone,
            Err(e) => {
                warn!("history retention: {e}");
                self.report(Report::RetainFailed(e));
                return false;
            }
        };
        if gone >= super::RETAIN_PER_CALL {
            return true;
        }
        match self.call(|b| b.size()) {
            Ok((entries, bytes)) => self.report(Report::Size(entries, bytes)),
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
