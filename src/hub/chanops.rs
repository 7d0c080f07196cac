//! What channel operators do to people: KICK, and INVITE (which any member
//! may do, unless the channel is `+i`), with the list of one's invitations
//! (`INVITE` alone) and IRCv3 `invite-notify`.

use super::{Cap, ChannelId, ClientId, Hub, Outbox};
use crate::message::{Message, build};
use crate::numeric::*;

/// Invitations one client keeps at most; the oldest go first.
const MAX_INVITES: usize = 20;

impl Hub {
    /// `KICK #chan nick[,nick…] [:reason]`, or `KICK #a,#b nick_a,nick_b`
    /// (a nick for each channel, by position), as RFC 2812 and the Modern
    /// document allow; any other count is 461. Ops only (and server
    /// operators, from outside too); everyone in the channel, the kicked
    /// included, sees each KICK.
    pub(super) fn kick_command(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let list = |i: usize| -> Vec<&str> {
            let param = msg.param(i).unwrap_or_default();
            param.split(',').filter(|n| !n.is_empty()).collect()
        };
        let (channels, nicks) = (list(0), list(1));
        let reason = msg.param(2);
        match channels[..] {
            [name] if !nicks.is_empty() => self.kick_from(id, name, &nicks, reason, out),
            _ if !channels.is_empty() && channels.len() == nicks.len() => {
                for (name, nick) in channels.into_iter().zip(nicks) {
                    self.kick_from(id, name, &[nick], reason, out);
                }
            }
            _ => {
                let params = ["KICK", "Not enough parameters"];
                self.reply(id, ERR_NEEDMOREPARAMS, &params, out);
            }
        }
    }

    /// Kicks `nicks` out of channel `name`, with `reason` or the kicker's
    /// nick.
    fn kick_from(
        &mut self,
        id: ClientId,
        name: &str,
        nicks: &[&str],
        reason: Option<&str>,
        out: &mut dyn Outbox,
    ) {
        let Some(chan) = self.op_channel(id, name, out) else {
            return;
        };
        let Some(kicker) = self.client(id) else {
            return;
        };
        let reason = reason.unwrap_or(&kicker.nick).to_string();
        if !self.acts_as_chanop(chan, id) {
            let params = [&*self.channels[chan].name, "You're not channel operator"];
            self.reply(id, ERR_CHANOPRIVSNEEDED, &params, out);
            return;
        }
        for &nick in nicks {
            let channel = &self.channels[chan];
            let target = self
                .find_nick(nick)
                .filter(|t| channel.members.contains_key(t));
            let Some(target) = target else {
                let params = [nick, &*channel.name, "They aren't on that channel"];
                self.reply(id, ERR_USERNOTINCHANNEL, &params, out);
                continue;
            };
            self.kicked(id, chan, target, &reason, out);
            if !self.channels.contains(chan) {
                return;
            }
        }
    }

    /// `kicker` puts `target` out of `chan`: everyone in the channel sees
    /// it, the kicked included, and so does the network when the kicker is
    /// this node's.
    pub(super) fn kicked(
        &mut self,
        kicker: ClientId,
        chan: ChannelId,
        target: ClientId,
        reason: &str,
        out: &mut dyn Outbox,
    ) {
        let (Some(by), Some(shown), Some(channel)) = (
            self.client(kicker),
            self.nick(target),
            self.channels.get(chan),
        ) else {
            return;
        };
        let line = build(&by.prefix, "KICK", &[&channel.name, shown, reason]);
        for member in channel.local_members() {
            out.send(member, &line);
        }
        self.publish_from(kicker, &line, out);
        // Everyone was told above, so nobody is left to notify.
        self.leave_channel(chan, target, &mut Vec::new(), out);
        if let Some(client) = self.client_mut(target) {
            client.channels.retain(|&c| c != chan);
        }
    }

    /// `INVITE nick #chan`, or `INVITE` alone for the list of one's own
    /// invitations (`336`…, `337`).
    pub(super) fn invite_command(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let (Some(nick), Some(name)) = (msg.param(0), msg.param(1)) else {
            if msg.params.is_empty() {
                self.invite_list(id, out);
            } else {
                let params = ["INVITE", "Not enough parameters"];
                self.reply(id, ERR_NEEDMOREPARAMS, &params, out);
            }
            return;
        };
        let Some(target) = self.find_user(nick) else {
            self.reply(id, ERR_NOSUCHNICK, &[nick, "No such nick/channel"], out);
            return;
        };
        let Some(chan) = self.member_channel(id, name, out) else {
            return;
        };
        let channel = &self.channels[chan];
        let Some(invitee) = self.client(target) else {
            return;
        };
        if channel.modes.invite_only && !channel.is_op(id) {
            let params = [&*channel.name, "You're not channel operator"];
            self.reply(id, ERR_CHANOPRIVSNEEDED, &params, out);
            return;
        }
        if channel.members.contains_key(&target) {
            let params = [&*invitee.nick, &channel.name, "is already on channel"];
            self.reply(id, ERR_USERONCHANNEL, &params, out);
            return;
        }
        self.reply(id, RPL_INVITING, &[&invitee.nick, &channel.name], out);
        self.invited(id, target, chan, out);
    }

    /// `inviter` invites `target` to `chan`: the target is told and may
    /// join, the members who could have invited too and asked to know
    /// (invite-notify) are told, and so is the network when the inviter is
    /// this node's (the target's node lets it in).
    pub(super) fn invited(
        &mut self,
        inviter: ClientId,
        target: ClientId,
        chan: ChannelId,
        out: &mut dyn Outbox,
    ) {
        let (Some(by), Some(invitee), Some(channel)) = (
            self.client(inviter),
            self.client(target),
            self.channels.get(chan),
        ) else {
            return;
        };
        let line = build(&by.prefix, "INVITE", &[&invitee.nick, &channel.name]);
        out.send(target, &line);
        // invite-notify: only ops could invite to a `+i` channel.
        for member in channel.local_members() {
            let status = channel.members.get(&member).copied().unwrap_or_default();
            let notify = member != inviter
                && (status.op || !channel.modes.invite_only)
                && self
                    .client(member)
                    .is_some_and(|c| c.caps.has(Cap::InviteNotify));
            if notify {
                out.send(member, &line);
            }
        }
        self.publish_from(inviter, &line, out);
        let invite = (chan, channel.serial);
        if let Some(invitee) = self.client_mut(target)
            && !invitee.invites.contains(&invite)
        {
            if invitee.invites.len() >= MAX_INVITES {
                invitee.invites.remove(0);
            }
            invitee.invites.push(invite);
        }
    }

    /// The channels this client is invited to and that still exist.
    fn invite_list(&self, id: ClientId, out: &mut dyn Outbox) {
        let invites = self.client(id).map(|c| c.invites.as_slice());
        for &(chan, serial) in invites.unwrap_or_default() {
            if let Some(channel) = self.channels.get(chan).filter(|c| c.serial == serial) {
                self.reply(id, RPL_INVITELIST, &[&channel.name], out);
            }
        }
        self.reply(id, RPL_ENDOFINVITELIST, &["End of /INVITE list"], out);
    }
}
