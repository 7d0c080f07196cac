//! The admin wire format: one JSON [`Request`] per line in, one JSON
//! [`Reply`] per line out.
//!
//! ```text
//! {"command":"status"}
//! {"ok":true,"status":{"version":"0.1.0","pid":4242,...}}
//! {"command":"kick","nick":"bob","reason":"spam"}
//! {"ok":false,"error":"no client is using the nick bob"}
//! ```

pub use crate::cluster::{ClusterStatus, NodeStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "lowercase", deny_unknown_fields)]
pub enum Request {
    Status,
    Clients,
    Channels,
    /// The nodes of the cluster, as this node last saw them.
    Nodes,
    Kick {
        nick: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Wall {
        text: String,
    },
    Reload,
    /// The latest lines of a channel, or of the private conversation of two
    /// nicks written `alice,bob`.
    History {
        target: String,
        last: usize,
    },
    /// Deletes from history what a nick said and its private conversations,
    /// or one target (as for `history`): one of the two.
    Purge {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nick: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    /// Creates an account.
    #[serde(rename = "account_add")]
    AccountAdd {
        name: String,
        password: Password,
    },
    /// Deletes an account; whoever is logged in to it is logged out.
    #[serde(rename = "account_del")]
    AccountDel {
        name: String,
    },
    /// Replaces an account's password.
    #[serde(rename = "account_passwd")]
    AccountPasswd {
        name: String,
        password: Password,
    },
    /// Every account.
    #[serde(rename = "account_list")]
    AccountList,
    /// Adds a K-line (a server ban); matching clients are dropped.
    #[serde(rename = "ban_add")]
    BanAdd {
        mask: String,
        /// `30m`, `2h`, `7d`, or minutes; none: forever.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration: Option<String>,
        reason: String,
    },
    #[serde(rename = "ban_del")]
    BanDel {
        mask: String,
    },
    /// The K-lines in force.
    #[serde(rename = "ban_list")]
    BanList,
    /// Registers a channel to an account: it is kept across restarts.
    #[serde(rename = "channel_register")]
    ChannelRegister {
        name: String,
        owner: String,
    },
    /// Stops keeping a channel.
    #[serde(rename = "channel_drop")]
    ChannelDrop {
        name: String,
    },
    Shutdown {
        /// Seconds to let queued output drain, instead of `shutdown_grace`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grace: Option<u64>,
    },
}

/// A password in a request. It is on the wire as a plain string (the admin
/// socket is local and private), but its `Debug` hides it, so a request
/// printed for debugging or in a log line never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(hidden)")
    }
}

/// The answer to one request: `ok` and, on success, the field named after
/// what was asked (`status`, `clients`, `channels`) or a `message`; on
/// failure an `error` a person can act on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<Vec<ClientInfo>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<ChannelInfo>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryLine>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<AccountLine>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<ClusterStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bans: Option<Vec<BanLine>>,
}

/// One K-line, for `groupchatctl ban list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanLine {
    pub mask: String,
    pub reason: String,
    pub set_by: String,
    /// ISO 8601, UTC.
    pub set_at: String,
    /// ISO 8601, UTC; none: forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// One account, for `groupchatctl account list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLine {
    pub name: String,
    /// ISO 8601, UTC.
    pub created: String,
}

/// One line of history, for `groupchatctl history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLine {
    pub msgid: String,
    /// ISO 8601, UTC, as in the IRCv3 `time` tag.
    pub time: String,
    /// `PRIVMSG`, `NOTICE`, `TAGMSG`, ...
    pub kind: String,
    pub nick: String,
    /// The channel, or the nick a private message went to.
    pub to: String,
    pub text: String,
}

impl Reply {
    pub fn done(message: impl Into<String>) -> Reply {
        Reply {
            ok: true,
            message: Some(message.into()),
            ..Reply::default()
        }
    }

    pub fn failed(error: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            error: Some(error.into()),
            ..Reply::default()
        }
    }

    /// The reply as one line of JSON, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"ok":false,"error":"cannot encode the reply: {e}"}}"#)
        });
        line.push('\n');
        line
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub pid: u32,
    pub uptime_seconds: u64,
    pub config_file: Option<String>,
    pub listeners: Vec<String>,
    pub clients: ClientCounts,
    pub channels: usize,
    /// PRIVMSG and NOTICE lines accepted, and the copies queued for their
    /// recipients.
    pub messages_in: u64,
    pub messages_out: u64,
    pub lines_in: u64,
    pub lines_out: u64,
    /// Lines refused with `417` for being longer than `limits.max_line`.
    pub lines_too_long: u64,
    /// Clients whose input waits for flood control right now.
    pub throttled_clients: usize,
    /// Times accepting paused because the process ran out of descriptors.
    pub descriptor_shortages: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub queued_bytes: usize,
    pub peak_queued_bytes: usize,
    /// True while the global output cap keeps every client from being read.
    pub reading_paused: bool,
    /// Connections ended, by reason (`quit`, `reset`, `sendq_exceeded`, ...).
    pub disconnects: BTreeMap<String, u64>,
    pub rss_bytes: Option<u64>,
    #[serde(default)]
    pub history: HistoryStatus,
    #[serde(default)]
    pub accounts: AccountsStatus,
    /// The cluster link, when `[cluster]` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStatus>,
}

/// How accounts are doing, and how logins went since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountsStatus {
    /// `off`, `ok`, `failing` (the worker stopped) or `unavailable` (the
    /// store could not be opened).
    pub state: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Accounts that exist.
    pub accounts: usize,
    /// Successful SASL logins.
    pub logins: u64,
    /// Failed SASL logins (wrong name or password).
    pub login_failures: u64,
    /// `OPER` refused for a wrong password (counted against the same
    /// limits as logins).
    #[serde(default)]
    pub oper_failures: u64,
    /// Connections cut, and addresses made to wait, for failing too often.
    pub lockouts: u64,
    /// `REGISTER` refused because the address registered too many lately.
    #[serde(default)]
    pub registrations_refused: u64,
}

/// How history is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryStatus {
    /// `off`, `ok`, `failing` (storing fails; chat goes on) or
    /// `unavailable` (the store could not be opened).
    pub state: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Entries committed since start.
    pub stored: u64,
    /// Entries that could not be stored since start.
    pub lost: u64,
    /// Entries waiting for their commit.
    pub queued: u64,
    /// Entries in the store and its size on disk (with its WAL), as of the
    /// last retention pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientCounts {
    pub connected: usize,
    pub registered: usize,
    pub peak: usize,
    /// Connected over TLS (included in `connected`; `wss://` included).
    #[serde(default)]
    pub tls: usize,
    /// Connected over WebSocket, `ws://` or `wss://` (included in
    /// `connected`).
    #[serde(default)]
    pub websocket: usize,
    /// Of those, over TLS (`wss://`; included in `tls` too).
    #[serde(default)]
    pub websocket_tls: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// `None` until the client has chosen one.
    pub nick: Option<String>,
    pub address: String,
    pub registered: bool,
    pub channels: Vec<String>,
    pub connected_seconds: u64,
    /// Seconds since the client last sent a message.
    pub idle_seconds: u64,
    pub queued_bytes: usize,
    /// TLS version and cipher suite, e.g. `TLSv1_3 TLS13_AES_256_GCM_SHA384`;
    /// `None` for plain connections (and TLS ones still in the handshake).
    #[serde(default)]
    pub tls: Option<String>,
    /// `plain`, the TLS description, `ws`, or `wss` and the TLS
    /// description; empty from a daemon that predates WebSocket.
    #[serde(default)]
    pub transport: String,
    /// The node of the cluster it is on, when that is another node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelInfo {
    pub name: String,
    pub members: usize,
    pub topic: Option<String>,
    /// The account it is registered to, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_read_as_documented() {
        let kick: Request =
            serde_json::from_str(r#"{"command":"kick","nick":"bob","reason":"spam"}"#)
                .expect("kick");
        assert_eq!(
            kick,
            Request::Kick {
                nick: "bob".into(),
                reason: Some("spam".into())
            }
        );
        let shutdown: Request =
            serde_json::from_str(r#"{"command":"shutdown"}"#).expect("shutdown");
        assert_eq!(shutdown, Request::Shutdown { grace: None });
        assert!(serde_json::from_str::<Request>(r#"{"command":"explode"}"#).is_err());
        assert!(serde_json::from_str::<Request>(r#"{"command":"wall"}"#).is_err());
        let add: Request = serde_json::from_str(
            r#"{"command":"account_add","name":"alice","password":"s3cret pw"}"#,
        )
        .expect("account_add");
        assert!(!format!("{add:?}").contains("s3cret"), "{add:?}");
    }

    #[test]
    fn replies_are_one_line_and_omit_empty_fields() {
        let line = Reply::failed("no such nick\nsecond line").to_line();
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.ends_with('\n'));
        assert_eq!(
            line,
            "{\"ok\":false,\"error\":\"no such nick\\nsecond line\"}\n"
        );
        let back: Reply = serde_json::from_str(&line).expect("parses back");
        assert_eq!(back, Reply::failed("no such nick\nsecond line"));
    }
}
