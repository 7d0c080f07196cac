//! PRIVMSG, NOTICE and TAGMSG: to a channel (every other member) or to one
//! nick. Each accepted message gets a msgid and a time, goes to history,
//! and reaches each recipient in the variant its capabilities ask for.

use super::network::Run;
use super::{Bus, Cap, ChannelId, Client, ClientId, Hub, Outbox, REMOTE_BASE};
use crate::clock::now_ms;
use crate::history::{Entry, Kind, private_key};
use crate::mask::Subject;
use crate::message::{Message, build};
use crate::names::fold;
use crate::numeric::*;
use crate::tags::{self, Tagged};
use std::time::Instant;

/// At most this many comma-separated targets per message (TARGMAX).
const MAX_TARGETS: usize = 4;

/// One PRIVMSG, NOTICE or TAGMSG on its way to its targets.
struct Said<'a> {
    kind: Kind,
    text: &'a str,
    /// The sender's client-only tags, relayed as they came.
    client_tags: String,
}

impl Said<'_> {
    /// NOTICE and TAGMSG never trigger an error reply (RFC 2812 3.3.2),
    /// so that two automatons cannot answer each other forever.
    fn quiet(&self) -> bool {
        self.kind != Kind::Privmsg
    }

    /// The line's parameters, as many of `[to, text]` as the kind has.
    fn params<'p>(&'p self, to: &'p str) -> ([&'p str; 2], usize) {
        (
            [to, self.text],
            if self.kind == Kind::Tagmsg { 1 } else { 2 },
        )
    }
}

impl Hub {
    pub(super) fn message(
        &mut self,
        id: ClientId,
        msg: &Message,
        kind: Kind,
        now: Instant,
        out: &mut dyn Outbox,
    ) {
        let Some(targets) = msg.param(0) else {
            let params = [&*format!("No recipient given ({})", kind.as_str())];
            self.refuse(id, kind != Kind::Privmsg, ERR_NORECIPIENT, &params, out);
            return;
        };
        let text = match (kind, msg.param(1)) {
            (Kind::Tagmsg, _) => "",
            (_, Some(text)) => text,
            (_, None) => {
                let quiet = kind != Kind::Privmsg;
                self.refuse(id, quiet, ERR_NOTEXTTOSEND, &["No text to send"], out);
                return;
            }
        };
        if let Some(client) = self.client_mut(id) {
            client.last_message = now;
        }
        let said = Said {
            kind,
            text,
            client_tags: tags::client_only(msg.tags),
        };
        let mut targets = targets.split(',').filter(|t| !t.is_empty());
        for target in targets.by_ref().take(MAX_TARGETS) {
            if target.starts_with('#') {
                self.message_channel(id, target, &said, out);
            } else {
                self.message_nick(id, target, &said, out);
            }
        }
        // RFC 2812: too many recipients is 407, naming the first left out.
        if let Some(dropped) = targets.next() {
            let text = format!("Too many recipients. Only {MAX_TARGETS} processed");
            let params = [dropped, &text];
            self.refuse(id, said.quiet(), ERR_TOOMANYTARGETS, &params, out);
        }
    }

    /// An error reply, except to a message that must not trigger one.
    fn refuse(&self, id: ClientId, quiet: bool, code: u16, params: &[&str], out: &mut dyn Outbox) {
        if !quiet {
            self.reply(id, code, params, out);
        }
    }

    fn message_channel(&mut self, id: ClientId, target: &str, said: &Said, out: &mut dyn Outbox) {
        let folded = fold(target);
        let Some(&chan) = self.channel_ids.get(&folded) else {
            // 401, not 403: the Modern document's PRIVMSG lists 401 for a
            // target that cannot be found, channel or nick, as most
            // servers answer it.
            let params = [target, "No such nick/channel"];
            self.refuse(id, said.quiet(), ERR_NOSUCHNICK, &params, out);
            return;
        };
        if !self.may_speak(id, chan) {
            let params = [target, "Cannot send to channel"];
            self.refuse(id, said.quiet(), ERR_CANNOTSENDTOCHAN, &params, out);
            return;
        }
        let (time_ms, seq) = self.stamp();
        let (Some(sender), Some(channel)) = (self.client(id), self.channels.get(chan)) else {
            return;
        };
        let mut line = self.accept(
            sender,
            (time_ms, seq),
            Some(folded),
            &channel.name,
            said,
            out,
        );
        let delivered = self.deliver(chan, id, said, &mut line, out);
        if sender.caps.has(Cap::EchoMessage) {
            out.send(id, line.line(sender.caps.wants()));
        }
        if self.config.node.is_some() {
            let (params, count) = said.params(&channel.name);
            let untagged = build(&sender.prefix, said.kind.as_str(), &params[..count]);
            let run = (time_ms, seq).into();
            self.publish_channel_message(chan, &untagged, run, &said.client_tags, out);
        }
        self.stats.messages += 1;
        self.stats.deliveries += delivered;
    }

    /// Sends a channel message to the channel's members on this node but
    /// its sender; returns how many got it.
    fn deliver(
        &self,
        chan: ChannelId,
        from: ClientId,
        said: &Said,
        line: &mut Tagged,
        out: &mut dyn Outbox,
    ) -> u64 {
        let mut delivered = 0;
        for member in self.channels[chan].local_members() {
            let Some(recipient) = self.client(member) else {
                continue;
            };
            if member == from
                || (said.kind == Kind::Tagmsg && !recipient.caps.has(Cap::MessageTags))
            {
                continue;
            }
            out.send(member, line.line(recipient.caps.wants()));
            delivered += 1;
        }
        delivered
    }

    /// A message a user of another node sent to a channel with members
    /// here, or to a user of this node: delivered and kept in history
    /// like one sent here, at the time it was sent there.
    pub(super) fn remote_message(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let Ok(kind) = msg.command.parse::<Kind>() else {
            return;
        };
        let (Some(target), text) = (msg.param(0), msg.param(1)) else {
            return;
        };
        let said = Said {
            kind,
            text: text.unwrap_or_default(),
            client_tags: tags::client_only(msg.tags),
        };
        let (time_ms, seq) = self.heard_stamp(id, msg);
        let Some(sender) = self.client(id) else {
            return;
        };
        if target.starts_with('#') {
            let folded = fold(target);
            let Some(&chan) = self.channel_ids.get(&folded) else {
                return;
            };
            let name = &self.channels[chan].name;
            let mut line = self.accept(sender, (time_ms, seq), Some(folded), name, &said, out);
            let delivered = self.deliver(chan, id, &said, &mut line, out);
            self.stats.messages += 1;
            self.stats.deliveries += delivered;
            return;
        }
        let Some(to) = self.find_nick(target).filter(|&to| to < REMOTE_BASE) else {
            return;
        };
        let Some(recipient) = self.client(to) else {
            return;
        };
        let key = self
            .config
            .keep_private
            .then(|| private_key(&fold(&sender.nick), &fold(&recipient.nick)));
        let mut line = self.accept(sender, (time_ms, seq), key, &recipient.nick, &said, out);
        if said.kind != Kind::Tagmsg || recipient.caps.has(Cap::MessageTags) {
            out.send(to, line.line(recipient.caps.wants()));
        }
        self.stats.messages += 1;
        self.stats.deliveries += 1;
    }

    /// Members speak unless the channel is moderated or they are banned,
    /// where only ops and voiced members do: one lookup of the member's
    /// flags, whatever the lists hold. Outsiders speak only to a `-n`,
    /// `-m` channel that does not ban them.
    fn may_speak(&self, id: ClientId, chan: ChannelId) -> bool {
        let channel = &self.channels[chan];
        match channel.members.get(&id) {
            Some(member) => member.privileged() || !(member.banned || channel.modes.moderated),
            None => {
                let folded = self.client(id).map(|c| fold(&c.prefix)).unwrap_or_default();
                let who = Subject {
                    folded_prefix: &folded,
                };
                !channel.modes.no_external && !channel.modes.moderated && !channel.is_banned(who)
            }
        }
    }

    fn message_nick(&mut self, id: ClientId, target: &str, said: &Said, out: &mut dyn Outbox) {
        let Some(to) = self.find_user(target) else {
            let params = [target, "No such nick/channel"];
            self.refuse(id, said.quiet(), ERR_NOSUCHNICK, &params, out);
            return;
        };
        let stamp = self.stamp();
        let (Some(sender), Some(recipient)) = (self.client(id), self.client(to)) else {
            return;
        };
        let key = self
            .config
            .keep_private
            .then(|| private_key(&fold(&sender.nick), &fold(&recipient.nick)));
        let mut line = self.accept(sender, stamp, key, &recipient.nick, said, out);
        if let Some(node) = self.node_of(to) {
            let (params, count) = said.params(&recipient.nick);
            let untagged = build(&sender.prefix, said.kind.as_str(), &params[..count]);
            self.publish_stamped(
                Bus::Node(node),
                &untagged,
                stamp.into(),
                &said.client_tags,
                out,
            );
        } else if said.kind != Kind::Tagmsg || recipient.caps.has(Cap::MessageTags) {
            out.send(to, line.line(recipient.caps.wants()));
        }
        if sender.caps.has(Cap::EchoMessage) && to != id {
            out.send(id, line.line(sender.caps.wants()));
        }
        if let (Some(away), Kind::Privmsg) = (&recipient.away, said.kind) {
            self.reply(id, RPL_AWAY, &[&recipient.nick, away], out);
        }
        self.stats.messages += 1;
        self.stats.deliveries += 1;
    }

    /// The time and msgid of a message accepted now.
    pub(super) fn stamp(&mut self) -> (i64, u64) {
        let run = self.new_run(1);
        (run.time_ms, run.first)
    }

    /// `count` msgids given now, for one act.
    pub(super) fn new_run(&mut self, count: usize) -> Run {
        let time_ms = now_ms();
        let first = self.msgids.next_run(time_ms, count);
        Run {
            time_ms,
            first,
            count,
        }
    }

    /// Accepts a message from `sender` to `to` (as written on the wire),
    /// stamped by [`Hub::stamp`]: records it in history under `key` (unless
    /// history is off or there is no key), and builds its line. Recorded
    /// before anything is sent: the reactor holds output queued after a
    /// record until history has it.
    fn accept<'s>(
        &self,
        sender: &'s Client,
        (time_ms, seq): (i64, u64),
        key: Option<String>,
        to: &str,
        said: &'s Said,
        out: &mut dyn Outbox,
    ) -> Tagged<'s> {
        if let Some(target) = key.filter(|_| self.config.history) {
            out.record(Entry {
                seq,
                time_ms,
                target: target.into(),
                kind: said.kind,
                prefix: sender.prefix.as_str().into(),
                nick: fold(&sender.nick).into(),
                to: to.into(),
                text: said.text.into(),
                tags: said.client_tags.as_str().into(),
            });
        }
        let (params, count) = said.params(to);
        let untagged = build(&sender.prefix, said.kind.as_str(), &params[..count]);
        Tagged::new(untagged, seq, time_ms, &said.client_tags)
            .with_account(sender.account.as_deref())
    }
}
