//! The command line of `groupchatctl`, kept apart so packaging can build its
//! man page and completions from the same definition.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Control a running groupchatd over its local admin socket.
#[derive(Debug, Parser)]
#[command(name = "groupchatctl", version, about)]
pub struct Args {
    /// The daemon's admin socket [default: /run/groupchatd/admin.sock, else
    /// $XDG_RUNTIME_DIR/groupchatd/admin.sock, else /tmp/groupchatd-UID/admin.sock].
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,
    /// Print the daemon's JSON reply instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum HistoryAction {
    /// Delete what a nick said and its private conversations, or one
    /// channel or conversation (for privacy requests).
    Purge {
        #[arg(long, required_unless_present = "target", conflicts_with = "target")]
        nick: Option<String>,
        /// A channel, or two nicks written alice,bob.
        #[arg(long)]
        target: Option<String>,
    },
}

/// Where a password comes from: never the command line, where other users
/// could read it in the process list and it would stay in shell history.
#[derive(Debug, clap::Args)]
pub struct PasswordSource {
    /// Read the password from the first line of this file ("-": standard
    /// input, the default; on a terminal it is asked for without echo).
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AccountAction {
    /// Create an account (its name is the nick it protects).
    Add {
        name: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Delete an account; whoever is logged in to it is logged out.
    Del { name: String },
    /// Set a new password for an account.
    Passwd {
        name: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// List every account.
    List,
}

#[derive(Debug, Subcommand)]
pub enum BanAction {
    /// Ban a mask from the server (a K-line): nick!user@host with * and ?,
    /// an address, a network (10.0.0.0/8) or $a:account. Matching clients
    /// are dropped at once; the ban outlives restarts.
    Add {
        mask: String,
        /// How long: 30m, 2h, 7d, or minutes [default: forever].
        #[arg(long, value_name = "D")]
        duration: Option<String>,
        /// Shown to whoever it keeps out.
        #[arg(long, required = true)]
        reason: String,
    },
    /// Lift a ban.
    Del { mask: String },
    /// List the bans in force.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ChannelAction {
    /// Give a channel to an account: its modes, topic and bans are kept
    /// across restarts, and the account's user gets @ on joining. (A
    /// channel made by a logged-in user is theirs already.)
    Register {
        name: String,
        /// The account that owns it.
        #[arg(long, required = true)]
        owner: String,
    },
    /// Stop keeping a channel: it goes when its last member leaves.
    Drop { name: String },
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Version, uptime, listeners, clients, traffic, queues, disconnects, memory.
    Status,
    /// Every connected client: nick, address, channels, connected and idle time, queued output.
    Clients,
    /// Every channel: name, members, topic, and the account a registered
    /// one belongs to (registered channels nobody is in are listed too).
    Channels,
    /// Register a channel to an account, or drop it.
    Channel {
        #[command(subcommand)]
        action: ChannelAction,
    },
    /// The cluster's nodes, as this node last saw them: clients and last
    /// heartbeat, and the link to Redis.
    Nodes,
    /// Disconnect a client; its channels see the reason.
    Kick {
        nick: String,
        /// Shown to the client and its channels.
        reason: Vec<String>,
    },
    /// Send a server notice to everyone connected.
    Wall {
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Re-read the config file and apply it (like SIGHUP), reporting errors.
    Reload,
    /// Show the latest lines of a channel or private conversation, or
    /// delete from history (`history purge`).
    #[command(args_conflicts_with_subcommands = true)]
    History {
        #[command(subcommand)]
        action: Option<HistoryAction>,
        /// A channel, or two nicks written alice,bob for their private conversation.
        #[arg(required = true)]
        target: Option<String>,
        /// How many lines.
        #[arg(long, value_name = "N", default_value_t = 50)]
        last: usize,
    },
    /// Manage accounts (for SASL logins and nick protection).
    Account {
        #[command(subcommand)]
        action: AccountAction,
    },
    /// Manage server bans (K-lines).
    Ban {
        #[command(subcommand)]
        action: BanAction,
    },
    /// Print the Argon2 hash of a password, for `password_hash` in an
    /// `[[operators]]` block (works without the daemon).
    HashPassword {
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Shut the daemon down gracefully.
    Shutdown {
        /// Seconds to let queued output drain [default: the configured shutdown_grace].
        #[arg(long, value_name = "SECONDS")]
        grace: Option<u64>,
    },
}
