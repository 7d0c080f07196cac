//! The command line of `groupchatd`, kept apart so packaging can build its
//! man page and completions from the same definition.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A small, fast group-chat server speaking the IRC client protocol.
#[derive(Debug, Parser)]
#[command(name = "groupchatd", version, about)]
pub struct Args {
    /// TOML config file; without it the built-in defaults apply.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Validate the config, print the effective settings (or the errors) and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Listen on ADDR instead of the configured addresses (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,
    /// Log level: off, error, warn, info, debug or trace.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Serve the admin socket at PATH instead of the configured one (the last one given wins).
    #[arg(long, value_name = "PATH", overrides_with = "admin_socket")]
    pub admin_socket: Option<PathBuf>,
}
