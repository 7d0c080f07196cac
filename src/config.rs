//! The daemon's configuration: a TOML file in which every key is optional.
//!
//! Built-in defaults make `groupchatd` with no arguments a working server on
//! 127.0.0.1:6667. Every mistake in a file is reported with the file, the line
//! and the key, because an operator fixing a config at 3 a.m. needs all three.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub limits: Limits,
    pub timeouts: Timeouts,
    pub log: LogConfig,
    pub admin: AdminConfig,
    pub flood: FloodConfig,
    pub tls: TlsConfig,
    pub history: HistoryConfig,
    pub accounts: AccountsConfig,
    pub web: WebConfig,
    pub cluster: ClusterConfig,
    /// Server operators (`[[operators]]`), who may `OPER`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operators: Vec<OperatorConfig>,
}

/// One `[[operators]]` block: who may become a server operator with
/// `OPER name password`. Exactly one of `password_hash` and `account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// The name given to `OPER`.
    pub name: String,
    /// An Argon2 PHC string (`groupchatctl hash-password` makes one): the
    /// config holds no password, only what checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// An account: a client logged in to it may `OPER` with no password,
    /// since SASL has already checked one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// The server's name in prefixes and numerics.
    pub name: String,
    /// Advertised as `NETWORK=` in ISUPPORT.
    pub network: String,
    /// Addresses to accept clients on (IPv4 and IPv6).
    pub listen: Vec<SocketAddr>,
    /// Every client joins this channel right after registering (empty:
    /// none). It exists from the start, without operators.
    pub default_channel: String,
    /// Message of the day, one line per line of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub motd_file: Option<PathBuf>,
    /// When set, clients must send this with `PASS` before registering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Nicks nobody may take (compared case-insensitively).
    pub reserved_nicks: Vec<String>,
    /// Where the server is, for ADMIN (unset: the network name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_location: Option<String>,
    /// Whom to contact, for ADMIN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_email: Option<String>,
    /// Registration is refused to a client that has not logged in to an
    /// account (with SASL, or by registering one with `REGISTER`).
    pub require_account: bool,
    /// Accounts whose members are channel operators of `default_channel`,
    /// which becomes `+nt` when there are any (a classroom's teacher).
    pub lobby_operators: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Longest line a client may send, CRLF included.
    pub max_line: usize,
    pub nick_len: usize,
    pub channel_len: usize,
    /// Channels one client may be in at once (`CHANLIMIT`).
    pub max_channels: usize,
    pub topic_len: usize,
    /// Queued output above which a client is no longer read from.
    pub sendq_soft: usize,
    /// Queued output at which a client is disconnected (SendQ exceeded).
    pub sendq_hard: usize,
    /// How long a client may stay above `sendq_soft` before it is disconnected.
    pub sendq_soft_seconds: u64,
    /// Queued output of all clients together above which nobody is read from.
    pub output_cap: usize,
    /// Channels with more members than this get presence summaries instead of
    /// one line per join, part and quit.
    pub large_channel: usize,
    /// Seconds between presence summaries in a large channel.
    pub presence_interval: u64,
    /// Connections at once; also capped by the descriptor limit.
    pub max_clients: usize,
    /// Connections at once from one IPv4 address or IPv6 /64 (0: no limit).
    pub max_clients_per_ip: usize,
}

/// Per-client input rate limit: a token bucket of lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FloodConfig {
    pub enabled: bool,
    /// Lines a client may send at once before being slowed down.
    pub burst: u32,
    /// Lines per second it may send after that.
    pub lines_per_second: u32,
    /// Unprocessed input (bytes) a slowed-down client may accumulate before
    /// it is disconnected with `Excess Flood`.
    pub recvq_max: usize,
}

impl Default for FloodConfig {
    fn default() -> Self {
        FloodConfig {
            enabled: true,
            burst: 10,
            lines_per_second: 2,
            recvq_max: 16 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// Seconds a connection has to finish registering.
    pub registration_timeout: u64,
    /// Seconds of silence after which a registered client is sent a PING.
    pub ping_interval: u64,
    /// Seconds after that PING without any input before it is disconnected.
    pub ping_timeout: u64,
    /// Seconds a shutdown waits for queued output to reach the clients.
    pub shutdown_grace: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// error, warn, info, debug or trace.
    pub level: String,
    /// `stderr` or `syslog`.
    pub target: LogTarget,
}

/// The local admin socket that `groupchatctl` talks to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Path of the Unix socket; unset means the first usable of
    /// `/run/groupchatd/admin.sock`, `$XDG_RUNTIME_DIR/groupchatd/admin.sock`
    /// and `/tmp/groupchatd-<uid>/admin.sock`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
    /// Members of this group may use the socket, besides root and the
    /// daemon's own user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// TLS listeners and the certificate they serve.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Addresses to accept TLS clients on (e.g. `0.0.0.0:6697`); none by
    /// default.
    pub listen: Vec<SocketAddr>,
    /// PEM certificate chain, leaf first. Unset: the systemd credential
    /// `tls.crt` (`$CREDENTIALS_DIRECTORY/tls.crt`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1). Unset: the systemd
    /// credential `tls.key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Seconds clients should remember to use TLS (IRCv3 `sts`): plain
    /// clients are told the port of the first `listen` address, TLS ones
    /// this duration. Unset: no policy. Only for a certificate clients
    /// trust without help: a client that keeps the policy will refuse
    /// anything else, plaintext included, for that long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sts_duration: Option<u64>,
}

/// The web endpoints: IRC over WebSocket, the web client's files, health
/// and metrics, on listeners of their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Plaintext HTTP/WebSocket addresses (`ws://`); none by default.
    pub listen: Vec<SocketAddr>,
    /// Addresses served over TLS with the `[tls]` certificate (`wss://`).
    pub tls_listen: Vec<SocketAddr>,
    /// Origins (`https://chat.example.org`) whose pages may open a
    /// WebSocket. Empty: only the daemon's own origin (the Origin's
    /// host:port is the request's Host). `"*"`: any page on the web, which
    /// lets every site a user visits chat in their name: unsafe.
    pub allowed_origins: Vec<String>,
    /// Who may GET /metrics: addresses or networks (`10.0.0.0/8`).
    pub metrics_from: Vec<AddrRange>,
}

/// `[cluster]`: this node and others form one network through Redis.
/// Without `redis`, nothing of it applies: one node, no Redis needed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// `redis://[user[:password]@]host[:port]`; empty (the default): no
    /// cluster. The host is resolved once, at start and on reload, never
    /// in the loop.
    pub redis: String,
    /// A file holding the Redis password, instead of one in the URL. Unset:
    /// the systemd credential `redis.password` when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// This node's name in the network; unset: `hostname:port` of the
    /// first listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// How often this node says it is alive (`"1s"`).
    pub heartbeat: String,
    /// A node silent this long is lost (`"5s"`); also how long Redis may
    /// take to answer before the link counts as down.
    pub node_timeout: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            redis: String::new(),
            password_file: None,
            node_name: None,
            heartbeat: "1s".into(),
            node_timeout: "5s".into(),
        }
    }
}

/// The systemd credential read for the Redis password when neither the URL
/// nor `cluster.password_file` has one (`LoadCredential=redis.password:...`).
pub const REDIS_PASSWORD_CREDENTIAL: &str = "redis.password";

impl ClusterConfig {
    pub fn enabled(&self) -> bool {
        !self.redis.is_empty()
    }

    pub fn heartbeat(&self) -> Duration {
        millis(&self.heartbeat)
    }

    pub fn node_timeout(&self) -> Duration {
        millis(&self.node_timeout)
    }

    /// Why the cluster settings cannot work, if they cannot.
    fn problem(&self) -> Option<(&'static str, String)> {
        if !self.enabled() {
            return None;
        }
        if let Err(e) = crate::cluster::RedisUrl::parse(&self.redis) {
            return Some(("cluster.redis", e));
        }
        let duration = |key: &'static str, text: &str| match parse_age(text) {
            Some(ms) if ms >= 1000 => None,
            _ => Some((
                key,
                format!("{text:?} is not a duration of at least \"1s\" (\"2s\", \"1m\")"),
            )),
        };
        if let Some(problem) = duration("cluster.heartbeat", &self.heartbeat)
            .or_else(|| duration("cluster.node_timeout", &self.node_timeout))
        {
            return Some(problem);
        }
        if self.node_timeout() < self.heartbeat() * 2 {
            return Some((
                "cluster.node_timeout",
                "must be at least twice cluster.heartbeat".into(),
            ));
        }
        match &self.node_name {
            Some(name) if name.is_empty() || name.contains(|c: char| c.is_whitespace()) => {
                Some(("cluster.node_name", "must be one word".into()))
            }
            _ => None,
        }
    }
}

/// A validated duration of [`parse_age`] as a `Duration`.
fn millis(text: &str) -> Duration {
    Duration::from_millis(
        parse_age(text)
            .and_then(|ms| u64::try_from(ms).ok())
            .unwrap_or(1000),
    )
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: Vec::new(),
            tls_listen: Vec::new(),
            allowed_origins: Vec::new(),
            metrics_from: vec![
                AddrRange::host([127, 0, 0, 1].into()),
                AddrRange::host(std::net::Ipv6Addr::LOCALHOST.into()),
            ],
        }
    }
}

/// An address or a network in CIDR notation (`192.0.2.0/24`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AddrRange {
    network: IpAddr,
    prefix: u8,
}

impl AddrRange {
    /// Just this one address.
    pub fn host(ip: IpAddr) -> AddrRange {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        AddrRange {
            network: ip,
            prefix,
        }
    }

    /// Whether `ip` is in the range; an IPv4-mapped IPv6 address is taken
    /// as the IPv4 address it carries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), 32, self.prefix)
                    == masked(u128::from(u32::from(ip)), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix)
                    == masked(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// The top `prefix` bits of a `width`-bit address.
fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
    let host_bits = u32::from(width.saturating_sub(prefix));
    bits.checked_shr(host_bits).unwrap_or(0)
}

impl TryFrom<String> for AddrRange {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let bad = || format!("{text:?} is not an address or a network like 10.0.0.0/8");
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.as_str(), None),
        };
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= width)
                .ok_or_else(bad)?,
            None => width,
        };
        Ok(AddrRange { network, prefix })
    }
}

impl From<AddrRange> for String {
    fn from(range: AddrRange) -> String {
        let width = if range.network.is_ipv4() { 32 } else { 128 };
        if range.prefix == width {
            range.network.to_string()
        } else {
            format!("{}/{}", range.network, range.prefix)
        }
    }
}

/// Chat history (IRCv3 `draft/chathistory` and playback on join).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    pub enabled: bool,
    /// The SQLite file. Unset: `$STATE_DIRECTORY/history.sqlite3` under
    /// systemd (`StateDirectory=`), else `groupchatd-history.sqlite3` in
    /// the working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// How long entries are kept: `<n>s`, `<n>m`, `<n>h` or `<n>d`; "0"
    /// keeps them forever.
    pub max_age: String,
    /// Entries kept per channel or conversation (0: no limit).
    pub max_messages: usize,
    /// Whether private messages are kept too.
    pub private: bool,
    /// Lines played back to a client joining a channel (0: none).
    pub join_playback: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            enabled: true,
            path: None,
            max_age: "30d".into(),
            max_messages: 10_000,
            private: true,
            join_playback: 10,
        }
    }
}

/// Accounts: kept in the history database file (`history.path`), even
/// when history itself is off, so a server has one file of state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// Accounts, SASL and `REGISTER` are offered at all.
    pub enabled: bool,
    /// A nick that is an account's name may be used only by that account.
    pub protect_nicks: bool,
    /// Who creates accounts: `open` (clients, with `REGISTER`, and the
    /// host) or `closed` (only the host, with `groupchatctl account add`).
    pub registration: Registration,
    /// Argon2id memory cost of new password hashes, in KiB. The default is
    /// OWASP's (19 MiB, 2 passes); a hash keeps its own parameters, so
    /// changing these affects only passwords set afterwards.
    pub hash_memory_kib: u32,
    /// Argon2id passes over that memory.
    pub hash_passes: u32,
    /// Failed SASL logins one connection may make before it is cut.
    pub max_failures: u32,
    /// Failed SASL logins from one address (all its connections) within
    /// `failure_window` seconds before that address may not try again
    /// until the window is over.
    pub max_failures_per_address: u32,
    pub failure_window: u64,
    /// Accounts one address may create with `REGISTER` within
    /// `registration_window` seconds, so that one host cannot take every
    /// name (the host's `groupchatctl account add` is not counted).
    pub max_registrations_per_address: u32,
    pub registration_window: u64,
}

/// Whether clients may create accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    Open,
    Closed,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            enabled: true,
            protect_nicks: true,
            registration: Registration::Open,
            hash_memory_kib: 19 * 1024,
            hash_passes: 2,
            max_failures: 3,
            max_failures_per_address: 10,
            failure_window: 600,
            max_registrations_per_address: 3,
            registration_window: 3600,
        }
    }
}

/// Argon2's own floor for the memory cost (8 KiB per lane, one lane).
const MIN_HASH_MEMORY_KIB: u32 = 8;

/// The history file's name in the state directory, or in the working
/// directory with a `groupchatd-` prefix when there is none.
const HISTORY_FILE: &str = "history.sqlite3";

/// Most lines a join plays back: more would flood a client that joins many
/// channels, and belongs to an explicit CHATHISTORY request.
const MAX_JOIN_PLAYBACK: usize = 100;

impl HistoryConfig {
    /// `max_age` in milliseconds, 0 for forever. It is validated at load;
    /// should an unvalidated value get here, the default applies.
    pub fn max_age_ms(&self) -> i64 {
        parse_age(&self.max_age).unwrap_or(30 * 86_400_000)
    }

    /// The database file: `path`, else in systemd's state directory, else
    /// in the working directory.
    pub fn resolved_path(&self) -> PathBuf {
        self.resolve(std::env::var_os("STATE_DIRECTORY"))
    }

    /// [`HistoryConfig::resolved_path`] with the environment as an argument,
    /// so it can be tested without touching the process's environment.
    fn resolve(&self, state_directory: Option<std::ffi::OsString>) -> PathBuf {
        if let Some(path) = &self.path {
            return path.clone();
        }
        // systemd lists one directory per StateDirectory= entry, ':'-separated.
        match state_directory.and_then(|dirs| std::env::split_paths(&dirs).next()) {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(HISTORY_FILE),
            _ => PathBuf::from(format!("groupchatd-{HISTORY_FILE}")),
        }
    }
}

/// Milliseconds in `<n>s|m|h|d`, or "0" for forever; None when malformed.
pub(crate) fn parse_age(text: &str) -> Option<i64> {
    if text == "0" {
        return Some(0);
    }
    let unit = text.chars().last()?;
    let per_unit: i64 = match unit {
        's' => 1000,
        'm' => 60 * 1000,
        'h' => 3600 * 1000,
        'd' => 86_400 * 1000,
        _ => return None,
    };
    let number: u32 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    i64::from(number).checked_mul(per_unit)
}

/// The systemd credentials read when `tls.cert_file`/`tls.key_file` are
/// unset (`LoadCredential=tls.crt:...` in the unit).
pub const CERT_CREDENTIAL: &str = "tls.crt";
pub const KEY_CREDENTIAL: &str = "tls.key";

impl TlsConfig {
    /// The certificate and key files to load, or why there are none: a
    /// file named in the config, else the systemd credential of that name.
    pub fn files(&self) -> Result<(PathBuf, PathBuf), String> {
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        let pick = |file: &Option<PathBuf>, key: &str, credential: &str| match (file, &credentials)
        {
            (Some(path), _) => Ok(path.clone()),
            (None, Some(dir)) => Ok(dir.join(credential)),
            (None, None) => Err(format!(
                "tls.{key} is not set and there is no $CREDENTIALS_DIRECTORY with {credential}"
            )),
        };
        Ok((
            pick(&self.cert_file, "cert_file", CERT_CREDENTIAL)?,
            pick(&self.key_file, "key_file", KEY_CREDENTIAL)?,
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTarget {
    Stderr,
    Syslog,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            name: "groupchatd".into(),
            network: "groupchat".into(),
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 6667))],
            default_channel: "#lobby".into(),
            motd_file: None,
            password: None,
            reserved_nicks: Vec::new(),
            admin_location: None,
            admin_email: None,
            require_account: false,
            lobby_operators: Vec::new(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 512,
            nick_len: 30,
            channel_len: 50,
            max_channels: 20,
            topic_len: 390,
            sendq_soft: 64 * 1024,
            sendq_hard: 1024 * 1024,
            sendq_soft_seconds: 30,
            output_cap: 256 * 1024 * 1024,
            large_channel: 500,
            presence_interval: 10,
            max_clients: 100_000,
            max_clients_per_ip: 64,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            registration_timeout: 30,
            ping_interval: 120,
            ping_timeout: 60,
            shutdown_grace: 5,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            target: LogTarget::Stderr,
        }
    }
}

impl Timeouts {
    pub fn registration(&self) -> Duration {
        Duration::from_secs(self.registration_timeout)
    }
    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval)
    }
    pub fn ping_timeout(&self) -> Duration {
        Duration::from_secs(self.ping_timeout)
    }
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace)
    }
}

/// Where the config comes from: an optional file, then command-line
/// overrides. Kept by the daemon so a reload applies the same overrides.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    pub path: Option<PathBuf>,
    pub listen: Vec<SocketAddr>,
    pub log_level: Option<String>,
    pub admin_socket: Option<PathBuf>,
}

impl ConfigSource {
    /// Reads the file (or takes the defaults) and applies the overrides.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.path {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if !self.listen.is_empty() {
            config.server.listen = self.listen.clone();
        }
        if let Some(level) = &self.log_level {
            config.log.level = level.clone();
        }
        if let Some(socket) = &self.admin_socket {
            config.admin.socket = Some(socket.clone());
        }
        config.validate().map_err(|(key, message)| ConfigError {
            path: PathBuf::from("--log-level"),
            line: None,
            key: Some(key.to_string()),
            message,
        })?;
        Ok(config)
    }
}

/// A mistake in a config file, located as precisely as the file allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// This node's name, when it is one of a cluster: `cluster.node_name`,
    /// or `hostname:port` of the first listener.
    pub fn node_name(&self) -> Option<String> {
        let port = self.server.listen.first().map_or(0, |a| a.port());
        self.cluster.enabled().then(|| {
            self.cluster
                .node_name
                .clone()
                .unwrap_or_else(|| crate::cluster::default_node_name(port))
        })
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_owned(),
            line: None,
            key: None,
            message: format!("cannot read the file: {e}"),
        })?;
        Config::parse(path, &text)
    }

    /// Parses and validates config text; `path` only labels the errors.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| line_number(text, span.start));
            ConfigError {
                path: path.to_owned(),
                line,
                key: line.and_then(|l| key_on_line(text, l)),
                message: e.message().trim_end().to_string(),
            }
        })?;
        config.validate().map_err(|(key, message)| ConfigError {
            path: path.to_owned(),
            line: find_key(text, key),
            key: Some(key.to_string()),
            message,
        })?;
        Ok(config)
    }

    /// The message of the day from `server.motd_file`, one entry per line;
    /// `None` (and a warning) when there is no file or it cannot be read.
    /// Read at start-up and on reload only, never from the event loop's
    /// hot path.
    pub fn read_motd(&self) -> Option<Vec<String>> {
        let path = self.server.motd_file.as_ref()?;
        match std::fs::read_to_string(path) {
            Ok(text) => Some(text.lines().map(str::to_string).collect()),
            Err(e) => {
                log::warn!("cannot read motd_file {}: {e}", path.display());
                None
            }
        }
    }

    /// The config as TOML, for `--check-config`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }

    /// Checks what the types alone cannot: returns the dotted key at fault.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        let l = &self.limits;
        let t = &self.timeouts;
        let f = &self.flood;
        let h = &self.history;
        let a = &self.accounts;
        if let Some(problem) = self.cluster.problem() {
            return Err(problem);
        }
        let checks: [(bool, &'static str, String); 29] = [
            (
                !self.server.listen.is_empty(),
                "server.listen",
                "at least one address is needed".into(),
            ),
            (
                !self.server.name.is_empty() && !self.server.name.contains([' ', ':', '!', '@']),
                "server.name",
                "must be one word without ':', '!' or '@'".into(),
            ),
            (
                !self.server.network.is_empty() && !self.server.network.contains(' '),
                "server.network",
                "must be one word".into(),
            ),
            (
                self.server.default_channel.is_empty()
                    || crate::names::valid_channel(&self.server.default_channel, l.channel_len),
                "server.default_channel",
                format!(
                    "{:?} is not a valid channel name (`#` then up to {} characters, no spaces or commas; \"\" for none)",
                    self.server.default_channel,
                    l.channel_len.saturating_sub(1)
                ),
            ),
            (
                (64..=65536).contains(&l.max_line),
                "limits.max_line",
                "must be between 64 and 65536".into(),
            ),
            (
                (1..=64).contains(&l.nick_len),
                "limits.nick_len",
                "must be between 1 and 64".into(),
            ),
            (
                (2..=200).contains(&l.channel_len),
                "limits.channel_len",
                "must be between 2 and 200".into(),
            ),
            (
                l.sendq_soft >= l.max_line && l.sendq_soft < l.sendq_hard,
                "limits.sendq_soft",
                format!(
                    "must be at least limits.max_line and below limits.sendq_hard ({})",
                    l.sendq_hard
                ),
            ),
            (
                l.sendq_hard <= l.output_cap,
                "limits.sendq_hard",
                format!("must not exceed limits.output_cap ({})", l.output_cap),
            ),
            (
                l.large_channel >= 1,
                "limits.large_channel",
                "must be at least 1".into(),
            ),
            (
                l.presence_interval >= 1,
                "limits.presence_interval",
                "must be at least 1 second".into(),
            ),
            (
                t.registration_timeout >= 1 && t.ping_interval >= 1 && t.ping_timeout >= 1,
                "timeouts",
                "registration_timeout, ping_interval and ping_timeout must be at least 1 second"
                    .into(),
            ),
            (
                l.max_channels >= 1,
                "limits.max_channels",
                "must be at least 1 (the default channel)".into(),
            ),
            (
                l.max_clients >= 1,
                "limits.max_clients",
                "must be at least 1".into(),
            ),
            (
                f.burst >= 1,
                "flood.burst",
                "must be at least 1 line".into(),
            ),
            (
                f.lines_per_second >= 1,
                "flood.lines_per_second",
                "must be at least 1 (set flood.enabled = false to turn flood control off)".into(),
            ),
            (
                f.recvq_max >= l.max_line,
                "flood.recvq_max",
                format!("must be at least limits.max_line ({})", l.max_line),
            ),
            (
                self.tls.sts_duration.is_none()
                    || self.tls.listen.first().is_some_and(|a| a.port() != 0),
                "tls.sts_duration",
                "needs a TLS listener with a fixed port (the first of tls.listen) to send clients to"
                    .into(),
            ),
            (
                self.web.tls_listen.is_empty() || self.tls.files().is_ok(),
                "web.tls_listen",
                "serves the [tls] certificate: set tls.cert_file and tls.key_file".into(),
            ),
            (
                self.web
                    .allowed_origins
                    .iter()
                    .all(|o| o == "*" || o.starts_with("http://") || o.starts_with("https://")),
                "web.allowed_origins",
                "each must be \"*\" or an origin like \"https://chat.example.org\"".into(),
            ),
            (
                self.log.level.parse::<log::LevelFilter>().is_ok(),
                "log.level",
                format!(
                    "{:?} is not one of off, error, warn, info, debug, trace",
                    self.log.level
                ),
            ),
            (
                parse_age(&h.max_age).is_some(),
                "history.max_age",
                format!(
                    "{:?} is not a duration like \"30d\", \"12h\", \"90m\" or \"3600s\" (\"0\": forever)",
                    h.max_age
                ),
            ),
            (
                h.join_playback <= MAX_JOIN_PLAYBACK,
                "history.join_playback",
                format!("must be at most {MAX_JOIN_PLAYBACK} (0 turns playback off)"),
            ),
            (
                a.hash_memory_kib >= MIN_HASH_MEMORY_KIB,
                "accounts.hash_memory_kib",
                format!("must be at least {MIN_HASH_MEMORY_KIB}"),
            ),
            (
                a.hash_passes >= 1,
                "accounts.hash_passes",
                "must be at least 1".into(),
            ),
            (
                a.max_failures >= 1,
                "accounts.max_failures",
                "must be at least 1".into(),
            ),
            (
                a.max_failures_per_address >= 1,
                "accounts.max_failures_per_address",
                "must be at least 1".into(),
            ),
            (
                a.max_registrations_per_address >= 1,
                "accounts.max_registrations_per_address",
                "must be at least 1 (set accounts.registration = \"closed\" to turn REGISTER off)".into(),
            ),
            (
                !self.server.require_account || a.enabled,
                "server.require_account",
                "needs accounts.enabled = true (nobody could log in)".into(),
            ),
        ];
        match checks.into_iter().find(|(ok, _, _)| !ok) {
            Some((_, key, message)) => Err((key, message)),
            None => self.validate_operators(),
        }
    }

    /// Each `[[operators]]` block: a name used once, and one way to check
    /// who it is.
    fn validate_operators(&self) -> Result<(), (&'static str, String)> {
        let mut seen = std::collections::HashSet::new();
        for (index, op) in self.operators.iter().enumerate() {
            let which = format!("operator {} ({:?})", index + 1, op.name);
            if op.name.is_empty() || op.name.contains([' ', ',']) {
                return Err(("operators", format!("{which}: `name` must be one word")));
            }
            if !seen.insert(crate::names::fold(&op.name)) {
                return Err(("operators", format!("{which}: the name is used twice")));
            }
            match (&op.password_hash, &op.account) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err((
                        "operators",
                        format!("{which}: needs exactly one of `password_hash` and `account`"),
                    ));
                }
                (Some(hash), None) => {
                    if let Err(e) = argon2::password_hash::phc::PasswordHash::new(hash) {
                        return Err((
                            "operators",
                            format!(
                                "{which}: `password_hash` is not a PHC string ({e}); make one with `groupchatctl hash-password`"
                            ),
                        ));
                    }
                }
                (None, Some(_)) => {}
            }
            if !self.accounts.enabled {
                return Err((
                    "operators",
                    format!(
                        "{which}: needs accounts.enabled = true (passwords and accounts are checked by the accounts worker)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// 1-based line number of a byte offset.
fn line_number(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The key assigned on a 1-based line, if the line is `key = value`.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let (key, _) = text.lines().nth(line - 1)?.split_once('=')?;
    Some(key.trim().to_string()).filter(|k| !k.is_empty())
}

/// The line that sets a dotted key such as `limits.sendq_soft`, or that opens
/// its table when the key names one.
fn find_key(text: &str, dotted: &str) -> Option<usize> {
    let (table, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let mut current = String::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            // `[[operators]]` opens an array of tables.
            current = name.trim_matches(['[', ']']).trim().to_string();
            if table.is_empty() && current == key {
                return Some(index + 1);
            }
        } else if current == table
            && line
                .split_once('=')
                .is_some_and(|(k, _)| k.trim().trim_matches('"') == key)
        {
            return Some(index + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("test.toml"), text)
    }

    #[test]
    fn operators_need_one_way_to_check_them() {
        let hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        let good = format!(
            "[server]\nlobby_operators = [\"teacher\"]\n\n[[operators]]\nname = \"root\"\npassword_hash = \"{hash}\"\n\n[[operators]]\nname = \"teach\"\naccount = \"teacher\"\n"
        );
        let config = parse(&good).expect("valid");
        assert_eq!(config.operators.len(), 2);
        assert_eq!(config.server.lobby_operators, ["teacher"]);
        let both =
            format!("\n[[operators]]\nname = \"x\"\npassword_hash = \"{hash}\"\naccount = \"a\"\n");
        let err = parse(&both).expect_err("both");
        assert_eq!((err.key.as_deref(), err.line), (Some("operators"), Some(2)));
        assert!(err.message.contains("exactly one"), "{err}");
        let bad_hash = "[[operators]]\nname = \"x\"\npassword_hash = \"hunter2\"\n";
        assert!(parse(bad_hash).expect_err("hash").message.contains("PHC"));
        let twice = "[[operators]]\nname = \"x\"\naccount = \"a\"\n[[operators]]\nname = \"X\"\naccount = \"b\"\n";
        assert!(parse(twice).expect_err("twice").message.contains("twice"));
        let off = "[accounts]\nenabled = false\n[[operators]]\nname = \"x\"\naccount = \"a\"\n";
        assert!(
            parse(off)
                .expect_err("off")
                .message
                .contains("accounts.enabled")
        );
    }

    #[test]
    fn empty_file_gives_defaults() {
        let config = parse("").expect("valid");
        assert_eq!(config, Config::default());
        assert_eq!(config.server.listen[0].to_string(), "127.0.0.1:6667");
        assert_eq!(config.limits.sendq_soft, 65536);
        assert_eq!(config.limits.sendq_hard, 1048576);
        assert_eq!(config.limits.output_cap, 268435456);
    }

    #[test]
    fn keys_override_defaults() {
        let config = parse(
            "[server]\nlisten = [\"[::1]:7000\", \"127.0.0.1:7001\"]\n[limits]\nlarge_channel = 5\n",
        )
        .expect("valid");
        assert_eq!(config.server.listen.len(), 2);
        assert_eq!(config.limits.large_channel, 5);
        assert_eq!(config.limits.max_line, 512);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = parse("[server]\nname = \"x\"\nlisen = []\n").expect_err("invalid");
        assert_eq!(err.line, Some(3));
        assert_eq!(err.key.as_deref(), Some("lisen"));
        let text = err.to_string();
        assert!(text.starts_with("test.toml:3: key `lisen`: "), "{text}");
        assert!(text.contains("unknown field"), "{text}");
    }

    #[test]
    fn bad_value_names_line_and_key() {
        let err = parse("[limits]\n\nsendq_soft = \"big\"\n").expect_err("invalid");
        assert_eq!(err.line, Some(3));
        assert_eq!(err.key.as_deref(), Some("sendq_soft"));
        let err = parse("[server]\nlisten = [\"nowhere\"]\n").expect_err("invalid");
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn inconsistent_values_name_their_key_and_line() {
        let err = parse("[limits]\nsendq_hard = 1000\nsendq_soft = 2000\n").expect_err("invalid");
        assert_eq!(err.key.as_deref(), Some("limits.sendq_soft"));
        assert_eq!(err.line, Some(3));
        let err = parse("[server]\ndefault_channel = \"lobby\"\n").expect_err("invalid");
        assert_eq!(err.key.as_deref(), Some("server.default_channel"));
        assert_eq!(err.line, Some(2));
        // Empty is allowed: no auto-join.
        let config = parse("[server]\ndefault_channel = \"\"\n").expect("valid");
        assert_eq!(config.server.default_channel, "");
        let err = parse("[log]\nlevel = \"loud\"\n").expect_err("invalid");
        assert_eq!(err.key.as_deref(), Some("log.level"));
    }

    #[test]
    fn sts_needs_a_tls_port_to_send_clients_to() {
        let err = parse("[tls]\nsts_duration = 60\n").expect_err("invalid");
        assert_eq!(err.key.as_deref(), Some("tls.sts_duration"));
        let err =
            parse("[tls]\nlisten = [\"127.0.0.1:0\"]\nsts_duration = 60\n").expect_err("invalid");
        assert_eq!(err.key.as_deref(), Some("tls.sts_duration"));
        parse("[tls]\nlisten = [\"0.0.0.0:6697\"]\nsts_duration = 60\n").expect("valid");
    }

    #[test]
    fn web_defaults_and_ranges() {
        let web = parse("").expect("valid").web;
        assert!(web.listen.is_empty() && web.allowed_origins.is_empty());
        let ip = |s: &str| s.parse::<IpAddr>().expect("address");
        let allowed = |ip| web.metrics_from.iter().any(|r| r.contains(ip));
        assert!(allowed(ip("127.0.0.1")) && allowed(ip("::1")));
        assert!(allowed(ip("::ffff:127.0.0.1")) && !allowed(ip("127.0.0.2")));
        let config =
            parse("[web]\nmetrics_from = [\"10.0.0.0/8\", \"2001:db8::/32\", \"0.0.0.0/0\"]\n")
                .expect("valid");
        let ranges = &config.web.metrics_from;
        assert!(ranges[0].contains(ip("10.200.1.2")) && !ranges[0].contains(ip("11.0.0.1")));
        assert!(
            ranges[1].contains(ip("2001:db8:ffff::1")) && !ranges[1].contains(ip("2001:db9::1"))
        );
        assert!(ranges[2].contains(ip("192.0.2.1")) && !ranges[2].contains(ip("::1")));
        assert_eq!(parse(&config.to_toml()).expect("valid"), config);
        for bad in ["10.0.0.0/33", "nowhere", "::1/129", "10.0.0.1/"] {
            let err = parse(&format!("[web]\nmetrics_from = [\"{bad}\"]\n")).expect_err(bad);
            assert_eq!(err.line, Some(2), "{bad}");
        }
        let err = parse("[web]\nallowed_origins = [\"example.org\"]\n").expect_err("invalid");
        assert_eq!(err.key.as_deref(), Some("web.allowed_origins"));
    }

    #[test]
    fn history_defaults_and_durations() {
        let history = parse("").expect("valid").history;
        assert!(history.enabled && history.private);
        assert_eq!(history.max_age_ms(), 30 * 24 * 3600 * 1000);
        assert_eq!((history.max_messages, history.join_playback), (10_000, 10));
        for (text, ms) in [
            ("0", 0),
            ("90s", 90_000),
            ("5m", 300_000),
            ("2h", 7_200_000),
        ] {
            let config = parse(&format!("[history]\nmax_age = \"{text}\"\n")).expect("valid");
            assert_eq!(config.history.max_age_ms(), ms, "{text}");
        }
    }

    #[test]
    fn bad_history_values_name_their_key() {
        for bad in ["", "30", "d", "-1d", "1w", "1.5h", "30é", "99999999999d"] {
            let err = parse(&format!("[history]\n\nmax_age = \"{bad}\"\n")).expect_err(bad);
            assert_eq!(err.key.as_deref(), Some("history.max_age"), "{bad}");
            assert_eq!(err.line, Some(3), "{bad}");
        }
        let err = parse("[history]\njoin_playback = 101\n").expect_err("invalid");
        assert_eq!(err.key.as_deref(), Some("history.join_playback"));
        parse("[history]\njoin_playback = 100\nmax_messages = 0\n").expect("valid");
    }

    #[test]
    fn accounts_defaults_and_checks() {
        let config = parse("").expect("valid");
        let a = &config.accounts;
        assert!(a.enabled && a.protect_nicks && !config.server.require_account);
        assert_eq!(a.registration, Registration::Open);
        assert_eq!((a.hash_memory_kib, a.hash_passes), (19 * 1024, 2));
        let closed = parse("[accounts]\nregistration = \"closed\"\n").expect("valid");
        assert_eq!(closed.accounts.registration, Registration::Closed);
        let err = parse("[accounts]\nregistration = \"invite\"\n").expect_err("invalid");
        assert_eq!(
            (err.line, err.key.as_deref()),
            (Some(2), Some("registration"))
        );
        let err = parse("[accounts]\nhash_memory_kib = 4\n").expect_err("invalid");
        assert_eq!(err.key.as_deref(), Some("accounts.hash_memory_kib"));
        let err = parse("[server]\nrequire_account = true\n[accounts]\nenabled = false\n")
            .expect_err("invalid");
        assert_eq!(err.key.as_deref(), Some("server.require_account"));
    }

    #[test]
    fn history_path_comes_from_config_then_state_directory() {
        let mut history = HistoryConfig::default();
        assert_eq!(
            history.resolve(None),
            PathBuf::from("groupchatd-history.sqlite3")
        );
        assert_eq!(
            history.resolve(Some("/var/lib/groupchatd:/var/lib/other".into())),
            PathBuf::from("/var/lib/groupchatd/history.sqlite3")
        );
        history.path = Some(PathBuf::from("/srv/h.db"));
        assert_eq!(
            history.resolve(Some("/var/lib/groupchatd".into())),
            PathBuf::from("/srv/h.db")
        );
    }

    #[test]
    fn printed_config_parses_back_to_itself() {
        let config = parse("[server]\nmotd_file = \"/etc/motd\"\n").expect("valid");
        assert_eq!(parse(&config.to_toml()).expect("valid"), config);
        let config = parse("[history]\npath = \"/srv/h.db\"\nmax_age = \"7d\"\n").expect("valid");
        assert_eq!(parse(&config.to_toml()).expect("valid"), config);
    }
}
