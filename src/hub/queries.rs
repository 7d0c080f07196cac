//! Questions about the server and its users: PING, WHOIS, MOTD, LUSERS,
//! user MODE, AWAY, SETNAME, USERHOST, ISON.

use super::{Cap, ClientId, Hub, Outbox};
use crate::message::{Message, build};
use crate::numeric::*;
use std::time::Instant;

/// Longest `319` line body, leaving room for the rest within 512 bytes.
const WHOIS_CHANNELS_BUDGET: usize = 400;

/// Longest real name SETNAME takes.
const MAX_REALNAME: usize = 200;

impl Hub {
    pub(super) fn ping(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let Some(token) = msg.param(0) else {
            self.reply(id, ERR_NOORIGIN, &["No origin specified"], out);
            return;
        };
        let server = &self.config.server_name;
        out.send(id, &build(server, "PONG", &[server, token]));
    }

    pub(super) fn whois(
        &mut self,
        id: ClientId,
        msg: &Message,
        now: Instant,
        out: &mut dyn Outbox,
    ) {
        // `WHOIS server nick` names the server first.
        let Some(nick) = msg.param(1).or(msg.param(0)) else {
            self.reply(id, ERR_NONICKNAMEGIVEN, &["No nickname given"], out);
            return;
        };
        if msg.param(1).is_some() && !self.serves(id, msg.param(0), out) {
            return;
        }
        let found = self
            .find_user(nick)
            .and_then(|target| Some((target, self.client(target)?)));
        let Some((target, t)) = found else {
            self.reply(id, ERR_NOSUCHNICK, &[nick, "No such nick/channel"], out);
            self.reply(id, RPL_ENDOFWHOIS, &[nick, "End of /WHOIS list"], out);
            return;
        };
        self.reply(
            id,
            RPL_WHOISUSER,
            &[&t.nick, &t.user, &t.host, "*", &t.realname],
            out,
        );
        self.whois_channels(id, target, out);
        match self.node_of(target) {
            Some(node) => {
                let info = format!("another node of {}", self.config.network);
                self.reply(id, RPL_WHOISSERVER, &[&t.nick, node, &info], out);
            }
            None => {
                let server = &self.config.server_name;
                self.reply(id, RPL_WHOISSERVER, &[&t.nick, server, "groupchatd"], out);
            }
        }
        if let Some(away) = &t.away {
            self.reply(id, RPL_AWAY, &[&t.nick, away], out);
        }
        if let Some(account) = &t.account {
            self.reply(
                id,
                RPL_WHOISACCOUNT,
                &[&t.nick, account, "is logged in as"],
                out,
            );
        }
        if t.oper.is_some() {
            self.reply(id, RPL_WHOISOPERATOR, &[&t.nick, "is an IRC operator"], out);
        }
        if t.secure {
            self.reply(
                id,
                RPL_WHOISSECURE,
                &[&t.nick, "is using a secure connection"],
                out,
            );
        }
        // Only this node's users: another node's idle time is not known here.
        if self.node_of(target).is_none() {
            let idle = now.duration_since(t.last_message).as_secs().to_string();
            let signon = t.signon.to_string();
            self.reply(
                id,
                RPL_WHOISIDLE,
                &[&t.nick, &idle, &signon, "seconds idle, signon time"],
                out,
            );
        }
        self.reply(id, RPL_ENDOFWHOIS, &[&t.nick, "End of /WHOIS list"], out);
    }

    /// `319` lines: the target's channels, each with its prefixes there
    /// (all of them for `multi-prefix` clients), cut into lines that fit.
    fn whois_channels(&self, id: ClientId, target: ClientId, out: &mut dyn Outbox) {
        let Some(t) = self.client(target) else {
            return;
        };
        let multi = self
            .client(id)
            .is_some_and(|c| c.caps.has(Cap::MultiPrefix));
        let mut line = String::new();
        for channel in t.channels.iter().filter_map(|&c| self.channels.get(c)) {
            let member = channel.members.get(&target);
            let prefixes = member.map_or("", |m| m.prefixes(multi));
            let len = prefixes.len() + channel.name.len();
            if !line.is_empty() && line.len() + len >= WHOIS_CHANNELS_BUDGET {
                self.reply(id, RPL_WHOISCHANNELS, &[&t.nick, &line], out);
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(prefixes);
            line.push_str(&channel.name);
        }
        if !line.is_empty() {
            self.reply(id, RPL_WHOISCHANNELS, &[&t.nick, &line], out);
        }
    }

    pub(super) fn motd(&self, id: ClientId, out: &mut dyn Outbox) {
        let Some(lines) = &self.config.motd else {
            self.reply(id, ERR_NOMOTD, &["MOTD File is missing"], out);
            return;
        };
        let start = format!("- {} Message of the day - ", self.config.server_name);
        self.reply(id, RPL_MOTDSTART, &[&start], out);
        for line in lines {
            self.reply(id, RPL_MOTD, &[&format!("- {line}")], out);
        }
        self.reply(id, RPL_ENDOFMOTD, &["End of /MOTD command."], out);
    }

    pub(super) fn lusers(&self, id: ClientId, out: &mut dyn Outbox) {
        let users = self.registered;
        let max = self.stats.peak_registered;
        // On a cluster, the network: every node's users, and the nodes.
        let everyone = users + self.remotes.len();
        let servers = 1 + self.peers.len();
        let channels = self.channels.len().to_string();
        let unknown = self.unregistered.to_string();
        let super::Census { invisible, opers } = self.census();
        let visible = everyone.saturating_sub(invisible);
        let lines: [(u16, Vec<String>); 7] = [
            (
                RPL_LUSERCLIENT,
                vec![format!(
                    "There are {visible} users and {invisible} invisible on {servers} servers"
                )],
            ),
            (
                RPL_LUSEROP,
                vec![opers.to_string(), "operator(s) online".into()],
            ),
            (
                RPL_LUSERUNKNOWN,
                vec![unknown, "unknown connection(s)".into()],
            ),
            (RPL_LUSERCHANNELS, vec![channels, "channels formed".into()]),
            (
                RPL_LUSERME,
                vec![format!(
                    "I have {users} clients and {} servers",
                    servers - 1
                )],
            ),
            (
                RPL_LOCALUSERS,
                vec![
                    users.to_string(),
                    max.to_string(),
                    format!("Current local users {users}, max {max}"),
                ],
            ),
            (
                RPL_GLOBALUSERS,
                vec![
                    everyone.to_string(),
                    max.max(everyone).to_string(),
                    format!("Current global users {everyone}, max {}", max.max(everyone)),
                ],
            ),
        ];
        for (code, params) in &lines {
            // 252, 253 and 254 only for a count above zero: the Modern
            // document gives each as "a positive integer", and other
            // servers leave them out at zero too.
            let zero = match *code {
                RPL_LUSEROP => opers == 0,
                RPL_LUSERUNKNOWN => self.unregistered == 0,
                RPL_LUSERCHANNELS => self.channels.is_empty(),
                _ => false,
            };
            if zero {
                continue;
            }
            let params: Vec<&str> = params.iter().map(String::as_str).collect();
            self.reply(id, *code, &params, out);
        }
    }

    pub(super) fn mode(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let Some(target) = msg.param(0) else {
            self.reply(
                id,
                ERR_NEEDMOREPARAMS,
                &["MODE", "Not enough parameters"],
                out,
            );
            return;
        };
        if target.starts_with('#') {
            self.channel_mode(id, msg, out);
        } else {
            self.user_mode(id, target, msg.param(1), out);
        }
    }

    /// `+i` hides the user from the NAMES and WHO of its channels that
    /// others outside them ask for; `+w` asks for WALLOPS; `-o` stops being a
    /// server operator, and `+o` is ignored: only `OPER` gives it. Unknown
    /// flags get 501.
    fn user_mode(
        &mut self,
        id: ClientId,
        target: &str,
        change: Option<&str>,
        out: &mut dyn Outbox,
    ) {
        if self.find_user(target) != Some(id) {
            if self.find_user(target).is_some() {
                self.reply(
                    id,
                    ERR_USERSDONTMATCH,
                    &["Cant change mode for other users"],
                    out,
                );
            } else {
                self.reply(id, ERR_NOSUCHNICK, &[target, "No such nick/channel"], out);
            }
            return;
        }
        let Some(change) = change else {
            let (invisible, oper, wallops) = self.client(id).map_or((false, false, false), |c| {
                (c.invisible, c.oper.is_some(), c.wallops)
            });
            let mut modes = String::from("+");
            modes.extend(invisible.then_some('i'));
            modes.extend(oper.then_some('o'));
            modes.extend(wallops.then_some('w'));
            self.reply(id, RPL_UMODEIS, &[&modes], out);
            return;
        };
        let mut adding = true;
        let mut applied = Vec::new();
        let mut unknown = false;
        for flag in change.chars() {
            match flag {
                '+' | '-' => adding = flag == '+',
                'o' => {
                    if !adding && self.deoper(id) {
                        applied.push((false, 'o'));
                    }
                }
                'i' | 'w' => {
                    if let Some(client) = self.client_mut(id) {
                        let mode = if flag == 'i' {
                            &mut client.invisible
                        } else {
                            &mut client.wallops
                        };
                        if *mode != adding {
                            *mode = adding;
                            applied.push((adding, flag));
                            self.census.set(None);
                        }
                    }
                }
                _ => unknown = true,
            }
        }
        if let (false, Some(client)) = (applied.is_empty(), self.client(id)) {
            let modes = super::modes::mode_string(applied.iter().copied());
            let line = build(&client.prefix, "MODE", &[&client.nick, &modes]);
            out.send(id, &line);
            // Other nodes show +i and count operators too.
            self.publish_from(id, &line, out);
        }
        // The modes known are applied, and then 501, as the Modern
        // document orders it.
        if unknown {
            self.reply(id, ERR_UMODEUNKNOWNFLAG, &["Unknown MODE flag"], out);
        }
    }

    pub(super) fn away(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        // An empty message is no message: back from away.
        let away = msg.param(0).filter(|m| !m.is_empty()).map(str::to_string);
        let now_away = away.is_some();
        self.set_away(id, away, out);
        if now_away {
            self.reply(
                id,
                RPL_NOWAWAY,
                &["You have been marked as being away"],
                out,
            );
        } else {
            self.reply(
                id,
                RPL_UNAWAY,
                &["You are no longer marked as being away"],
                out,
            );
        }
    }

    /// Marks `id` away (or back): peers with away-notify see it, and so
    /// does the network when `id` is this node's.
    pub(super) fn set_away(&mut self, id: ClientId, away: Option<String>, out: &mut dyn Outbox) {
        let Some(client) = self.client_mut(id) else {
            return;
        };
        client.away = away;
        if client.registered {
            let params: Vec<&str> = client.away.as_deref().into_iter().collect();
            let line = build(&client.prefix, "AWAY", &params);
            self.send_to_peers(id, &line, false, Some(Cap::AwayNotify), out);
            self.publish_from(id, &line, out);
        }
    }

    /// IRCv3 setname: a new real name, told to peers that asked for it.
    pub(super) fn setname(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let name = msg.param(0).unwrap_or_default();
        if name.is_empty() || name.len() > MAX_REALNAME {
            let params = [
                "SETNAME",
                "INVALID_REALNAME",
                "Real name is empty or too long",
            ];
            self.fail(id, &params, out);
            return;
        }
        let Some(client) = self.client_mut(id) else {
            return;
        };
        client.realname = name.to_string();
        let line = build(&client.prefix, "SETNAME", &[name]);
        let echo = client.caps.has(Cap::Setname);
        self.send_to_peers(id, &line, echo, Some(Cap::Setname), out);
    }

    pub(super) fn userhost(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        if msg.params.is_empty() {
            self.reply(
                id,
                ERR_NEEDMOREPARAMS,
                &["USERHOST", "Not enough parameters"],
                out,
            );
            return;
        }
        let found: Vec<String> = msg
            .params
            .iter()
            .take(5)
            .filter_map(|n| self.find_user(n).and_then(|t| self.client(t)))
            .map(|t| {
                // RFC 2812 5.1: `nick[*]=(+|-)user@host`, `*` for an operator.
                let oper = if t.oper.is_some() { "*" } else { "" };
                let here = if t.away.is_some() { '-' } else { '+' };
                format!("{}{oper}={here}{}@{}", t.nick, t.user, t.host)
            })
            .collect();
        self.reply(id, RPL_USERHOST, &[&found.join(" ")], out);
    }

    pub(super) fn ison(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        if msg.param(0).is_none() {
            let params = ["ISON", "Not enough parameters"];
            self.reply(id, ERR_NEEDMOREPARAMS, &params, out);
            return;
        }
        let online: Vec<&str> = msg
            .params
            .iter()
            .flat_map(|p| p.split(' '))
            .filter_map(|n| self.find_user(n).and_then(|t| self.client(t)))
            .map(|t| t.nick.as_str())
            .collect();
        self.reply(id, RPL_ISON, &[&online.join(" ")], out);
    }
}
