//! Server operators: `OPER` (checked against `[[operators]]`), user mode
//! `+o`, and what it allows: `KILL`, `WALLOPS`, acting as channel operator
//! in any channel; and the default channel's operators named by account
//! (`server.lobby_operators`).
//!
//! A password is never checked here: the hash goes with it to the accounts
//! worker ([`Request::CheckHash`]), since Argon2 is slow on purpose, and
//! the answer comes back through [`Hub::account_answer`]. Wrong passwords
//! count against the same limits as SASL's ([`Hub::password_failed`]).

use super::accounts::{Attempt, Waiting};
use super::{ChannelId, ClientId, Hub, Outbox, REMOTE_BASE};
use crate::accounts::{Answer, Outcome, Request, Secret};
use crate::message::{Line, Message, build};
use crate::names::fold;
use crate::numeric::*;
use crate::stats::DisconnectReason;
use std::time::Instant;

const NOT_OPER: &str = "Permission Denied- You're not an IRC operator";

impl Hub {
    /// Whether the client is a server operator (user mode `+o`).
    pub(super) fn is_oper(&self, id: ClientId) -> bool {
        self.client(id).is_some_and(|c| c.oper.is_some())
    }

    /// Whether the client is a server operator; if not, it is told `481`.
    pub(super) fn require_oper(&self, id: ClientId, out: &mut dyn Outbox) -> bool {
        let oper = self.is_oper(id);
        if !oper {
            self.reply(id, ERR_NOPRIVILEGES, &[NOT_OPER], out);
        }
        oper
    }

    /// Whether the client may act as an operator of the channel: its own
    /// operators, and server operators everywhere.
    pub(super) fn acts_as_chanop(&self, chan: ChannelId, id: ClientId) -> bool {
        self.channels.get(chan).is_some_and(|c| c.is_op(id)) || self.is_oper(id)
    }

    /// `OPER name password`.
    pub(super) fn oper_command(
        &mut self,
        id: ClientId,
        msg: &Message,
        now: Instant,
        out: &mut dyn Outbox,
    ) {
        let Some(name) = msg.param(0) else {
            let params = ["OPER", "Not enough parameters"];
            self.reply(id, ERR_NEEDMOREPARAMS, &params, out);
            return;
        };
        let Some(block) = self
            .config
            .operators
            .iter()
            .find(|o| fold(&o.name) == fold(name))
            .cloned()
        else {
            log::warn!("OPER as unknown {name:?} by {}", self.describe(id));
            self.reply(id, ERR_NOOPERHOST, &["No O-lines for your host"], out);
            return;
        };
        if let Some(account) = &block.account {
            let logged_in = self.account(id).is_some_and(|a| fold(a) == fold(account));
            if logged_in {
                self.become_oper(id, &block.name, out);
            } else {
                log::warn!(
                    "OPER as {:?} by {}: not logged in to its account",
                    block.name,
                    self.describe(id)
                );
                let text = "Password incorrect: log in to the operator's account first";
                self.reply(id, ERR_PASSWDMISMATCH, &[text], out);
            }
            return;
        }
        let (Some(hash), Some(password)) = (block.password_hash, msg.param(1)) else {
            let params = ["OPER", "Not enough parameters"];
            self.reply(id, ERR_NEEDMOREPARAMS, &params, out);
            return;
        };
        let Some(client) = self.client(id) else {
            return;
        };
        if let Some(wait) = self.address_locked(client.ip, now) {
            let minutes = wait.as_secs().div_ceil(60).max(1);
            let text = format!(
                "Password incorrect: too many failures from your address; try again in {minutes} minute(s)"
            );
            self.reply(id, ERR_PASSWDMISMATCH, &[&text], out);
            return;
        }
        if client.waiting().is_some() {
            let text = "Password incorrect: a previous check is still being answered; try again";
            self.reply(id, ERR_PASSWDMISMATCH, &[text], out);
            return;
        }
        if let Some(client) = self.client_mut(id) {
            client.set_waiting(Waiting::Oper { name: block.name });
        }
        let password = Secret::new(password.to_string());
        out.account(id, Request::CheckHash { hash, password });
    }

    /// The accounts worker checked an `OPER` password.
    pub(super) fn oper_answer(
        &mut self,
        id: ClientId,
        name: &str,
        answer: Answer,
        now: Instant,
        out: &mut dyn Outbox,
    ) {
        match answer {
            Ok(Outcome::Matched(true)) => self.become_oper(id, name, out),
            Ok(_) => self.password_failed(id, Attempt::Oper(name), now, out),
            Err(e) => {
                log::error!("cannot check the OPER password of {name:?}: {e}");
                let text = "Password incorrect: it cannot be checked right now";
                self.reply(id, ERR_PASSWDMISMATCH, &[text], out);
            }
        }
    }

    /// `381`, and `+o` told to the client.
    fn become_oper(&mut self, id: ClientId, name: &str, out: &mut dyn Outbox) {
        let Some(client) = self.client_mut(id) else {
            return;
        };
        let was = client.oper.replace(name.to_string());
        let line = build(&client.prefix, "MODE", &[&client.nick, "+o"]);
        self.census.set(None);
        log::info!("{} is now operator {name:?}", self.describe(id));
        self.reply(id, RPL_YOUREOPER, &["You are now an IRC operator"], out);
        if was.is_none() {
            out.send(id, &line);
            self.publish_from(id, &line, out);
        }
    }

    /// `KILL nick [:reason]`: opers only; the victim gets the KILL from the
    /// oper, as the Modern document says, then quits with `Killed (oper
    /// (reason))`, as other servers word it. A user of another node is cut
    /// off by its node, without the KILL line: the cluster's KILL does not
    /// carry the oper's prefix.
    pub(super) fn kill_command(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        if !self.require_oper(id, out) {
            return;
        }
        let Some(nick) = msg.param(0) else {
            let params = ["KILL", "Not enough parameters"];
            self.reply(id, ERR_NEEDMOREPARAMS, &params, out);
            return;
        };
        let Some(target) = self.find_nick(nick) else {
            self.reply(id, ERR_NOSUCHNICK, &[nick, "No such nick/channel"], out);
            return;
        };
        let (Some(killer), Some(victim)) = (self.client(id), self.client(target)) else {
            return;
        };
        let reason = msg
            .param(1)
            .filter(|r| !r.is_empty())
            .unwrap_or(&killer.nick);
        // The victim sees the KILL from its killer, on whichever node.
        if target < REMOTE_BASE {
            out.send(
                target,
                &build(&killer.prefix, "KILL", &[&victim.nick, reason]),
            );
        } else {
            self.show_kill(target, &killer.prefix, reason, out);
        }
        let killer = killer.nick.clone();
        let text = format!("Killed ({killer} ({reason}))");
        log::info!(
            "{} killed {}: {reason}",
            self.describe(id),
            self.describe(target)
        );
        self.drop_client(target, DisconnectReason::Killed, &text, out);
    }

    /// `WALLOPS :text`: opers only, to every client with `+w`.
    pub(super) fn wallops_command(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        if !self.require_oper(id, out) {
            return;
        }
        let (Some(text), Some(client)) = (msg.param(0).filter(|t| !t.is_empty()), self.client(id))
        else {
            let params = ["WALLOPS", "Not enough parameters"];
            self.reply(id, ERR_NEEDMOREPARAMS, &params, out);
            return;
        };
        let line = build(&client.prefix, "WALLOPS", &[text]);
        self.send_wallops(&line, out);
        self.publish_from(id, &line, out);
    }

    /// A WALLOPS line to every local client with `+w`.
    pub(super) fn send_wallops(&self, line: &Line, out: &mut dyn Outbox) {
        for (to, c) in self.clients.iter().enumerate() {
            if c.as_ref().is_some_and(|c| c.registered && c.wallops) {
                out.send(to, line);
            }
        }
    }

    /// `MODE nick -o`: the client stops being an operator. Nobody gains
    /// `+o` by MODE: only `OPER` gives it. Returns whether it changed.
    pub(super) fn deoper(&mut self, id: ClientId) -> bool {
        let Some(name) = self.client_mut(id).and_then(|c| c.oper.take()) else {
            return false;
        };
        self.census.set(None);
        log::info!("{} is no longer operator {name:?}", self.describe(id));
        true
    }

    /// Makes the client an operator of the default channel if it is there,
    /// logged in to one of `server.lobby_operators`, and not one already;
    /// its members see the server give `+o`.
    pub(super) fn grant_lobby_op(&mut self, id: ClientId, out: &mut dyn Outbox) {
        let Some(&chan) = self.channel_ids.get(&fold(&self.config.default_channel)) else {
            return;
        };
        let (Some(client), Some(channel)) = (self.client(id), self.channels.get(chan)) else {
            return;
        };
        let listed = client
            .account
            .as_deref()
            .is_some_and(|a| self.config.lobby_operators.contains(&fold(a)));
        if !listed || !client.registered || channel.is_op(id) {
            return;
        }
        let line = build(
            &self.config.server_name,
            "MODE",
            &[&channel.name, "+o", &client.nick],
        );
        let Some(member) = self.channels[chan].members.get_mut(&id) else {
            return;
        };
        member.op = true;
        log::info!(
            "{} is an operator of {} (server.lobby_operators)",
            self.describe(id),
            self.config.default_channel
        );
        for to in self.channels[chan].local_members() {
            out.send(to, &line);
        }
    }
}
