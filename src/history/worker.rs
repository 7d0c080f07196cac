//! The helper thread that owns a [`Backend`]: every blocking disk call of
//! history happens here, never on the reactor thread.
//!
//! It blocks on its job channel and answers through a report channel,
//! waking the loop's `mio::Waker` after each report. Appends waiting
//! together are committed in one transaction (group commit), so a burst of
//! messages costs one commit, not one each. Retention runs at start and
//! then every minute, between jobs.

use super::handle::{Done, Purge, Retention};
use super::{Backend, Entry, Query, StoreError, TargetsQuery};
use log::{error, warn};
use mio::Waker;
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    reports: Sender<Report>,
    waker: Arc<Waker>,
    retention: Retention,
}

/// Tells the loop when the thread unwinds, so it stops waiting for answers
/// that will never come.
struct GoneGuard {
    reports: Sender<Report>,
    waker: Arc<Waker>,
}

impl Drop for GoneGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.reports.send(Report::Gone);
            let _ = self.waker.wake();
        }
    }
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
    let _guard = GoneGuard {
        reports: reports.clone(),
        waker: waker.clone(),
    };
    let mut worker = Worker {
        backend,
        reports,
        waker,
        retention,
    };
    let mut next_retain = Instant::now();
    let mut held: Option<Job> = None;
    loop {
        if Instant::now() >= next_retain {
            // A pass that stopped at its budget continues after the next job.
            next_retain = match worker.retain() {
                true => Instant::now(),
                false => Instant::now() + RETAIN_EVERY,
            };
        }
        let job = match held.take() {
            Some(job) => job,
            None => {
                match jobs.recv_timeout(next_retain.saturating_duration_since(Instant::now())) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        };
        match job {
            Job::Append(mut batch) => {
                // Group commit: everything appended meanwhile goes with it,
                // up to the first other job, which must see these.
                loop {
                    match jobs.try_recv() {
                        Ok(Job::Append(more)) => batch.extend(more),
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                worker.append(&batch);
            }
            Job::Query { ticket, q } => {
                let result = worker.call(|b| b.query(&q));
                worker.report(Report::Done(Done::Answer { ticket, result }));
            }
            Job::Targets { ticket, q } => {
                let result = worker.call(|b| b.targets(&q));
                worker.report(Report::Done(Done::Targets { ticket, result }));
            }
            Job::Purge { ticket, what } => {
                let result = worker.call(|b| match &what {
                    Purge::Nick(nick) => b.purge_nick(nick),
                    Purge::Target(target) => b.purge_target(target),
                });
                worker.report(Report::Done(Done::Purged { ticket, result }));
            }
        }
    }
}

impl Worker {
    /// Runs one backend call; a panic in it becomes an error of that call,
    /// so one bad request cannot take history down.
    fn call<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Backend) -> Result<T, StoreError>,
    ) -> Result<T, String> {
        match catch_unwind(AssertUnwindSafe(|| f(self.backend.as_mut()))) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.to_string()),
            Err(panic) => Err(format!("history worker panicked: {}", panic_text(&*panic))),
        }
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
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
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

    /// Hands a report to the loop and wakes it. A loop that is gone (the
    /// daemon shutting down) is no error worth more than a log line.
    fn report(&self, report: Report) {
        if self.reports.send(report).is_err() {
            return;
        }
        if let Err(e) = self.waker.wake() {
            error!("history worker cannot wake the event loop: {e}");
        }
    }
}

/// The message of a panic payload, when it has one.
fn panic_text(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
