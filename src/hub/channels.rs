//! Channels: JOIN (and who may), PART, TOPIC, NAMES, LIST, WHO, and the
//! presence summaries that replace per-event lines in large channels.

use super::channel::Topic;
use super::{Bus, Cap, Channel, ChannelId, ClientId, Hub, Member, Outbox, REMOTE_BASE, unix_now};
use crate::history::Kind;
use crate::mask::Subject;
use crate::message::{Message, build};
use crate::names::{fold, skeleton, valid_channel};
use crate::numeric::*;
use std::time::Instant;

/// Longest `353` line body, leaving room for the prefix within 512 bytes.
const NAMES_LINE_BUDGET: usize = 400;

impl Hub {
    pub(super) fn join_command(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let Some(targets) = msg.param(0) else {
            self.reply(
                id,
                ERR_NEEDMOREPARAMS,
                &["JOIN", "Not enough parameters"],
                out,
            );
            return;
        };
        if targets == "0" {
            self.part_all(id, out);
            return;
        }
        // `JOIN #a,#b key_a,key_b`: keys go with channels by position.
        let mut keys = msg.param(1).unwrap_or_default().split(',');
        for name in targets.split(',') {
            let key = keys.next().filter(|k| !k.is_empty());
            if !name.is_empty() {
                self.join(id, name, key, out);
            }
        }
    }

    /// Joins one channel, creating it on first join (the creator becomes its
    /// operator, and its owner when logged in), and sends the joiner the
    /// JOIN, the topic and the names (or the member count when large). An
    /// existing channel's modes, bans and invitations decide who gets in,
    /// except for its owner, who also gets `@`. A registered channel nobody
    /// is in is remade as it was kept.
    pub(super) fn join(
        &mut self,
        id: ClientId,
        name: &str,
        key: Option<&str>,
        out: &mut dyn Outbox,
    ) {
        if !valid_channel(name, self.config.channel_len) {
            self.reply(id, ERR_NOSUCHCHANNEL, &[name, "Illegal channel name"], out);
            return;
        }
        let folded = fold(name);
        let mut existing = self.channel_ids.get(&folded).copied();
        let Some(client) = self.client(id) else {
            return;
        };
        if existing.is_some_and(|chan| client.channels.contains(&chan)) {
            return;
        }
        let owner = self.owns(id, &folded);
        if client.channels.len() >= self.config.max_channels {
            self.reply(
                id,
                ERR_TOOMANYCHANNELS,
                &[name, "You have joined too many channels"],
                out,
            );
            return;
        }
        if existing.is_none() && self.kept.contains_key(&folded) {
            // A registered channel nobody is in: remade, its rules apply.
            existing = Some(self.create_channel(name));
        }
        if existing.is_none()
            && let Some(original) = self.channel_look_alike(name)
        {
            let text = format!(
                "Channel name looks like {original}, which exists: join that one, or choose another name"
            );
            self.reply(id, ERR_NOSUCHCHANNEL, &[name, &text], out);
            return;
        }
        let Some(client) = self.client(id) else {
            return;
        };
        let folded_prefix = fold(&client.prefix);
        let who = Subject {
            folded_prefix: &folded_prefix,
        };
        let member = match existing {
            Some(chan) => {
                let channel = &self.channels[chan];
                let invited = client.invites.contains(&(chan, channel.serial));
                let banned = channel.is_banned(who);
                let allowed = may_join(channel, invited, banned, key);
                if let (false, Err((code, text))) = (owner, allowed) {
                    self.reply(id, code, &[&channel.name, text], out);
                    self.drop_if_empty(chan);
                    return;
                }
                Member {
                    op: owner,
                    banned,
                    ..Member::default()
                }
            }
            None => Member {
                op: true,
                ..Member::default()
            },
        };
        let chan = match existing {
            Some(chan) => chan,
            None => {
                let chan = self.create_channel(name);
                self.register_to_creator(id, chan, out);
                chan
            }
        };
        if !self.enter_channel(id, chan, member, out) {
            return;
        }
        if self.is_default_channel(name) {
            self.grant_lobby_op(id, out);
        }
        let stamp = self.stamp();
        self.publish_join(id, chan, stamp, out);
        self.send_topic(id, chan, false, out);
        self.names(id, chan, true, out);
        let name = self.channels[chan].name.clone();
        self.play_back(id, &name, stamp.1, out);
        if let Some(prefix) = self.client(id).map(|c| c.prefix.clone()) {
            self.record_event(&prefix, Kind::Join, &name, "", stamp, out);
        }
    }

    /// A new, empty channel named `name`, with the modes new channels get,
    /// or with its kept state if it is registered.
    pub(super) fn create_channel(&mut self, name: &str) -> ChannelId {
        self.channel_serial += 1;
        let channel = Channel::new(name, self.channel_serial, unix_now(), Instant::now());
        let chan = self.channels.insert(channel);
        let (folded, shape) = (fold(name), skeleton(name));
        if shape != folded {
            self.channel_skeletons.insert(shape, chan);
        }
        self.channel_ids.insert(folded, chan);
        self.restore_channel(chan);
        chan
    }

    /// The name of the channel, live or registered, that looks like `name`
    /// (the same confusable skeleton, see [`crate::names::skeleton`]) and
    /// is not it: `#pаypal` with a Cyrillic `а` for `#paypal`. Only a new
    /// channel is checked, so channels that exist are never hidden.
    fn channel_look_alike(&self, name: &str) -> Option<String> {
        let (folded, shape) = (fold(name), skeleton(name));
        let live = [
            self.channel_ids.get(&shape),
            self.channel_skeletons.get(&shape),
        ];
        live.into_iter()
            .flatten()
            .filter_map(|&chan| self.channels.get(chan))
            .map(|c| &c.name)
            .chain(self.kept.values().map(|r| &r.name))
            .find(|other| fold(other) != folded && skeleton(other) == shape)
            .cloned()
    }

    /// Puts `id` in a channel as `member` and shows the JOIN to the
    /// members (the joiner included), or counts it for the next summary
    /// in a large channel; false if it was in already.
    pub(super) fn enter_channel(
        &mut self,
        id: ClientId,
        chan: ChannelId,
        member: Member,
        out: &mut dyn Outbox,
    ) -> bool {
        let Some(channel) = self.channels.get_mut(chan) else {
            return false;
        };
        if channel.members.insert(id, member).is_some() {
            return false;
        }
        let Some(client) = self.client_mut(id) else {
            return false;
        };
        client.channels.push(chan);
        client.invites.retain(|&(c, _)| c != chan);
        let (Some(client), Some(channel)) = (self.client(id), self.channels.get(chan)) else {
            return false;
        };
        let line = build(&client.prefix, "JOIN", &[&channel.name]);
        // extended-join: the account (`*`: none) and the real name too.
        let account = client.account.as_deref().unwrap_or("*");
        let extended = build(
            &client.prefix,
            "JOIN",
            &[&channel.name, account, &client.realname],
        );
        let wants =
            |member: ClientId, cap: Cap| self.client(member).is_some_and(|c| c.caps.has(cap));
        if channel.is_large(self.config.large_channel) {
            let line = if wants(id, Cap::ExtendedJoin) {
                &extended
            } else {
                &line
            };
            out.send(id, line);
            self.channels[chan].joined_since += 1;
            return true;
        }
        for member in channel.local_members() {
            let line = if wants(member, Cap::ExtendedJoin) {
                &extended
            } else {
                &line
            };
            out.send(member, line);
        }
        // away-notify: whoever joins away is shown away at once.
        if let Some(away) = &client.away {
            let line = build(&client.prefix, "AWAY", &[away]);
            for member in channel.local_members().filter(|&m| m != id) {
                if wants(member, Cap::AwayNotify) {
                    out.send(member, &line);
                }
            }
        }
        true
    }

    /// The default channel exists from the start, without operators, and
    /// stays when empty: it is where everyone meets, and nobody becomes its
    /// operator just by arriving first. Its operators are the accounts the
    /// host names (`server.lobby_operators`), and then it is `+nt`; without
    /// any it is `+n` without `+t`, or nobody could ever set its topic.
    pub(super) fn ensure_default_channel(&mut self) {
        let name = self.config.default_channel.clone();
        if valid_channel(&name, self.config.channel_len)
            && !self.channel_ids.contains_key(&fold(&name))
        {
            let kept = self.kept.contains_key(&fold(&name));
            let chan = self.create_channel(&name);
            if !kept {
                self.channels[chan].modes.topic_ops = !self.config.lobby_operators.is_empty();
            }
        }
    }

    pub(super) fn is_default_channel(&self, name: &str) -> bool {
        fold(name) == fold(&self.config.default_channel)
    }

    pub(super) fn part(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let Some(targets) = msg.param(0) else {
            self.reply(
                id,
                ERR_NEEDMOREPARAMS,
                &["PART", "Not enough parameters"],
                out,
            );
            return;
        };
        let reason = msg.param(1);
        for name in targets.split(',').filter(|n| !n.is_empty()) {
            let Some(chan) = self.member_channel(id, name, out) else {
                continue;
            };
            self.part_one(id, chan, reason, out);
        }
    }

    fn part_all(&mut self, id: ClientId, out: &mut dyn Outbox) {
        let joined = self
            .client(id)
            .map(|c| c.channels.clone())
            .unwrap_or_default();
        for chan in joined {
            self.part_one(id, chan, None, out);
        }
    }

    fn part_one(
        &mut self,
        id: ClientId,
        chan: ChannelId,
        reason: Option<&str>,
        out: &mut dyn Outbox,
    ) {
        let (Some(client), Some(channel)) = (self.client(id), self.channels.get(chan)) else {
            return;
        };
        let mut params = vec![channel.name.as_str()];
        params.extend(reason);
        let line = build(&client.prefix, "PART", &params);
        let (prefix, name) = (client.prefix.clone(), channel.name.clone());
        out.send(id, &line);
        let stamp = self.stamp();
        if id < REMOTE_BASE {
            self.publish_stamped(Bus::Net, &line, stamp.into(), "", out);
        }
        let mut peers = Vec::new();
        self.leave_channel(chan, id, &mut peers, out);
        for peer in peers {
            out.send(peer, &line);
        }
        let reason = reason.unwrap_or_default();
        self.record_event(&prefix, Kind::Part, &name, reason, stamp, out);
        if let Some(client) = self.client_mut(id) {
            client.channels.retain(|&c| c != chan);
        }
    }

    /// Takes `id` out of a channel, dropping the channel when it empties.
    /// Pushes the members who must see the departure onto `notify`; in a
    /// large channel it is counted for the next summary instead.
    pub(super) fn leave_channel(
        &mut self,
        chan: ChannelId,
        id: ClientId,
        notify: &mut Vec<ClientId>,
        out: &mut dyn Outbox,
    ) {
        let Some(keep) = self
            .channels
            .get(chan)
            .map(|c| self.is_default_channel(&c.name))
        else {
            return;
        };
        let channel = &mut self.channels[chan];
        let was_large = channel.is_large(self.config.large_channel);
        channel.members.remove(&id);
        if id < REMOTE_BASE
            && self.config.node.is_some()
            && channel.local_members().next().is_none()
        {
            out.follow(&fold(&channel.name), false);
        }
        if channel.members.is_empty() {
            if !keep {
                self.drop_if_empty(chan);
            }
        } else if was_large {
            channel.left_since += 1;
        } else {
            notify.extend(channel.local_members());
        }
    }

    /// Forgets a channel nobody is in (its kept state, if registered, is
    /// in `kept` already).
    fn drop_if_empty(&mut self, chan: ChannelId) {
        if self
            .channels
            .get(chan)
            .is_some_and(|c| c.members.is_empty())
        {
            let channel = self.channels.remove(chan);
            self.channel_ids.remove(&fold(&channel.name));
            let shape = skeleton(&channel.name);
            if self.channel_skeletons.get(&shape) == Some(&chan) {
                self.channel_skeletons.remove(&shape);
            }
        }
    }

    /// The channel `name`, or `403`.
    fn existing_channel(
        &self,
        id: ClientId,
        name: &str,
        out: &mut dyn Outbox,
    ) -> Option<ChannelId> {
        let chan = self.channel_ids.get(&fold(name)).copied();
        if chan.is_none() {
            self.reply(id, ERR_NOSUCHCHANNEL, &[name, "No such channel"], out);
        }
        chan
    }

    /// The channel an operator's command (KICK, TOPIC) acts on: one the
    /// client is in, or any for a server operator.
    pub(super) fn op_channel(
        &self,
        id: ClientId,
        name: &str,
        out: &mut dyn Outbox,
    ) -> Option<ChannelId> {
        if self.is_oper(id) {
            self.existing_channel(id, name, out)
        } else {
            self.member_channel(id, name, out)
        }
    }

    /// The channel `name` if the client is in it; otherwise replies 403/442.
    pub(super) fn member_channel(
        &self,
        id: ClientId,
        name: &str,
        out: &mut dyn Outbox,
    ) -> Option<ChannelId> {
        let chan = self.existing_channel(id, name, out)?;
        if !self.channels[chan].members.contains_key(&id) {
            self.reply(
                id,
                ERR_NOTONCHANNEL,
                &[name, "You're not on that channel"],
                out,
            );
            return None;
        }
        Some(chan)
    }

    pub(super) fn topic(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let Some(name) = msg.param(0) else {
            self.reply(
                id,
                ERR_NEEDMOREPARAMS,
                &["TOPIC", "Not enough parameters"],
                out,
            );
            return;
        };
        let Some(chan) = self.op_channel(id, name, out) else {
            return;
        };
        let Some(text) = msg.params.get(1) else {
            self.send_topic(id, chan, true, out);
            return;
        };
        let channel = &self.channels[chan];
        if channel.modes.topic_ops && !self.acts_as_chanop(chan, id) {
            let params = [&*channel.name, "You're not channel operator"];
            self.reply(id, ERR_CHANOPRIVSNEEDED, &params, out);
            return;
        }
        let text = truncate(text, self.config.topic_len).to_string();
        self.set_topic(id, chan, &text, out);
    }

    /// `id` sets the topic of `chan` (empty: none); its members see it,
    /// and so does the network when `id` is this node's.
    pub(super) fn set_topic(
        &mut self,
        id: ClientId,
        chan: ChannelId,
        text: &str,
        out: &mut dyn Outbox,
    ) {
        let (Some(client), Some(channel)) = (self.client(id), self.channels.get(chan)) else {
            return;
        };
        let line = build(&client.prefix, "TOPIC", &[&channel.name, text]);
        for member in channel.local_members() {
            out.send(member, &line);
        }
        self.publish_from(id, &line, out);
        let topic = (!text.is_empty()).then(|| Topic {
            text: text.to_string(),
            set_by: client.nick.clone(),
            set_at: unix_now(),
        });
        self.channels[chan].topic = topic;
        self.keep_channel(chan, out);
    }

    /// 332/333, or 331 when asked explicitly and there is no topic.
    fn send_topic(&self, id: ClientId, chan: ChannelId, explicit: bool, out: &mut dyn Outbox) {
        let channel = &self.channels[chan];
        match &channel.topic {
            Some(topic) => {
                self.reply(id, RPL_TOPIC, &[&channel.name, &topic.text], out);
                let at = topic.set_at.to_string();
                self.reply(
                    id,
                    RPL_TOPICWHOTIME,
                    &[&channel.name, &topic.set_by, &at],
                    out,
                );
            }
            None if explicit => {
                self.reply(id, RPL_NOTOPIC, &[&channel.name, "No topic is set"], out)
            }
            None => {}
        }
    }

    pub(super) fn names_command(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let Some(targets) = msg.param(0) else {
            self.reply(id, RPL_ENDOFNAMES, &["*", "End of /NAMES list"], out);
            return;
        };
        for name in targets.split(',').filter(|n| !n.is_empty()) {
            match self.channel_ids.get(&fold(name)) {
                Some(&chan) => self.names(id, chan, false, out),
                None => self.reply(id, RPL_ENDOFNAMES, &[name, "End of /NAMES list"], out),
            }
        }
    }

    /// 353 lines then 366. On an automatic listing (after a join) of a large
    /// channel only the member count is sent: the full list would make every
    /// join cost O(members) bytes.
    fn names(&self, id: ClientId, chan: ChannelId, on_join: bool, out: &mut dyn Outbox) {
        let channel = &self.channels[chan];
        if on_join && channel.is_large(self.config.large_channel) {
            let text = format!(
                "{} people are here; /NAMES {} lists them",
                group_digits(channel.members.len()),
                channel.name
            );
            out.send(
                id,
                &build(&self.config.server_name, "NOTICE", &[&channel.name, &text]),
            );
        } else {
            let caps = self.client(id).map(|c| c.caps).unwrap_or_default();
            let full = caps.has(Cap::UserhostInNames);
            let multi = caps.has(Cap::MultiPrefix);
            let mut line = String::new();
            for (&m, status) in &channel.members {
                let Some(member) = self.client(m).filter(|c| shown_in(id, channel, c)) else {
                    continue;
                };
                // `prefix` is `nick!user@host`.
                let name = if full { &member.prefix } else { &member.nick };
                let prefixes = status.prefixes(multi);
                if line.len() + prefixes.len() + name.len() >= NAMES_LINE_BUDGET {
                    self.reply(id, RPL_NAMREPLY, &["=", &channel.name, &line], out);
                    line.clear();
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(prefixes);
                line.push_str(name);
            }
            if !line.is_empty() {
                self.reply(id, RPL_NAMREPLY, &["=", &channel.name, &line], out);
            }
        }
        self.reply(
            id,
            RPL_ENDOFNAMES,
            &[&channel.name, "End of /NAMES list"],
            out,
        );
    }

    /// `LIST [#a,#b…] [>n,<n]`: the channels named, or all, with more or
    /// fewer users than n (`ELIST=U`), as the Modern document's LIST takes.
    pub(super) fn list(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        self.reply(id, RPL_LISTSTART, &["Channel", "Users  Name"], out);
        let filter = ListFilter::new(msg);
        for (_, channel) in self.channels.iter().filter(|(_, c)| filter.accepts(c)) {
            let count = channel.members.len().to_string();
            let topic = channel.topic.as_ref().map_or("", |t| t.text.as_str());
            self.reply(id, RPL_LIST, &[&channel.name, &count, topic], out);
        }
        self.reply(id, RPL_LISTEND, &["End of /LIST"], out);
    }

    /// `WHO <channel|nick> [o]`: with `o`, server operators only (RFC 2812
    /// 3.6.1).
    pub(super) fn who(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let mask = msg.param(0).unwrap_or("*");
        let opers_only = msg.param(1) == Some("o");
        let listed = |member: ClientId| !opers_only || self.is_oper(member);
        if let Some(&chan) = self.channel_ids.get(&fold(mask)) {
            let channel = &self.channels[chan];
            let shown =
                |m: ClientId| listed(m) && self.client(m).is_some_and(|c| shown_in(id, channel, c));
            for (&member, &status) in channel.members.iter().filter(|(m, _)| shown(**m)) {
                self.who_reply(id, member, &channel.name, status, out);
            }
        } else if let Some(target) = self.find_user(mask).filter(|&t| listed(t)) {
            self.who_reply(id, target, "*", Member::default(), out);
        }
        self.reply(id, RPL_ENDOFWHO, &[mask, "End of /WHO list"], out);
    }

    /// One `352`; its flags are `H` (here) or `G` (gone, away), `*` for a
    /// server operator, then the member's prefixes in `channel`.
    fn who_reply(
        &self,
        id: ClientId,
        target: ClientId,
        channel: &str,
        status: Member,
        out: &mut dyn Outbox,
    ) {
        let Some(t) = self.client(target) else {
            return;
        };
        let multi = self
            .client(id)
            .is_some_and(|c| c.caps.has(Cap::MultiPrefix));
        let away = if t.away.is_some() { "G" } else { "H" };
        let oper = if t.oper.is_some() { "*" } else { "" };
        let here = format!("{away}{oper}{}", status.prefixes(multi));
        let real = format!("0 {}", t.realname);
        let server = &self.config.server_name;
        self.reply(
            id,
            RPL_WHOREPLY,
            &[channel, &t.user, &t.host, server, &t.nick, &here, &real],
            out,
        );
    }

    /// Sends each large channel a summary of the joins and parts it did not
    /// relay, at most once per `presence_interval`.
    pub(super) fn presence_summaries(&mut self, now: Instant, out: &mut dyn Outbox) {
        let interval = self.config.presence_interval;
        for (_, channel) in self.channels.iter_mut() {
            if channel.joined_since + channel.left_since == 0
                || now.duration_since(channel.last_summary) < interval
            {
                continue;
            }
            let text = format!(
                "* {} joined, {} left in the last {} s ({} here)",
                group_digits(channel.joined_since as usize),
                group_digits(channel.left_since as usize),
                interval.as_secs(),
                group_digits(channel.members.len())
            );
            let line = build(&self.config.server_name, "NOTICE", &[&channel.name, &text]);
            for member in channel.local_members() {
                out.send(member, &line);
            }
            channel.joined_since = 0;
            channel.left_since = 0;
            channel.last_summary = now;
        }
    }
}

/// What a LIST asks for: channel names (folded) and user counts.
#[derive(Default)]
struct ListFilter {
    /// Only these channels, when given.
    names: Option<Vec<String>>,
    /// `>n`: more than n users.
    more_than: Option<usize>,
    /// `<n`: fewer than n users.
    fewer_than: Option<usize>,
}

impl ListFilter {
    /// Reads LIST's parameters, names and conditions alike, in either of
    /// its two; a condition that is not a number is ignored.
    fn new(msg: &Message) -> ListFilter {
        let mut filter = ListFilter::default();
        let items = msg.params.iter().take(2).flat_map(|p| p.split(','));
        for item in items.filter(|i| !i.is_empty()) {
            if let Some(n) = item.strip_prefix('>') {
                filter.more_than = n.parse().ok();
            } else if let Some(n) = item.strip_prefix('<') {
                filter.fewer_than = n.parse().ok();
            } else {
                filter.names.get_or_insert_with(Vec::new).push(fold(item));
            }
        }
        filter
    }

    fn accepts(&self, channel: &Channel) -> bool {
        let users = channel.members.len();
        self.names
            .as_ref()
            .is_none_or(|names| names.contains(&fold(&channel.name)))
            && self.more_than.is_none_or(|n| users > n)
            && self.fewer_than.is_none_or(|n| users < n)
    }
}

/// Whether `member` of `channel` shows in the NAMES and WHO that `id` asks
/// for: always to a member, and to others unless invisible (`+i`), as the
/// Modern document's NAMES and WHO say.
fn shown_in(id: ClientId, channel: &Channel, member: &super::Client) -> bool {
    !member.invisible || channel.members.contains_key(&id)
}

/// Whether a client may join an existing channel, and if not the numeric
/// and text that say why. An invitation lets one past `+i`, `+l` and bans,
/// never past the key.
fn may_join(
    channel: &Channel,
    invited: bool,
    banned: bool,
    key: Option<&str>,
) -> Result<(), (u16, &'static str)> {
    let modes = &channel.modes;
    if banned && !invited {
        return Err((ERR_BANNEDFROMCHAN, "Cannot join channel (+b)"));
    }
    if modes.invite_only && !invited {
        return Err((ERR_INVITEONLYCHAN, "Cannot join channel (+i)"));
    }
    if modes.key.as_deref().is_some_and(|k| Some(k) != key) {
        return Err((ERR_BADCHANNELKEY, "Cannot join channel (+k)"));
    }
    if modes.limit.is_some_and(|l| channel.members.len() >= l) && !invited {
        return Err((ERR_CHANNELISFULL, "Cannot join channel (+l)"));
    }
    Ok(())
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// 4211 → "4,211", for counts people read.
fn group_digits(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
