//! Channel MODE: the modes shown (`324`/`329`), the ban and exception lists
//! (`367`/`368`, `348`/`349`), and changes, which only channel operators
//! make: `+o`/`+v` on members, `+imnt`, `+k key`, `+l n`, `+b`/`+e mask`.
//!
//! Changes that took effect are told to every member in MODE lines built
//! to fit 512 bytes; one that changes nothing (`+m` on a moderated channel)
//! is not told.

use super::channel::{ListEntry, ListKind};
use super::{ChannelId, ClientId, Hub, Outbox, REMOTE_BASE, unix_now};
use crate::mask::Mask;
use crate::message::{Message, build};
use crate::names::fold;
use crate::numeric::*;

/// At most this many changes with a parameter per MODE command (`MODES=`);
/// the ones past it are dropped, as other servers do.
pub(super) const MAX_MODES: usize = 4;

/// Longest channel key (`KEYLEN=`).
pub(super) const KEY_LEN: usize = 23;

/// One change that took effect, as the MODE line shows it.
struct Change {
    adding: bool,
    letter: char,
    arg: Option<String>,
}

/// Where one MODE command stands while its letters are read.
struct Pass {
    chan: ChannelId,
    op: bool,
    /// 482 already sent: once per command is enough.
    refused: bool,
    /// Parameterised changes so far, against [`MAX_MODES`].
    variable: usize,
    listed: [bool; 2],
    applied: Vec<Change>,
}

impl Pass {
    /// Whether the client may make one more change: an op, and (for a change
    /// with a parameter) under [`MAX_MODES`]. Says 482 to a non-op once.
    fn allows(&mut self, hub: &Hub, id: ClientId, variable: bool, out: &mut dyn Outbox) -> bool {
        if !self.op {
            if !self.refused {
                let name = &hub.channels[self.chan].name;
                let params = [name.as_str(), "You're not channel operator"];
                hub.reply(id, ERR_CHANOPRIVSNEEDED, &params, out);
                self.refused = true;
            }
            return false;
        }
        if variable {
            if self.variable >= MAX_MODES {
                return false;
            }
            self.variable += 1;
        }
        true
    }
}

impl Hub {
    pub(super) fn channel_mode(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let name = msg.params[0];
        let Some(&chan) = self.channel_ids.get(&fold(name)) else {
            self.reply(id, ERR_NOSUCHCHANNEL, &[name, "No such channel"], out);
            return;
        };
        let Some(modestring) = msg.param(1) else {
            self.show_modes(id, chan, out);
            return;
        };
        let mut args = msg.params.iter().skip(2).copied();
        let mut pass = Pass {
            chan,
            // Another node's user's change was allowed there already.
            op: self.acts_as_chanop(chan, id) || id >= REMOTE_BASE,
            refused: false,
            variable: 0,
            listed: [false; 2],
            applied: Vec::new(),
        };
        let mut adding = true;
        for letter in modestring.chars() {
            match letter {
                '+' | '-' => adding = letter == '+',
                'b' | 'e' => {
                    let kind = if letter == 'b' {
                        ListKind::Ban
                    } else {
                        ListKind::Except
                    };
                    let Some(arg) = args.next() else {
                        let listed = &mut pass.listed[usize::from(letter == 'e')];
                        if !*listed {
                            *listed = true;
                            self.send_list(id, chan, kind, out);
                        }
                        continue;
                    };
                    if pass.allows(self, id, true, out) {
                        let change = self.change_list(id, chan, kind, adding, arg, out);
                        pass.applied.extend(change);
                    }
                }
                'o' | 'v' => {
                    let Some(arg) = args.next() else {
                        self.need_more(id, out);
                        continue;
                    };
                    if pass.allows(self, id, true, out) {
                        let change = self.change_status(id, chan, letter, adding, arg, out);
                        pass.applied.extend(change);
                    }
                }
                'k' => {
                    // `-k` takes a parameter too, whatever it is.
                    let arg = args.next();
                    if adding && arg.is_none() {
                        self.need_more(id, out);
                    } else if pass.allows(self, id, true, out) {
                        let change = self.change_key(id, chan, adding, arg.unwrap_or("*"), out);
                        pass.applied.extend(change);
                    }
                }
                'l' => {
                    let arg = if adding { args.next() } else { None };
                    if adding && arg.is_none() {
                        self.need_more(id, out);
                    } else if pass.allows(self, id, adding, out) {
                        let change = self.change_limit(id, chan, arg, out);
                        pass.applied.extend(change);
                    }
                }
                'i' | 'm' | 'n' | 't' => {
                    if pass.allows(self, id, false, out) {
                        let modes = &mut self.channels[chan].modes;
                        let flag = match letter {
                            'i' => &mut modes.invite_only,
                            'm' => &mut modes.moderated,
                            'n' => &mut modes.no_external,
                            _ => &mut modes.topic_ops,
                        };
                        if *flag != adding {
                            *flag = adding;
                            pass.applied.push(Change {
                                adding,
                                letter,
                                arg: None,
                            });
                        }
                    }
                }
                _ => {
                    let mut buf = [0; 4];
                    let params = [&*letter.encode_utf8(&mut buf), "is unknown mode char to me"];
                    self.reply(id, ERR_UNKNOWNMODE, &params, out);
                }
            }
        }
        self.tell_changes(id, chan, &pass.applied, out);
        // Statuses are the members', not the channel's: they are not kept.
        if pass.applied.iter().any(|c| !matches!(c.letter, 'o' | 'v')) {
            self.keep_channel(chan, out);
        }
    }

    fn need_more(&self, id: ClientId, out: &mut dyn Outbox) {
        let params = ["MODE", "Not enough parameters"];
        self.reply(id, ERR_NEEDMOREPARAMS, &params, out);
    }

    /// `324` and `329`. The key only shows to members.
    fn show_modes(&self, id: ClientId, chan: ChannelId, out: &mut dyn Outbox) {
        let channel = &self.channels[chan];
        let member = channel.members.contains_key(&id);
        let described = channel.modes.describe(member);
        let mut params = vec![channel.name.as_str()];
        params.extend(described.iter().map(String::as_str));
        self.reply(id, RPL_CHANNELMODEIS, &params, out);
        let created = channel.created.to_string();
        self.reply(id, RPL_CREATIONTIME, &[&channel.name, &created], out);
    }

    /// The ban list (`367` each, `368`) or the exception list (`348`, `349`).
    fn send_list(&self, id: ClientId, chan: ChannelId, kind: ListKind, out: &mut dyn Outbox) {
        let channel = &self.channels[chan];
        for entry in channel.list(kind) {
            let mask = entry.mask.text();
            match kind {
                ListKind::Ban => {
                    let at = entry.set_at.to_string();
                    let params = [&*channel.name, mask, &entry.set_by, &at];
                    self.reply(id, RPL_BANLIST, &params, out);
                }
                ListKind::Except => self.reply(id, RPL_EXCEPTLIST, &[&channel.name, mask], out),
            }
        }
        let (code, text) = match kind {
            ListKind::Ban => (RPL_ENDOFBANLIST, "End of channel ban list"),
            ListKind::Except => (RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
        };
        self.reply(id, code, &[&channel.name, text], out);
    }

    /// Adds a mask to a list or removes it, then brings the members'
    /// `banned` flags up to date.
    fn change_list(
        &mut self,
        id: ClientId,
        chan: ChannelId,
        kind: ListKind,
        adding: bool,
        arg: &str,
        out: &mut dyn Outbox,
    ) -> Option<Change> {
        let channel = &self.channels[chan];
        let Some(mask) = Mask::parse(arg) else {
            let letter = kind.letter().to_string();
            let params = [&*channel.name, &letter, arg, "Invalid mask"];
            self.reply(id, ERR_INVALIDMODEPARAM, &params, out);
            return None;
        };
        let set_by = self.client(id)?.prefix.clone();
        let list = channel.list(kind);
        let found = list.iter().position(|e| e.mask.same_as(&mask));
        let text = if adding {
            if found.is_some() {
                return None;
            }
            if list.len() >= kind.limit() {
                let letter = kind.letter().to_string();
                let params = [&*channel.name, &letter, "Channel list is full"];
                self.reply(id, ERR_BANLISTFULL, &params, out);
                return None;
            }
            let text = mask.text().to_string();
            let entry = ListEntry {
                mask: mask.clone(),
                set_by,
                set_at: unix_now(),
            };
            self.channels[chan].list_mut(kind).push(entry);
            text
        } else {
            let removed = self.channels[chan].list_mut(kind).remove(found?);
            removed.mask.text().to_string()
        };
        self.refresh_banned(chan, kind, adding, &mask);
        Some(Change {
            adding,
            letter: kind.letter(),
            arg: Some(text),
        })
    }

    /// `+o`/`-o`/`+v`/`-v nick`: 401 for nobody, 441 for a non-member.
    fn change_status(
        &mut self,
        id: ClientId,
        chan: ChannelId,
        letter: char,
        adding: bool,
        nick: &str,
        out: &mut dyn Outbox,
    ) -> Option<Change> {
        let Some(target) = self.find_nick(nick) else {
            self.reply(id, ERR_NOSUCHNICK, &[nick, "No such nick/channel"], out);
            return None;
        };
        let nick = self.client(target)?.nick.clone();
        let channel = &mut self.channels[chan];
        let Some(status) = channel.members.get_mut(&target) else {
            let name = channel.name.clone();
            let params = [&*nick, &name, "They aren't on that channel"];
            self.reply(id, ERR_USERNOTINCHANNEL, &params, out);
            return None;
        };
        let flag = if letter == 'o' {
            &mut status.op
        } else {
            &mut status.voice
        };
        if *flag == adding {
            return None;
        }
        *flag = adding;
        Some(Change {
            adding,
            letter,
            arg: Some(nick),
        })
    }

    /// `+k key` sets or replaces the key (525 for one that is not a word of
    /// at most [`KEY_LEN`] bytes); `-k` removes it whatever its parameter.
    fn change_key(
        &mut self,
        id: ClientId,
        chan: ChannelId,
        adding: bool,
        key: &str,
        out: &mut dyn Outbox,
    ) -> Option<Change> {
        let channel = &mut self.channels[chan];
        if !adding {
            let old = channel.modes.key.take()?;
            return Some(Change {
                adding,
                letter: 'k',
                arg: Some(old),
            });
        }
        let well_formed = key.len() <= KEY_LEN
            && !key.starts_with(':')
            && key.bytes().all(|b| b.is_ascii_graphic() && b != b',');
        if !well_formed {
            let name = channel.name.clone();
            self.reply(id, ERR_INVALIDKEY, &[&name, "Key is not well-formed"], out);
            return None;
        }
        if channel.modes.key.as_deref() == Some(key) {
            return None;
        }
        channel.modes.key = Some(key.to_string());
        Some(Change {
            adding,
            letter: 'k',
            arg: Some(key.to_string()),
        })
    }

    /// `+l n` with n a positive number (else 696); `-l` (no `arg`).
    fn change_limit(
        &mut self,
        id: ClientId,
        chan: ChannelId,
        arg: Option<&str>,
        out: &mut dyn Outbox,
    ) -> Option<Change> {
        let channel = &mut self.channels[chan];
        let Some(arg) = arg else {
            channel.modes.limit.take()?;
            return Some(Change {
                adding: false,
                letter: 'l',
                arg: None,
            });
        };
        let Some(limit) = arg.parse::<usize>().ok().filter(|&l| l > 0) else {
            let name = channel.name.clone();
            let params = [&*name, "l", arg, "Invalid limit"];
            self.reply(id, ERR_INVALIDMODEPARAM, &params, out);
            return None;
        };
        if channel.modes.limit == Some(limit) {
            return None;
        }
        channel.modes.limit = Some(limit);
        Some(Change {
            adding: true,
            letter: 'l',
            arg: Some(limit.to_string()),
        })
    }

    /// Tells every member what changed, in as many MODE lines as it takes
    /// to keep each within 512 bytes.
    fn tell_changes(
        &self,
        id: ClientId,
        chan: ChannelId,
        changes: &[Change],
        out: &mut dyn Outbox,
    ) {
        let (Some(client), Some(channel)) = (self.client(id), self.channels.get(chan)) else {
            return;
        };
        // `:prefix MODE #chan ` and the CRLF, with room for the ` :` the
        // last parameter gets.
        let fixed = 1 + client.prefix.len() + 6 + channel.name.len() + 1 + 4;
        let budget = crate::message::MAX_LINE.saturating_sub(fixed);
        let mut lines = Vec::new();
        let mut current: Vec<&Change> = Vec::new();
        let mut used = 0;
        for change in changes {
            let cost = 2 + change.arg.as_ref().map_or(0, |a| a.len() + 1);
            if !current.is_empty() && used + cost > budget {
                lines.push(std::mem::take(&mut current));
                used = 0;
            }
            current.push(change);
            used += cost;
        }
        if !current.is_empty() {
            lines.push(current);
        }
        for changes in lines {
            let flags = mode_string(changes.iter().map(|c| (c.adding, c.letter)));
            let mut params = vec![channel.name.as_str(), flags.as_str()];
            params.extend(changes.iter().filter_map(|c| c.arg.as_deref()));
            let line = build(&client.prefix, "MODE", &params);
            for member in channel.local_members() {
                out.send(member, &line);
            }
            self.publish_from(id, &line, out);
        }
    }
}

/// Mode changes as a MODE line writes them, user's or channel's: a sign
/// only where it changes, so `+w`, `+i`, `-o` read `+wi-o`.
pub(super) fn mode_string(changes: impl IntoIterator<Item = (bool, char)>) -> String {
    let mut modes = String::new();
    let mut sign = None;
    for (adding, letter) in changes {
        if sign != Some(adding) {
            modes.push(if adding { '+' } else { '-' });
            sign = Some(adding);
        }
        modes.push(letter);
    }
    modes
}
