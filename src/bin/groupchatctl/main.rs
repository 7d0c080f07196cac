//! `groupchatctl`: asks a running groupchatd for its state, or tells it
//! what to do, over the local admin socket.
//!
//! Exit codes: 0 done; 1 the daemon answered with an error; 2 usage;
//! 3 the daemon could not be reached.

mod cli;
mod table;

use clap::Parser;
use cli::{AccountAction, Args, BanAction, ChannelAction, Command, HistoryAction, PasswordSource};
use groupchatd::admin::path;
use groupchatd::admin::protocol::{Password, Reply, Request};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Long enough for a status of many thousands of clients on a busy daemon.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let args = Args::parse();
    let socket = args.socket.clone().unwrap_or_else(path::for_client);
    let request = match args.command {
        Command::HashPassword { password } => return hash_password(&password),
        command => request_for(command),
    };
    let request = match request {
        Ok(request) => request,
        Err(e) => {
            eprintln!("groupchatctl: {e}");
            return ExitCode::from(2);
        }
    };
    let (raw, reply) = match ask(&socket, &request) {
        Ok(answer) => answer,
        Err(e) => {
            eprintln!(
                "groupchatctl: cannot reach the daemon at {}: {e}\n\
                 hint: is groupchatd running, and may this user open its socket? \
                 (--socket PATH picks another)",
                socket.display()
            );
            return ExitCode::from(3);
        }
    };
    if args.json {
        println!("{}", raw.trim_end());
    } else {
        print!("{}", table::render(&reply));
    }
    if reply.ok {
        ExitCode::SUCCESS
    } else {
        if !args.json {
            eprintln!(
                "groupchatctl: {}",
                reply
                    .error
                    .as_deref()
                    .unwrap_or("the daemon reported an error")
            );
        }
        ExitCode::from(1)
    }
}

fn request_for(command: Command) -> Result<Request, String> {
    Ok(match command {
        Command::Status => Request::Status,
        Command::Clients => Request::Clients,
        Command::Channels => Request::Channels,
        Command::Nodes => Request::Nodes,
        Command::Kick { nick, reason } => Request::Kick {
            nick,
            reason: Some(reason.join(" ")).filter(|r| !r.is_empty()),
        },
        Command::Wall { text } => Request::Wall {
            text: text.join(" "),
        },
        Command::Reload => Request::Reload,
        Command::History {
            action: Some(HistoryAction::Purge { nick, target }),
            ..
        } => Request::Purge { nick, target },
        Command::History { target, last, .. } => Request::History {
            target: target.unwrap_or_default(),
            last,
        },
        Command::Account { action } => match action {
            AccountAction::Add { name, password } => Request::AccountAdd {
                name,
                password: read_password(&password)?,
            },
            AccountAction::Passwd { name, password } => Request::AccountPasswd {
                name,
                password: read_password(&password)?,
            },
            AccountAction::Del { name } => Request::AccountDel { name },
            AccountAction::List => Request::AccountList,
        },
        Command::Ban { action } => match action {
            BanAction::Add {
                mask,
                duration,
                reason,
            } => Request::BanAdd {
                mask,
                duration,
                reason,
            },
            BanAction::Del { mask } => Request::BanDel { mask },
            BanAction::List => Request::BanList,
        },
        Command::Channel { action } => match action {
            ChannelAction::Register { name, owner } => Request::ChannelRegister { name, owner },
            ChannelAction::Drop { name } => Request::ChannelDrop { name },
        },
        Command::Shutdown { grace } => Request::Shutdown { grace },
        Command::HashPassword { .. } => return Err("hash-password asks no daemon".into()),
    })
}

/// `hash-password`: the PHC string of the password, hashed as the daemon
/// hashes account passwords by default, on standard output.
fn hash_password(source: &PasswordSource) -> ExitCode {
    let defaults = groupchatd::config::AccountsConfig::default();
    let hashing = groupchatd::accounts::Hashing {
        memory_kib: defaults.hash_memory_kib,
        passes: defaults.hash_passes,
    };
    let hashed = read_password(source)
        .and_then(|password| hashing.hash(&groupchatd::accounts::Secret::new(password.0)));
    match hashed {
        Ok(phc) => {
            println!("{phc}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("groupchatctl: {e}");
            ExitCode::from(2)
        }
    }
}

/// The password from `--password-file` or standard input; on a terminal
/// it is asked for twice, since it is a new one.
fn read_password(source: &PasswordSource) -> Result<Password, String> {
    groupchatd::secret::read(source.password_file.as_deref(), true).map(Password)
}

/// Sends one request and reads its one-line reply, raw and decoded.
fn ask(socket: &Path, request: &Request) -> io::Result<(String, Reply)> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    let mut line = serde_json::to_string(request)?;
    line.push('\n');
    // A refused peer is answered and closed at once, so a failed write
    // still leaves the daemon's explanation to read.
    let _ = stream.write_all(line.as_bytes());
    let mut raw = String::new();
    BufReader::new(stream).read_line(&mut raw)?;
    if raw.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the daemon closed the connection without answering",
        ));
    }
    let reply = serde_json::from_str(&raw).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the daemon's answer is not understood: {e}"),
        )
    })?;
    Ok((raw, reply))
}
