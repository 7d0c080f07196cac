//! Registered channels: the ones kept across restarts.
//!
//! The rule, meant to be told in one breath to a class or a team: **a
//! channel created by someone logged in to an account belongs to that
//! account.** Its modes, topic, bans and exceptions, and its creation
//! time, outlive restarts and its members leaving: once empty it is
//! remade as it was on the next join. Its owner gets `@` on joining, and
//! gets in through its `+i`, `+k`, `+l` and bans. The default channel is
//! kept too, with no owner (its operators are `server.lobby_operators`).
//! The host gives a channel to an account, or stops keeping it, with
//! `groupchatctl channel register|drop`.
//!
//! The hub holds every registered channel's last state in memory (a few
//! hundred bytes each), so a join never waits for the disk, and hands each
//! change to the accounts worker to store ([`Outbox::keep`]), as it does
//! K-lines. The state is JSON that only this module makes and reads.

use super::channel::{Channel, ChannelModes, ListEntry, ListKind, Topic};
use super::{ChannelId, ClientId, Hub, Outbox};
use crate::accounts::Keep;
use crate::mask::Mask;
use crate::names::{fold, valid_channel};
use serde::{Deserialize, Serialize};

/// A registered channel as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Record {
    pub(super) name: String,
    /// The owner's account, as registered; `None` for the default channel.
    pub(super) owner: Option<String>,
    created: u64,
    pub(super) topic: Option<Topic>,
    modes: ChannelModes,
    bans: Vec<Entry>,
    excepts: Vec<Entry>,
}

/// One ban or exception as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    mask: String,
    set_by: String,
    set_at: u64,
}

impl Record {
    fn of(channel: &Channel) -> Record {
        let entries = |kind| {
            channel
                .list(kind)
                .iter()
                .map(|e: &ListEntry| Entry {
                    mask: e.mask.text().to_string(),
                    set_by: e.set_by.clone(),
                    set_at: e.set_at,
                })
                .collect()
        };
        Record {
            name: channel.name.clone(),
            owner: channel.owner.clone(),
            created: channel.created,
            topic: channel.topic.clone(),
            modes: channel.modes.clone(),
            bans: entries(ListKind::Ban),
            excepts: entries(ListKind::Except),
        }
    }

    /// Puts the kept state back into a channel that has just been made.
    fn restore(&self, channel: &mut Channel) {
        let entries = |list: &[Entry]| {
            list.iter()
                .filter_map(|e| {
                    Some(ListEntry {
                        mask: Mask::parse(&e.mask)?,
                        set_by: e.set_by.clone(),
                        set_at: e.set_at,
                    })
                })
                .collect()
        };
        // As registered, whatever case the joiner typed.
        channel.name.clone_from(&self.name);
        channel.owner = self.owner.clone();
        channel.created = self.created;
        channel.topic = self.topic.clone();
        channel.modes = self.modes.clone();
        channel.bans = entries(&self.bans);
        channel.excepts = entries(&self.excepts);
    }
}

impl Hub {
    /// The registered channels read from the store at start. The default
    /// channel, made already, takes its kept state at once.
    pub fn set_kept_channels(&mut self, states: Vec<String>) {
        for state in states {
            match serde_json::from_str::<Record>(&state) {
                Ok(record) => {
                    self.kept.insert(fold(&record.name), record);
                }
                Err(e) => log::warn!("ignoring a stored channel that does not read ({e}): {state}"),
            }
        }
        let lobby = fold(&self.config.default_channel);
        if let (Some(record), Some(&chan)) = (self.kept.get(&lobby), self.channel_ids.get(&lobby)) {
            record.restore(&mut self.channels[chan]);
        }
    }

    /// Gives a channel just made its kept state, if it is registered;
    /// true if it was.
    pub(super) fn restore_channel(&mut self, chan: ChannelId) -> bool {
        let Some(channel) = self.channels.get_mut(chan) else {
            return false;
        };
        match self.kept.get(&fold(&channel.name)) {
            Some(record) => {
                record.restore(channel);
                true
            }
            None => false,
        }
    }

    /// Whether `id` is logged in to the account that owns channel `folded`.
    pub(super) fn owns(&self, id: ClientId, folded: &str) -> bool {
        let owner = self.kept.get(folded).and_then(|r| r.owner.as_deref());
        let account = self.client(id).and_then(|c| c.account.as_deref());
        matches!((owner, account), (Some(o), Some(a)) if fold(o) == fold(a))
    }

    /// A channel just made by `id`: it belongs to `id`'s account, if any.
    pub(super) fn register_to_creator(
        &mut self,
        id: ClientId,
        chan: ChannelId,
        out: &mut dyn Outbox,
    ) {
        let Some(account) = self.client(id).and_then(|c| c.account.clone()) else {
            return;
        };
        if let Some(channel) = self.channels.get_mut(chan) {
            log::info!("{} is registered to {account}, who made it", channel.name);
            channel.owner = Some(account);
            self.keep_channel(chan, out);
        }
    }

    /// Stores a registered channel's state after a change (modes, lists,
    /// topic); nothing for the others.
    pub(super) fn keep_channel(&mut self, chan: ChannelId, out: &mut dyn Outbox) {
        let Some(channel) = self.channels.get(chan) else {
            return;
        };
        if channel.owner.is_none() && !self.is_default_channel(&channel.name) {
            return;
        }
        let record = Record::of(channel);
        self.store_record(fold(&channel.name), record, out);
    }

    fn store_record(&mut self, key: String, record: Record, out: &mut dyn Outbox) {
        match serde_json::to_string(&record) {
            Ok(state) => {
                out.keep(Keep::Channel {
                    key: key.clone(),
                    state: Some(state),
                });
                self.kept.insert(key, record);
            }
            Err(e) => log::error!("cannot keep {}: {e}", record.name),
        }
    }

    /// `groupchatctl channel register NAME --owner ACCOUNT`: the channel
    /// belongs to the account from now on (made as a new channel would be,
    /// if nobody is in it).
    pub fn register_channel(
        &mut self,
        name: &str,
        owner: &str,
        out: &mut dyn Outbox,
    ) -> Result<String, String> {
        if !valid_channel(name, self.config.channel_len) {
            return Err(format!("{name} is not a channel name"));
        }
        if self.is_default_channel(name) {
            return Err(format!(
                "{name} is the default channel: it is always kept, and its operators are server.lobby_operators"
            ));
        }
        if !self.accounts.contains(&fold(owner)) {
            return Err(format!("there is no account {owner}"));
        }
        let key = fold(name);
        match self.channel_ids.get(&key).copied() {
            Some(chan) => {
                self.channels[chan].owner = Some(owner.to_string());
                self.keep_channel(chan, out);
            }
            None => {
                let mut record = self.kept.get(&key).cloned().unwrap_or_else(|| Record {
                    name: name.to_string(),
                    owner: None,
                    created: super::unix_now(),
                    topic: None,
                    modes: ChannelModes::new_channel(),
                    bans: Vec::new(),
                    excepts: Vec::new(),
                });
                record.owner = Some(owner.to_string());
                self.store_record(key.clone(), record, out);
            }
        }
        let name = &self.kept[&key].name;
        log::info!("admin: {name} is registered to {owner}");
        Ok(format!("{name} is registered to {owner}"))
    }

    /// `groupchatctl channel drop NAME`: the channel is no longer kept,
    /// and goes when its last member leaves.
    pub fn drop_channel(&mut self, name: &str, out: &mut dyn Outbox) -> Result<String, String> {
        let key = fold(name);
        if self.is_default_channel(name) {
            return Err(format!(
                "{name} is the default channel, which is always kept"
            ));
        }
        let Some(name) = self.forget_channel(key, out) else {
            return Err(format!("{name} is not registered"));
        };
        log::info!("admin: {name} is no longer registered");
        Ok(format!("{name} is no longer registered"))
    }

    /// An account was deleted: its channels are no longer kept, so that
    /// whoever gets the name next does not get them too.
    pub(super) fn drop_channels_of(&mut self, account: &str, out: &mut dyn Outbox) {
        let folded = fold(account);
        let owned: Vec<String> = self
            .kept
            .iter()
            .filter(|(_, r)| r.owner.as_deref().is_some_and(|o| fold(o) == folded))
            .map(|(key, _)| key.clone())
            .collect();
        for key in owned {
            if let Some(name) = self.forget_channel(key, out) {
                log::info!("{name} is no longer registered: its owner's account was deleted");
            }
        }
    }

    /// Stops keeping channel `key`; its name, if it was kept.
    fn forget_channel(&mut self, key: String, out: &mut dyn Outbox) -> Option<String> {
        let record = self.kept.remove(&key)?;
        if let Some(&chan) = self.channel_ids.get(&key) {
            self.channels[chan].owner = None;
        }
        out.keep(Keep::Channel { key, state: None });
        Some(record.name)
    }
}
