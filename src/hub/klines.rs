//! K-lines in the hub: the list in memory (loaded at start, changed by
//! `KLINE`/`UNKLINE` and `groupchatctl ban`), checked at connect (for
//! addresses), at registration and login (for nick masks and accounts),
//! and against everyone connected when one is added.
//!
//! Every change is handed to the accounts worker to be stored
//! ([`Outbox::keep`]) and applies at once, without waiting for the disk:
//! a failed write is logged there, and the K-line holds until a restart.

use super::{Bus, ClientId, Hub, Outbox};
use crate::accounts::Keep;
use crate::kline::{Change, Kline, Target, Who, parse_duration_ms};
use crate::message::{Message, build};
use crate::names::fold;
use crate::numeric::*;
use crate::stats::DisconnectReason;

/// A K-line with its mask read, ready to match.
#[derive(Debug, Clone)]
pub(super) struct Active {
    kline: Kline,
    target: Target,
}

impl Hub {
    /// The K-lines read from the store at start.
    pub fn set_klines(&mut self, klines: Vec<Kline>) {
        self.klines = klines
            .into_iter()
            .filter_map(|kline| match Target::parse(&kline.mask) {
                Some((target, _)) => Some(Active { kline, target }),
                None => {
                    log::warn!("ignoring a stored K-line with a bad mask: {:?}", kline.mask);
                    None
                }
            })
            .collect();
    }

    /// The K-lines in force, oldest first (`groupchatctl ban list`).
    pub fn klines(&self) -> Vec<Kline> {
        let now = crate::clock::now_ms();
        self.klines
            .iter()
            .filter(|a| !a.kline.expired(now))
            .map(|a| a.kline.clone())
            .collect()
    }

    /// Adds a K-line (replacing one on the same mask), stores it, and drops
    /// every client it matches; `duration_ms` 0 is forever. On a cluster
    /// every node does the same. Returns the mask as kept and how many
    /// clients were dropped here.
    pub fn add_kline(
        &mut self,
        mask: &str,
        duration_ms: i64,
        reason: &str,
        set_by: &str,
        out: &mut dyn Outbox,
    ) -> Result<(String, usize), String> {
        let (mask, dropped) = self.apply_kline(mask, duration_ms, reason, set_by, out)?;
        let duration = duration_ms.to_string();
        let line = build("", "KLINE", &[&mask, &duration, set_by, reason]);
        self.publish(Bus::Net, &line, out);
        Ok((mask, dropped))
    }

    /// [`Hub::add_kline`] on this node only.
    pub(super) fn apply_kline(
        &mut self,
        mask: &str,
        duration_ms: i64,
        reason: &str,
        set_by: &str,
        out: &mut dyn Outbox,
    ) -> Result<(String, usize), String> {
        let (target, mask) = Target::parse(mask).ok_or_else(|| {
            format!("{mask:?} is not a mask: nick!user@host, an address, a network (10.0.0.0/8) or $a:account")
        })?;
        let now = crate::clock::now_ms();
        let kline = Kline {
            mask: mask.clone(),
            reason: reason.to_string(),
            set_by: set_by.to_string(),
            set_at_ms: now,
            expires_ms: (duration_ms > 0).then(|| now.saturating_add(duration_ms)),
        };
        log::info!("K-line on {mask} by {set_by}: {reason}");
        // One K-line per mask, however it is spelt.
        if let Some(old) = self.take_kline(&mask).filter(|old| *old != mask) {
            out.keep(Keep::Kline(Change::Delete(old)));
        }
        self.klines.push(Active {
            kline: kline.clone(),
            target,
        });
        out.keep(Keep::Kline(Change::Save(kline)));
        let ids: Vec<ClientId> = (0..self.clients.len()).collect();
        let dropped = ids
            .into_iter()
            .filter(|&id| self.refuse_if_klined(id, out))
            .count();
        Ok((mask, dropped))
    }

    /// Removes the K-line on `mask` (read as `add_kline` reads it), on
    /// every node of a cluster; returns the mask removed here, or `None`
    /// when there was none.
    pub fn remove_kline(&mut self, mask: &str, out: &mut dyn Outbox) -> Option<String> {
        self.publish(Bus::Net, &build("", "UNKLINE", &[mask]), out);
        self.lift_kline(mask, out)
    }

    /// [`Hub::remove_kline`] on this node only.
    pub(super) fn lift_kline(&mut self, mask: &str, out: &mut dyn Outbox) -> Option<String> {
        let (_, mask) = Target::parse(mask)?;
        let removed = self.take_kline(&mask)?;
        log::info!("K-line on {removed} removed");
        out.keep(Keep::Kline(Change::Delete(removed.clone())));
        Some(removed)
    }

    /// Takes out the K-line on `mask`, compared as the server folds case;
    /// returns its mask as it was stored.
    fn take_kline(&mut self, mask: &str) -> Option<String> {
        let folded = fold(mask);
        let at = self
            .klines
            .iter()
            .position(|a| fold(&a.kline.mask) == folded)?;
        Some(self.klines.remove(at).kline.mask)
    }

    /// Forgets K-lines whose time is over (from the tick).
    pub(super) fn expire_klines(&mut self) {
        let now = crate::clock::now_ms();
        self.klines.retain(|a| {
            let over = a.kline.expired(now);
            if over {
                log::info!("K-line on {} expired", a.kline.mask);
            }
            !over
        });
    }

    /// Drops the client if a K-line matches what is known of it (its
    /// address from the start; its nick, user and account once given):
    /// `465`, then `ERROR :Closing Link: <host> (K-lined: <reason>)`.
    /// Returns whether it did.
    pub fn refuse_if_klined(&mut self, id: ClientId, out: &mut dyn Outbox) -> bool {
        // Without K-lines (the usual case) nothing is built to match.
        if self.klines.is_empty() {
            return false;
        }
        let Some(client) = self.client(id) else {
            return false;
        };
        let folded_prefix = (!client.nick.is_empty() && !client.user.is_empty())
            .then(|| fold(&format!("{}!{}@{}", client.nick, client.user, client.host)));
        let who = Who {
            ip: client.ip,
            folded_prefix: folded_prefix.as_deref(),
            account: client.account.as_deref(),
        };
        let now = crate::clock::now_ms();
        let Some(found) = self
            .klines
            .iter()
            .find(|a| !a.kline.expired(now) && a.target.matches(who))
        else {
            return false;
        };
        let (mask, reason) = (found.kline.mask.clone(), found.kline.reason.clone());
        log::info!("{} matches the K-line on {mask}", self.describe(id));
        let text = format!("You are banned from this server: {reason}");
        self.reply(id, ERR_YOUREBANNEDCREEP, &[&text], out);
        let reason = format!("K-lined: {reason}");
        self.drop_client(id, DisconnectReason::Klined, &reason, out);
        true
    }

    /// `KLINE [duration] mask :reason`: opers only.
    pub(super) fn kline_command(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        if !self.require_oper(id, out) {
            return;
        }
        let timed = msg.params.len() >= 3;
        let duration = msg.param(0).filter(|_| timed).and_then(parse_duration_ms);
        let rest = &msg.params[usize::from(duration.is_some())..];
        let Some(&mask) = rest.first() else {
            let params = ["KLINE", "Not enough parameters"];
            self.reply(id, ERR_NEEDMOREPARAMS, &params, out);
            return;
        };
        let reason = rest.get(1).copied().unwrap_or("No reason");
        let set_by = self.nick(id).unwrap_or("*").to_string();
        let text = match self.add_kline(mask, duration.unwrap_or(0), reason, &set_by, out) {
            Ok((mask, dropped)) => format!("K-line added on {mask}: {dropped} client(s) dropped"),
            Err(e) => e,
        };
        self.server_notice(id, &text, out);
    }

    /// `UNKLINE mask`: opers only.
    pub(super) fn unkline_command(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        if !self.require_oper(id, out) {
            return;
        }
        let Some(mask) = msg.param(0) else {
            let params = ["UNKLINE", "Not enough parameters"];
            self.reply(id, ERR_NEEDMOREPARAMS, &params, out);
            return;
        };
        let text = match self.remove_kline(mask, out) {
            Some(mask) => format!("K-line on {mask} removed"),
            None => format!("There is no K-line on {mask}"),
        };
        self.server_notice(id, &text, out);
    }

    /// A NOTICE from the server to one client.
    fn server_notice(&self, id: ClientId, text: &str, out: &mut dyn Outbox) {
        if let Some(nick) = self.nick(id) {
            out.send(
                id,
                &build(&self.config.server_name, "NOTICE", &[nick, text]),
            );
        }
    }
}
