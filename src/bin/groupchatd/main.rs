//! `groupchatd`: the group-chat daemon.

mod cli;

use clap::Parser;
use cli::Args;
use groupchatd::config::{Config, ConfigSource};
use groupchatd::history::{SqliteBackend, sqlite};
use groupchatd::reactor::Server;
use groupchatd::transport::certs::Identity;
use log::{error, info};
use std::path::Path;
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
/// not about to expire (a warning); and that the history database can be
/// created or opened (errors, exit 2).
fn check_config(config: &Config) -> ExitCode {
    print!("{}", config.to_toml());
    let mut ok = true;
    if !config.tls.listen.is_empty() {
        match Identity::load(&config.tls) {
            Ok(identity) => {
                eprintln!("groupchatd: {}", identity.summary());
                if let Some(warning) = identity.expiry_warning() {
                    eprintln!("groupchatd: warning: {warning}");
                }
            }
            Err(e) => {
                eprintln!("groupchatd: {e}");
                ok = false;
            }
        }
    }
    if config.history.enabled
        && let Err(e) = check_history(&config.history.resolved_path())
    {
        eprintln!("groupchatd: {e}");
        ok = false;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// The history database's directory exists and is writable (SQLite creates
/// the file and its `-wal`/`-shm` files there), and an existing file opens
/// as a history database.
fn check_history(path: &Path) -> Result<(), String> {
    sqlite::check_dir(path).map_err(|e| e.to_string())?;
    let name = path.display();
    if path.exists() {
        SqliteBackend::check(path).map_err(|e| e.to_string())?;
        eprintln!("groupchatd: history {name}: opens");
    }
    Ok(())
}
