//! PRIVMSG and NOTICE: to a channel (every other member) or to one nick.

use super::{ClientId, Hub, Outbox};
use crate::message::{Message, build};
use crate::names::fold;
use crate::numeric::*;
use std::time::Instant;

/// At most this many comma-separated targets per message (TARGMAX).
const MAX_TARGETS: usize = 4;

impl Hub {
    /// NOTICE never triggers an error reply (RFC 2812 3.3.2), so that two
    /// automatons cannot answer each other forever.
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
            if !notice {
                self.reply(id, ERR_NORECIPIENT, &["No recipient given (PRIVMSG)"], out);
            }
            return;
        };
        let Some(text) = msg.param(1) else {
            if !notice {
                self.reply(id, ERR_NOTEXTTOSEND, &["No text to send"], out);
            }
            return;
        };
        if let Some(client) = self.client_mut(id) {
            client.last_message = now;
        }
        for target in targets
            .split(',')
            .filter(|t| !t.is_empty())
            .take(MAX_TARGETS)
        {
            if target.starts_with('#') {
                self.message_channel(id, command, target, text, notice, out);
            } else {
                self.message_nick(id, command, target, text, notice, out);
            }
        }
    }

    fn message_channel(
        &mut self,
        id: ClientId,
        command: &str,
        target: &str,
        text: &str,
        notice: bool,
        out: &mut dyn Outbox,
    ) {
        let Some(&chan) = self.channel_ids.get(&fold(target)) else {
            if !notice {
                self.reply(id, ERR_NOSUCHCHANNEL, &[target, "No such channel"], out);
            }
            return;
        };
        let channel = &self.channels[chan];
        if !channel.members.contains(&id) {
            if !notice {
                self.reply(
                    id,
                    ERR_CANNOTSENDTOCHAN,
                    &[target, "Cannot send to channel"],
                    out,
                );
            }
            return;
        }
        let Some(sender) = self.client(id) else {
            return;
        };
        let line = build(&sender.prefix, command, &[&channel.name, text]);
        let mut delivered = 0;
        for &member in &channel.members {
            if member != id {
                out.send(member, &line);
                delivered += 1;
            }
        }
        self.stats.messages += 1;
        self.stats.deliveries += delivered;
    }

    fn message_nick(
        &mut self,
        id: ClientId,
        command: &str,
        target: &str,
        text: &str,
        notice: bool,
        out: &mut dyn Outbox,
    ) {
        let recipient = self
            .find_nick(target)
            .and_then(|r| Some((r, self.client(r)?)));
        let Some((to, recipient)) = recipient.filter(|(_, r)| r.registered) else {
            if !notice {
                self.reply(id, ERR_NOSUCHNICK, &[target, "No such nick/channel"], out);
            }
            return;
        };
        let Some(sender) = self.client(id) else {
            return;
        };
        out.send(
            to,
            &build(&sender.prefix, command, &[&recipient.nick, text]),
        );
        if let (Some(away), false) = (&recipient.away, notice) {
            self.reply(id, RPL_AWAY, &[&recipient.nick, away], out);
        }
        self.stats.messages += 1;
        self.stats.deliveries += 1;
    }
}
