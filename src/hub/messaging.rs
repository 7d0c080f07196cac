//! PRIVMSG and NOTICE: to a channel (every other member) or to one nick.

use super::{Cap, ClientId, Hub, Outbox};
use crate::message::{Message, build};
use crate::names::fold;
use crate::numeric::*;
use std::time::Instant;

/// At most this many comma-separated targets per message (TARGMAX).
const MAX_TARGETS: usize = 4;

/// One PRIVMSG or NOTICE on its way to its targets.
struct Said<'a> {
    command: &'static str,
    text: &'a str,
    notice: bool,
}

impl Hub {
    pub(super) fn message(
        &mut self,
        id: ClientId,
        msg: &Message,
        notice: bool,
        now: Instant,
        out: &mut dyn Outbox,
    ) {
        let command = if notice { "NOTICE" } else { "PRIVMSG" };
        let Some(targets) = msg.param(0) else {
            self.refuse(
                id,
                notice,
                ERR_NORECIPIENT,
                &["No recipient given (PRIVMSG)"],
                out,
            );
            return;
        };
        let Some(text) = msg.param(1) else {
            self.refuse(id, notice, ERR_NOTEXTTOSEND, &["No text to send"], out);
            return;
        };
        if let Some(client) = self.client_mut(id) {
            client.last_message = now;
        }
        let said = Said {
            command,
            text,
            notice,
        };
        for target in targets
            .split(',')
            .filter(|t| !t.is_empty())
            .take(MAX_TARGETS)
        {
            if target.starts_with('#') {
                self.message_channel(id, target, &said, out);
            } else {
                self.message_nick(id, target, &said, out);
            }
        }
    }

    /// An error reply, except to a NOTICE: NOTICE never triggers one
    /// (RFC 2812 3.3.2), so that two automatons cannot answer each other
    /// forever.
    fn refuse(&self, id: ClientId, notice: bool, code: u16, params: &[&str], out: &mut dyn Outbox) {
        if !notice {
            self.reply(id, code, params, out);
        }
    }

    fn message_channel(&mut self, id: ClientId, target: &str, said: &Said, out: &mut dyn Outbox) {
        let Some(&chan) = self.channel_ids.get(&fold(target)) else {
            self.refuse(
                id,
                said.notice,
                ERR_NOSUCHCHANNEL,
                &[target, "No such channel"],
                out,
            );
            return;
        };
        let channel = &self.channels[chan];
        if !channel.members.contains(&id) {
            let params = [target, "Cannot send to channel"];
            self.refuse(id, said.notice, ERR_CANNOTSENDTOCHAN, &params, out);
            return;
        }
        let Some(sender) = self.client(id) else {
            return;
        };
        let line = build(&sender.prefix, said.command, &[&channel.name, said.text]);
        let mut delivered = 0;
        for &member in &channel.members {
            if member != id {
                out.send(member, &line);
                delivered += 1;
            }
        }
        if sender.caps.has(Cap::EchoMessage) {
            out.send(id, &line);
        }
        self.stats.messages += 1;
        self.stats.deliveries += delivered;
    }

    fn message_nick(&mut self, id: ClientId, target: &str, said: &Said, out: &mut dyn Outbox) {
        let recipient = self
            .find_nick(target)
            .and_then(|r| Some((r, self.client(r)?)));
        let Some((to, recipient)) = recipient.filter(|(_, r)| r.registered) else {
            let params = [target, "No such nick/channel"];
            self.refuse(id, said.notice, ERR_NOSUCHNICK, &params, out);
            return;
        };
        let Some(sender) = self.client(id) else {
            return;
        };
        let line = build(&sender.prefix, said.command, &[&recipient.nick, said.text]);
        out.send(to, &line);
        if sender.caps.has(Cap::EchoMessage) && to != id {
            out.send(id, &line);
        }
        if let (Some(away), false) = (&recipient.away, said.notice) {
            self.reply(id, RPL_AWAY, &[&recipient.nick, away], out);
        }
        self.stats.messages += 1;
        self.stats.deliveries += 1;
    }
}
