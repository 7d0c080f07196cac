//! `groupchatd`: the group-chat daemon.

mod cli;

use clap::Parser;
use cli::Args;
use groupchatd::config::{Config, ConfigSource};
use groupchatd::reactor::Server;
use groupchatd::transport::certs::Identity;
use log::{error, info};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Args::parse();
    let source = ConfigSource {
        path: args.config.clone(),
        listen: args.listen.clone(),
        log_level: args.log_level.clone(),
        admin_socket: args.admin_socket.clone(),
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
        return check_config(&config);
    }
    if let Err(e) = groupchatd::logging::init(config.log.target, level) {
        eprintln!("groupchatd: {e}");
        return ExitCode::from(1);
    }
    match groupchatd::limits::raise_nofile() {
        Ok(limit) => info!(
            "descriptor limit {limit}: room for {} clients",
            groupchatd::limits::client_room(limit)
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

/// `--check-config`: prints the effective config, then checks what the
/// file alone cannot show: that the TLS certificate and key can be read,
/// parse and belong together (errors, exit 2), and that the certificate is
/// not about to expire (a warning).
fn check_config(config: &Config) -> ExitCode {
    print!("{}", config.to_toml());
    if config.tls.listen.is_empty() {
        return ExitCode::SUCCESS;
    }
    match Identity::load(&config.tls) {
        Ok(identity) => {
            eprintln!("groupchatd: {}", identity.summary());
            if let Some(warning) = identity.expiry_warning() {
                eprintln!("groupchatd: warning: {warning}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("groupchatd: {e}");
            ExitCode::from(2)
        }
    }
}
