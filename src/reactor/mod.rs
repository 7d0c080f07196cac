//! The event loop: one thread, one `mio::Poll`, every socket non-blocking.
//!
//! The reactor moves bytes and enforces output limits; it knows no chat
//! rules. Input lines go to the [`Hub`]; what the hub sends comes back
//! through the `Net` outbox into per-connection queues, which are flushed in
//! batches just before the loop sleeps (Redis's `beforeSleep`), and again
//! on writable readiness for whatever the kernel would not take at once.

#[cfg(test)]
mod accounting;
mod accounts;
mod admin;
mod admission;
mod history;
mod input;
mod tokens;
mod web;

use crate::admin::access::Access;
use crate::cluster::{Cluster, Event as ClusterEvent};
use crate::config::{Config, ConfigSource};
use crate::connection::{Connection, Phase};
use crate::flood::FloodPolicy;
use crate::history::Entry;
use crate::hub::{Answering, Ask, Bus, ClientId, Hub, HubConfig, NickClaim, Outbox};
use crate::listener;
use crate::message::Line;
use crate::sd_notify::Notifier;
use crate::stats::{DisconnectReason, Stats};
use crate::transport::certs::Identity;
use accounts::AccountsLink;
use admin::AdminSocket;
use history::{Finished, HistoryLink};
use log::{error, info, warn};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Waker};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use std::collections::HashMap;
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokens::Source;

/// Reads per connection per turn before others get theirs.
const READS_PER_TURN: usize = 4;
const READ_BUFFER: usize = 16 * 1024;
/// How long a closing connection may take to drain before it is cut.
const CLOSE_GRACE: Duration = Duration::from_secs(10);
const TICK: Duration = Duration::from_secs(1);
/// Queues written per turn. Between slices the loop polls again without
/// sleeping, so a line that arrives while a broadcast is going out joins
/// the queues still waiting and leaves in the same `send` (one TCP segment
/// instead of two), without holding anything back.
const FLUSH_SLICE: usize = 64;
/// History answers written each turn however much live output waits.
const BULK_FLOOR: usize = 8;

/// What the reactor enforces, from `[limits]` and `[flood]`.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_line: usize,
    sendq_soft: usize,
    sendq_hard: usize,
    sendq_soft_time: Duration,
    output_cap: usize,
    /// `limits.max_clients`, or fewer if the descriptor limit says so.
    max_clients: usize,
    max_clients_per_ip: usize,
    flood: Option<FloodPolicy>,
    recvq_max: usize,
}

impl Limits {
    /// The longest input line: `limits.max_line` and, on top, the client
    /// tags IRCv3 allows (the hub checks both parts).
    fn max_input(&self) -> usize {
        self.max_line + crate::tags::MAX_CLIENT_TAGS
    }

    fn new(config: &Config) -> Limits {
        let l = &config.limits;
        let descriptors =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .map_or(u64::MAX, |(soft, _)| soft);
        let room = crate::limits::client_room(descriptors);
        Limits {
            max_line: l.max_line,
            sendq_soft: l.sendq_soft,
            sendq_hard: l.sendq_hard,
            sendq_soft_time: Duration::from_secs(l.sendq_soft_seconds),
            output_cap: l.output_cap,
            max_clients: l
                .max_clients
                .min(usize::try_from(room).unwrap_or(usize::MAX)),
            max_clients_per_ip: l.max_clients_per_ip,
            flood: FloodPolicy::new(&config.flood),
            recvq_max: config.flood.recvq_max,
        }
    }
}

/// A listening socket and what it serves.
struct Listener {
    endpoint: Endpoint,
    socket: TcpListener,
}

/// What a listener serves, as the config asks for it: an address (the port
/// may be 0), whether its clients speak TLS, and whether they speak HTTP
/// (and IRC over WebSocket) rather than IRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Endpoint {
    addr: SocketAddr,
    tls: bool,
    web: bool,
}

pub struct Server {
    poll: Poll,
    signals: Signals,
    listeners: Vec<Listener>,
    /// The certificate TLS listeners serve; replaced on reload, while open
    /// sessions keep the one they started with.
    tls: Option<Identity>,
    net: Net,
    hub: Hub,
    config: Config,
    source: ConfigSource,
    /// Above the global output cap nobody is read from.
    reading_paused: bool,
    /// Connections that may have unread input and are allowed to read.
    read_list: Vec<ClientId>,
    read_buffer: Vec<u8>,
    shutdown_deadline: Option<Instant>,
    next_tick: Instant,
    admin: AdminSocket,
    notifier: Option<Notifier>,
    next_watchdog: Option<Instant>,
    /// The last `STATUS=` sent to systemd, to send only changes.
    last_status: String,
    /// Clients over their line budget, and when the first may go on.
    throttled: Vec<ClientId>,
    next_resume: Option<Instant>,
    /// Open connections per address group, for `max_clients_per_ip`.
    per_ip: HashMap<IpAddr, usize>,
    /// Out of descriptors: accepting waits until `accept_retry_at`.
    descriptor_shortage: bool,
    accept_retry_at: Option<Instant>,
    refused_since_log: u64,
}

/// How long a shutdown lets queued output drain.
pub(crate) enum ShutdownGrace {
    Configured,
    Seconds(u64),
}

impl Server {
    /// Binds every listen address and the admin socket; fails if any
    /// cannot be bound.
    pub fn new(
        config: Config,
        source: ConfigSource,
        motd: Option<Vec<String>>,
    ) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
        poll.registry()
            .register(&mut signals, Source::Signals.token(), Interest::READABLE)?;
        let hub = Hub::new(HubConfig::new(&config, motd));
        let access = Access::resolve(config.admin.group.as_deref())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls =
            load_identity(&config).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let admin = AdminSocket::bind(admin_socket_path(&config), access, poll.registry())?;
        let mut server = Server {
            poll,
            signals,
            listeners: Vec::new(),
            tls,
            net: Net {
                conns: Slab::new(),
                flush_list: VecDeque::new(),
                bulk_list: VecDeque::new(),
                answering_history: false,
                overflowed: Vec::new(),
                watched: Vec::new(),
                queued_total: 0,
                limits: Limits::new(&config),
                stats: Stats::new(),
                history: HistoryLink::new(&config.history),
                accounts: AccountsLink::new(&config),
                held: Vec::new(),
                cluster: None,
            },
            hub,
            config,
            source,
            reading_paused: false,
            read_list: Vec::new(),
            read_buffer: vec![0; READ_BUFFER],
            shutdown_deadline: None,
            next_tick: Instant::now() + TICK,
            admin,
            notifier: Notifier::from_env()?,
            next_watchdog: None,
            last_status: String::new(),
            throttled: Vec::new(),
            next_resume: None,
            per_ip: HashMap::new(),
            descriptor_shortage: false,
            accept_retry_at: None,
            refused_since_log: 0,
        };
        for endpoint in listen_addresses(&server.config) {
            server.listen(endpoint)?;
        }
        // Last, so that a server that cannot start leaves no store behind.
        // One waker for every helper thread: mio allows one per `Poll`, and
        // the loop asks each of them what is done every turn anyway.
        let waker = Arc::new(Waker::new(server.poll.registry(), Source::Workers.token())?);
        let max_seq = server
            .net
            .history
            .start(&server.config.history, Arc::clone(&waker));
        server.hub.set_seq_floor(max_seq);
        let stored = server.net.accounts.start(&server.config, waker);
        server.hub.set_accounts(stored.names);
        server.hub.set_klines(stored.klines);
        server.hub.set_kept_channels(stored.channels);
        if let Some(node) = server.config.node_name() {
            let token = |link| Source::Redis(link).token();
            let cluster = Cluster::new(&server.config.cluster, node, token)
                .and_then(|c| c.check_login().map(|()| c))
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            info!(
                "cluster: node {} joins the network through Redis",
                cluster.node()
            );
            server.net.cluster = Some(cluster);
        }
        Ok(server)
    }

    fn listen(&mut self, endpoint: Endpoint) -> io::Result<()> {
        let Endpoint { addr, tls, web } = endpoint;
        let mut socket = listener::bind(addr)?;
        let token = Source::Listener(self.listeners.len()).token();
        self.poll
            .registry()
            .register(&mut socket, token, Interest::READABLE)?;
        let bound = socket.local_addr()?;
        match (web, tls) {
            (false, false) => info!("listening on {bound}"),
            (false, true) => info!("listening for TLS on {bound}"),
            (true, false) => info!("listening for web on {bound}"),
            (true, true) => info!("listening for web over TLS on {bound}"),
        }
        self.listeners.push(Listener { endpoint, socket });
        Ok(())
    }

    /// Serves until shut down, then commits what history still holds.
    pub fn run(&mut self) -> io::Result<()> {
        let result = self.serve();
        self.net.history.close();
        self.net.accounts.close();
        result
    }

    /// Runs until shut down by a signal; returns once every client is gone
    /// or the shutdown grace has passed.
    fn serve(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        self.notify("READY=1");
        self.report_status();
        if let Some(interval) = self.notifier.as_ref().and_then(Notifier::watchdog) {
            self.next_watchdog = Some(Instant::now() + interval);
        }
        let mut turn_started: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if let Some(started) = turn_started {
                self.net.stats.turns.record(now - started);
            }
            if let Some(deadline) = self.shutdown_deadline {
                let unflushed = self
                    .net
                    .conns
                    .iter()
                    .filter(|(_, c)| !matches!(c.phase, Phase::Draining { .. }))
                    .count();
                if unflushed == 0 {
                    info!("shut down: all output delivered");
                    return Ok(());
                }
                if now >= deadline {
                    warn!(
                        "shut down: grace over, {unflushed} connection(s) still had output queued"
                    );
                    return Ok(());
                }
            }
            let input_waiting = !self.read_list.is_empty() && self.may_read();
            let busy = !self.net.flush_list.is_empty()
                || !self.net.bulk_list.is_empty()
                || self.net.history.has_ready()
                || self.net.accounts.has_ready();
            let timeout = if !input_waiting && !busy {
                let cluster = self.net.cluster.as_ref().map(Cluster::next_due);
                [
                    self.next_watchdog,
                    self.next_resume,
                    self.accept_retry_at,
                    cluster,
                ]
                .into_iter()
                .flatten()
                .fold(self.next_tick, Instant::min)
                .saturating_duration_since(now)
            } else {
                Duration::ZERO
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            turn_started = Some(Instant::now());
            for event in events.iter() {
                match Source::of(event.token()) {
                    Source::Signals => {
                        if self.handle_signals() {
                            return Ok(());
                        }
                    }
                    Source::AdminListener => self.admin_accept(),
                    Source::Listener(index) => self.accept(index),
                    Source::Admin(key) => self.admin_ready(key),
                    // Handled below, every turn.
                    Source::Workers => {}
                    Source::Redis(link) => {
                        if let Some(cluster) = &mut self.net.cluster {
                            cluster.ready(self.poll.registry(), link);
                        }
                    }
                    Source::Client(id) => {
                        let Some(conn) = self.net.conns.get_mut(id) else {
                            continue;
                        };
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            conn.readable = true;
                            list_for_reading(&mut self.read_list, id, conn);
                        }
                        if event.is_writable() && conn.wants_flush() {
                            list_for_flushing(&mut self.net.flush_list, id, conn);
                        }
                    }
                }
            }
            self.read_listed();
            let now = Instant::now();
            if self.next_resume.is_some_and(|at| now >= at) {
                self.resume_throttled(now);
            }
            self.retry_accepting(now);
            if now >= self.next_tick {
                self.tick(now);
                self.next_tick = now + TICK;
            }
            if let Some(cluster) = &mut self.net.cluster
                && now >= cluster.next_due()
            {
                let clients = self.hub.client_counts().0 as u64;
                cluster.tick(self.poll.registry(), clients);
            }
            self.hand_on_network(now);
            if let (Some(due), Some(notifier)) = (self.next_watchdog, &self.notifier)
                && now >= due
            {
                notifier.notify("WATCHDOG=1");
                self.next_watchdog = notifier.watchdog().map(|interval| now + interval);
            }
            self.hand_on_history();
            self.hand_on_accounts();
            self.net.history.flush();
            if let Some(cluster) = &mut self.net.cluster {
                cluster.flush(self.poll.registry());
            }
            self.flush_listed();
        }
    }

    /// Hands what the other nodes said to the hub.
    fn hand_on_network(&mut self, now: Instant) {
        let Some(cluster) = &mut self.net.cluster else {
            return;
        };
        for event in cluster.take_events() {
            match event {
                ClusterEvent::Line(payload) => self.hub.cluster_line(&payload, now, &mut self.net),
                ClusterEvent::Backfill(payload) => self.hub.backfill(&payload, &mut self.net),
                ClusterEvent::Alive { nodes, asked } => {
                    self.hub.nodes_alive(&nodes, asked, &mut self.net)
                }
                ClusterEvent::Joined => self.hub.join_network(&mut self.net),
                ClusterEvent::NickAnswer { id, folded, free } => {
                    self.hub.nick_answer(id, &folded, free, &mut self.net)
                }
                ClusterEvent::Interrupted => self.hub.network_interrupted(&mut self.net),
            }
        }
        if let Some(cluster) = &self.net.cluster {
            self.net.history.release(|folded| cluster.filling(folded));
        }
    }

    /// Returns true when the process should exit at once.
    fn handle_signals(&mut self) -> bool {
        let pending: Vec<i32> = self.signals.pending().collect();
        for signal in pending {
            match signal {
                SIGHUP => {
                    let _ = self.reload();
                }
                _ if self.shutdown_deadline.is_some() => {
                    warn!("second termination signal: exiting now");
                    return true;
                }
                _ => self.begin_shutdown(ShutdownGrace::Configured),
            }
        }
        false
    }

    /// Stops accepting and closes every client after what is queued for it.
    fn begin_shutdown(&mut self, grace: ShutdownGrace) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        info!(
            "shutting down: closing {} connection(s)",
            self.net.conns.len()
        );
        self.notify("STOPPING=1");
        for mut listener in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut listener.socket);
        }
        let grace = match grace {
            ShutdownGrace::Configured => self.config.timeouts.shutdown_grace(),
            ShutdownGrace::Seconds(seconds) => Duration::from_secs(seconds),
        };
        self.shutdown_deadline = Some(Instant::now() + grace);
        let ids: Vec<ClientId> = self.net.conns.iter().map(|(id, _)| id).collect();
        for id in ids {
            if self
                .net
                .conns
                .get(id)
                .is_some_and(Connection::is_web_request)
            {
                // Not a chat client: nothing to tell it.
                self.remove(id);
                continue;
            }
            let why = DisconnectReason::Shutdown;
            self.net.close(id, why, why.text());
        }
    }

    /// Re-reads the config and applies it; on any error the running config
    /// stays. Logs the outcome and returns it for the operator.
    fn reload(&mut self) -> Result<String, String> {
        if let Some(notifier) = &self.notifier {
            notifier.reloading();
        }
        let result = self.try_reload();
        match &result {
            Ok(done) => info!("{done}"),
            Err(e) => error!("{e}"),
        }
        self.notify("READY=1");
        result
    }

    fn try_reload(&mut self) -> Result<String, String> {
        let config = self
            .source
            .load()
            .map_err(|e| format!("reload failed, keeping the running config: {e}"))?;
        let access = Access::resolve(config.admin.group.as_deref())
            .map_err(|e| format!("reload failed, keeping the running config: {e}"))?;
        let tls = load_identity(&config)
            .map_err(|e| format!("reload failed, keeping the running config: {e}"))?;
        self.admin.access = access;
        self.tls = tls;
        let motd = config.read_motd();
        self.apply_config(config, motd);
        Ok(match &self.source.path {
            Some(path) => format!("reloaded {}", path.display()),
            None => "reloaded the built-in defaults".to_string(),
        })
    }

    fn notify(&self, state: &str) {
        if let Some(notifier) = &self.notifier {
            notifier.notify(state);
        }
    }

    /// Tells systemd the one-line summary `systemctl status` shows.
    fn report_status(&mut self) {
        if self.notifier.is_none() {
            return;
        }
        let (registered, unregistered) = self.hub.client_counts();
        let status = format!(
            "{} clients, {} channels",
            registered + unregistered,
            self.hub.channel_count()
        );
        if status != self.last_status {
            self.notify(&format!("STATUS={status}"));
            self.last_status = status;
        }
    }

    /// Applies a new config live: limits, timeouts, MOTD and listeners.
    fn apply_config(&mut self, mut config: Config, motd: Option<Vec<String>>) {
        let (old, new) = (&self.config.history, &mut config.history);
        if (old.enabled, &old.path, &old.max_age, old.max_messages)
            != (new.enabled, &new.path, &new.max_age, new.max_messages)
        {
            warn!(
                "history.enabled, path, max_age and max_messages changes take effect after a restart"
            );
            // The running store stays as it is, and what the hub offers with it.
            new.enabled = old.enabled;
            new.path.clone_from(&old.path);
            new.max_age.clone_from(&old.max_age);
            new.max_messages = old.max_messages;
        }
        if let Ok(level) = config.log.level.parse() {
            log::set_max_level(level);
        }
        if config.log.target != self.config.log.target {
            warn!("log.target changes take effect after a restart");
        }
        if admin_socket_path(&config) != self.admin.path() {
            warn!("admin.socket changes take effect after a restart");
        }
        if config.cluster != self.config.cluster {
            warn!("[cluster] changes take effect after a restart");
            config.cluster.clone_from(&self.config.cluster);
        }
        let wanted = listen_addresses(&config);
        let mut kept = Vec::new();
        for mut listener in self.listeners.drain(..) {
            if wanted.contains(&listener.endpoint) {
                kept.push(listener);
            } else {
                let _ = self.poll.registry().deregister(&mut listener.socket);
                info!("stopped listening on {}", listener.endpoint.addr);
            }
        }
        for mut listener in kept {
            let token = Source::Listener(self.listeners.len()).token();
            if let Err(e) =
                self.poll
                    .registry()
                    .reregister(&mut listener.socket, token, Interest::READABLE)
            {
                error!("cannot keep listening on {}: {e}", listener.endpoint.addr);
                continue;
            }
            self.listeners.push(listener);
        }
        for endpoint in wanted {
            if !self.listeners.iter().any(|l| l.endpoint == endpoint)
                && let Err(e) = self.listen(endpoint)
            {
                error!("{e}");
            }
        }
        self.net.limits = Limits::new(&config);
        self.hub.set_config(HubConfig::new(&config, motd));
        self.config = config;
    }

    /// Disconnects whoever went past the hard limit and applies the global cap.
    fn after_delivery(&mut self) {
        while let Some(id) = self.net.overflowed.pop() {
            let queued = self.net.conns.get(id).map_or(0, Connection::queued);
            warn!(
                "{}: SendQ exceeded ({queued} bytes queued)",
                self.describe(id)
            );
            self.hub
                .disconnect(id, DisconnectReason::SendQ.text(), &mut self.net);
            self.kill(id, DisconnectReason::SendQ);
        }
        if self.net.queued_total > self.net.limits.output_cap && !self.reading_paused {
            warn!(
                "output cap reached ({} bytes queued): pausing reads",
                self.net.queued_total
            );
            self.reading_paused = true;
        }
        self.net.stats.peak_queued = self.net.stats.peak_queued.max(self.net.queued_total);
    }

    /// `nick (ip)` for log lines.
    fn describe(&self, id: ClientId) -> String {
        let ip = self
            .net
            .conns
            .get(id)
            .map_or_else(|| "?".to_string(), |c| c.peer.ip().to_string());
        match self.hub.nick(id) {
            Some(nick) => format!("{nick} ({ip})"),
            None => format!("#{id} ({ip})"),
        }
    }

    /// The connection failed (closed, reset, write error): tell the hub so
    /// its peers hear why, then drop it.
    fn lose(&mut self, id: ClientId, reason: DisconnectReason) {
        if self.net.conns.get(id).is_some_and(Connection::is_open) {
            self.hub.disconnect(id, reason.text(), &mut self.net);
            self.net.stats.count_disconnect(reason);
        }
        self.remove(id);
        self.after_delivery();
    }

    /// Cuts a connection at once: the queue is dropped and the ERROR line is
    /// written only if the socket takes it right away.
    fn kill(&mut self, id: ClientId, reason: DisconnectReason) {
        if self.net.conns.contains(id) {
            let _ = self.net.write(id, |conn| {
                conn.queue.drop_unstarted();
                conn.queue.push(&conn.closing_line(reason.text()));
                if conn.transport.is_websocket() {
                    // A close frame after the ERROR line, if the socket
                    // takes both now.
                    conn.transport.set_close_reason(reason);
                    conn.transport.close(&mut conn.queue);
                }
            });
            self.net.stats.count_disconnect(reason);
        }
        self.remove(id);
    }

    fn remove(&mut self, id: ClientId) {
        if let Some(mut conn) = self.net.remove(id) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
            self.count_departure(conn.peer.ip());
        }
    }

    fn tick(&mut self, now: Instant) {
        self.hub.tick(now, &mut self.net);
        self.net.history.tick();
        self.report_status();
        self.log_refusals();
        let mut watched = std::mem::take(&mut self.net.watched);
        watched.sort_unstable();
        watched.dedup();
        for id in watched {
            let Some(conn) = self.net.conns.get(id) else {
                continue;
            };
            let (since, allowed, slow) = match (conn.phase, conn.over_soft_since) {
                (Phase::Http { since }, _) => {
                    if now.duration_since(since) < self.config.timeouts.registration() {
                        self.net.watched.push(id);
                    } else {
                        self.web_request_expired(id);
                    }
                    continue;
                }
                (Phase::Open, None) => continue,
                (Phase::Open, Some(since)) => (since, self.net.limits.sendq_soft_time, true),
                (Phase::Closing { since } | Phase::Draining { since }, _) => {
                    (since, CLOSE_GRACE, false)
                }
            };
            if now.duration_since(since) < allowed {
                self.net.watched.push(id);
            } else if slow {
                self.net.overflowed.push(id);
            } else {
                self.remove(id);
            }
        }
        self.after_delivery();
    }

    /// Whether input may be read now: not while the global output cap is
    /// reached, nor while output waits for history to commit. The second
    /// makes each turn's messages one group commit that every held queue
    /// waits for, instead of a commit that new messages keep overtaking
    /// (which would hold a busy client's queue forever).
    fn may_read(&self) -> bool {
        !self.reading_paused && self.net.held.is_empty()
    }

    /// Hands on what history finished: answers to the clients (and admin
    /// connections) that asked, and output that waited for a commit.
    fn hand_on_history(&mut self) {
        for finished in self.net.history.take_finished() {
            match finished {
                Finished::Client(id, answering, found) => {
                    self.net.answering_history = true;
                    self.hub.history_answer(id, answering, found, &mut self.net);
                    self.net.answering_history = false;
                }
                Finished::Admin(key, result) => self.admin_history_answer(key, result),
            }
        }
        let committed = self.net.history.committed();
        let net = &mut self.net;
        net.held.retain(|&id| {
            let Some(conn) = net.conns.get_mut(id).filter(|c| c.held) else {
                return false;
            };
            if conn.hold > committed {
                return true;
            }
            conn.held = false;
            list_for_flushing(&mut net.flush_list, id, conn);
            false
        });
    }

    /// Hands on what the accounts worker answered: to the clients (and
    /// admin connections) that asked.
    fn hand_on_accounts(&mut self) {
        let finished = self.net.accounts.take_finished();
        if finished.is_empty() {
            return;
        }
        for finished in finished {
            match finished {
                accounts::Finished::Client(id, answer) => {
                    let now = Instant::now();
                    self.hub.account_answer(id, answer, now, &mut self.net);
                }
                accounts::Finished::Admin(key, answer) => self.admin_account_answer(key, answer),
                accounts::Finished::Unasked(Err(e)) => {
                    error!("cannot keep a K-line or a channel: {e}")
                }
                accounts::Finished::Unasked(Ok(_)) => {}
            }
        }
        self.after_delivery();
    }

    /// Writes out the next slice of queues that got output, then lifts the
    /// global read pause if the writes took enough.
    fn flush_listed(&mut self) {
        let now = Instant::now();
        let written = self.flush_some(false, FLUSH_SLICE, now);
        // Then history answers, in what is left of the slice: live lines
        // first, and a turn no longer than before. A few each turn all the
        // same, so that a crowd of live traffic cannot starve them.
        self.flush_some(true, (FLUSH_SLICE - written).max(BULK_FLOOR), now);
        if self.reading_paused && self.net.queued_total < self.net.limits.output_cap / 4 * 3 {
            info!("output below 3/4 of the cap: reading again");
            self.reading_paused = false;
        }
    }

    /// Writes up to `limit` connections of the live list, or of the bulk
    /// list (history answers); returns how many.
    fn flush_some(&mut self, bulk: bool, limit: usize, now: Instant) -> usize {
        let mut written = 0;
        while written < limit {
            let list = match bulk {
                true => &mut self.net.bulk_list,
                false => &mut self.net.flush_list,
            };
            let Some(id) = list.pop_front() else {
                break;
            };
            self.flush(id, now);
            written += 1;
        }
        written
    }

    /// Writes what one listed connection has queued, then finishes its
    /// closing or lets it be read again as its queue allows. A connection
    /// no longer listed was flushed out of turn already and is skipped.
    fn flush(&mut self, id: ClientId, now: Instant) {
        let Some(conn) = self.net.conns.get_mut(id) else {
            return;
        };
        if !conn.flush_listed {
            return;
        }
        conn.flush_listed = false;
        if conn.hold > self.net.history.committed() {
            // Waits for history to commit what it holds (see history.rs).
            if !conn.held {
                conn.held = true;
                self.net.held.push(id);
            }
            return;
        }
        if let Phase::Closing { .. } = conn.phase
            && !conn.transport.carries_lines()
        {
            // Let go during a TLS handshake: nothing can reach it.
            return self.remove(id);
        }
        if let Err(e) = self.net.write(id, |_| {}) {
            return self.lose(id, DisconnectReason::from_io(&e));
        }
        let Some(conn) = self.net.conns.get_mut(id) else {
            return;
        };
        let queued = conn.queued();
        if queued > self.net.limits.sendq_soft {
            if conn.over_soft_since.is_none() {
                conn.over_soft_since = Some(now);
                self.net.watched.push(id);
            }
        } else {
            conn.over_soft_since = None;
            if conn.readable {
                list_for_reading(&mut self.read_list, id, conn);
            }
        }
        if let (Phase::Closing { .. }, 0) = (conn.phase, queued) {
            self.net.finish_closing(id, now);
            if let Some(conn) = self.net.conns.get_mut(id) {
                list_for_reading(&mut self.read_list, id, conn);
            }
        }
    }
}

/// The configured admin socket, or the default place for this user.
fn admin_socket_path(config: &Config) -> std::path::PathBuf {
    config
        .admin
        .socket
        .clone()
        .unwrap_or_else(crate::admin::path::for_daemon)
}

/// Every address to listen on, with what it serves.
fn listen_addresses(config: &Config) -> Vec<Endpoint> {
    let lists = [
        (&config.server.listen, false, false),
        (&config.tls.listen, true, false),
        (&config.web.listen, false, true),
        (&config.web.tls_listen, true, true),
    ];
    lists
        .into_iter()
        .flat_map(|(addrs, tls, web)| addrs.iter().map(move |&addr| Endpoint { addr, tls, web }))
        .collect()
}

/// The certificate to serve when TLS listeners are configured, loaded and
/// checked, with its summary (and any expiry warning) logged.
fn load_identity(config: &Config) -> Result<Option<Identity>, String> {
    if config.tls.listen.is_empty() && config.web.tls_listen.is_empty() {
        return Ok(None);
    }
    let identity = Identity::load(&config.tls)?;
    info!("{}", identity.summary());
    if let Some(warning) = identity.expiry_warning() {
        warn!("{warning}");
    }
    Ok(Some(identity))
}

fn list_for_reading(list: &mut Vec<ClientId>, id: ClientId, conn: &mut Connection) {
    if !conn.read_listed {
        conn.read_listed = true;
        list.push(id);
    }
}

fn list_for_flushing(list: &mut VecDeque<ClientId>, id: ClientId, conn: &mut Connection) {
    if !conn.flush_listed {
        conn.flush_listed = true;
        list.push_back(id);
    }
}

/// The connections and their output state: the hub's outbox, which queues
/// lines and enforces the hard limit.
struct Net {
    conns: Slab<Connection>,
    /// Connections with output queued since their last write, oldest first.
    flush_list: VecDeque<ClientId>,
    /// The same for output that was history answers (CHATHISTORY, join
    /// playback): written after `flush_list` each turn, so that a crowd
    /// catching up on history does not hold back everyone's live lines.
    bulk_list: VecDeque<ClientId>,
    /// History answers are being handed to the hub: what it sends now is
    /// bulk.
    answering_history: bool,
    /// Connections past the hard limit, to be disconnected.
    overflowed: Vec<ClientId>,
    /// Connections with a deadline running (over the soft send-queue limit,
    /// or closing): the few the once-a-second tick has to look at, instead
    /// of every connection. May hold duplicates and stale keys.
    watched: Vec<ClientId>,
    /// Output queued over all connections, in bytes.
    queued_total: usize,
    limits: Limits,
    stats: Stats,
    history: HistoryLink,
    accounts: AccountsLink,
    /// Connections whose output waits for history to commit.
    held: Vec<ClientId>,
    /// The link to the other nodes, with `[cluster]`.
    cluster: Option<Cluster>,
}

impl Net {
    /// Writes what a connection has queued, after `prepare` has changed its
    /// queue, and keeps `queued_total` the exact sum of every connection's
    /// [`Connection::queued`], whatever the write took or failed on.
    fn write(&mut self, id: ClientId, prepare: impl FnOnce(&mut Connection)) -> io::Result<()> {
        let Some(conn) = self.conns.get_mut(id) else {
            return Ok(());
        };
        let before = conn.queued();
        prepare(conn);
        let written = conn.write_queue();
        self.queued_total = self.queued_total - before + conn.queued();
        self.stats.bytes_out += written.sent as u64;
        written.result
    }

    /// A closing connection whose queue has gone out: ends the session
    /// (TLS close_notify, counted like any output) and shuts our side, so
    /// it drains until the peer closes too.
    fn finish_closing(&mut self, id: ClientId, now: Instant) {
        let _ = self.write(id, |conn| conn.transport.close(&mut conn.queue));
        if let Some(conn) = self.conns.get_mut(id) {
            let _ = conn.stream.shutdown(Shutdown::Write);
            conn.phase = Phase::Draining { since: now };
        }
    }

    /// Reads plaintext from a connection. A TLS read can make output of
    /// its own (handshake, alerts), counted here like queued lines.
    fn read(&mut self, id: ClientId, buf: &mut [u8]) -> io::Result<usize> {
        let Some(conn) = self.conns.get_mut(id) else {
            return Ok(0);
        };
        let before = conn.queued();
        let result = conn.read(buf);
        self.queued_total = self.queued_total - before + conn.queued();
        result
    }

    /// Takes a connection out, with its output.
    fn remove(&mut self, id: ClientId) -> Option<Connection> {
        let conn = self.conns.try_remove(id)?;
        self.history.forget(id);
        self.accounts.forget(id);
        self.queued_total -= conn.queued();
        Some(conn)
    }
}

impl Outbox for Net {
    fn send(&mut self, to: ClientId, line: &Line) {
        let Some(conn) = self.conns.get_mut(to) else {
            return;
        };
        if conn.overflowed || !conn.is_open() {
            return;
        }
        if conn.queued() + line.len() > self.limits.sendq_hard {
            // Not queued: the client is disconnected and told why instead.
            conn.overflowed = true;
            self.overflowed.push(to);
            return;
        }
        conn.queue.push(line);
        self.queued_total += line.len();
        self.stats.lines_out += 1;
        if let Some(batch) = self.history.hold() {
            conn.hold = batch;
        }
        let list = match self.answering_history {
            true => &mut self.bulk_list,
            false => &mut self.flush_list,
        };
        list_for_flushing(list, to, conn);
    }

    fn record(&mut self, entry: Entry) {
        self.history.record(entry);
    }

    fn ask(&mut self, id: ClientId, ask: Ask, answering: Answering) {
        // A channel whose log is being read: answered with what it holds.
        let cluster = self.cluster.as_ref();
        if cluster.is_some_and(|c| c.filling(ask.target())) {
            self.history.hold_until_filled(id, ask, answering);
        } else {
            self.history.ask(id, ask, answering);
        }
    }

    fn account(&mut self, id: ClientId, request: crate::accounts::Request) {
        self.accounts.ask(id, request);
    }

    fn keep(&mut self, what: crate::accounts::Keep) {
        self.accounts.keep(what);
    }

    fn publish(&mut self, bus: Bus, payload: &Line) {
        if let Some(cluster) = &mut self.cluster {
            cluster.publish(bus, payload);
        }
    }

    fn log(&mut self, folded: &str, payload: &Line) {
        if let Some(cluster) = &mut self.cluster {
            cluster.log(folded, payload);
        }
    }

    fn follow(&mut self, folded: &str, on: bool) {
        if let Some(cluster) = &mut self.cluster {
            cluster.follow(folded, on);
        }
    }

    fn nick_claim(&mut self, claim: NickClaim) -> bool {
        self.cluster
            .as_mut()
            .is_some_and(|cluster| cluster.nick_claim(claim))
    }

    fn close(&mut self, who: ClientId, why: DisconnectReason, reason: &str) {
        let Some(conn) = self.conns.get_mut(who) else {
            return;
        };
        if !conn.is_open() {
            return;
        }
        let line = conn.closing_line(reason);
        conn.queue.push(&line);
        conn.transport.set_close_reason(why);
        self.queued_total += line.len();
        conn.phase = Phase::Closing {
            since: Instant::now(),
        };
        self.watched.push(who);
        self.stats.count_disconnect(why);
        list_for_flushing(&mut self.flush_list, who, conn);
    }
}
