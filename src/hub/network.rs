//! The rest of the network, on a node of a cluster.
//!
//! Other nodes' users are clients of this hub too, with ids from
//! [`REMOTE_BASE`] up and no connection: NAMES, WHO, WHOIS, nick checks and
//! channel membership see the whole network with no code of their own, and
//! a broadcast reaches the members on this node only
//! ([`super::channel::Channel::local_members`]). What a user of this node
//! does that others must see is published through the outbox on a [`Bus`];
//! what other nodes publish comes back through [`Hub::cluster_line`] and is
//! applied here, without the checks its own node already made.
//!
//! A payload is an IRC line, read by the parser that reads clients' lines,
//! whose tag `n` names the node that published it:
//!
//! | payload | meaning |
//! | --- | --- |
//! | `:nick!user@host INTRO <signon> <account\|*> <+modes> <@#chan:created,+#chan:created,…\|*> :<realname>` | a user, in full: new, or re-announced |
//! | `:prefix JOIN <#chan> <@+\|-> <created>` | a join, with the status and the channel's age there |
//! | `:prefix NICK`, `PART`, `KICK`, `INVITE`, `QUIT`, `TOPIC`, `AWAY`, `MODE`, `WALLOPS` | as clients see them |
//! | `KILL`, `WALL`, `KLINE`, `UNKLINE` | the host's and operators' orders |
//! | `@t=<ms>;<client tags> :prefix PRIVMSG\|NOTICE\|TAGMSG <target> …` | a message, on its channel's bus or its recipient's node's |
//! | `HELLO` | a node has (re)joined: every other sends it its users |
//! | `SYNC <boot>` … `SYNCED` | all of a node's users come between: any not among them have left |

use super::accounts::Waiting;
use super::channel::Member;
use super::{ChannelId, Client, ClientId, Hub, Outbox};
use crate::history::{Entry, Kind, msgid};
use crate::message::{Line, Message, build, loggable};
use crate::names::{fold, valid_channel, valid_nick};
use crate::numeric::ERR_NICKNAMEINUSE;
use crate::stats::DisconnectReason;
use crate::tags::{self, with_tags};
use log::{debug, error, info, warn};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// Hub ids from here up are other nodes' users; below are the reactor's
/// connections.
pub const REMOTE_BASE: ClientId = usize::MAX / 8;

/// Where a published line goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bus<'a> {
    /// Every node: who is on the network, and in which channels.
    Net,
    /// The nodes with members in a channel (its folded name): its messages.
    Channel(&'a str),
    /// One node, by name: private messages to its users, and the answer
    /// to its `HELLO`.
    Node(&'a str),
}

/// What the network is told or asked of a nick. Each nick held on the
/// network is a Redis key naming its node, so that two nodes never give one
/// nick to two users at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NickClaim<'a> {
    /// Asks for `folded` for local client `id`; answered through
    /// [`Hub::nick_answer`].
    Take { id: ClientId, folded: &'a str },
    /// Takes `folded` unless another node holds it, unanswered (a nick this
    /// node's user has already: renamed by a collision, or re-announced).
    Keep { folded: &'a str },
    /// Gives back `folded`, if this node holds it.
    Release { folded: &'a str },
    /// Everything `node` held is free: it was lost, or is this node,
    /// starting over.
    Purge { node: &'a str },
}

/// A user of another node.
pub(super) struct Remote {
    pub client: Client,
    pub node: String,
    /// Not yet re-announced since its node began a `SYNC`.
    stale: bool,
}

/// A line from a user of another node that this one does not know yet,
/// held for its INTRO: with a Redis Cluster, presence and a channel's
/// messages travel by different masters, so a new user's first message
/// may overtake the line that introduces them.
pub(super) struct Early {
    node: String,
    /// The sender's nick, folded.
    nick: String,
    /// The channel it is for, folded, if it is for one: it goes on once
    /// the sender is in it, after their JOIN as on the sender's node.
    channel: Option<String>,
    pub(super) payload: Vec<u8>,
    at: Instant,
    /// The sender's node was asked to tell its users again (`HELLO`).
    asked: bool,
}

/// How long a line waits for its sender's INTRO before the sender's node
/// is asked to tell everything again, and how long in all before it is
/// dropped (and logged).
const EARLY_GRACE: Duration = Duration::from_secs(1);
const EARLY_LIMIT: Duration = Duration::from_secs(5);
/// The most lines held at once: beyond, the oldest is dropped (and
/// logged), so a node that never introduces its users costs bounded memory.
const MAX_EARLY: usize = 1000;

/// The most msgids one act takes (a quit: one per channel left); a line
/// telling more is damaged.
const MAX_RUN: usize = 100_000;

/// Msgids given at once, for one act, by the node where it happened: a
/// message's one, or a quit's, one for each channel left in the order of
/// their folded names. Other nodes are told the time, the first and the
/// count, and know the rest ([`msgid::nth`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    pub(super) time_ms: i64,
    pub(super) first: u64,
    pub(super) count: usize,
}

impl From<(i64, u64)> for Run {
    /// One msgid: a message's.
    fn from((time_ms, first): (i64, u64)) -> Run {
        Run {
            time_ms,
            first,
            count: 1,
        }
    }
}

impl Run {
    /// The time and msgid of the k-th, if the run has one.
    pub(super) fn stamp(&self, k: usize) -> Option<(i64, u64)> {
        (k < self.count).then(|| (self.time_ms, msgid::nth(self.first, k)))
    }
}

/// The time (`t`) and msgid (`i`) that a line's `tags` tell, when the
/// msgid ends in `number`, that of the node the line is from.
fn told_stamp(tags: &str, number: u64) -> Option<(i64, u64)> {
    let time_ms = tags::get(tags, "t")?.parse().ok()?;
    let seq = tags::get(tags, "i")?.parse::<u64>().ok()?;
    (msgid::node_of(seq) == number).then_some((time_ms, seq))
}

/// What this node knows of another.
pub(super) struct Peer {
    /// Its `SYNC`'s boot mark: a new one means it restarted.
    boot: String,
    /// When it was first heard of: [`Hub::nodes_alive`] lets a node that
    /// was not listed yet live.
    since: Instant,
    /// The number its msgids end in ([`msgid::node_number`]).
    pub(super) number: u64,
}

impl Hub {
    /// Publishes `line` for the other nodes on `bus`, tagged with this
    /// node's name; nothing on a single node.
    pub(super) fn publish(&self, bus: Bus, line: &Line, out: &mut dyn Outbox) {
        if let Some(node) = &self.config.node {
            out.publish(bus, &with_tags(&format!("n={node}"), line));
        }
    }

    /// What a local user does that the network sees: published on the net
    /// bus when `id` is this node's.
    pub(super) fn publish_from(&self, id: ClientId, line: &Line, out: &mut dyn Outbox) {
        if id < REMOTE_BASE {
            self.publish(Bus::Net, line, out);
        }
    }

    /// A node heard of for the first time. Two nodes whose names give one
    /// msgid number could give one msgid to two lines (in the same
    /// microsecond), so that is logged as an error, at each of them.
    fn met(&mut self, node: &str, now: Instant) {
        let number = msgid::node_number(node);
        if number == self.msgids.node() {
            error!(
                "cluster: nodes {node} and {} give msgids ending in the same number ({number}): \
                 rename one of them (cluster.node_name), or two lines could get one msgid",
                self.config.node.as_deref().unwrap_or_default()
            );
        }
        let peer = Peer {
            boot: String::new(),
            since: now,
            number,
        };
        self.peers.insert(node.to_string(), peer);
    }

    /// What a local user said or did (`untagged`, as a client without tags
    /// sees it), for the other nodes on `bus`, with the msgids it was
    /// given here and its client-only tags: `t` the time, `i` the first
    /// msgid, `c` how many when more than one (see [`Run`]).
    pub(super) fn publish_stamped(
        &self,
        bus: Bus,
        untagged: &Line,
        run: Run,
        client_tags: &str,
        out: &mut dyn Outbox,
    ) {
        if let Some(line) = self.stamped_line(untagged, run, client_tags) {
            out.publish(bus, &line);
        }
    }

    /// `untagged` as [`Hub::publish_stamped`] sends it; `None` on a single
    /// node.
    fn stamped_line(&self, untagged: &Line, run: Run, client_tags: &str) -> Option<Line> {
        let node = self.config.node.as_ref()?;
        let mut tags = format!("n={node};t={};i={}", run.time_ms, run.first);
        if run.count != 1 {
            tags.push_str(&format!(";c={}", run.count));
        }
        if !client_tags.is_empty() {
            tags.push(';');
            tags.push_str(client_tags);
        }
        Some(with_tags(&tags, untagged))
    }

    /// A message a local user said in a channel, for the network: published
    /// to the nodes with members in it (when there are), and kept in the
    /// channel's log either way, so that a node that comes to follow it
    /// later has it in its history too.
    pub(super) fn publish_channel_message(
        &self,
        chan: ChannelId,
        untagged: &Line,
        run: Run,
        client_tags: &str,
        out: &mut dyn Outbox,
    ) {
        let Some(line) = self.stamped_line(untagged, run, client_tags) else {
            return;
        };
        let folded = fold(&self.channels[chan].name);
        if self.channels[chan].has_remote_members() {
            out.publish(Bus::Channel(&folded), &line);
        }
        out.log(&folded, &line);
    }

    /// The time and msgid user `id` of another node was given there for
    /// what `msg` tells (its `t` and `i` tags); `i` must end in that
    /// node's number ([`msgid::node_number`]). Without them (a node of an
    /// older version, a damaged line: logged) this node stamps it now.
    /// Either way what this node gives next sorts after it, by Lamport's
    /// rule, so that on every node a reply sorts after what it answers.
    pub(super) fn heard_stamp(&mut self, id: ClientId, msg: &Message) -> (i64, u64) {
        let run = self.heard_run(id, msg, 1);
        (run.time_ms, run.first)
    }

    /// [`Hub::heard_stamp`] of an act that takes several msgids (a quit):
    /// the `c` tag tells how many (else one); without valid tags this node
    /// gives `count` of its own.
    pub(super) fn heard_run(&mut self, id: ClientId, msg: &Message, count: usize) -> Run {
        let node = self.node_of(id).unwrap_or_default();
        let number = self.peers.get(node).map(|peer| peer.number);
        let stamp = number.and_then(|number| told_stamp(msg.tags, number));
        let heard = tags::get(msg.tags, "c").map_or(Some(1), |c| c.parse().ok());
        match (stamp, heard.filter(|&c| c <= MAX_RUN)) {
            (Some((time_ms, first)), Some(count)) => {
                let run = Run {
                    time_ms,
                    first,
                    count,
                };
                self.msgids
                    .floor(msgid::nth(first, count.saturating_sub(1)));
                run
            }
            _ => {
                warn!("cluster: a line from node {node} without msgids of that node: {msg:?}");
                self.new_run(count)
            }
        }
    }

    /// The node a user of another node is on.
    pub(super) fn node_of(&self, id: ClientId) -> Option<&str> {
        let key = id.checked_sub(REMOTE_BASE)?;
        self.remotes.get(key).map(|r| r.node.as_str())
    }

    /// A local user registered: the network learns who it is.
    pub(super) fn publish_intro(&self, id: ClientId, out: &mut dyn Outbox) {
        if let Some(line) = self.intro(id) {
            self.publish_from(id, &line, out);
        }
    }

    /// A local user joined `chan`: the network sees it, with the status it
    /// has there, and this node wants the channel's messages.
    pub(super) fn publish_join(
        &self,
        id: ClientId,
        chan: ChannelId,
        stamp: (i64, u64),
        out: &mut dyn Outbox,
    ) {
        let (Some(client), Some(channel), Some(_)) = (
            self.client(id),
            self.channels.get(chan),
            self.config.node.as_ref(),
        ) else {
            return;
        };
        let Some(member) = channel.members.get(&id).filter(|_| id < REMOTE_BASE) else {
            return;
        };
        let status = match member.prefixes(true) {
            "" => "-",
            status => status,
        };
        let created = channel.created.to_string();
        let line = build(&client.prefix, "JOIN", &[&channel.name, status, &created]);
        self.publish_stamped(Bus::Net, &line, stamp.into(), "", out);
        out.follow(&fold(&channel.name), true);
    }

    /// A user as `INTRO` tells it, with its channels and their status.
    fn intro(&self, id: ClientId) -> Option<Line> {
        let client = self.client(id).filter(|c| c.registered)?;
        let mut modes = String::from("+");
        if client.invisible {
            modes.push('i');
        }
        if client.oper.is_some() {
            modes.push('o');
        }
        let channels: Vec<String> = client
            .channels
            .iter()
            .filter_map(|&chan| {
                let channel = self.channels.get(chan)?;
                let member = channel.members.get(&id)?;
                let status = member.prefixes(true);
                Some(format!("{status}{}:{}", channel.name, channel.created))
            })
            .collect();
        let channels = match channels.join(",") {
            list if list.is_empty() => "*".to_string(),
            list => list,
        };
        let signon = client.signon.to_string();
        let account = client.account.as_deref().unwrap_or("*");
        let params = [
            signon.as_str(),
            account,
            &modes,
            &channels,
            &client.realname,
        ];
        Some(build(&client.prefix, "INTRO", &params))
    }

    /// This node's links to the network are up (again): claims its users'
    /// nicks anew, asks the others for their users and tells them its own.
    /// The reactor calls it once its subscriptions are in place, so no
    /// answer is missed.
    pub fn join_network(&mut self, out: &mut dyn Outbox) {
        let Some(node) = self.config.node.clone() else {
            return;
        };
        info!("cluster: announcing this node's {} users", self.registered);
        out.nick_claim(NickClaim::Purge { node: &node });
        for client in self.clients.iter().flatten().filter(|c| c.registered) {
            out.nick_claim(NickClaim::Keep {
                folded: &fold(&client.nick),
            });
        }
        self.publish(Bus::Net, &build("", "HELLO", &[]), out);
        self.announce(Bus::Net, out);
    }

    /// Before local client `id` takes `nick` (registering, or renamed):
    /// on a cluster whose link is up, asks the network, and true: the
    /// client waits for [`Hub::nick_answer`].
    pub(super) fn ask_network_for_nick(
        &mut self,
        id: ClientId,
        nick: &str,
        out: &mut dyn Outbox,
    ) -> bool {
        if self.config.node.is_none() {
            return false;
        }
        let folded = fold(nick);
        if !out.nick_claim(NickClaim::Take {
            id,
            folded: &folded,
        }) {
            return false;
        }
        if let Some(client) = self.client_mut(id) {
            client.set_waiting(Waiting::Nick {
                nick: nick.to_string(),
            });
        }
        true
    }

    /// The network's answer to [`NickClaim::Take`] of `folded` for `id`:
    /// `free` when this node has it now. Registration or the nick change
    /// goes on, or the client hears 433 and picks another. An answer for a
    /// client that went or changed its mind gives the nick back.
    pub fn nick_answer(&mut self, id: ClientId, folded: &str, free: bool, out: &mut dyn Outbox) {
        let asked = self.client(id).and_then(|c| match c.waiting() {
            Some(Waiting::Nick { nick }) if fold(nick) == folded => Some(nick.clone()),
            _ => None,
        });
        let Some(nick) = asked else {
            if free {
                out.nick_claim(NickClaim::Release { folded });
            }
            return;
        };
        let Some(client) = self.client_mut(id) else {
            return;
        };
        client.take_waiting();
        let registered = client.registered;
        let current = fold(&client.nick);
        match (registered, free) {
            (true, true) => self.rename(id, &nick, out),
            (false, true) if current == folded => self.complete_registration(id, out),
            (false, true) => {
                // It chose another nick meanwhile: that one is asked for.
                out.nick_claim(NickClaim::Release { folded });
                self.try_register(id, out);
            }
            (_, false) => {
                if !registered && current == folded {
                    self.release_nick(&nick);
                    if let Some(client) = self.client_mut(id) {
                        client.nick.clear();
                    }
                }
                let params = [nick.as_str(), "Nickname is already in use on the network"];
                self.reply(id, ERR_NICKNAMEINUSE, &params, out);
            }
        }
    }

    /// Every local user, in full, between `SYNC` and `SYNCED`.
    fn announce(&self, bus: Bus, out: &mut dyn Outbox) {
        self.publish(bus, &build("", "SYNC", &[&self.boot]), out);
        for id in 0..self.clients.len() {
            let Some(line) = self.intro(id) else {
                continue;
            };
            self.publish(bus, &line, out);
            if let Some(client) = self.client(id)
                && let Some(away) = &client.away
            {
                self.publish(bus, &build(&client.prefix, "AWAY", &[away]), out);
            }
        }
        self.publish(bus, &build("", "SYNCED", &[]), out);
    }

    /// The link to the network was cut: what other nodes said meanwhile
    /// is lost, and local users are told so rather than left to wonder.
    pub fn network_interrupted(&mut self, out: &mut dyn Outbox) {
        let text = "The link to the rest of the network was interrupted: messages from other nodes may have been missed";
        let line = build(&self.config.server_name, "NOTICE", &["*", text]);
        for (id, client) in self.clients.iter().enumerate() {
            if client.as_ref().is_some_and(|c| c.registered) {
                out.send(id, &line);
            }
        }
    }

    /// The nodes alive at a listing of heartbeats asked for at `asked`:
    /// the users of any other node heard of before then are gone.
    pub fn nodes_alive(&mut self, alive: &[String], asked: Instant, out: &mut dyn Outbox) {
        let lost: Vec<String> = self
            .peers
            .iter()
            .filter(|(name, peer)| peer.since < asked && !alive.contains(name))
            .map(|(name, _)| name.clone())
            .collect();
        for node in lost {
            warn!("cluster: node {node} lost: its users leave");
            self.peers.remove(&node);
            out.nick_claim(NickClaim::Purge { node: &node });
            self.drop_users_of(&node, &format!("Quit: node {node} lost"), |_| true, out);
        }
    }

    /// Removes the users of `node` that `which` picks, each with a QUIT.
    fn drop_users_of(
        &mut self,
        node: &str,
        reason: &str,
        which: impl Fn(&Remote) -> bool,
        out: &mut dyn Outbox,
    ) {
        let gone: Vec<ClientId> = self
            .remotes
            .iter()
            .filter(|(_, r)| r.node == node && which(r))
            .map(|(key, _)| REMOTE_BASE + key)
            .collect();
        for id in gone {
            self.remove_client(id, reason, None, out);
        }
    }

    /// A line from a channel's log (see [`crate::cluster::LOG_LINES`]):
    /// kept in history, never shown, since the channel's users here saw it
    /// live or were told that lines may have been missed. Lines this node
    /// has already are kept once (the store keeps one line per msgid), and
    /// its own are skipped. One that is not a line of ours is logged and
    /// dropped.
    pub fn backfill(&mut self, payload: &[u8], out: &mut dyn Outbox) {
        if !self.config.history {
            return;
        }
        let text = String::from_utf8_lossy(payload);
        let Some(msg) = Message::parse(text.trim_end_matches(['\r', '\n'])) else {
            return;
        };
        let Some(node) = tags::get(msg.tags, "n").filter(|n| !n.is_empty()) else {
            warn!(
                "cluster: dropped a log entry that is not a groupchatd line: {}",
                loggable(payload)
            );
            return;
        };
        if self.config.node.as_deref() == Some(node) {
            return;
        }
        let stamp = told_stamp(msg.tags, msgid::node_number(node));
        let kind = msg.command.parse::<Kind>().ok().filter(|k| !k.is_event());
        let target = msg.param(0).filter(|t| t.starts_with('#'));
        let nick = msg.prefix.split('!').next().filter(|n| !n.is_empty());
        let (Some((time_ms, seq)), Some(kind), Some(target), Some(nick)) =
            (stamp, kind, target, nick)
        else {
            warn!(
                "cluster: dropped a log entry that is not a channel message of ours: {}",
                loggable(payload)
            );
            return;
        };
        self.msgids.floor(seq);
        out.record(Entry {
            seq,
            time_ms,
            target: fold(target).into(),
            kind,
            prefix: msg.prefix.into(),
            nick: fold(nick).into(),
            to: target.into(),
            text: msg.param(1).unwrap_or_default().into(),
            tags: tags::client_only(msg.tags).into(),
        });
    }

    /// A payload another node published (or this one: it hears its own).
    /// One that is not a line of ours is logged and dropped.
    pub fn cluster_line(&mut self, payload: &[u8], now: Instant, out: &mut dyn Outbox) {
        let text = String::from_utf8_lossy(payload);
        let msg = Message::parse(text.trim_end_matches(['\r', '\n']));
        let node = msg.as_ref().and_then(|m| tags::get(m.tags, "n"));
        let (Some(msg), Some(node)) = (msg, node.filter(|n| !n.is_empty())) else {
            warn!(
                "cluster: dropped a payload that is not a groupchatd line: {}",
                loggable(payload)
            );
            return;
        };
        if self.config.node.as_deref() == Some(node) {
            return;
        }
        let node = node.to_string();
        if !self.peers.contains_key(&node) {
            self.met(&node, now);
        }
        match msg.command {
            "HELLO" => self.announce(Bus::Node(&node), out),
            "SYNC" => self.peer_sync(&node, msg.param(0).unwrap_or_default(), out),
            "SYNCED" => {
                let reason = "Quit: left while the network was split";
                self.drop_users_of(&node, reason, |r| r.stale, out);
            }
            "INTRO" => self.remote_intro(&node, &msg, now, out),
            "KILL" => self.killed_from_afar(&msg, out),
            "KILLED" => self.shown_kill(&msg, out),
            "KLINE" => {
                let (Some(mask), Some(duration), Some(by), Some(reason)) = (
                    msg.param(0),
                    msg.param(1).and_then(|d| d.parse::<i64>().ok()),
                    msg.param(2),
                    msg.param(3),
                ) else {
                    warn!("cluster: a malformed KLINE: {:?}", msg.params);
                    return;
                };
                let by = format!("{by} (node {node})");
                if let Err(e) = self.apply_kline(mask, duration, reason, &by, out) {
                    warn!("cluster: node {node}'s K-line not applied: {e}");
                }
            }
            "UNKLINE" => {
                self.lift_kline(msg.param(0).unwrap_or_default(), out);
            }
            "WALL" => {
                self.wall_here(msg.param(0).unwrap_or_default(), out);
            }
            _ => match self.remote_sender(&node, msg.prefix) {
                Some(id) => self.remote_act(id, &msg, out),
                None => {
                    let channel = msg.param(0).filter(|t| t.starts_with('#')).map(fold);
                    self.hold_early(node, msg.prefix, channel, payload, now);
                    return;
                }
            },
        }
        self.replay_early(&node, msg.prefix, now, out);
    }

    /// Holds a line from a user of `node` not known here (yet): its INTRO
    /// may be on its way (see [`Early`]).
    fn hold_early(
        &mut self,
        node: String,
        prefix: &str,
        channel: Option<String>,
        payload: &[u8],
        now: Instant,
    ) {
        debug!("cluster: a line from unknown {prefix} of node {node}: held for its INTRO");
        if self.early.len() >= MAX_EARLY
            && let Some(oldest) = self.early.pop_front()
        {
            warn!(
                "cluster: dropped a line from {} of node {}, never introduced: too many held",
                oldest.nick, oldest.node
            );
        }
        let nick = sender_nick(prefix);
        self.early.push_back(Early {
            node,
            nick,
            channel,
            payload: payload.to_vec(),
            at: now,
            asked: false,
        });
    }

    /// A line from `prefix` of `node` was taken in (their INTRO, their
    /// JOIN): the lines held for them that may go on now do, those for a
    /// channel once they are in it.
    fn replay_early(&mut self, node: &str, prefix: &str, now: Instant, out: &mut dyn Outbox) {
        if self.early.is_empty() {
            return;
        }
        let nick = sender_nick(prefix);
        if !self.early.iter().any(|e| e.node == node && e.nick == nick) {
            return;
        }
        let Some(id) = self.remote_sender(node, prefix) else {
            return;
        };
        let joined = |hub: &Hub, channel: &Option<String>| match channel {
            Some(folded) => hub
                .channel_ids
                .get(folded)
                .is_some_and(|&chan| hub.channels[chan].members.contains_key(&id)),
            None => true,
        };
        let (ready, rest): (VecDeque<Early>, VecDeque<Early>) = std::mem::take(&mut self.early)
            .into_iter()
            .partition(|e| e.node == node && e.nick == nick && joined(self, &e.channel));
        self.early = rest;
        for early in ready {
            self.cluster_line(&early.payload, now, out);
        }
    }

    /// Lines held past [`EARLY_GRACE`]: those whose sender is known by now
    /// go on (to a channel they never joined, as from outside it); for the
    /// others the INTRO was missed, so their nodes tell everything again;
    /// past [`EARLY_LIMIT`] they are dropped, and logged (from the tick).
    pub(super) fn expire_early(&mut self, now: Instant, out: &mut dyn Outbox) {
        if self.early.is_empty() {
            return;
        }
        let (due, waiting): (VecDeque<Early>, VecDeque<Early>) =
            std::mem::take(&mut self.early).into_iter().partition(|e| {
                now.duration_since(e.at) >= EARLY_GRACE
                    && self
                        .find_nick(&e.nick)
                        .is_some_and(|id| self.node_of(id) == Some(e.node.as_str()))
            });
        self.early = waiting;
        for early in due {
            self.cluster_line(&early.payload, now, out);
        }
        while let Some(early) = self.early.front()
            && now.duration_since(early.at) >= EARLY_LIMIT
        {
            warn!(
                "cluster: dropped a line from {} of node {}, never introduced",
                early.nick, early.node
            );
            self.early.pop_front();
        }
        let mut ask = std::collections::BTreeSet::new();
        for early in self.early.iter_mut() {
            if !early.asked && now.duration_since(early.at) >= EARLY_GRACE {
                early.asked = true;
                ask.insert(early.node.clone());
            }
        }
        for node in ask {
            info!("cluster: a user of node {node} was never introduced: asking it again");
            self.publish(Bus::Node(&node), &build("", "HELLO", &[]), out);
        }
    }

    /// Another node's user is to be cut off (`groupchatctl kick`, KILL):
    /// its own node does it, and the network sees it quit from there.
    pub(super) fn drop_remote(
        &mut self,
        id: ClientId,
        why: DisconnectReason,
        reason: &str,
        out: &mut dyn Outbox,
    ) {
        let (Some(node), Some(nick)) = (self.node_of(id), self.nick(id)) else {
            return;
        };
        let word = if why == DisconnectReason::Killed {
            "kill"
        } else {
            "kick"
        };
        let line = build(&self.config.server_name, "KILL", &[nick, word, reason]);
        self.publish(Bus::Node(node), &line, out);
    }

    /// Another node's user is killed from here: its node is asked to show
    /// them the KILL line (`:killer KILLED <nick> :reason`), before the
    /// `KILL` that cuts them off, on the same bus and so in that order.
    pub(super) fn show_kill(
        &self,
        victim: ClientId,
        killer: &str,
        reason: &str,
        out: &mut dyn Outbox,
    ) {
        let (Some(node), Some(nick)) = (self.node_of(victim), self.nick(victim)) else {
            return;
        };
        let line = build(killer, "KILLED", &[nick, reason]);
        self.publish(Bus::Node(node), &line, out);
    }

    /// `:killer KILLED <nick> :reason` from another node: its user killed
    /// one of ours, who sees the KILL line as a local victim would.
    fn shown_kill(&self, msg: &Message, out: &mut dyn Outbox) {
        let (Some(nick), Some(reason)) = (msg.param(0), msg.param(1)) else {
            warn!("cluster: a malformed KILLED: {:?}", msg.params);
            return;
        };
        if let Some(id) = self.find_nick(nick).filter(|&id| id < REMOTE_BASE) {
            out.send(id, &build(msg.prefix, "KILL", &[nick, reason]));
        }
    }

    /// `KILL <nick> <kill|kick> :<reason>` from another node, for a user of
    /// this one.
    fn killed_from_afar(&mut self, msg: &Message, out: &mut dyn Outbox) {
        let (Some(nick), Some(word), Some(reason)) = (msg.param(0), msg.param(1), msg.param(2))
        else {
            warn!("cluster: a malformed KILL: {:?}", msg.params);
            return;
        };
        let Some(id) = self.find_nick(nick).filter(|&id| id < REMOTE_BASE) else {
            return;
        };
        let why = if word == "kill" {
            DisconnectReason::Killed
        } else {
            DisconnectReason::Kicked
        };
        info!("cluster: {nick} cut off at another node's request: {reason}");
        self.drop_client(id, why, reason, out);
    }

    /// A node begins telling all its users: a new boot mark means it
    /// restarted, and every user it had is gone; otherwise those not
    /// re-announced before `SYNCED` are.
    fn peer_sync(&mut self, node: &str, boot: &str, out: &mut dyn Outbox) {
        let restarted = self
            .peers
            .get_mut(node)
            .map(|peer| std::mem::replace(&mut peer.boot, boot.to_string()))
            .is_some_and(|before| !before.is_empty() && before != boot);
        if restarted {
            let reason = format!("Quit: node {node} restarted");
            self.drop_users_of(node, &reason, |_| true, out);
        }
        for (_, remote) in self.remotes.iter_mut() {
            if remote.node == node {
                remote.stale = true;
            }
        }
    }

    /// The user of `node` whose `nick!user@host` this is.
    fn remote_sender(&self, node: &str, prefix: &str) -> Option<ClientId> {
        let nick = prefix.split('!').next()?;
        self.find_nick(nick)
            .filter(|&id| self.node_of(id) == Some(node))
    }

    /// A user of another node, new or re-announced. A nick held here
    /// already goes to whoever signed on first (the lower node name on a
    /// tie): a local user who loses it is renamed and told.
    fn remote_intro(&mut self, node: &str, msg: &Message, now: Instant, out: &mut dyn Outbox) {
        let (Some(signon), Some(account), Some(modes), Some(channels), Some(realname)) = (
            msg.param(0).and_then(|s| s.parse::<u64>().ok()),
            msg.param(1),
            msg.param(2),
            msg.param(3),
            msg.param(4),
        ) else {
            warn!(
                "cluster: node {node} sent a malformed INTRO: {:?}",
                msg.params
            );
            return;
        };
        let Some((nick, user, host)) =
            split_prefix(msg.prefix).filter(|(nick, ..)| valid_nick(nick, usize::MAX))
        else {
            warn!("cluster: node {node} sent an INTRO for {:?}", msg.prefix);
            return;
        };
        // A look-alike of a nick in use collides as the nick itself would.
        let holder = self
            .find_nick(nick)
            .or_else(|| self.look_alike_holder(usize::MAX, nick));
        let id = match holder {
            Some(id)
                if self.node_of(id) == Some(node)
                    && self.nick(id).is_some_and(|n| fold(n) == fold(nick)) =>
            {
                id
            }
            Some(holder) => {
                let Some(mine) = self.client(holder).map(|c| (c.signon, c.registered)) else {
                    return;
                };
                let here = self.node_of(holder).or(self.config.node.as_deref());
                let theirs_first = (signon, node) < (mine.0, here.unwrap_or_default());
                if !theirs_first && mine.1 {
                    // Ours keeps it; its node renames its own and says so.
                    return;
                }
                self.yield_nick(holder, out);
                self.new_remote(node, now)
            }
            None => self.new_remote(node, now),
        };
        let Some(client) = self.client_mut(id) else {
            return;
        };
        if client.nick != nick {
            if !client.nick.is_empty() {
                let old = std::mem::take(&mut client.nick);
                self.release_nick(&old);
            }
            self.claim_nick(id, nick);
        }
        let Some(client) = self.client_mut(id) else {
            return;
        };
        client.nick = nick.to_string();
        client.user = user.to_string();
        client.host = host.to_string();
        client.prefix = msg.prefix.to_string();
        client.realname = realname.to_string();
        client.signon = signon;
        client.invisible = modes.contains('i');
        client.oper = modes.contains('o').then(|| "network".to_string());
        self.census.set(None);
        if let Some(key) = id.checked_sub(REMOTE_BASE)
            && let Some(remote) = self.remotes.get_mut(key)
        {
            remote.stale = false;
        }
        // A login since it was announced: account-notify peers see it.
        let account = (account != "*").then(|| account.to_string());
        if self.client(id).is_some_and(|c| c.account != account) {
            self.set_account(id, account, out);
        }
        self.remote_channels(id, channels, out);
    }

    /// A new user of `node`, registered, not yet named.
    fn new_remote(&mut self, node: &str, now: Instant) -> ClientId {
        let mut client = Client::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), false, now);
        client.registered = true;
        let key = self.remotes.insert(Remote {
            client,
            node: node.to_string(),
            stale: false,
        });
        REMOTE_BASE + key
    }

    /// A nick held here goes to a user of another node that signed on
    /// first: a local holder is renamed (and told, and the network sees
    /// it); a holder of a third node is renamed by its own node, and taken
    /// out here until that node tells it again.
    fn yield_nick(&mut self, holder: ClientId, out: &mut dyn Outbox) {
        if holder >= REMOTE_BASE {
            self.remove_client(holder, "Quit: nick collision", None, out);
            return;
        }
        let Some(old) = self.nick(holder).map(str::to_string) else {
            return;
        };
        let mut serial = holder;
        let new = loop {
            let candidate = format!("Guest{serial}");
            if self.find_nick(&candidate).is_none() {
                break candidate;
            }
            serial += 1_000_000;
        };
        info!("cluster: {old} was registered on another node first: renamed {new}");
        self.rename(holder, &new, out);
        let text = format!(
            "Your nick {old} was taken on another node of the network first: you are now {new}"
        );
        let line = build(&self.config.server_name, "NOTICE", &[&new, &text]);
        out.send(holder, &line);
    }

    /// Brings a user's channels in line with `listed` (`@#a,+#b,#c` or
    /// `*`): joins the missing ones, leaves the others, sets the status.
    fn remote_channels(&mut self, id: ClientId, listed: &str, out: &mut dyn Outbox) {
        let mut wanted = Vec::new();
        for entry in listed.split(',').filter(|e| *e != "*" && !e.is_empty()) {
            let (entry, created) = match entry.rsplit_once(':') {
                Some((entry, created)) => (entry, created.parse().ok()),
                None => (entry, None),
            };
            let name = entry.trim_start_matches(['@', '+']);
            let status = &entry[..entry.len() - name.len()];
            if valid_channel(name, self.config.channel_len) {
                let chan = self.channel_for(name);
                let member = self.settle_channel_age(chan, created, status_member(status), out);
                wanted.push((chan, member));
            }
        }
        let joined = self
            .client(id)
            .map(|c| c.channels.clone())
            .unwrap_or_default();
        for chan in joined {
            if !wanted.iter().any(|&(c, _)| c == chan) {
                let stamp = self.stamp();
                self.remote_leave(id, chan, "PART", &[], stamp, out);
            }
        }
        for (chan, member) in wanted {
            if !self.enter_channel(id, chan, member, out)
                && let Some(status) = self.channels[chan].members.get_mut(&id)
            {
                *status = member;
            }
        }
    }

    /// The status a member of `chan` keeps when its node's copy of the
    /// channel was created at `theirs` (unix seconds), as the timestamp
    /// rule of IRC networks has it, so that nobody gains operator status by
    /// recreating a channel on a node cut off from the rest: the older
    /// channel wins. A younger one elsewhere brings its members without
    /// their status; when ours is the younger, every status here goes
    /// (shown to local members) and theirs is kept. A new or empty channel
    /// takes their age; the default channel, which every node has from its
    /// start and whose operators come from the config, is left alone.
    fn settle_channel_age(
        &mut self,
        chan: ChannelId,
        theirs: Option<u64>,
        member: Member,
        out: &mut dyn Outbox,
    ) -> Member {
        let (Some(theirs), Some(channel)) = (theirs, self.channels.get(chan)) else {
            return member;
        };
        if self.is_default_channel(&channel.name) || theirs == channel.created {
            return member;
        }
        if channel.members.is_empty() {
            self.channels[chan].created = theirs;
            return member;
        }
        if theirs > channel.created {
            return Member {
                banned: member.banned,
                ..Member::default()
            };
        }
        let channel = &mut self.channels[chan];
        channel.created = theirs;
        let mut lost = Vec::new();
        for (&id, status) in channel.members.iter_mut() {
            if status.op {
                lost.push(('o', id));
            }
            if status.voice {
                lost.push(('v', id));
            }
            status.op = false;
            status.voice = false;
        }
        let channel = &self.channels[chan];
        for (letter, id) in lost {
            let Some(nick) = self.nick(id) else {
                continue;
            };
            let flag = format!("-{letter}");
            let line = build(
                &self.config.server_name,
                "MODE",
                &[&channel.name, &flag, nick],
            );
            for to in channel.local_members() {
                out.send(to, &line);
            }
        }
        info!(
            "cluster: {} is older on another node: statuses made here since are void",
            channel.name
        );
        member
    }

    /// The channel `name`, made if it does not exist here yet.
    fn channel_for(&mut self, name: &str) -> ChannelId {
        match self.channel_ids.get(&fold(name)) {
            Some(&chan) => chan,
            None => self.create_channel(name),
        }
    }

    /// Takes user `id` out of `chan`, showing `command` (PART or KICK, with
    /// `params` after the channel) to the local members.
    fn remote_leave(
        &mut self,
        id: ClientId,
        chan: ChannelId,
        command: &str,
        params: &[&str],
        stamp: (i64, u64),
        out: &mut dyn Outbox,
    ) {
        let (Some(client), Some(channel)) = (self.client(id), self.channels.get(chan)) else {
            return;
        };
        let mut all = vec![channel.name.as_str()];
        all.extend_from_slice(params);
        let line = build(&client.prefix, command, &all);
        let (prefix, name) = (client.prefix.clone(), channel.name.clone());
        let mut peers = Vec::new();
        self.leave_channel(chan, id, &mut peers, out);
        for peer in peers {
            out.send(peer, &line);
        }
        self.record_event(
            &prefix,
            Kind::Part,
            &name,
            params.last().copied().unwrap_or_default(),
            stamp,
            out,
        );
        if let Some(client) = self.client_mut(id) {
            client.channels.retain(|&c| c != chan);
        }
    }

    /// What a known user of another node did.
    fn remote_act(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let channel = |hub: &Hub| {
            msg.param(0)
                .and_then(|name| hub.channel_ids.get(&fold(name)).copied())
        };
        match msg.command {
            "NICK" => match msg.param(0) {
                Some(nick) if valid_nick(nick, usize::MAX) => {
                    let holder = self
                        .find_nick(nick)
                        .or_else(|| self.look_alike_holder(id, nick));
                    if let Some(holder) = holder.filter(|&h| h != id) {
                        self.yield_nick(holder, out);
                    }
                    self.rename(id, nick, out);
                }
                _ => warn!("cluster: a NICK without a valid nick: {:?}", msg.params),
            },
            "JOIN" => {
                let Some(name) = msg
                    .param(0)
                    .filter(|n| valid_channel(n, self.config.channel_len))
                else {
                    return;
                };
                let chan = self.channel_for(name);
                let member = status_member(msg.param(1).unwrap_or_default());
                let created = msg.param(2).and_then(|c| c.parse().ok());
                let member = self.settle_channel_age(chan, created, member, out);
                let stamp = self.heard_stamp(id, msg);
                if self.enter_channel(id, chan, member, out)
                    && let Some(prefix) = self.client(id).map(|c| c.prefix.clone())
                {
                    self.record_event(&prefix, Kind::Join, name, "", stamp, out);
                }
            }
            "PART" => {
                if let Some(chan) = channel(self) {
                    let reason: Vec<&str> = msg.param(1).into_iter().collect();
                    let stamp = self.heard_stamp(id, msg);
                    self.remote_leave(id, chan, "PART", &reason, stamp, out);
                }
            }
            "KICK" => {
                let victim = msg.param(1).and_then(|n| self.find_nick(n));
                if let (Some(chan), Some(victim)) = (channel(self), victim) {
                    self.kicked(id, chan, victim, msg.param(2).unwrap_or_default(), out);
                }
            }
            "QUIT" => {
                let channels = self.client(id).map_or(0, |c| c.channels.len());
                let run = self.heard_run(id, msg, channels);
                self.remove_client(id, msg.param(0).unwrap_or("Quit"), Some(run), out);
            }
            "TOPIC" => {
                if let Some(chan) = channel(self) {
                    self.set_topic(id, chan, msg.param(1).unwrap_or_default(), out);
                }
            }
            "AWAY" => {
                let away = msg.param(0).filter(|a| !a.is_empty());
                self.set_away(id, away.map(str::to_string), out);
            }
            "PRIVMSG" | "NOTICE" | "TAGMSG" => self.remote_message(id, msg, out),
            "MODE" if channel(self).is_some() => self.channel_mode(id, msg, out),
            "MODE" => self.remote_user_mode(id, msg.param(1).unwrap_or_default()),
            "INVITE" => {
                let target = msg.param(0).and_then(|n| self.find_nick(n));
                let chan = msg
                    .param(1)
                    .and_then(|name| self.channel_ids.get(&fold(name)).copied());
                if let (Some(target), Some(chan)) = (target, chan) {
                    self.invited(id, target, chan, out);
                }
            }
            "WALLOPS" => {
                let line = build(msg.prefix, "WALLOPS", &[msg.param(0).unwrap_or_default()]);
                self.send_wallops(&line, out);
            }
            other => warn!("cluster: dropped an unknown {other:?} from another node"),
        }
    }
}

impl Hub {
    /// Another node's user changed its own modes (`+i`, `+w`, `+o` by
    /// OPER there, `-o`).
    fn remote_user_mode(&mut self, id: ClientId, modes: &str) {
        let Some(client) = self.client_mut(id) else {
            return;
        };
        let mut adding = true;
        for flag in modes.chars() {
            match flag {
                '+' | '-' => adding = flag == '+',
                'i' => client.invisible = adding,
                'w' => client.wallops = adding,
                'o' => client.oper = adding.then(|| "network".to_string()),
                _ => {}
            }
        }
        self.census.set(None);
    }
}

/// A member status from its prefixes (`@`, `+`, `@+`; `-` or empty: none).
fn status_member(status: &str) -> Member {
    Member {
        op: status.contains('@'),
        voice: status.contains('+'),
        banned: false,
    }
}

/// The folded nick of a `nick!user@host` prefix.
fn sender_nick(prefix: &str) -> String {
    fold(prefix.split('!').next().unwrap_or_default())
}

/// `nick!user@host` in its three parts.
fn split_prefix(prefix: &str) -> Option<(&str, &str, &str)> {
    let (nick, rest) = prefix.split_once('!')?;
    let (user, host) = rest.split_once('@')?;
    (!nick.is_empty() && !user.is_empty() && !host.is_empty()).then_some((nick, user, host))
}
