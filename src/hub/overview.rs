//! What the admin socket asks of the hub: who is here, which channels
//! exist, and the two orders an operator gives (kick, wall).

use super::{ClientId, Hub, Outbox};
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSummary {
    pub name: String,
    pub members: usize,
    pub topic: Option<String>,
}

impl Hub {
    /// Every client, in connection order.
    pub fn client_summaries(&self, now: Instant) -> Vec<ClientSummary> {
        self.clients
            .iter()
            .enumerate()
            .filter_map(|(id, c)| Some((id, c.as_ref()?)))
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
            })
            .collect()
    }

    /// Every channel, sorted by name.
    pub fn channel_summaries(&self) -> Vec<ChannelSummary> {
        let mut all: Vec<ChannelSummary> = self
            .channels
            .iter()
            .map(|(_, ch)| ChannelSummary {
                name: ch.name.clone(),
                members: ch.members.len(),
                topic: ch.topic.as_ref().map(|t| t.text.clone()),
            })
            .collect();
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
        self.drop_client(id, DisconnectReason::Kicked, &reason, out);
        Ok(format!("kicked {nick} ({reason})"))
    }

    /// A server notice to every registered client: one line, shared by all.
    /// Its target is `*` so that the same bytes fit every recipient.
    pub fn wall(&mut self, text: &str, out: &mut dyn Outbox) -> usize {
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
