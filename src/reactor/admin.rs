//! The admin socket inside the reactor: accepts `groupchatctl`
//! connections, checks who is asking, and answers from the live state.
//!
//! Requests are tiny and rare, so each connection keeps plain byte buffers
//! and is answered in the same turn its line arrives, except for history
//! requests, answered when the store has done them.

use super::history::{AdminAnswer, Store};
use super::tokens::Source;
use super::{Server, ShutdownGrace};
use crate::accounts::{self, Answer, Outcome, Secret};
use crate::admin::access::{self, Access};
use crate::admin::protocol::{
    AccountLine, AccountsStatus, BanLine, ChannelInfo, ClientCounts, ClientInfo, HistoryLine,
    HistoryStatus, Reply, Request, Status,
};
use crate::cluster::Cluster;
use crate::connection::Connection;
use crate::history::{Entry, Purge, private_key};
use crate::names::fold;
use crate::stats::DisconnectReason;
use log::{info, warn};
use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry};
use slab::Slab;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A request longer than this is refused: no command needs more.
const MAX_REQUEST: usize = 64 * 1024;
/// A wall notice must fit one IRC line with its prefix and target.
const MAX_WALL: usize = 400;

pub(super) struct AdminSocket {
    path: PathBuf,
    listener: UnixListener,
    pub(super) access: Access,
    conns: Slab<AdminConn>,
}

struct AdminConn {
    stream: UnixStream,
    input: Vec<u8>,
    output: Vec<u8>,
    /// The peer has sent everything it will send.
    finished: bool,
    /// Not allowed in: its input is discarded, and once the refusal is
    /// written our side is shut, so closing never resets the connection
    /// before the peer has read why.
    refused: bool,
}

impl AdminSocket {
    /// Creates the socket at `path`, replacing a stale one left by a daemon
    /// that died, but refusing to start beside a live one.
    pub(super) fn bind(path: PathBuf, access: Access, registry: &Registry) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            prepare_dir(dir)?;
        }
        remove_if_stale(&path)?;
        let mut listener = UnixListener::bind(&path).map_err(|e| annotate(e, &path))?;
        // From here the file is ours: dropping `socket` removes it.
        let socket = AdminSocket {
            path,
            listener: {
                registry.register(
                    &mut listener,
                    Source::AdminListener.token(),
                    Interest::READABLE,
                )?;
                listener
            },
            access,
            conns: Slab::new(),
        };
        fs::set_permissions(&socket.path, fs::Permissions::from_mode(0o660))?;
        if let Some(gid) = socket.access.gid()
            && let Err(e) = nix::unistd::chown(&socket.path, None, Some(gid))
        {
            warn!(
                "cannot give {} to the admin group: {e}",
                socket.path.display()
            );
        }
        info!("admin socket at {}", socket.path.display());
        Ok(socket)
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AdminSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Creates the socket's directory, private to the daemon's user, or checks
/// that an existing one is not someone else's (it may be under `/tmp`).
fn prepare_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let me = nix::unistd::Uid::effective();
            if meta.uid() != me.as_raw() && !me.is_root() && meta.uid() != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{} belongs to uid {}, not to this user",
                        dir.display(),
                        meta.uid()
                    ),
                ));
            }
            Ok(())
        }
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} is not a directory", dir.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| annotate(e, dir)),
        Err(e) => Err(annotate(e, dir)),
    }
}

/// Removes a socket file nobody listens on any more.
fn remove_if_stale(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(annotate(e, path)),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "another daemon is already serving {} (stop it first, or set admin.socket)",
                path.display()
            ),
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            info!("removing stale admin socket {}", path.display());
            fs::remove_file(path).map_err(|e| annotate(e, path))
        }
        Err(e) => Err(annotate(e, path)),
    }
}

fn annotate(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

impl Server {
    pub(super) fn admin_accept(&mut self) {
        let admin = &mut self.admin;
        loop {
            let (mut stream, _) = match admin.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!("admin socket: accept failed: {e}");
                    return;
                }
            };
            let peer = match access::peer_of(&stream) {
                Ok(peer) => peer,
                Err(e) => {
                    warn!("admin socket: cannot read the peer's credentials: {e}");
                    continue;
                }
            };
            let refused = !admin.access.allows(&peer);
            let mut output = Vec::new();
            if refused {
                warn!("admin socket: refused uid {} (pid {})", peer.uid, peer.pid);
                let refusal = Reply::failed(format!(
                    "permission denied: uid {} may not use {}; allowed are {}",
                    peer.uid,
                    admin.path.display(),
                    admin.access.describe()
                ));
                output = refusal.to_line().into_bytes();
            }
            let entry = admin.conns.vacant_entry();
            let token = Source::Admin(entry.key()).token();
            if let Err(e) = self.poll.registry().register(
                &mut stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                warn!("admin socket: cannot watch a connection: {e}");
                continue;
            }
            entry.insert(AdminConn {
                stream,
                input: Vec::new(),
                output,
                finished: false,
                refused,
            });
        }
    }

    /// Reads what an admin connection sent, answers each complete request
    /// and writes the answers out.
    pub(super) fn admin_ready(&mut self, key: usize) {
        let requests = match self.admin_read(key) {
            Some(requests) => requests,
            None => return self.admin_drop(key),
        };
        for line in requests {
            let reply = match serde_json::from_slice::<Request>(&line) {
                Ok(Request::History { target, last }) => self.admin_history(key, &target, last),
                Ok(Request::Purge { nick, target }) => self.admin_purge(key, nick, target),
                Ok(
                    request @ (Request::AccountAdd { .. }
                    | Request::AccountDel { .. }
                    | Request::AccountPasswd { .. }
                    | Request::AccountList),
                ) => self.admin_account(key, request),
                Ok(request) => Some(self.admin_request(request)),
                Err(e) => Some(Reply::failed(format!("bad request: {e}"))),
            };
            if let (Some(reply), Some(conn)) = (reply, self.admin.conns.get_mut(key)) {
                conn.output.extend_from_slice(reply.to_line().as_bytes());
            }
        }
        self.admin_write(key);
    }

    /// Writes what is queued for an admin connection.
    fn admin_write(&mut self, key: usize) {
        let Some(conn) = self.admin.conns.get_mut(key) else {
            return;
        };
        while !conn.output.is_empty() {
            match conn.stream.write(&conn.output) {
                Ok(n) => {
                    conn.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.admin_drop(key),
            }
        }
        if conn.finished {
            self.admin_drop(key);
        } else if conn.refused {
            let _ = conn.stream.shutdown(std::net::Shutdown::Write);
        }
    }

    /// Drains the connection's input; returns the complete request lines,
    /// or `None` when the connection is broken or abusive.
    fn admin_read(&mut self, key: usize) -> Option<Vec<Vec<u8>>> {
        let conn = self.admin.conns.get_mut(key)?;
        let mut buffer = [0u8; 4096];
        loop {
            match conn.stream.read(&mut buffer) {
                Ok(0) => {
                    conn.finished = true;
                    break;
                }
                Ok(_) if conn.refused => {}
                Ok(n) => conn.input.extend_from_slice(&buffer[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
            if conn.input.len() > MAX_REQUEST {
                let _ = conn
                    .stream
                    .write(Reply::failed("request too long").to_line().as_bytes());
                return None;
            }
        }
        let mut lines = Vec::new();
        while let Some(end) = conn.input.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = conn.input.drain(..=end).collect();
            if line.iter().any(|b| !b.is_ascii_whitespace()) {
                lines.push(line);
            }
        }
        Some(lines)
    }

    fn admin_drop(&mut self, key: usize) {
        if self.admin.conns.contains(key) {
            let mut conn = self.admin.conns.remove(key);
            let _ = self.poll.registry().deregister(&mut conn.stream);
        }
    }

    /// `groupchatctl history`: answered when the store has read it.
    fn admin_history(&mut self, key: usize, target: &str, last: usize) -> Option<Reply> {
        let Some(target) = history_key(target) else {
            return Some(Reply::failed(format!(
                "{target:?} is neither a channel nor two nicks written alice,bob"
            )));
        };
        let last = last.clamp(1, MAX_HISTORY_LINES);
        (!self.net.history.admin_query(key, target, last)).then(no_history)
    }

    /// `groupchatctl history purge`.
    fn admin_purge(
        &mut self,
        key: usize,
        nick: Option<String>,
        target: Option<String>,
    ) -> Option<Reply> {
        let what = match (nick, target.as_deref().map(history_key)) {
            (Some(nick), None) => Purge::Nick(fold(&nick)),
            (None, Some(Some(target))) => Purge::Target(target),
            (None, Some(None)) => {
                return Some(Reply::failed(
                    "the target is neither a channel nor two nicks written alice,bob",
                ));
            }
            _ => return Some(Reply::failed("purge takes a nick or a target, not both")),
        };
        info!("admin: purging history: {what:?}");
        (!self.net.history.admin_purge(key, what)).then(no_history)
    }

    /// `groupchatctl account …`: checked here, done by the accounts worker,
    /// answered when it has.
    fn admin_account(&mut self, key: usize, request: Request) -> Option<Reply> {
        let nick_len = self.config.limits.nick_len;
        let bad_name = |name: &str| {
            (!crate::names::valid_nick(name, nick_len)).then(|| {
                Reply::failed(format!(
                    "{name:?} cannot be an account: account names are nicks (at most {nick_len} characters)"
                ))
            })
        };
        let weak = |password: &str| {
            (password.chars().count() < crate::hub::MIN_PASSWORD).then(|| {
                Reply::failed(format!(
                    "the password is too short: at least {} characters",
                    crate::hub::MIN_PASSWORD
                ))
            })
        };
        let request = match request {
            Request::AccountAdd { name, password } => {
                if let Some(refusal) = bad_name(&name).or_else(|| weak(&password.0)) {
                    return Some(refusal);
                }
                accounts::Request::Create {
                    name,
                    password: Secret::new(password.0),
                }
            }
            Request::AccountPasswd { name, password } => {
                if let Some(refusal) = weak(&password.0) {
                    return Some(refusal);
                }
                accounts::Request::SetPassword {
                    name,
                    password: Secret::new(password.0),
                }
            }
            Request::AccountDel { name } => accounts::Request::Delete { name },
            _ => accounts::Request::List,
        };
        (!self.net.accounts.admin(key, request))
            .then(|| Reply::failed("accounts are not available (see groupchatctl status)"))
    }

    /// The accounts worker's answer to an admin request.
    pub(super) fn admin_account_answer(&mut self, key: usize, answer: Answer) {
        let reply = match answer {
            Ok(Outcome::Created(name)) => {
                self.hub.account_created(&name);
                info!("admin: account {name} added");
                Reply::done(format!("account {name} added"))
            }
            Ok(Outcome::PasswordSet(name)) => {
                info!("admin: password of account {name} changed");
                Reply::done(format!("password of account {name} changed"))
            }
            Ok(Outcome::Deleted(name)) => {
                self.hub.account_deleted(&name, &mut self.net);
                self.after_delivery();
                info!("admin: account {name} deleted");
                Reply::done(format!("account {name} deleted"))
            }
            Ok(Outcome::Listed(list)) => Reply {
                ok: true,
                accounts: Some(
                    list.into_iter()
                        .map(|a| AccountLine {
                            name: a.name,
                            created: crate::clock::format_iso(a.created_ms),
                        })
                        .collect(),
                ),
                ..Reply::default()
            },
            Ok(Outcome::Verified(_) | Outcome::Matched(_) | Outcome::Kept(_)) => {
                Reply::failed("unexpected answer")
            }
            Err(e) => Reply::failed(e.to_string()),
        };
        if let Some(conn) = self.admin.conns.get_mut(key) {
            conn.output.extend_from_slice(reply.to_line().as_bytes());
        }
        self.admin_write(key);
    }

    /// The store's answer to an admin request.
    pub(super) fn admin_history_answer(&mut self, key: usize, result: Result<AdminAnswer, String>) {
        let reply = match result {
            Ok(AdminAnswer::Entries(entries)) => Reply {
                ok: true,
                history: Some(entries.iter().map(history_line).collect()),
                ..Reply::default()
            },
            Ok(AdminAnswer::Purged(count)) => {
                info!("admin: purged {count} history entries");
                Reply::done(format!("purged {count} entries"))
            }
            Err(e) => Reply::failed(format!("history: {e}")),
        };
        if let Some(conn) = self.admin.conns.get_mut(key) {
            conn.output.extend_from_slice(reply.to_line().as_bytes());
        }
        self.admin_write(key);
    }

    fn admin_request(&mut self, request: Request) -> Reply {
        match request {
            Request::Status => Reply {
                ok: true,
                status: Some(self.status()),
                ..Reply::default()
            },
            Request::Clients => Reply {
                ok: true,
                clients: Some(self.client_list()),
                ..Reply::default()
            },
            Request::Nodes => match &self.net.cluster {
                Some(cluster) => Reply {
                    ok: true,
                    nodes: Some(cluster.status()),
                    ..Reply::default()
                },
                None => Reply::failed("this node is not in a cluster (no [cluster] redis)"),
            },
            Request::Channels => Reply {
                ok: true,
                channels: Some(
                    self.hub
                        .channel_summaries()
                        .into_iter()
                        .map(|c| ChannelInfo {
                            name: c.name,
                            members: c.members,
                            topic: c.topic,
                            owner: c.owner,
                        })
                        .collect(),
                ),
                ..Reply::default()
            },
            Request::Kick { nick, reason } => {
                let result = self.hub.kick(&nick, reason.as_deref(), &mut self.net);
                self.after_delivery();
                match result {
                    Ok(done) => {
                        info!("admin: {done}");
                        Reply::done(done)
                    }
                    Err(e) => Reply::failed(e),
                }
            }
            Request::Wall { text } if text.len() > MAX_WALL => Reply::failed(format!(
                "the text is {} bytes; at most {MAX_WALL} fit one IRC line",
                text.len()
            )),
            Request::Wall { text } => {
                let told = self.hub.wall(&text, &mut self.net);
                self.after_delivery();
                info!("admin: wall to {told} client(s)");
                Reply::done(format!("sent to {told} client(s)"))
            }
            Request::BanAdd {
                mask,
                duration,
                reason,
            } => {
                let duration_ms = match duration.as_deref().map(crate::kline::parse_duration_ms) {
                    Some(None) => {
                        return Reply::failed(format!(
                            "{:?} is not a duration: 30m, 2h, 7d, or minutes",
                            duration.unwrap_or_default()
                        ));
                    }
                    Some(Some(ms)) => ms,
                    None => 0,
                };
                let added = self
                    .hub
                    .add_kline(&mask, duration_ms, &reason, "admin", &mut self.net);
                self.after_delivery();
                match added {
                    Ok((mask, dropped)) => {
                        info!("admin: K-line on {mask}: {dropped} client(s) dropped");
                        Reply::done(format!("banned {mask}: {dropped} client(s) dropped"))
                    }
                    Err(e) => Reply::failed(e),
                }
            }
            Request::BanDel { mask } => match self.hub.remove_kline(&mask, &mut self.net) {
                Some(mask) => Reply::done(format!("ban on {mask} removed")),
                None => Reply::failed(format!("there is no ban on {mask}")),
            },
            Request::ChannelRegister { name, owner } => {
                let done = self.hub.register_channel(&name, &owner, &mut self.net);
                done.map_or_else(Reply::failed, Reply::done)
            }
            Request::ChannelDrop { name } => {
                let done = self.hub.drop_channel(&name, &mut self.net);
                done.map_or_else(Reply::failed, Reply::done)
            }
            Request::BanList => Reply {
                ok: true,
                bans: Some(self.hub.klines().into_iter().map(ban_line).collect()),
                ..Reply::default()
            },
            Request::Reload => match self.reload() {
                Ok(done) => Reply::done(done),
                Err(e) => Reply::failed(e),
            },
            Request::History { .. } | Request::Purge { .. } => {
                Reply::failed("history requests are answered by the store")
            }
            Request::AccountAdd { .. }
            | Request::AccountDel { .. }
            | Request::AccountPasswd { .. }
            | Request::AccountList => Reply::failed("account requests are answered by the store"),
            Request::Shutdown { grace } => {
                let grace = match grace {
                    Some(seconds) => ShutdownGrace::Seconds(seconds),
                    None => ShutdownGrace::Configured,
                };
                self.begin_shutdown(grace);
                Reply::done("shutting down")
            }
        }
    }

    fn history_status(&self) -> HistoryStatus {
        let link = &self.net.history;
        let mut status = HistoryStatus {
            path: link.path().display().to_string(),
            ..HistoryStatus::default()
        };
        match link.store() {
            Store::Open(store) => {
                let health = store.health();
                status.state = if health.ok { "ok" } else { "failing" }.into();
                status.error = health.last_error.clone();
                status.stored = health.stored;
                status.lost = health.failed_entries;
                status.queued = health.queued;
                status.entries = health.db_entries;
                status.bytes = health.db_bytes;
            }
            Store::Unavailable(error) => {
                status.state = "unavailable".into();
                status.error = Some(error.clone());
            }
            Store::Off => status.state = "off".into(),
        }
        status
    }

    pub(super) fn status(&self) -> Status {
        let (registered, unregistered) = self.hub.client_counts();
        let hub = self.hub.stats();
        let stats = &self.net.stats;
        let count = |which: fn(&Connection) -> bool| {
            self.net.conns.iter().filter(|(_, c)| which(c)).count()
        };
        Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            uptime_seconds: stats.started.elapsed().as_secs(),
            config_file: self.source.path.as_ref().map(|p| p.display().to_string()),
            listeners: self
                .listeners
                .iter()
                .filter_map(|l| {
                    let addr = l.socket.local_addr().ok()?;
                    Some(match (l.endpoint.web, l.endpoint.tls) {
                        (false, false) => addr.to_string(),
                        (false, true) => format!("{addr} (TLS)"),
                        (true, false) => format!("{addr} (web)"),
                        (true, true) => format!("{addr} (web, TLS)"),
                    })
                })
                .collect(),
            clients: ClientCounts {
                connected: registered + unregistered,
                registered,
                peak: hub.peak_registered,
                tls: count(|c| c.transport.is_tls() && !c.is_web_request()),
                websocket: count(|c| c.transport.is_websocket()),
                websocket_tls: count(|c| c.transport.is_websocket() && c.transport.is_tls()),
            },
            channels: self.hub.channel_count(),
            messages_in: hub.messages,
            messages_out: hub.deliveries,
            lines_in: stats.lines_in,
            lines_out: stats.lines_out,
            lines_too_long: stats.lines_too_long,
            throttled_clients: self.throttled.len(),
            descriptor_shortages: stats.descriptor_shortages,
            bytes_in: stats.bytes_in,
            bytes_out: stats.bytes_out,
            queued_bytes: self.net.queued_total,
            peak_queued_bytes: stats.peak_queued,
            reading_paused: self.reading_paused,
            disconnects: DisconnectReason::ALL
                .into_iter()
                .map(|r| (r.key().to_string(), stats.disconnects(r)))
                .collect(),
            rss_bytes: resident_bytes(),
            history: self.history_status(),
            accounts: {
                let (state, error) = self.net.accounts.state();
                AccountsStatus {
                    state: state.into(),
                    path: self.net.accounts.path().display().to_string(),
                    error,
                    accounts: self.hub.account_count(),
                    logins: hub.logins,
                    login_failures: hub.login_failures,
                    oper_failures: hub.oper_failures,
                    lockouts: hub.lockouts,
                    registrations_refused: hub.registrations_refused,
                }
            },
            cluster: self.net.cluster.as_ref().map(Cluster::status),
        }
    }

    fn client_list(&self) -> Vec<ClientInfo> {
        self.hub
            .client_summaries(Instant::now())
            .into_iter()
            .map(|c| {
                let conn = self.net.conns.get(c.id);
                ClientInfo {
                    nick: c.nick,
                    address: conn.map_or_else(String::new, |c| c.peer.to_string()),
                    registered: c.registered,
                    channels: c.channels,
                    connected_seconds: c.connected_for.as_secs(),
                    idle_seconds: c.idle_for.as_secs(),
                    queued_bytes: conn.map_or(0, Connection::queued),
                    tls: conn.and_then(|c| c.transport.describe()),
                    transport: conn.map_or_else(String::new, |c| c.transport.name()),
                    node: c.node,
                }
            })
            .collect()
    }
}

/// The daemon's resident memory, from `/proc/self/status` (a kernel file:
/// reading it does not wait on a disk).
/// Most lines `groupchatctl history --last` gets.
const MAX_HISTORY_LINES: usize = 10_000;

fn ban_line(k: crate::kline::Kline) -> BanLine {
    BanLine {
        mask: k.mask,
        reason: k.reason,
        set_by: k.set_by,
        set_at: crate::clock::format_iso(k.set_at_ms),
        expires: k.expires_ms.map(crate::clock::format_iso),
    }
}

fn no_history() -> Reply {
    Reply::failed("history is not kept (see groupchatctl status)")
}

/// The history key of `#channel` or `alice,bob`.
fn history_key(target: &str) -> Option<String> {
    if target.starts_with('#') {
        return Some(fold(target));
    }
    let (a, b) = target.split_once(',')?;
    let valid = |n: &str| crate::names::valid_nick(n, usize::MAX);
    (valid(a) && valid(b)).then(|| private_key(&fold(a), &fold(b)))
}

fn history_line(e: &Entry) -> HistoryLine {
    HistoryLine {
        msgid: e.seq.to_string(),
        time: crate::clock::format_iso(e.time_ms),
        kind: e.kind.as_str().to_string(),
        nick: e.prefix.split('!').next().unwrap_or_default().to_string(),
        to: e.to.to_string(),
        text: e.text.to_string(),
    }
}

fn resident_bytes() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
