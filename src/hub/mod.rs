//! The hub: who is connected, under which nick, in which channels, and who
//! receives what. Pure chat rules, no sockets.
//!
//! The reactor feeds it lines and events and gives it an [`Outbox`] to queue
//! output into. A line for many recipients is built once and handed to the
//! outbox by reference for each of them: the hub never formats per recipient.
//! Time comes in as an argument so timeouts can be tested without waiting.

mod accounts;
mod bans;
mod caps;
mod channel;
mod channels;
mod chanops;
mod history;
mod kept;
mod klines;
mod labels;
mod messaging;
mod modes;
mod network;
mod opers;
mod overview;
mod queries;
mod registration;
mod server_info;
mod timeouts;
mod whowas;

use crate::history::msgid::Msgids;
use crate::history::{Entry, Kind};
use crate::message::{Line, Message, build, numeric};
pub use accounts::{AccountRules, MIN_PASSWORD};
pub use caps::StsPolicy;
use caps::{Cap, Caps};
use channel::{Channel, Member};
pub use history::{Answering, Ask, Found, MAX_CHATHISTORY};
use network::Run;
pub use network::{Bus, NickClaim, REMOTE_BASE};
pub use overview::{ChannelSummary, ClientSummary};

use crate::names::{fold, skeleton};
use crate::numeric::*;
use crate::stats::DisconnectReason;
use crate::tags::TagError;
use slab::Slab;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A client's key: the reactor's slab key for its connection.
pub type ClientId = usize;

/// Where the hub's output goes.
pub trait Outbox {
    /// Queues `line` for client `to`, after everything queued for it before.
    fn send(&mut self, to: ClientId, line: &Line);
    /// A message to keep in history: sent to its recipients in the same
    /// call, before or after this.
    fn record(&mut self, entry: Entry);
    /// A question for history from client `id`; the answer goes back to
    /// [`Hub::history_answer`] with `answering`, now or later.
    fn ask(&mut self, id: ClientId, ask: Ask, answering: Answering);
    /// A request for the accounts worker from client `id`; the answer goes
    /// back to [`Hub::account_answer`], later.
    fn account(&mut self, id: ClientId, request: crate::accounts::Request);
    /// A K-line or a registered channel to store or forget; nobody waits
    /// for the answer (a failure is logged).
    fn keep(&mut self, what: crate::accounts::Keep);
    /// The hub has let go of `who` (for the kind of reason `why`): deliver
    /// what is queued for it, then `ERROR :Closing Link: <host> (<reason>)`,
    /// then close the connection.
    fn close(&mut self, who: ClientId, why: DisconnectReason, reason: &str);
    /// A line for the other nodes of the cluster, on `bus` (only ever
    /// called on a node of a cluster).
    fn publish(&mut self, bus: Bus, payload: &Line);
    /// A message of channel `folded` for the network's log of its last
    /// lines, which a node reads to fill its history (only ever called on
    /// a node of a cluster).
    fn log(&mut self, folded: &str, payload: &Line);
    /// Whether this node has members in channel `folded`, and so wants
    /// the messages other nodes publish to it.
    fn follow(&mut self, folded: &str, on: bool);
    /// A nick claimed in, or given back to, the network. For
    /// [`NickClaim::Take`], true when the network was asked (the answer
    /// comes to [`Hub::nick_answer`]), false when there is none to ask
    /// (the link is down): the nick is this node's to give.
    fn nick_claim(&mut self, claim: NickClaim) -> bool;
}

/// The parts of the configuration the chat rules need.
#[derive(Debug, Clone)]
pub struct HubConfig {
    pub server_name: String,
    pub network: String,
    pub default_channel: String,
    pub motd: Option<Vec<String>>,
    pub password: Option<String>,
    /// As skeletons ([`crate::names::skeleton`]), so that look-alikes are
    /// reserved too; an ASCII name's skeleton is its fold.
    pub reserved_nicks: Vec<String>,
    /// Longest line without its tags, CRLF included (`limits.max_line`).
    pub max_line: usize,
    pub nick_len: usize,
    pub channel_len: usize,
    pub max_channels: usize,
    pub topic_len: usize,
    /// ADMIN's location line (`server.admin_location`).
    pub admin_location: Option<String>,
    /// ADMIN's contact line (`server.admin_email`).
    pub admin_email: Option<String>,
    pub large_channel: usize,
    pub presence_interval: Duration,
    pub registration_timeout: Duration,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// Advertised as the `sts` capability when set.
    pub sts: Option<StsPolicy>,
    /// History is kept and offered (`history.enabled`).
    pub history: bool,
    /// Private messages go to history too (`history.private`).
    pub keep_private: bool,
    /// Lines of history shown on joining a channel.
    pub join_playback: usize,
    pub accounts: AccountRules,
    /// `[[operators]]`: who may `OPER`.
    pub operators: Vec<crate::config::OperatorConfig>,
    /// `server.lobby_operators`, folded: accounts that are channel
    /// operators of the default channel.
    pub lobby_operators: Vec<String>,
    /// This node's name when it is one of a cluster (`[cluster]`).
    pub node: Option<String>,
}

impl HubConfig {
    /// Takes the chat rules out of the daemon's config; `motd` is the message
    /// of the day already read from its file, if there is one.
    pub fn new(config: &crate::config::Config, motd: Option<Vec<String>>) -> HubConfig {
        let l = &config.limits;
        let t = &config.timeouts;
        HubConfig {
            server_name: config.server.name.clone(),
            network: config.server.network.clone(),
            default_channel: config.server.default_channel.clone(),
            motd,
            password: config.server.password.clone(),
            reserved_nicks: config
                .server
                .reserved_nicks
                .iter()
                .map(|n| skeleton(n))
                .collect(),
            max_line: l.max_line,
            nick_len: l.nick_len,
            channel_len: l.channel_len,
            max_channels: l.max_channels,
            topic_len: l.topic_len,
            admin_location: config.server.admin_location.clone(),
            admin_email: config.server.admin_email.clone(),
            large_channel: l.large_channel,
            presence_interval: Duration::from_secs(l.presence_interval),
            registration_timeout: t.registration(),
            ping_interval: t.ping_interval(),
            ping_timeout: t.ping_timeout(),
            sts: config.tls.sts_duration.and_then(|duration| {
                let port = config.tls.listen.first()?.port();
                Some(StsPolicy { port, duration })
            }),
            history: config.history.enabled,
            keep_private: config.history.private,
            join_playback: config.history.join_playback,
            accounts: AccountRules::new(config),
            operators: config.operators.clone(),
            lobby_operators: config
                .server
                .lobby_operators
                .iter()
                .map(|a| fold(a))
                .collect(),
            node: config.node_name(),
        }
    }
}

/// Counters for `status`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HubStats {
    /// PRIVMSG and NOTICE lines accepted for delivery.
    pub messages: u64,
    /// Copies of those lines queued for recipients.
    pub deliveries: u64,
    pub peak_registered: usize,
    /// Successful SASL logins.
    pub logins: u64,
    /// SASL logins refused for a wrong name or password.
    pub login_failures: u64,
    /// Connections cut, and addresses made to wait, for failing too often.
    pub lockouts: u64,
    /// `OPER` refused for a wrong password.
    pub oper_failures: u64,
    /// `REGISTER` refused because the address registered too many lately.
    pub registrations_refused: u64,
}

struct Client {
    /// Empty until the client sends NICK.
    nick: String,
    /// Empty until the client sends USER.
    user: String,
    realname: String,
    host: String,
    ip: IpAddr,
    /// `nick!user@host`, the prefix of everything this client says.
    prefix: String,
    registered: bool,
    /// Between `CAP LS`/`CAP REQ` and `CAP END`, registration waits.
    cap_negotiating: bool,
    /// 302 once the client has sent `CAP LS 302`: it gets values.
    cap_version: u16,
    caps: Caps,
    password: Option<String>,
    invisible: bool,
    /// User mode `+w`: receives WALLOPS.
    wallops: bool,
    /// User mode `+o`: the `[[operators]]` block it opered as.
    oper: Option<String>,
    /// Channels an op invited this client to, each with its channel's
    /// serial so that the invitation dies with the channel.
    invites: Vec<(ChannelId, u64)>,
    /// Connected over TLS.
    secure: bool,
    away: Option<String>,
    channels: Vec<ChannelId>,
    connected_at: Instant,
    signon: u64,
    last_input: Instant,
    last_message: Instant,
    pinged: bool,
    /// When its one live entry in the hub's check queue is due.
    check_at: Instant,
    /// The account it is logged in to, as the account's name is spelt.
    account: Option<String>,
    /// A SASL exchange, a request the accounts worker has yet to answer,
    /// failed logins: boxed, and absent from the many clients that never
    /// log in (see [`accounts::Login`]).
    login: Option<Box<accounts::Login>>,
}

impl Client {
    /// A client that has just connected from `ip`, not yet registered.
    fn new(ip: IpAddr, secure: bool, now: Instant) -> Client {
        Client {
            nick: String::new(),
            user: String::new(),
            realname: String::new(),
            prefix: String::new(),
            host: ip.to_string(),
            ip,
            registered: false,
            cap_negotiating: false,
            cap_version: 0,
            caps: Caps::default(),
            password: None,
            invisible: false,
            wallops: false,
            oper: None,
            invites: Vec::new(),
            secure,
            away: None,
            channels: Vec::new(),
            connected_at: now,
            signon: unix_now(),
            last_input: now,
            last_message: now,
            pinged: false,
            check_at: now,
            account: None,
            login: None,
        }
    }

    fn nick_or_star(&self) -> &str {
        if self.nick.is_empty() {
            "*"
        } else {
            &self.nick
        }
    }
}

type ChannelId = usize;

/// See [`Hub::census`].
#[derive(Debug, Default, Clone, Copy)]
struct Census {
    invisible: usize,
    opers: usize,
}

/// The chat state of one server.
pub struct Hub {
    config: HubConfig,
    created: String,
    clients: Vec<Option<Client>>,
    nicks: HashMap<String, ClientId>,
    /// The clients whose nick's confusable skeleton
    /// ([`crate::names::skeleton`]) is not its fold, by that skeleton; the
    /// others (every ASCII nick) are found in `nicks` under it, so the
    /// common case costs no second entry per client. Either way a
    /// look-alike of a nick in use is found in one or two lookups. Two
    /// nicks with one skeleton never coexist.
    skeletons: HashMap<String, ClientId>,
    channels: Slab<Channel>,
    channel_ids: HashMap<String, ChannelId>,
    /// Channels whose name's skeleton is not its fold, by skeleton, as
    /// `skeletons` is for nicks: so that a look-alike of a channel's name
    /// is found in one or two lookups.
    channel_skeletons: HashMap<String, ChannelId>,
    registered: usize,
    unregistered: usize,
    /// How many users are invisible and how many are operators, network
    /// wide, for LUSERS: counted when asked and kept until one of them
    /// changes, so that the LUSERS of every welcome costs no scan.
    census: std::cell::Cell<Option<Census>>,
    stats: HubStats,
    checks: timeouts::CheckQueue,
    /// The msgids this node gives.
    msgids: Msgids,
    /// Batch references given out.
    batches: u64,
    /// Channels created so far, to give each its serial.
    channel_serial: u64,
    /// Nicks that left, for WHOWAS.
    whowas: whowas::Whowas,
    /// Every account's folded name (see [`Hub::set_accounts`]).
    accounts: HashSet<String>,
    /// How many accounts have each skeleton, to protect look-alikes of
    /// account names too (several when the host made look-alike accounts).
    account_skeletons: HashMap<String, usize>,
    /// Recent failed logins by address.
    login_failures: HashMap<IpAddr, accounts::Tally>,
    /// Recent account registrations by address.
    registrations: HashMap<IpAddr, accounts::Tally>,
    /// Registered channels' last states, by folded name, whether anyone
    /// is in them or not (see `kept.rs`).
    kept: HashMap<String, kept::Record>,
    /// The K-lines, as set (see [`Hub::set_klines`]).
    klines: Vec<klines::Active>,
    /// The other nodes' users, as clients [`REMOTE_BASE`] up.
    remotes: Slab<network::Remote>,
    /// The other nodes, as far as their users go.
    peers: HashMap<String, network::Peer>,
    /// Lines from other nodes' users not introduced yet, oldest first.
    early: std::collections::VecDeque<network::Early>,
    /// Marks this run of the hub for the other nodes: a node whose mark
    /// changed restarted, and its old users are gone.
    boot: String,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Hub {
    pub fn new(config: HubConfig) -> Hub {
        let mut hub = Hub {
            msgids: Msgids::new(config.node.as_deref()),
            config,
            created: crate::clock::format_date(unix_now() as i64),
            clients: Vec::new(),
            nicks: HashMap::new(),
            skeletons: HashMap::new(),
            channels: Slab::new(),
            channel_ids: HashMap::new(),
            channel_skeletons: HashMap::new(),
            registered: 0,
            unregistered: 0,
            census: std::cell::Cell::new(None),
            stats: HubStats::default(),
            checks: timeouts::CheckQueue::new(),
            batches: 0,
            channel_serial: 0,
            whowas: whowas::Whowas::default(),
            accounts: HashSet::new(),
            account_skeletons: HashMap::new(),
            login_failures: HashMap::new(),
            registrations: HashMap::new(),
            kept: HashMap::new(),
            klines: Vec::new(),
            remotes: Slab::new(),
            peers: HashMap::new(),
            early: std::collections::VecDeque::new(),
            boot: crate::clock::now_ms().to_string(),
        };
        hub.ensure_default_channel();
        hub
    }

    /// Msgids from now on are above `seq`, the highest one in history.
    pub fn set_seq_floor(&mut self, seq: u64) {
        self.msgids.floor(seq);
    }

    /// Applies a reloaded configuration; it takes effect for what happens next.
    pub fn set_config(&mut self, config: HubConfig) {
        self.config = config;
        self.ensure_default_channel();
    }

    pub fn stats(&self) -> HubStats {
        self.stats
    }

    /// Registered and not yet registered clients.
    pub fn client_counts(&self) -> (usize, usize) {
        (self.registered, self.unregistered)
    }

    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// The nick of a client, if it has one.
    pub fn nick(&self, id: ClientId) -> Option<&str> {
        self.client(id)
            .map(|c| c.nick.as_str())
            .filter(|n| !n.is_empty())
    }

    /// The client that holds `nick`, compared as the server folds case.
    pub fn find_nick(&self, nick: &str) -> Option<ClientId> {
        self.nicks.get(&fold(nick)).copied()
    }

    /// The registered user holding `nick`. A client that has sent NICK but
    /// not yet USER holds its nick already, so that nobody takes it, but
    /// is nobody yet to message, query or invite.
    fn find_user(&self, nick: &str) -> Option<ClientId> {
        self.find_nick(nick)
            .filter(|&id| self.client(id).is_some_and(|c| c.registered))
    }

    /// The client whose nick looks like `nick` (the same skeleton), if it is
    /// not `id` itself.
    fn look_alike_holder(&self, id: ClientId, nick: &str) -> Option<ClientId> {
        let shape = skeleton(nick);
        let by_fold = self.nicks.get(&shape).copied().filter(|&holder| {
            self.client(holder)
                .is_some_and(|c| skeleton(&c.nick) == shape)
        });
        by_fold
            .or_else(|| self.skeletons.get(&shape).copied())
            .filter(|&holder| holder != id)
    }

    /// Enters `nick` as `id`'s in the nick map, and in the skeleton map
    /// when its skeleton is not its fold.
    fn claim_nick(&mut self, id: ClientId, nick: &str) {
        let folded = fold(nick);
        let shape = skeleton(nick);
        if shape != folded {
            self.skeletons.insert(shape, id);
        }
        self.nicks.insert(folded, id);
    }

    /// Takes `nick` out of the nick and skeleton maps.
    fn release_nick(&mut self, nick: &str) {
        let folded = fold(nick);
        let shape = skeleton(nick);
        if shape != folded {
            self.skeletons.remove(&shape);
        }
        self.nicks.remove(&folded);
    }

    fn client(&self, id: ClientId) -> Option<&Client> {
        match id.checked_sub(REMOTE_BASE) {
            None => self.clients.get(id).and_then(Option::as_ref),
            Some(key) => self.remotes.get(key).map(|r| &r.client),
        }
    }

    fn client_mut(&mut self, id: ClientId) -> Option<&mut Client> {
        match id.checked_sub(REMOTE_BASE) {
            None => self.clients.get_mut(id).and_then(Option::as_mut),
            Some(key) => self.remotes.get_mut(key).map(|r| &mut r.client),
        }
    }

    /// Takes a client out of its table.
    fn take_client(&mut self, id: ClientId) -> Option<Client> {
        let client = match id.checked_sub(REMOTE_BASE) {
            None => self.clients.get_mut(id).and_then(Option::take),
            Some(key) => self.remotes.try_remove(key).map(|r| r.client),
        };
        if client
            .as_ref()
            .is_some_and(|c| c.invisible || c.oper.is_some())
        {
            self.census.set(None);
        }
        client
    }

    /// Invisible users and operators, network wide (see `census`).
    fn census(&self) -> Census {
        if let Some(census) = self.census.get() {
            return census;
        }
        let mut census = Census::default();
        let locals = self.clients.iter().flatten().filter(|c| c.registered);
        for client in locals.chain(self.remotes.iter().map(|(_, r)| &r.client)) {
            census.invisible += usize::from(client.invisible);
            census.opers += usize::from(client.oper.is_some());
        }
        self.census.set(Some(census));
        census
    }

    /// A connection was accepted from `ip`.
    /// A new connection; `secure` when it came over TLS (WHOIS tells).
    pub fn connect(&mut self, id: ClientId, ip: IpAddr, secure: bool, now: Instant) {
        if self.clients.len() <= id {
            self.clients.resize_with(id + 1, || None);
        }
        self.clients[id] = Some(Client::new(ip, secure, now));
        self.unregistered += 1;
        self.schedule_first_check(id, now);
    }

    /// Handles one line the client sent, without its line ending.
    pub fn handle_line(&mut self, id: ClientId, line: &[u8], now: Instant, out: &mut dyn Outbox) {
        let Some(client) = self.client_mut(id) else {
            return;
        };
        client.last_input = now;
        client.pinged = false;
        let registered = client.registered;
        let text = String::from_utf8_lossy(line);
        let Some(msg) = Message::parse(&text) else {
            return;
        };
        let tags_len = if msg.tags.is_empty() {
            0
        } else {
            msg.tags.len() + 2
        };
        let too_long = line.len() - tags_len.min(line.len()) + 2 > self.config.max_line;
        match crate::tags::check(msg.tags) {
            Ok(()) if !too_long => {}
            Ok(()) | Err(TagError::TooLong) => {
                self.reply(id, ERR_INPUTTOOLONG, &["Input line was too long"], out);
                return;
            }
            Err(TagError::Malformed) => {
                let params = [msg.command, "INVALID_TAGS", "Message tags are malformed"];
                self.fail(id, &params, out);
                return;
            }
        }
        let mut upper = [0u8; 16];
        let command = uppercase(msg.command, &mut upper);
        if !registered && !registration::allowed_before(command) {
            self.reply(id, ERR_NOTREGISTERED, &["You have not registered"], out);
            return;
        }
        let label = crate::tags::get(msg.tags, "label")
            .filter(|l| !l.is_empty() && l.len() <= labels::MAX_LABEL)
            .filter(|_| {
                self.client(id)
                    .is_some_and(|c| c.caps.has(Cap::LabeledResponse))
            });
        let Some(label) = label else {
            self.dispatch(id, command, &msg, now, out);
            return;
        };
        let batch = self
            .client(id)
            .is_some_and(|c| c.caps.has(Cap::Batch))
            .then(|| self.next_batch_ref());
        let server = self.config.server_name.clone();
        let mut labeled = labels::Labeled::new(out, id, label, &server, batch);
        self.dispatch(id, command, &msg, now, &mut labeled);
        labeled.finish();
    }

    /// A batch reference unique on this server.
    fn next_batch_ref(&mut self) -> String {
        self.batches += 1;
        format!("b{}", self.batches)
    }

    fn dispatch(
        &mut self,
        id: ClientId,
        command: &str,
        msg: &Message,
        now: Instant,
        out: &mut dyn Outbox,
    ) {
        match command {
            "CAP" => self.cap(id, msg, out),
            "PASS" => self.pass(id, msg, out),
            "NICK" => self.nick_command(id, msg, out),
            "USER" => self.user(id, msg, out),
            "QUIT" => self.quit(id, msg, out),
            "PING" => self.ping(id, msg, out),
            "PONG" => {}
            "JOIN" => self.join_command(id, msg, out),
            "KICK" => self.kick_command(id, msg, out),
            "INVITE" => self.invite_command(id, msg, out),
            "PART" => self.part(id, msg, out),
            "PRIVMSG" => self.message(id, msg, Kind::Privmsg, now, out),
            "NOTICE" => self.message(id, msg, Kind::Notice, now, out),
            "TAGMSG" => self.message(id, msg, Kind::Tagmsg, now, out),
            "TOPIC" => self.topic(id, msg, out),
            "NAMES" => self.names_command(id, msg, out),
            "LIST" => self.list(id, msg, out),
            "WHO" => self.who(id, msg, out),
            "WHOIS" => self.whois(id, msg, now, out),
            "WHOWAS" => self.whowas_command(id, msg, out),
            "MODE" => self.mode(id, msg, out),
            "MOTD" => self.server_query(id, msg, Hub::motd, out),
            "TIME" => self.server_query(id, msg, Hub::time, out),
            "VERSION" => self.server_query(id, msg, Hub::version, out),
            "INFO" => self.server_query(id, msg, Hub::info, out),
            "ADMIN" => self.server_query(id, msg, Hub::admin, out),
            "LUSERS" => self.lusers(id, out),
            "AWAY" => self.away(id, msg, out),
            "USERHOST" => self.userhost(id, msg, out),
            "ISON" => self.ison(id, msg, out),
            "CHATHISTORY" => self.chathistory(id, msg, out),
            "SETNAME" => self.setname(id, msg, out),
            "AUTHENTICATE" => self.authenticate(id, msg, now, out),
            "REGISTER" => self.register_account(id, msg, now, out),
            "VERIFY" => self.verify_account(id, msg, out),
            "OPER" => self.oper_command(id, msg, now, out),
            "KILL" => self.kill_command(id, msg, out),
            "WALLOPS" => self.wallops_command(id, msg, out),
            "KLINE" => self.kline_command(id, msg, out),
            "UNKLINE" => self.unkline_command(id, msg, out),
            _ => self.reply(
                id,
                ERR_UNKNOWNCOMMAND,
                &[msg.command, "Unknown command"],
                out,
            ),
        }
    }

    /// The client sent a line longer than the limit; it was dropped.
    pub fn line_too_long(&mut self, id: ClientId, out: &mut dyn Outbox) {
        if self.client(id).is_some() {
            self.reply(id, ERR_INPUTTOOLONG, &["Input line was too long"], out);
        }
    }

    /// The connection is gone or being cut by the server for `reason`:
    /// everyone sharing a channel with the client is told.
    pub fn disconnect(&mut self, id: ClientId, reason: &str, out: &mut dyn Outbox) {
        self.remove_client(id, reason, None, out);
    }

    /// Removes a client on its request or the server's initiative (QUIT,
    /// timeouts, kicks): its peers see `reason` and the client is told
    /// before it is closed.
    pub fn drop_client(
        &mut self,
        id: ClientId,
        why: DisconnectReason,
        reason: &str,
        out: &mut dyn Outbox,
    ) {
        if id >= REMOTE_BASE {
            self.drop_remote(id, why, reason, out);
        } else if self.remove_client(id, reason, None, out) {
            out.close(id, why, reason);
        }
    }

    /// Timeouts and presence summaries; call about once a second.
    pub fn tick(&mut self, now: Instant, out: &mut dyn Outbox) {
        self.check_timeouts(now, out);
        self.presence_summaries(now, out);
        self.expire_address_tallies(now);
        self.expire_klines();
        self.expire_early(now, out);
    }

    /// Takes the client out of every table; returns whether it existed.
    /// `heard`: the msgids its node gave its quit, for a user of another
    /// node that quit there (see [`Run`]).
    fn remove_client(
        &mut self,
        id: ClientId,
        reason: &str,
        heard: Option<Run>,
        out: &mut dyn Outbox,
    ) -> bool {
        let Some(client) = self.take_client(id) else {
            return false;
        };
        let local = id < REMOTE_BASE;
        // Logged here, the one place that still knows the nick.
        match client.nick.as_str() {
            "" => log::info!("disconnect #{id} ({}): {reason}", client.host),
            nick if local => log::info!("disconnect {nick} ({}): {reason}", client.host),
            nick => log::debug!("{nick} of another node quit: {reason}"),
        }
        if !client.nick.is_empty() {
            self.release_nick(&client.nick);
        }
        if !client.registered {
            self.unregistered -= 1;
            return true;
        }
        self.whowas.remember(&client, unix_now());
        let quit = build(&client.prefix, "QUIT", &[reason]);
        // One msgid per channel it leaves, in the order of their folded
        // names, which every node knows alike.
        let mut left: Vec<(String, String)> = (client.channels.iter())
            .filter_map(|&chan| self.channels.get(chan))
            .map(|c| (fold(&c.name), c.name.clone()))
            .collect();
        left.sort_unstable();
        let run = heard.unwrap_or_else(|| self.new_run(left.len()));
        if local {
            self.registered -= 1;
            if self.config.node.is_some() {
                out.nick_claim(NickClaim::Release {
                    folded: &fold(&client.nick),
                });
                self.publish_stamped(Bus::Net, &quit, run, "", out);
            }
        }
        for (k, (_, name)) in left.iter().enumerate() {
            let stamp = run.stamp(k).unwrap_or_else(|| self.stamp());
            self.record_event(&client.prefix, Kind::Quit, name, reason, stamp, out);
        }
        let mut peers = Vec::new();
        for &chan in &client.channels {
            self.leave_channel(chan, id, &mut peers, out);
        }
        peers.sort_unstable();
        peers.dedup();
        for peer in peers {
            out.send(peer, &quit);
        }
        true
    }

    /// An IRCv3 standard reply: `FAIL <command> <code> [context…]
    /// :<description>`.
    fn fail_line(&self, params: &[&str]) -> Line {
        build(&self.config.server_name, "FAIL", params)
    }

    fn fail(&self, id: ClientId, params: &[&str], out: &mut dyn Outbox) {
        out.send(id, &self.fail_line(params));
    }

    /// Sends a numeric reply to one client.
    fn reply(&self, id: ClientId, code: u16, params: &[&str], out: &mut dyn Outbox) {
        let target = self.client(id).map_or("*", Client::nick_or_star);
        out.send(id, &numeric(&self.config.server_name, code, target, params));
    }

    /// Sends `line` to everyone in a channel with the client (only those
    /// with capability `only`, when given), and to the client itself when
    /// `include_self`, once each.
    fn send_to_peers(
        &self,
        id: ClientId,
        line: &Line,
        include_self: bool,
        only: Option<Cap>,
        out: &mut dyn Outbox,
    ) {
        let Some(client) = self.client(id) else {
            return;
        };
        let mut peers: Vec<ClientId> = client
            .channels
            .iter()
            .filter_map(|&c| self.channels.get(c))
            .flat_map(|c| c.local_members())
            .filter(|&m| m != id)
            .filter(|&m| only.is_none_or(|cap| self.client(m).is_some_and(|c| c.caps.has(cap))))
            .collect();
        peers.sort_unstable();
        peers.dedup();
        if include_self {
            out.send(id, line);
        }
        for peer in peers {
            out.send(peer, line);
        }
    }
}

/// Uppercases a command into `buf`; commands longer than any known one come
/// back unchanged, which is fine since they will not match.
fn uppercase<'a>(command: &'a str, buf: &'a mut [u8; 16]) -> &'a str {
    if command.len() > buf.len() || !command.is_ascii() {
        return command;
    }
    let out = &mut buf[..command.len()];
    out.copy_from_slice(command.as_bytes());
    out.make_ascii_uppercase();
    std::str::from_utf8(out).unwrap_or(command)
}

#[cfg(test)]
mod tests;
