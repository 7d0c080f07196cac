//! IRCv3 labeled-response: a command sent with a `label` tag gets its
//! replies back with that label, so a client can tell which replies answer
//! which of its commands (<https://ircv3.net/specs/extensions/labeled-response>).
//!
//! The hub handles the command as always, through a [`Labeled`] outbox that
//! holds back what goes to the sender. At the end the held lines go out:
//! none as an `ACK`, one with the label on it, more inside a
//! `labeled-response` batch that carries the label.

use super::{Answering, Ask, Bus, ClientId, NickClaim, Outbox};
use crate::history::Entry;
use crate::message::{Line, build};
use crate::stats::DisconnectReason;
use crate::tags::with_tags;

/// Longer labels are ignored (the spec caps them at 64 bytes).
pub const MAX_LABEL: usize = 64;

/// An outbox that holds back the sender's replies to one labelled command.
pub(super) struct Labeled<'a> {
    out: &'a mut dyn Outbox,
    id: ClientId,
    label: &'a str,
    server: &'a str,
    /// The batch reference, when the client has `batch` (else replies of
    /// more than one line go out unlabelled).
    batch: Option<String>,
    held: Vec<Line>,
    /// The reply is a history answer that comes later, labelled itself.
    deferred: bool,
}

impl<'a> Labeled<'a> {
    pub(super) fn new(
        out: &'a mut dyn Outbox,
        id: ClientId,
        label: &'a str,
        server: &'a str,
        batch: Option<String>,
    ) -> Labeled<'a> {
        Labeled {
            out,
            id,
            label,
            server,
            batch,
            held: Vec::new(),
            deferred: false,
        }
    }

    /// Sends what was held back, labelled.
    pub(super) fn finish(mut self) {
        self.release();
    }

    fn release(&mut self) {
        let label = format!("label={}", self.label);
        let held = std::mem::take(&mut self.held);
        match (&held[..], &self.batch) {
            ([], _) if self.deferred => {}
            ([], _) => {
                let ack = with_tags(&label, &build(self.server, "ACK", &[]));
                self.out.send(self.id, &ack);
            }
            ([one], _) => self.out.send(self.id, &with_tags(&label, one)),
            (many, Some(reference)) => {
                let start = build(
                    self.server,
                    "BATCH",
                    &[&format!("+{reference}"), "labeled-response"],
                );
                self.out.send(self.id, &with_tags(&label, &start));
                let inside = format!("batch={reference}");
                for line in many {
                    // A line of a nested batch already names its own.
                    if has_batch_tag(line) {
                        self.out.send(self.id, line);
                    } else {
                        self.out.send(self.id, &with_tags(&inside, line));
                    }
                }
                let end = build(self.server, "BATCH", &[&format!("-{reference}")]);
                self.out.send(self.id, &end);
            }
            (many, None) => {
                for line in many {
                    self.out.send(self.id, line);
                }
            }
        }
    }
}

fn has_batch_tag(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"@") else {
        return false;
    };
    let tags = rest.split(|&b| b == b' ').next().unwrap_or_default();
    tags.split(|&b| b == b';').any(|t| t.starts_with(b"batch="))
}

impl Outbox for Labeled<'_> {
    fn send(&mut self, to: ClientId, line: &Line) {
        if to == self.id {
            self.held.push(Line::clone(line));
        } else {
            self.out.send(to, line);
        }
    }

    fn record(&mut self, entry: Entry) {
        self.out.record(entry);
    }

    fn ask(&mut self, id: ClientId, ask: Ask, mut answering: Answering) {
        if id == self.id && answering.label(self.label) {
            self.deferred = true;
        }
        self.out.ask(id, ask, answering);
    }

    fn account(&mut self, id: ClientId, request: crate::accounts::Request) {
        self.out.account(id, request);
    }

    fn keep(&mut self, what: crate::accounts::Keep) {
        self.out.keep(what);
    }

    fn close(&mut self, who: ClientId, why: DisconnectReason, reason: &str) {
        if who == self.id && !self.held.is_empty() {
            self.release();
        }
        self.out.close(who, why, reason);
    }

    fn publish(&mut self, bus: Bus, payload: &Line) {
        self.out.publish(bus, payload);
    }

    fn log(&mut self, folded: &str, payload: &Line) {
        self.out.log(folded, payload);
    }

    fn follow(&mut self, folded: &str, on: bool) {
        self.out.follow(folded, on);
    }

    fn nick_claim(&mut self, claim: NickClaim) -> bool {
        self.out.nick_claim(claim)
    }
}
