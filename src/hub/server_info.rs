//! What a client may ask about the server itself: TIME, VERSION (with the
//! ISUPPORT tokens), INFO and ADMIN, and MOTD; each takes an optional
//! `<target>` naming the server to ask.

use super::{ClientId, Hub, Outbox, unix_now};
use crate::mask::glob;
use crate::message::Message;
use crate::numeric::*;

/// The server's version as `004`, `351` and `002` give it.
pub(super) const VERSION: &str = concat!("groupchatd-", env!("CARGO_PKG_VERSION"));

impl Hub {
    /// A server query (MOTD, VERSION, ADMIN, TIME, INFO): `answer` unless
    /// the query's `<target>` names no server there is.
    pub(super) fn server_query(
        &self,
        id: ClientId,
        msg: &Message,
        answer: fn(&Hub, ClientId, &mut dyn Outbox),
        out: &mut dyn Outbox,
    ) {
        if self.serves(id, msg.param(0), out) {
            answer(self, id, out);
        }
    }

    /// Whether a query for server `target` is answered here: none given;
    /// this server's name, or a mask matching it (`*.example.org`), in any
    /// case; or a user's nick, meaning that user's server. Another node of
    /// the cluster, by name or by one of its users, is answered here too:
    /// the nodes run this same software and queries are not forwarded.
    /// Anything else is no server: `402`, as the Modern document asks.
    pub(super) fn serves(&self, id: ClientId, target: Option<&str>, out: &mut dyn Outbox) -> bool {
        let Some(target) = target else {
            return true;
        };
        let pattern = target.to_ascii_lowercase();
        let known = std::iter::once(&self.config.server_name)
            .chain(&self.config.node)
            .chain(self.peers.keys())
            .any(|name| glob(&pattern, &name.to_ascii_lowercase()))
            || self.find_user(target).is_some();
        if !known {
            self.reply(id, ERR_NOSUCHSERVER, &[target, "No such server"], out);
        }
        known
    }

    /// `391`: the time here, as a timestamp and for people.
    pub(super) fn time(&self, id: ClientId, out: &mut dyn Outbox) {
        let now = unix_now();
        let stamp = now.to_string();
        let human = crate::clock::format_date(now as i64);
        let server = &self.config.server_name;
        self.reply(id, RPL_TIME, &[server, &stamp, &human], out);
    }

    /// `351`, then the `005` lines, as the Modern protocol document asks.
    pub(super) fn version(&self, id: ClientId, out: &mut dyn Outbox) {
        let server = &self.config.server_name;
        let comment = "a small, fast group-chat server";
        self.reply(id, RPL_VERSION, &[VERSION, server, comment], out);
        self.isupport(id, out);
    }

    /// `371` lines, then `374`.
    pub(super) fn info(&self, id: ClientId, out: &mut dyn Outbox) {
        let started = format!("Started {}", self.created);
        for line in [
            VERSION,
            "A small, fast group-chat server speaking the IRC client protocol.",
            "License: MIT OR Apache-2.0",
            &started,
        ] {
            self.reply(id, RPL_INFO, &[line], out);
        }
        self.reply(id, RPL_ENDOFINFO, &["End of INFO list"], out);
    }

    /// `256`–`259`, from `server.admin_location` and `server.admin_email`.
    pub(super) fn admin(&self, id: ClientId, out: &mut dyn Outbox) {
        let c = &self.config;
        let location = c.admin_location.as_deref().unwrap_or(&c.network);
        let email = c
            .admin_email
            .as_deref()
            .unwrap_or("No administrative contact is configured");
        let network = format!("{} on the {} network", VERSION, c.network);
        self.reply(
            id,
            RPL_ADMINME,
            &[&c.server_name, "Administrative info"],
            out,
        );
        self.reply(id, RPL_ADMINLOC1, &[location], out);
        self.reply(id, RPL_ADMINLOC2, &[&network], out);
        self.reply(id, RPL_ADMINEMAIL, &[email], out);
    }
}
