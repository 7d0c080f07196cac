//! Registration: CAP, PASS, NICK, USER, the welcome burst, and QUIT.

use super::channel::{MAX_BANS, MAX_EXCEPTS};
use super::modes::{KEY_LEN, MAX_MODES};
use super::server_info::VERSION;
use super::{Bus, ClientId, Hub, NickClaim, Outbox, REMOTE_BASE, unix_now};
use crate::message::{Message, build};
use crate::names::{check_nick, clean_user, fold, skeleton};
use crate::numeric::*;
use crate::stats::DisconnectReason;

/// Longest user name kept from `USER`.
const USER_LEN: usize = 10;

/// Commands a client may send before it has registered.
pub(super) fn allowed_before(command: &str) -> bool {
    matches!(
        command,
        "CAP"
            | "PASS"
            | "NICK"
            | "USER"
            | "QUIT"
            | "PING"
            | "PONG"
            | "AUTHENTICATE"
            | "REGISTER"
            | "VERIFY"
    )
}

impl Hub {
    pub(super) fn pass(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let Some(password) = msg.param(0) else {
            self.reply(
                id,
                ERR_NEEDMOREPARAMS,
                &["PASS", "Not enough parameters"],
                out,
            );
            return;
        };
        match self.client_mut(id) {
            Some(client) if !client.registered => client.password = Some(password.to_string()),
            _ => self.reply(id, ERR_ALREADYREGISTERED, &["You may not reregister"], out),
        }
    }

    pub(super) fn nick_command(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let Some(nick) = msg.param(0) else {
            self.reply(id, ERR_NONICKNAMEGIVEN, &["No nickname given"], out);
            return;
        };
        if let Err(text) = check_nick(nick, self.config.nick_len) {
            self.reply(id, ERR_ERRONEUSNICKNAME, &[nick, text], out);
            return;
        }
        if self.config.reserved_nicks.contains(&skeleton(nick)) {
            self.reply(
                id,
                ERR_ERRONEUSNICKNAME,
                &[nick, "Nickname is reserved"],
                out,
            );
            return;
        }
        // Before registration the check waits for registration itself, so
        // that a client may log in with SASL after choosing its nick.
        if self.client(id).is_some_and(|c| c.registered) && self.nick_protected_from(id, nick) {
            self.refuse_protected_nick(id, nick, out);
            return;
        }
        if self
            .nicks
            .get(&fold(nick))
            .is_some_and(|&holder| holder != id)
        {
            self.reply(
                id,
                ERR_NICKNAMEINUSE,
                &[nick, "Nickname is already in use"],
                out,
            );
            return;
        }
        if let Some(holder) = self.look_alike_holder(id, nick) {
            let text = format!(
                "Nickname looks like {}, which is in use",
                self.nick(holder).unwrap_or_default()
            );
            self.reply(id, ERR_NICKNAMEINUSE, &[nick, &text], out);
            return;
        }
        if let Some(channel) = self.banned_in(id) {
            let params = [
                nick,
                &channel,
                "Cannot change nickname while banned on channel",
            ];
            self.reply(id, ERR_BANNICKCHANGE, &params, out);
            return;
        }
        if self.client(id).is_some_and(|c| c.nick == nick) {
            return;
        }
        if let Some(client) = self.client(id).filter(|c| c.registered) {
            if client.waiting().is_some() {
                let text = "Nick change is temporarily unavailable: wait for your last request";
                self.reply(id, ERR_UNAVAILRESOURCE, &[nick, text], out);
            } else if !self.ask_network_for_nick(id, nick, out) {
                self.rename(id, nick, out);
            }
            return;
        }
        let Some(client) = self.client_mut(id) else {
            return;
        };
        let old_nick = std::mem::replace(&mut client.nick, nick.to_string());
        if !old_nick.is_empty() {
            self.release_nick(&old_nick);
        }
        self.claim_nick(id, nick);
        self.try_register(id, out);
    }

    /// A registered user takes `nick`, which is free: its peers see the
    /// change, and so does the network when the user is this node's.
    pub(super) fn rename(&mut self, id: ClientId, nick: &str, out: &mut dyn Outbox) {
        let mut whowas = std::mem::take(&mut self.whowas);
        if let Some(client) = self.client(id) {
            whowas.remember(client, unix_now());
        }
        self.whowas = whowas;
        let Some(client) = self.client_mut(id) else {
            return;
        };
        let old_prefix = std::mem::take(&mut client.prefix);
        let old_nick = std::mem::replace(&mut client.nick, nick.to_string());
        client.prefix = format!("{}!{}@{}", client.nick, client.user, client.host);
        self.release_nick(&old_nick);
        self.claim_nick(id, nick);
        self.refresh_banned_member(id);
        let line = build(&old_prefix, "NICK", &[nick]);
        self.send_to_peers(id, &line, true, None, out);
        if id < REMOTE_BASE && self.config.node.is_some() {
            out.nick_claim(NickClaim::Release {
                folded: &fold(&old_nick),
            });
            out.nick_claim(NickClaim::Keep {
                folded: &fold(nick),
            });
            self.publish(Bus::Net, &line, out);
        }
    }

    pub(super) fn user(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        if msg.params.len() < 4 || msg.params[3].is_empty() {
            self.reply(
                id,
                ERR_NEEDMOREPARAMS,
                &["USER", "Not enough parameters"],
                out,
            );
            return;
        }
        let Some(client) = self.client_mut(id) else {
            return;
        };
        if client.registered || !client.user.is_empty() {
            self.reply(id, ERR_ALREADYREGISTERED, &["You may not reregister"], out);
            return;
        }
        let user = clean_user(msg.params[0], USER_LEN);
        client.user = if user.is_empty() { "user".into() } else { user };
        client.realname = msg.params[3].to_string();
        self.try_register(id, out);
    }

    /// `QUIT [:reason]`: the peers see `Quit: reason`, even when the reason
    /// is empty (the Modern document's QUIT); without one, `Client Quit`.
    pub(super) fn quit(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let reason = match msg.params.first() {
            Some(text) => format!("Quit: {text}"),
            None => "Client Quit".to_string(),
        };
        self.drop_client(id, DisconnectReason::Quit, &reason, out);
    }

    /// Completes registration once NICK, USER, (if started) CAP and any
    /// SASL login or REGISTER the accounts worker is still doing are done.
    pub(super) fn try_register(&mut self, id: ClientId, out: &mut dyn Outbox) {
        let Some(client) = self.client_mut(id) else {
            return;
        };
        if client.registered
            || client.nick.is_empty()
            || client.user.is_empty()
            || client.cap_negotiating
            || client.waiting().is_some()
        {
            return;
        }
        let unfinished = client.end_sasl();
        let nick = client.nick.clone();
        if unfinished {
            // Registering ends an exchange the client left unfinished.
            self.reply(id, ERR_SASLABORTED, &["SASL authentication aborted"], out);
        }
        if self.nick_protected_from(id, &nick) {
            // The client chooses another nick, and registration goes on then.
            self.release_nick(&nick);
            if let Some(client) = self.client_mut(id) {
                client.nick.clear();
            }
            self.refuse_protected_nick(id, &nick, out);
            return;
        }
        let Some(client) = self.client(id) else {
            return;
        };
        if let Some(expected) = &self.config.password
            && client.password.as_ref() != Some(expected)
        {
            self.reply(id, ERR_PASSWDMISMATCH, &["Password incorrect"], out);
            let why = DisconnectReason::BadPassword;
            self.drop_client(id, why, why.text(), out);
            return;
        }
        if self.refuse_without_account(id, out) {
            return;
        }
        if self.refuse_if_klined(id, out) {
            return;
        }
        if self.ask_network_for_nick(id, &nick, out) {
            return;
        }
        self.complete_registration(id, out);
    }

    /// Registers a client that passed every check: welcome, the network
    /// told, the default channel joined.
    pub(super) fn complete_registration(&mut self, id: ClientId, out: &mut dyn Outbox) {
        let Some(client) = self.client_mut(id) else {
            return;
        };
        client.registered = true;
        client.password = None;
        client.prefix = format!("{}!{}@{}", client.nick, client.user, client.host);
        self.unregistered -= 1;
        self.registered += 1;
        self.stats.peak_registered = self.stats.peak_registered.max(self.registered);
        self.welcome(id, out);
        self.publish_intro(id, out);
        let default_channel = self.config.default_channel.clone();
        if !default_channel.is_empty() {
            self.join(id, &default_channel, None, out);
        }
    }

    fn welcome(&self, id: ClientId, out: &mut dyn Outbox) {
        let Some(client) = self.client(id) else {
            return;
        };
        let c = &self.config;
        let welcome = format!("Welcome to the {} IRC Network {}", c.network, client.prefix);
        let your_host = format!("Your host is {}, running version {VERSION}", c.server_name);
        let created = format!("This server was created {}", self.created);
        self.reply(id, RPL_WELCOME, &[&welcome], out);
        self.reply(id, RPL_YOURHOST, &[&your_host], out);
        self.reply(id, RPL_CREATED, &[&created], out);
        let params = [&*c.server_name, VERSION, "iow", "beiklmnotv", "beklov"];
        self.reply(id, RPL_MYINFO, &params, out);
        self.isupport(id, out);
        self.lusers(id, out);
        self.motd(id, out);
    }

    /// The `005` tokens: what the server does, and only that.
    pub(super) fn isupport(&self, id: ClientId, out: &mut dyn Outbox) {
        let c = &self.config;
        let tokens = [
            "CHANTYPES=#".to_string(),
            "CHANMODES=be,k,l,imnt".to_string(),
            "PREFIX=(ov)@+".to_string(),
            // One limit per mode: a `be:` item would mean both together.
            format!("MAXLIST=b:{MAX_BANS},e:{MAX_EXCEPTS}"),
            format!("MODES={MAX_MODES}"),
            "EXCEPTS=e".to_string(),
            format!("KEYLEN={KEY_LEN}"),
            "CASEMAPPING=precis".to_string(),
            format!("NICKLEN={}", c.nick_len),
            format!("CHANNELLEN={}", c.channel_len),
            format!("CHANLIMIT=#:{}", c.max_channels),
            format!("TOPICLEN={}", c.topic_len),
            format!("NETWORK={}", c.network),
            "TARGMAX=PRIVMSG:4,NOTICE:4,JOIN:,PART:,NAMES:,LIST:,KICK:".to_string(),
            // LIST takes `>n` and `<n` user counts.
            "ELIST=U".to_string(),
        ];
        let history = [
            format!("CHATHISTORY={}", super::MAX_CHATHISTORY),
            "MSGREFTYPES=msgid,timestamp".to_string(),
        ];
        let history = if c.history { &history[..] } else { &[] };
        // At most 13 tokens a line, so that the line stays within 15
        // parameters with its target and trailing text.
        let all: Vec<&str> = tokens.iter().chain(history).map(String::as_str).collect();
        for chunk in all.chunks(13) {
            let mut params = chunk.to_vec();
            params.push("are supported by this server");
            self.reply(id, RPL_ISUPPORT, &params, out);
        }
    }
}
