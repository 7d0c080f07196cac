//! What the admin socket asks of the hub: who is here, which channels
//! exist, and the two orders an operator gives (kick, wall).

use super::{Bus, ClientId, Hub, Outbox, REMOTE_BASE};
use crate::message::build;
use crate::stats::DisconnectReason;
use std::time::{Duration, Instant};

/// One client as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSummary {
    pub id: ClientId,
    pub nick: Option<String>,
    pub registered: bool,
    pub channels: Vec<String>,
    pub connected_for: Duration,
    /// Since the client last sent a message (PRIVMSG or NOTICE).
    pub idle_for: Duration,
    /// The other node of the cluster it is on.
    pub node: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSummary {
    pub name: String,
    pub members: usize,
    pub topic: Option<String>,
    /// The account it is registered to.
    pub owner: Option<String>,
}

impl Hub {
    /// Every client, in connection order, then the other nodes' users.
    pub fn client_summaries(&self, now: Instant) -> Vec<ClientSummary> {
        let here = self
            .clients
            .iter()
            .enumerate()
            .filter_map(|(id, c)| Some((id, c.as_ref()?)));
        let elsewhere = self
            .remotes
            .iter()
            .map(|(key, r)| (REMOTE_BASE + key, &r.client));
        here.chain(elsewhere)
            .map(|(id, c)| ClientSummary {
                id,
                nick: self.nick(id).map(str::to_string),
                registered: c.registered,
                channels: c
                    .channels
                    .iter()
                    .filter_map(|&ch| self.channels.get(ch))
                    .map(|ch| ch.name.clone())
                    .collect(),
                connected_for: now.saturating_duration_since(c.connected_at),
                idle_for: now.saturating_duration_since(c.last_message),
                node: self.node_of(id).map(str::to_string),
            })
            .collect()
    }

    /// Every channel, and every registered one nobody is in, sorted by
    /// name.
    pub fn channel_summaries(&self) -> Vec<ChannelSummary> {
        let mut all: Vec<ChannelSummary> = self
            .channels
            .iter()
            .map(|(_, ch)| ChannelSummary {
                name: ch.name.clone(),
                members: ch.members.len(),
                topic: ch.topic.as_ref().map(|t| t.text.clone()),
                owner: ch.owner.clone(),
            })
            .collect();
        // Registered channels nobody is in, as kept.
        all.extend(
            self.kept
                .iter()
                .filter(|(key, _)| !self.channel_ids.contains_key(*key))
                .map(|(_, kept)| ChannelSummary {
                    name: kept.name.clone(),
                    members: 0,
                    topic: kept.topic.as_ref().map(|t| t.text.clone()),
                    owner: kept.owner.clone(),
                }),
        );
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Disconnects the client using `nick`; its channels see
    /// `Kicked by admin[: reason]` as its quit reason.
    pub fn kick(
        &mut self,
        nick: &str,
        reason: Option<&str>,
        out: &mut dyn Outbox,
    ) -> Result<String, String> {
        let id = self
            .find_nick(nick)
            .ok_or_else(|| format!("no client is using the nick {nick}"))?;
        let nick = self.nick(id).unwrap_or(nick).to_string();
        let reason = match reason.filter(|r| !r.is_empty()) {
            Some(reason) => format!("Kicked by admin: {reason}"),
            None => "Kicked by admin".to_string(),
        };
        // Another node's user is cut off by its node, on our word.
        let at = match self.node_of(id) {
            Some(node) => format!(" on node {node}"),
            None => String::new(),
        };
        self.drop_client(id, DisconnectReason::Kicked, &reason, out);
        Ok(format!("kicked {nick}{at} ({reason})"))
    }

    /// A server notice to every registered client: one line, shared by all.
    /// Its target is `*` so that the same bytes fit every recipient.
    /// On a cluster the other nodes tell theirs too; the count is this
    /// node's.
    pub fn wall(&mut self, text: &str, out: &mut dyn Outbox) -> usize {
        self.publish(Bus::Net, &build("", "WALL", &[text]), out);
        self.wall_here(text, out)
    }

    /// [`Hub::wall`] on this node only.
    pub(super) fn wall_here(&self, text: &str, out: &mut dyn Outbox) -> usize {
        let line = build(&self.config.server_name, "NOTICE", &["*", text]);
        let mut told = 0;
        for (id, client) in self.clients.iter().enumerate() {
            if client.as_ref().is_some_and(|c| c.registered) {
                out.send(id, &line);
                told += 1;
            }
        }
        told
    }
}
