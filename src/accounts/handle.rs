//! The loop's side of the accounts worker: sends requests, collects
//! answers, never blocks (except [`Accounts::close`], at shutdown).

use super::worker::{self, Report};
use super::{AccountError, AccountStore, Answer, Hashing, Request};
use crate::helper::Reporter;
use log::error;
use mio::Waker;
use std::collections::HashSet;
use std::io;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;

/// The accounts worker as the reactor thread sees it.
pub struct Accounts {
    /// `None` once the worker is known gone.
    jobs: Option<Sender<(u64, Request)>>,
    reports: Receiver<Report>,
    thread: Option<JoinHandle<()>>,
    waker: Arc<Waker>,
    /// Tickets sent and not answered yet, to answer them here should the
    /// worker die.
    asked: HashSet<u64>,
    /// Answers made on this side.
    local: Vec<(u64, Answer)>,
}

impl Accounts {
    /// Starts the worker over an open store; `waker` is woken whenever
    /// [`Accounts::take_done`] has something.
    pub fn spawn(store: AccountStore, hashing: Hashing, waker: Arc<Waker>) -> io::Result<Accounts> {
        let (jobs, job_rx) = mpsc::channel();
        let (report_tx, reports) = mpsc::channel();
        let reporter = Reporter::new("accounts", report_tx, waker.clone());
        let thread = std::thread::Builder::new()
            .name("accounts".into())
            .spawn(move || worker::run(store, hashing, job_rx, reporter))?;
        Ok(Accounts {
            jobs: Some(jobs),
            reports,
            thread: Some(thread),
            waker,
            asked: HashSet::new(),
            local: Vec::new(),
        })
    }

    /// Sends a request; its answer comes from `take_done` with `ticket`.
    pub fn ask(&mut self, ticket: u64, request: Request) {
        self.asked.insert(ticket);
        let sent = match &self.jobs {
            Some(jobs) => jobs.send((ticket, request)).is_ok(),
            None => false,
        };
        if !sent {
            self.gone();
        }
    }

    /// Whether the worker is still there.
    pub fn running(&self) -> bool {
        self.jobs.is_some()
    }

    /// What the worker answered since the last call (call on the waker's
    /// event).
    pub fn take_done(&mut self) -> Vec<(u64, Answer)> {
        let mut done = Vec::new();
        loop {
            match self.reports.try_recv() {
                Ok(Report::Done(ticket, answer)) => {
                    self.asked.remove(&ticket);
                    done.push((ticket, answer));
                }
                Ok(Report::Gone) | Err(TryRecvError::Disconnected) => {
                    if self.jobs.is_some() {
                        self.gone();
                    }
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        done.append(&mut self.local);
        done
    }

    /// Gives up on the worker: every open request fails, now and later.
    fn gone(&mut self) {
        if self.jobs.take().is_some() {
            error!("the accounts worker stopped: logins and account changes fail until a restart");
        }
        let why = AccountError::Failed("the accounts worker is not running".into());
        for ticket in self.asked.drain() {
            self.local.push((ticket, Err(why.clone())));
        }
        if let Err(e) = self.waker.wake() {
            error!("accounts cannot wake the event loop: {e}");
        }
    }

    /// Stops the worker after what it was sent, and waits for it (used at
    /// shutdown; blocking is fine there).
    pub fn close(mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            error!("the accounts worker panicked while closing");
        }
    }
}
