//! The state of one channel: its members and their status, its modes, and
//! its ban and exception lists. Data and the rules that read it; the
//! commands that change it live in `channels.rs`, `modes.rs` and
//! `chanops.rs`.

use super::{ClientId, REMOTE_BASE};
use crate::mask::{Mask, Subject};
use std::collections::BTreeMap;
use std::time::Instant;

/// How many entries the ban list holds at most (`MAXLIST=b:200,e:100`):
/// enough for a channel that has to keep out many, and since a member's
/// banned flag is worked out on join and nick change, a long list costs
/// nothing per message.
pub(super) const MAX_BANS: usize = 200;
/// How many entries the exception list holds at most.
pub(super) const MAX_EXCEPTS: usize = 100;

pub(super) struct Channel {
    pub name: String,
    /// Ordered so that every listing and every broadcast is deterministic.
    pub members: BTreeMap<ClientId, Member>,
    pub topic: Option<Topic>,
    pub created: u64,
    /// Tells this channel from an earlier one of the same name (and slab
    /// slot), so that an invitation does not outlive its channel.
    pub serial: u64,
    pub modes: ChannelModes,
    /// The account it is registered to (see `kept.rs`).
    pub owner: Option<String>,
    pub bans: Vec<ListEntry>,
    pub excepts: Vec<ListEntry>,
    /// Presence events not relayed one by one while the channel is large.
    pub joined_since: u32,
    pub left_since: u32,
    pub last_summary: Instant,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Topic {
    pub text: String,
    pub set_by: String,
    pub set_at: u64,
}

/// One member's status in a channel.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Member {
    pub op: bool,
    pub voice: bool,
    /// Matches a ban and no exception. Kept up to date when the lists
    /// change, on join and on nick change, so that a message costs one
    /// lookup however long the lists are.
    pub banned: bool,
}

impl Member {
    /// The prefixes NAMES, WHO and WHOIS show: every one with
    /// `multi-prefix`, else the highest.
    pub fn prefixes(self, multi: bool) -> &'static str {
        match (self.op, self.voice) {
            (true, true) if multi => "@+",
            (true, _) => "@",
            (false, true) => "+",
            (false, false) => "",
        }
    }

    /// Ops and voiced members speak through `+m` and bans.
    pub fn privileged(self) -> bool {
        self.op || self.voice
    }
}

/// The channel's simple modes.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct ChannelModes {
    /// `+i`: only the invited join.
    pub invite_only: bool,
    /// `+m`: only ops and voiced members speak.
    pub moderated: bool,
    /// `+n`: only members speak.
    pub no_external: bool,
    /// `+t`: only ops set the topic.
    pub topic_ops: bool,
    /// `+k`
    pub key: Option<String>,
    /// `+l`
    pub limit: Option<usize>,
}

impl ChannelModes {
    /// What a new channel starts with: `+nt`.
    pub fn new_channel() -> ChannelModes {
        ChannelModes {
            no_external: true,
            topic_ops: true,
            ..ChannelModes::default()
        }
    }

    /// The `324` mode string and its arguments. The key is shown to members
    /// only; others see `<key>` in its place.
    pub fn describe(&self, show_key: bool) -> Vec<String> {
        let mut flags = String::from("+");
        let mut args = Vec::new();
        for (on, c) in [
            (self.invite_only, 'i'),
            (self.moderated, 'm'),
            (self.no_external, 'n'),
            (self.topic_ops, 't'),
        ] {
            if on {
                flags.push(c);
            }
        }
        if let Some(key) = &self.key {
            flags.push('k');
            args.push(if show_key {
                key.clone()
            } else {
                "<key>".into()
            });
        }
        if let Some(limit) = self.limit {
            flags.push('l');
            args.push(limit.to_string());
        }
        args.insert(0, flags);
        args
    }
}

/// One ban or exception, with who set it and when (`367`/`348`).
pub(super) struct ListEntry {
    pub mask: Mask,
    pub set_by: String,
    pub set_at: u64,
}

/// The two mask lists a channel has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ListKind {
    Ban,
    Except,
}

impl ListKind {
    /// How many entries the list holds at most.
    pub fn limit(self) -> usize {
        match self {
            ListKind::Ban => MAX_BANS,
            ListKind::Except => MAX_EXCEPTS,
        }
    }

    pub fn letter(self) -> char {
        match self {
            ListKind::Ban => 'b',
            ListKind::Except => 'e',
        }
    }
}

impl Channel {
    pub fn new(name: &str, serial: u64, created: u64, now: Instant) -> Channel {
        Channel {
            name: name.to_string(),
            members: BTreeMap::new(),
            topic: None,
            created,
            serial,
            modes: ChannelModes::new_channel(),
            owner: None,
            bans: Vec::new(),
            excepts: Vec::new(),
            joined_since: 0,
            left_since: 0,
            last_summary: now,
        }
    }

    /// Large channels do not relay joins, parts and quits one by one.
    /// The members on this node, in order: other nodes' users have the
    /// highest ids ([`REMOTE_BASE`] up), so they come last.
    pub fn local_members(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.members.range(..REMOTE_BASE).map(|(&id, _)| id)
    }

    /// Whether users of other nodes are in the channel.
    pub fn has_remote_members(&self) -> bool {
        self.members.range(REMOTE_BASE..).next().is_some()
    }

    pub fn is_large(&self, threshold: usize) -> bool {
        self.members.len() > threshold
    }

    pub fn is_op(&self, id: ClientId) -> bool {
        self.members.get(&id).is_some_and(|m| m.op)
    }

    pub fn list(&self, kind: ListKind) -> &Vec<ListEntry> {
        match kind {
            ListKind::Ban => &self.bans,
            ListKind::Except => &self.excepts,
        }
    }

    pub fn list_mut(&mut self, kind: ListKind) -> &mut Vec<ListEntry> {
        match kind {
            ListKind::Ban => &mut self.bans,
            ListKind::Except => &mut self.excepts,
        }
    }

    /// Whether `who` matches a ban and no exception: the full check, for
    /// joins, nick changes and list changes, never per message.
    pub fn is_banned(&self, who: Subject) -> bool {
        self.bans.iter().any(|b| b.mask.matches(who))
            && !self.excepts.iter().any(|e| e.mask.matches(who))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_show_the_highest_or_all() {
        let both = Member {
            op: true,
            voice: true,
            banned: false,
        };
        assert_eq!(both.prefixes(true), "@+");
        assert_eq!(both.prefixes(false), "@");
        let voiced = Member {
            voice: true,
            ..Member::default()
        };
        assert_eq!(voiced.prefixes(true), "+");
        assert_eq!(Member::default().prefixes(true), "");
    }

    #[test]
    fn modes_describe_themselves_and_hide_the_key() {
        let mut modes = ChannelModes::new_channel();
        assert_eq!(modes.describe(true), ["+nt"]);
        modes.key = Some("sesame".into());
        modes.limit = Some(5);
        modes.moderated = true;
        assert_eq!(modes.describe(true), ["+mntkl", "sesame", "5"]);
        assert_eq!(modes.describe(false), ["+mntkl", "<key>", "5"]);
    }
}
