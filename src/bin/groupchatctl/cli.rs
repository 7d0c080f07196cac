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
pub enum Command {
    /// Version, uptime, listeners, clients, traffic, queues, disconnects, memory.
    Status,
    /// Every connected client: nick, address, channels, connected and idle time, queued output.
    Clients,
    /// Every channel: name, members, topic.
    Channels,
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
    /// Shut the daemon down gracefully.
    Shutdown {
        /// Seconds to let queued output drain [default: the configured shutdown_grace].
        #[arg(long, value_name = "SECONDS")]
        grace: Option<u64>,
    },
}
