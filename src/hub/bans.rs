//! Keeping each member's `banned` flag true, so that whether a member may
//! speak is one lookup: the flag is worked out when a member joins (in
//! JOIN), when a ban or exception is added or lifted, and when a member
//! changes nick; never per message.

use super::channel::{Channel, ListKind};
use super::{ChannelId, ClientId, Hub};
use crate::mask::{Mask, Subject};
use crate::names::fold;

impl Hub {
    /// Updates the `banned` flag of the members a list change can affect:
    /// a new ban only needs itself (and the exceptions) checked against the
    /// members not yet banned; a lifted ban or a new exception can only
    /// free banned members; a lifted exception can only ban free ones.
    pub(super) fn refresh_banned(
        &mut self,
        chan: ChannelId,
        kind: ListKind,
        adding: bool,
        mask: &Mask,
    ) {
        let Some(channel) = self.channels.get_mut(chan) else {
            return;
        };
        let Channel {
            members,
            bans,
            excepts,
            ..
        } = channel;
        for (&member, status) in members.iter_mut() {
            let Some(client) = self.clients.get(member).and_then(Option::as_ref) else {
                continue;
            };
            let may_change = match (kind, adding) {
                (ListKind::Ban, true) | (ListKind::Except, false) => !status.banned,
                (ListKind::Ban, false) | (ListKind::Except, true) => status.banned,
            };
            if !may_change {
                continue;
            }
            let folded = fold(&client.prefix);
            let who = Subject {
                folded_prefix: &folded,
            };
            status.banned = match (kind, adding) {
                (ListKind::Ban, true) => {
                    mask.matches(who) && !excepts.iter().any(|e| e.mask.matches(who))
                }
                _ => {
                    bans.iter().any(|b| b.mask.matches(who))
                        && !excepts.iter().any(|e| e.mask.matches(who))
                }
            };
        }
    }

    /// Works out `id`'s flag afresh in each of its channels, after a nick
    /// change: the new nick may match a ban, or no longer match one.
    pub(super) fn refresh_banned_member(&mut self, id: ClientId) {
        let Some(client) = self.clients.get(id).and_then(Option::as_ref) else {
            return;
        };
        let folded = fold(&client.prefix);
        let who = Subject {
            folded_prefix: &folded,
        };
        for &chan in &client.channels {
            let Some(channel) = self.channels.get_mut(chan) else {
                continue;
            };
            let banned = channel.is_banned(who);
            if let Some(member) = channel.members.get_mut(&id) {
                member.banned = banned;
            }
        }
    }

    /// A channel where `id` is banned and neither op nor voiced: a member
    /// who may not speak there may not change nick either, or a new nick
    /// would be a way around the ban (as in ratbox and its descendants,
    /// `435`).
    pub(super) fn banned_in(&self, id: ClientId) -> Option<String> {
        let client = self.client(id)?;
        client.channels.iter().find_map(|&chan| {
            let channel = self.channels.get(chan)?;
            let member = channel.members.get(&id)?;
            (member.banned && !member.privileged()).then(|| channel.name.clone())
        })
    }
}
