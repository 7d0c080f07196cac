//! Registration and ping timeouts, without visiting every client each
//! second.
//!
//! Each client has one check in a queue ordered by time, set for the
//! earliest moment its state could call for something: the end of its
//! registration time, a PING, or giving up on the PING. Input leaves the
//! queue alone (a heap operation per line would cost more than the scan it
//! replaces); when a check comes due, the client's state at that moment
//! decides whether to act or when to look again. So an idle second costs
//! the checks that are due, not a walk over tens of thousands of records.

use super::{Client, ClientId, Hub, HubConfig, Outbox};
use crate::message::build;
use crate::stats::DisconnectReason;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Checks waiting, earliest first. An entry whose time is no longer its
/// client's `check_at` (the client left, or its slot was reused) is skipped.
pub(super) type CheckQueue = BinaryHeap<Reverse<(Instant, ClientId)>>;

/// What a due check finds.
enum Verdict {
    Expire(DisconnectReason),
    /// Send a PING; give up at the given time if nothing comes back.
    Ping(Instant),
    /// Nothing to do before the given time.
    Recheck(Instant),
}

fn verdict(client: &Client, now: Instant, config: &HubConfig) -> Verdict {
    if !client.registered {
        let deadline = client.connected_at + config.registration_timeout;
        return if now >= deadline {
            Verdict::Expire(DisconnectReason::RegistrationTimeout)
        } else {
            Verdict::Recheck(deadline)
        };
    }
    let ping_at = client.last_input + config.ping_interval;
    let give_up_at = ping_at + config.ping_timeout;
    match (client.pinged, now >= ping_at, now >= give_up_at) {
        (true, _, true) => Verdict::Expire(DisconnectReason::PingTimeout),
        (true, _, false) => Verdict::Recheck(give_up_at),
        (false, true, _) => Verdict::Ping(give_up_at),
        (false, false, _) => Verdict::Recheck(ping_at),
    }
}

impl Hub {
    /// Queues the first check of a client that just connected: when its
    /// registration time ends, or when it could first need a PING if it
    /// registers sooner than that.
    pub(super) fn schedule_first_check(&mut self, id: ClientId, connected_at: Instant) {
        let wait = self
            .config
            .registration_timeout
            .min(self.config.ping_interval);
        let at = connected_at + wait;
        if let Some(client) = self.client_mut(id) {
            client.check_at = at;
            self.checks.push(Reverse((at, id)));
        }
    }

    /// Runs the checks that are due: PINGs to quiet clients, and
    /// disconnection for those whose registration or PING went unanswered.
    pub(super) fn check_timeouts(&mut self, now: Instant, out: &mut dyn Outbox) {
        let ping = build("", "PING", &[&self.config.server_name]);
        let mut expired = Vec::new();
        while let Some(&Reverse((at, id))) = self.checks.peek() {
            if at > now {
                break;
            }
            self.checks.pop();
            let Some(client) = self.clients.get_mut(id).and_then(Option::as_mut) else {
                continue;
            };
            if client.check_at != at {
                continue;
            }
            let next = match verdict(client, now, &self.config) {
                Verdict::Expire(why) => {
                    expired.push((id, why));
                    continue;
                }
                Verdict::Ping(give_up_at) => {
                    client.pinged = true;
                    out.send(id, &ping);
                    give_up_at
                }
                Verdict::Recheck(at) => at,
            };
            client.check_at = next;
            self.checks.push(Reverse((next, id)));
        }
        for (id, why) in expired {
            self.drop_client(id, why, why.text(), out);
        }
    }
}
