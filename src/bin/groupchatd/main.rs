//! `groupchatd`: the group-chat daemon.

use clap::Parser;
use groupchatd::config::ConfigSource;
use groupchatd::reactor::Server;
use log::{error, info};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// A small, fast group-chat server speaking the IRC client protocol.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// TOML config file; without it the built-in defaults apply.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Validate the config, print the effective settings (or the errors) and exit.
    #[arg(long)]
    check_config: bool,
    /// Listen on ADDR instead of the configured addresses (repeatable).
    #[arg(long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// Log level: off, error, warn, info, debug or trace.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let source = ConfigSource {
        path: args.config.clone(),
        listen: args.listen.clone(),
        log_level: args.log_level.clone(),
    };
    let config = match source.load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("groupchatd: {e}");
            return ExitCode::from(2);
        }
    };
    let level = config.log.level.parse().unwrap_or(log::LevelFilter::Info);
    if args.check_config {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    if let Err(e) = groupchatd::logging::init(config.log.target, level) {
        eprintln!("groupchatd: {e}");
        return ExitCode::from(1);
    }
    match groupchatd::limits::raise_nofile() {
        Ok(limit) => info!(
            "descriptor limit {limit}: room for about {} clients",
            limit.saturating_sub(32)
        ),
        Err(e) => error!("cannot raise the descriptor limit: {e}"),
    }
    let motd = config.read_motd();
    let mut server = match Server::new(config, source, motd) {
        Ok(server) => server,
        Err(e) => {
            error!("cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("event loop failed: {e}");
            ExitCode::from(1)
        }
    }
}
