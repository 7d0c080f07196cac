//! The accounts thread: owns the store and does every hash, so that a
//! login costs the loop nothing but a message each way.
//!
//! Requests are served one at a time, in order: a `Create` sent before a
//! `Verify` of the same name is done before it. One thread also bounds
//! what a crowd of logins can cost: hashes queue up instead of taking
//! every core and `hash_memory_kib` each at once.

use super::{AccountError, Answer, Hashing, Keep, Outcome, Request, Secret, store::AccountStore};
use crate::helper::Reporter;
use crate::kline::Change;
use std::sync::mpsc::Receiver;

/// What the worker tells the loop.
pub(super) enum Report {
    Done(u64, Answer),
    /// The thread is stopping because of a panic outside any request.
    Gone,
}

/// The thread's body: serves `jobs` until the loop drops its end.
pub(super) fn run(
    mut store: AccountStore,
    hashing: Hashing,
    jobs: Receiver<(u64, Request)>,
    reporter: Reporter<Report>,
) {
    let _guard = reporter.on_panic(Report::Gone);
    // Checked for names that have no account, so that a wrong name takes
    // as long as a wrong password and does not tell which names exist.
    let mut decoy: Option<String> = None;
    while let Ok((ticket, request)) = jobs.recv() {
        let answer = reporter
            .call(|| serve(&mut store, hashing, &mut decoy, request))
            .unwrap_or_else(|panic| Err(AccountError::Failed(panic)));
        reporter.report(Report::Done(ticket, answer));
    }
}

fn serve(
    store: &mut AccountStore,
    hashing: Hashing,
    decoy: &mut Option<String>,
    request: Request,
) -> Result<Answer, String> {
    let hash = |password: &Secret| hashing.hash(password).map_err(AccountError::Failed);
    Ok(match request {
        Request::Verify { name, password } => match store.get(&name) {
            Ok(Some((registered, phc))) => Ok(Outcome::Verified(
                hashing.verify(&password, &phc).then_some(registered),
            )),
            Ok(None) => {
                if decoy.is_none() {
                    *decoy = hashing.hash(&Secret::new(String::new())).ok();
                }
                if let Some(phc) = decoy {
                    let _ = hashing.verify(&password, phc);
                }
                Ok(Outcome::Verified(None))
            }
            Err(e) => Err(e),
        },
        Request::CheckHash { hash, password } => {
            Ok(Outcome::Matched(hashing.verify(&password, &hash)))
        }
        Request::Create { name, password } => match store.get(&name) {
            Ok(Some(_)) => Err(AccountError::Exists(name)),
            Ok(None) => hash(&password)
                .and_then(|phc| store.create(&name, &phc, crate::clock::now_ms()))
                .map(|()| Outcome::Created(name)),
            Err(e) => Err(e),
        },
        Request::SetPassword { name, password } => hash(&password)
            .and_then(|phc| store.set_hash(&name, &phc))
            .map(Outcome::PasswordSet),
        Request::Delete { name } => store.delete(&name).map(Outcome::Deleted),
        Request::List => store.list().map(Outcome::Listed),
        Request::Keep(Keep::Kline(Change::Save(kline))) => {
            store.save_kline(&kline).map(|()| Outcome::Kept(kline.mask))
        }
        Request::Keep(Keep::Kline(Change::Delete(mask))) => {
            store.delete_kline(&mask).map(|()| Outcome::Kept(mask))
        }
        Request::Keep(Keep::Channel { key, state }) => match state {
            Some(state) => store.save_channel(&key, &state),
            None => store.delete_channel(&key),
        }
        .map(|()| Outcome::Kept(key)),
    })
}
