//! The plumbing every helper thread shares: it answers the loop through a
//! channel and wakes the loop's `mio::Waker` after each answer, turns a
//! panic inside one request into that request's error, and tells the loop
//! when the thread itself dies so that nobody waits for answers that will
//! never come.
//!
//! History and accounts each keep their own jobs and reports; only this
//! part is the same for both.

use log::error;
use mio::Waker;
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::Sender;

/// A helper thread's way back to the loop.
pub struct Reporter<R> {
    /// The thread's name, for log lines.
    name: &'static str,
    reports: Sender<R>,
    waker: Arc<Waker>,
}

impl<R> Clone for Reporter<R> {
    fn clone(&self) -> Self {
        Reporter {
            name: self.name,
            reports: self.reports.clone(),
            waker: self.waker.clone(),
        }
    }
}

impl<R> Reporter<R> {
    pub fn new(name: &'static str, reports: Sender<R>, waker: Arc<Waker>) -> Reporter<R> {
        Reporter {
            name,
            reports,
            waker,
        }
    }

    /// Hands a report to the loop and wakes it. A loop that is gone (the
    /// daemon shutting down) is no error worth more than a log line.
    pub fn report(&self, report: R) {
        if self.reports.send(report).is_err() {
            return;
        }
        if let Err(e) = self.waker.wake() {
            error!("{} worker cannot wake the event loop: {e}", self.name);
        }
    }

    /// A guard to keep for the thread's life: if the thread unwinds, it
    /// sends `gone` so the loop stops waiting on it.
    pub fn on_panic(&self, gone: R) -> GoneGuard<R> {
        GoneGuard {
            reporter: self.clone(),
            gone: Some(gone),
        }
    }

    /// Runs one request; a panic in it becomes an error of that request,
    /// so one bad request cannot take the thread down.
    pub fn call<T, E: std::fmt::Display>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, String> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.to_string()),
            Err(panic) => Err(format!(
                "{} worker panicked: {}",
                self.name,
                panic_text(&*panic)
            )),
        }
    }
}

/// Sends its report when the thread unwinds (see [`Reporter::on_panic`]).
pub struct GoneGuard<R> {
    reporter: Reporter<R>,
    gone: Option<R>,
}

impl<R> Drop for GoneGuard<R> {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(gone) = self.gone.take()
        {
            self.reporter.report(gone);
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
