//! WHOWAS: who used a nick that is no longer in use. The server keeps the
//! last [`CAPACITY`] nicks that left (by QUIT, disconnection or NICK), in
//! memory only.

use super::{Client, ClientId, Hub, Outbox};
use crate::message::Message;
use crate::names::fold;
use crate::numeric::*;
use std::collections::VecDeque;

/// Departed nicks kept; the oldest go first.
const CAPACITY: usize = 1000;

struct Departed {
    nick: String,
    folded: String,
    user: String,
    host: String,
    realname: String,
    /// When the nick was let go, for the `312` line.
    left_at: u64,
}

/// The bounded history of departed nicks, newest last.
#[derive(Default)]
pub(super) struct Whowas {
    entries: VecDeque<Departed>,
}

impl Whowas {
    /// Remembers the nick `client` is giving up (it leaves or renames).
    pub(super) fn remember(&mut self, client: &Client, now: u64) {
        if client.nick.is_empty() || !client.registered {
            return;
        }
        if self.entries.len() >= CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(Departed {
            nick: client.nick.clone(),
            folded: fold(&client.nick),
            user: client.user.clone(),
            host: client.host.clone(),
            realname: client.realname.clone(),
            left_at: now,
        });
    }
}

impl Hub {
    /// `WHOWAS nick [count]`: the newest entries first, `count` of them when
    /// it is positive; `406` when there are none; `369` always ends.
    pub(super) fn whowas_command(&mut self, id: ClientId, msg: &Message, out: &mut dyn Outbox) {
        let Some(nick) = msg.param(0) else {
            self.reply(id, ERR_NONICKNAMEGIVEN, &["No nickname given"], out);
            return;
        };
        let count = msg
            .param(1)
            .and_then(|c| c.parse::<usize>().ok())
            .filter(|&c| c > 0)
            .unwrap_or(usize::MAX);
        let folded = fold(nick);
        let server = &self.config.server_name;
        let mut found = 0;
        for entry in self
            .whowas
            .entries
            .iter()
            .rev()
            .filter(|e| e.folded == folded)
            .take(count)
        {
            let params = [&*entry.nick, &entry.user, &entry.host, "*", &entry.realname];
            self.reply(id, RPL_WHOWASUSER, &params, out);
            let when = crate::clock::format_date(entry.left_at as i64);
            self.reply(id, RPL_WHOISSERVER, &[&entry.nick, server, &when], out);
            found += 1;
        }
        if found == 0 {
            let params = [nick, "There was no such nickname"];
            self.reply(id, ERR_WASNOSUCHNICK, &params, out);
        }
        self.reply(id, RPL_ENDOFWHOWAS, &[nick, "End of WHOWAS"], out);
    }
}
