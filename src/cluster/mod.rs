//! The cluster link: this node and others form one network through Redis
//! (`[cluster]`), the way Centrifugo's Redis engine or Socket.IO's Redis
//! adapter do, with no link protocol of our own.
//!
//! Two non-blocking Redis connections live inside the event loop
//! ([`link`]): one for commands, one subscribed to the network's pub/sub
//! channels. Over the first, each node writes a heartbeat into one Redis
//! hash and reads everybody's back, so every node knows which others are
//! alive, and a node silent for `node_timeout` is lost; and it publishes
//! what the hub gives it ([`Bus`]). Over the second come the other nodes'
//! publications, handed to the hub as [`Event`]s:
//!
//! - `groupchatd:net`: presence, heard by every node;
//! - `groupchatd:chan:{<channel>}`: a channel's messages, subscribed to
//!   while this node has members in it, so a message crosses Redis once
//!   per node that has its recipients, never once per recipient;
//! - `groupchatd:node:{<node>}`: private messages to one node's users.
//!
//! One connection publishes everything a node says, so every node hears
//! one node's lines in the order it said them.
//!
//! Each channel's messages also go to a Redis stream,
//! `groupchatd:log:{<channel>}`, capped at its last [`LOG_LINES`]: a node
//! that starts following a channel, or comes back to the network, reads it
//! and keeps in its history what it did not hear ([`Event::Backfill`]), so
//! that `CHATHISTORY` answers alike on every node.

pub mod link;
pub mod resp;
mod shards;

use crate::clock::now_ms;
use crate::config::{ClusterConfig, REDIS_PASSWORD_CREDENTIAL};
use crate::hub::{Bus, ClientId, NickClaim};
use link::LinkState;
use log::{info, warn};
use mio::{Registry, Token};
use resp::Frame;
use serde::{Deserialize, Serialize};
use shards::{Shard, SlotRange, Topology};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The Redis hash of every node's last heartbeat: field the node's name,
/// value `"<unix ms> <clients>"`.
pub const NODES_KEY: &str = "groupchatd:nodes";

/// The pub/sub channel of a [`Bus`]. A name's part in braces is its hash
/// tag: a Redis Cluster keeps everything of one channel in one slot.
pub fn channel_of(bus: Bus) -> String {
    match bus {
        Bus::Net => "groupchatd:net".into(),
        Bus::Channel(folded) => format!("groupchatd:chan:{{{folded}}}"),
        Bus::Node(node) => format!("groupchatd:node:{{{node}}}"),
    }
}

/// How many of a channel's last messages its log keeps (about: `MAXLEN ~`
/// lets Redis trim whole blocks).
pub const LOG_LINES: usize = 1000;

/// The Redis stream of a channel's last messages, in the channel's slot.
fn log_key(folded: &str) -> String {
    format!("groupchatd:log:{{{folded}}}")
}

/// The Redis key of a held nick, its value the node that holds it.
fn nick_key(folded: &str) -> String {
    format!("groupchatd:nick:{{{folded}}}")
}

/// The Redis set of the nick keys a node holds, to free them all at once.
fn claims_key(node: &str) -> String {
    format!("groupchatd:claims:{{{node}}}")
}

/// KEYS: the nick; ARGV: the node. 1 if the node holds the nick now (it
/// was free, or the node's already), else 0. The node's claims set is
/// written apart (`SADD`, before this): in a Redis Cluster the two are in
/// different slots, and no script may touch both.
const TAKE_NICK: &str = "local v = redis.call('GET', KEYS[1]) \
if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1]) return 1 end \
return 0";

/// KEYS: the nick; ARGV: the node. Frees the nick if the node holds it.
const RELEASE_NICK: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
redis.call('DEL', KEYS[1]) end return 0";

/// What the network has for the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A line another node published.
    Line(Vec<u8>),
    /// The nodes alive at a listing of heartbeats asked for at `asked`.
    Alive { nodes: Vec<String>, asked: Instant },
    /// Both links are up and subscribed: time to announce this node.
    Joined,
    /// A line from a channel's log: for history only, it was shown live
    /// when it was said (or missed, and its users told so).
    Backfill(Vec<u8>),
    /// A link went down: what other nodes said meanwhile is lost.
    Interrupted,
    /// The answer to [`NickClaim::Take`]: `free` when this node holds the
    /// nick now (also when Redis could not be asked after all).
    NickAnswer {
        id: ClientId,
        folded: String,
        free: bool,
    },
}

/// Where Redis is and how to log in, from `cluster.redis`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl RedisUrl {
    /// `redis://[user[:password]@]host[:port]` (port 6379 by default).
    pub fn parse(text: &str) -> Result<RedisUrl, String> {
        let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        if url.scheme() != "redis" {
            return Err(format!(
                "{text:?}: only redis:// URLs are supported (\"redis://host:6379\")"
            ));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{text:?} names no host"))?;
        let decode = |part: &str| {
            url::form_urlencoded::parse(part.as_bytes())
                .map(|(k, v)| if v.is_empty() { k } else { v })
                .next()
                .map(|s| s.into_owned())
        };
        Ok(RedisUrl {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: url.port().unwrap_or(6379),
            user: Some(url.username())
                .filter(|u| !u.is_empty())
                .and_then(decode),
            password: url.password().and_then(decode),
        })
    }
}

/// What `groupchatctl status` and `groupchatctl nodes` show of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// `off`, `connecting`, `up` or `down`.
    pub state: String,
    /// The Redis address in use (`cluster.redis`).
    pub redis: String,
    /// How many Redis masters carry the network: 1 for a plain Redis, more
    /// for a Redis Cluster.
    #[serde(default)]
    pub redis_masters: usize,
    pub node: String,
    /// The last heartbeat's round trip to Redis.
    pub rtt_us: Option<u64>,
    /// Why the link is down, or last went down.
    pub error: Option<String>,
    /// The nodes alive at the last heartbeat, this one included.
    pub nodes: Vec<NodeStatus>,
    /// Lines published for the other nodes.
    #[serde(default)]
    pub published: u64,
    /// Lines heard from the other nodes.
    #[serde(default)]
    pub heard: u64,
    /// Lines for the other nodes (publications and log entries) dropped
    /// while the link was down.
    #[serde(default)]
    pub unsent: u64,
    /// Channels whose messages this node receives.
    #[serde(default)]
    pub following: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub name: String,
    pub clients: u64,
    /// How long ago its last heartbeat was written, by the clocks of both.
    pub heartbeat_ms_ago: i64,
}

/// What a reply to the registry's commands is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// `CLUSTER SLOTS`: is Redis a Redis Cluster, and how is it laid out.
    Topology,
    /// The HSET of our heartbeat; its answer times the round trip.
    Beat(Instant),
    /// HGETALL of every node's heartbeat, asked at that instant.
    Nodes(Instant),
    /// HDEL of a lost node.
    Forget,
    /// A PUBLISH; its answer counts the nodes that heard it.
    Publish,
    /// An XADD to a channel's log.
    Log,
    /// An XRANGE of a channel's log, by its number in [`Cluster::fills`].
    Backfill(u64),
    /// SUBSCRIBE or UNSUBSCRIBE, on the subscriber link.
    Subscription,
    /// A nick asked for, by its number in [`Cluster::claims`].
    Claim(u64),
    /// A nick kept or given back, or the claims set kept up to date.
    NickChange,
    /// The nicks a node holds (`SMEMBERS` of its claims), to free them, by
    /// the sweep's number in [`Cluster::sweeps`].
    Sweep(u64),
}

impl std::fmt::Display for Ask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ask::Topology => "the layout of Redis (CLUSTER SLOTS)",
            Ask::Beat(_) => "the heartbeat (HSET)",
            Ask::Nodes(_) => "the nodes' heartbeats (HGETALL)",
            Ask::Forget => "the removal of a lost node (HDEL)",
            Ask::Publish => "a line for the other nodes (PUBLISH)",
            Ask::Log => "a line for a channel's log (XADD)",
            Ask::Backfill(_) => "a channel's log (XRANGE)",
            Ask::Subscription => "a subscription (SUBSCRIBE)",
            Ask::Claim(_) => "a nick asked for (EVAL)",
            Ask::NickChange => "a nick given back or kept (EVAL, SADD, SREM)",
            Ask::Sweep(_) => "the nicks of a node (SMEMBERS)",
        })
    }
}

/// One of the cluster's Redis connections: which shard, and whether it is
/// the subscriber. The loop maps each to a token of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkId {
    pub shard: usize,
    pub subscriber: bool,
}

/// A node's nicks being freed: asked for with `SMEMBERS`, freed one by
/// one when the answer comes.
struct Sweep {
    node: String,
    /// For this node's own sweep (when it joins): the nicks claimed since
    /// it was asked, which stay.
    keep: HashSet<String>,
}

/// One node's view of the network.
pub struct Cluster {
    /// The Redis servers: the one given first; in a Redis Cluster, every
    /// master after it.
    shards: Vec<Shard>,
    topology: Topology,
    /// Each link's token, in the loop's map.
    token: fn(LinkId) -> Token,
    auth: Option<Vec<Vec<u8>>>,
    /// The Redis of `cluster.redis`.
    seed: SocketAddr,
    node: String,
    /// This node's pub/sub channel (`groupchatd:node:{name}`), whose
    /// confirmed subscription tells that the node hears the network.
    own_channel: String,
    heartbeat: Duration,
    node_timeout: Duration,
    next_beat: Instant,
    /// The live nodes at the last listing: name → (unix ms, clients).
    nodes: BTreeMap<String, (i64, u64)>,
    rtt: Option<Duration>,
    /// The folded channels this node has members in.
    following: BTreeSet<String>,
    /// This node's own channel is subscribed to (confirmed by Redis).
    subscribed: bool,
    /// Every link up and subscribed, and the hub told ([`Event::Joined`]).
    joined: bool,
    /// Since when the command links are up: a listing of heartbeats says
    /// who is alive only once every live node has had time to write one
    /// (after Redis restarts empty, a listing says nothing of the others).
    up_since: Option<Instant>,
    /// For the hub, in order.
    pending: Vec<Event>,
    /// When [`Cluster::tick`] last ran: it runs at least once a heartbeat.
    last_tick: Instant,
    /// Lines for other nodes (publications and log entries) dropped while
    /// the link was down.
    unsent: u64,
    /// Lines published, and other nodes' lines heard.
    published: u64,
    heard: u64,
    /// Nicks asked for and not answered yet, by number: the client and
    /// the folded nick.
    claims: HashMap<u64, (ClientId, String)>,
    next_claim: u64,
    /// Nodes' nicks being freed, by number.
    sweeps: HashMap<u64, Sweep>,
    next_sweep: u64,
    /// Channels' logs being read, by number: the folded channel.
    fills: HashMap<u64, String>,
    next_fill: u64,
    /// The ID of the last entry read from each channel's log since the
    /// network was last joined (a Redis that restarted numbers anew).
    read_up_to: HashMap<String, String>,
}

/// The tokens of shard `shard`'s command and subscriber links.
fn tokens_of(token: fn(LinkId) -> Token, shard: usize) -> (Token, Token) {
    let of = |subscriber| token(LinkId { shard, subscriber });
    (of(false), of(true))
}

/// The node's name when `cluster.node_name` is unset.
pub fn default_node_name(port: u16) -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{port}")
}

impl Cluster {
    /// The cluster of `config` (which is enabled): resolves the Redis host
    /// (at start, never in the loop) and reads the password. Connects later,
    /// from the loop.
    pub fn new(
        config: &ClusterConfig,
        node: String,
        token: fn(LinkId) -> Token,
    ) -> Result<Cluster, String> {
        let url = RedisUrl::parse(&config.redis)?;
        let seed = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(|e| format!("cluster.redis: cannot resolve {}: {e}", url.host))?
            .next()
            .ok_or_else(|| format!("cluster.redis: {} has no address", url.host))?;
        let password = match (&url.password, password_file(config)) {
            (Some(password), _) => Some(password.clone()),
            (None, Some(path)) => Some(read_password(&path)?),
            (None, None) => None,
        };
        let auth = password.map(|password| match &url.user {
            Some(user) => vec![
                b"AUTH".to_vec(),
                user.clone().into_bytes(),
                password.into_bytes(),
            ],
            None => vec![b"AUTH".to_vec(), password.into_bytes()],
        });
        Ok(Cluster {
            shards: vec![Shard::new(seed, auth.clone(), config.node_timeout())],
            topology: Topology::Unknown,
            token,
            auth,
            seed,
            own_channel: channel_of(Bus::Node(&node)),
            node,
            heartbeat: config.heartbeat(),
            node_timeout: config.node_timeout(),
            next_beat: Instant::now(),
            nodes: BTreeMap::new(),
            rtt: None,
            following: BTreeSet::new(),
            subscribed: false,
            joined: false,
            up_since: None,
            pending: Vec::new(),
            last_tick: Instant::now(),
            unsent: 0,
            published: 0,
            heard: 0,
            claims: HashMap::new(),
            next_claim: 0,
            sweeps: HashMap::new(),
            next_sweep: 0,
            fills: HashMap::new(),
            next_fill: 0,
            read_up_to: HashMap::new(),
        })
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// At start, before the loop: logs in to Redis once, so that a wrong
    /// password stops the daemon with a clear error instead of a link that
    /// retries forever. A Redis that cannot be reached is no error: the
    /// node serves its own clients and joins when Redis comes back.
    pub fn check_login(&self) -> Result<(), String> {
        let Some(auth) = self.auth.as_deref() else {
            return Ok(());
        };
        let timeout = Duration::from_secs(2);
        let mut stream = match std::net::TcpStream::connect_timeout(&self.seed, timeout) {
            Ok(stream) => stream,
            Err(e) => {
                warn!(
                    "cluster: Redis at {} unreachable ({e}): serving this node's clients alone until it is",
                    self.seed
                );
                return Ok(());
            }
        };
        let args: Vec<&[u8]> = auth.iter().map(Vec::as_slice).collect();
        let mut out = Vec::new();
        resp::encode(&args, &mut out)?;
        let answer = stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| std::io::Write::write_all(&mut stream, &out))
            .and_then(|()| {
                let mut input = Vec::new();
                let mut chunk = [0u8; 512];
                loop {
                    if let Ok(Some((frame, _))) = resp::decode(&input) {
                        return Ok(Some(frame));
                    }
                    match std::io::Read::read(&mut stream, &mut chunk)? {
                        0 => return Ok(None),
                        n => input.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        match answer {
            Ok(Some(Frame::Error(e))) => Err(format!(
                "cluster: Redis at {} refused the login: {e} (check the password in cluster.redis, cluster.password_file or the {REDIS_PASSWORD_CREDENTIAL} credential)",
                self.seed
            )),
            Ok(_) => Ok(()),
            Err(e) => {
                warn!(
                    "cluster: Redis at {} did not answer the login ({e}): will retry from the loop",
                    self.seed
                );
                Ok(())
            }
        }
    }

    /// Connects or reconnects when due, notices a Redis that stopped
    /// answering, and writes the heartbeat; `clients` is this node's count.
    pub fn tick(&mut self, registry: &Registry, clients: u64) {
        let now = Instant::now();
        // A node frozen for longer than node_timeout (stopped, swapped
        // out) has been given up for lost by the others, which let its
        // users go: it tells them everything again.
        if self.joined && now.duration_since(self.last_tick) > self.node_timeout {
            warn!(
                "cluster: this node was silent for {:?}, longer than node_timeout: announcing it again",
                now.duration_since(self.last_tick)
            );
            self.pending.push(Event::Joined);
        }
        self.last_tick = now;
        let token = self.token;
        for (index, shard) in self.shards.iter_mut().enumerate() {
            let (link, events) = tokens_of(token, index);
            shard.link.tick(registry, link, now);
            shard.events.tick(registry, events, now);
        }
        if self.links_up() && now >= self.next_beat {
            self.next_beat = now + self.heartbeat;
            let value = format!("{} {clients}", now_ms());
            let node = self.node.clone();
            let beat = [
                b"HSET".as_slice(),
                NODES_KEY.as_bytes(),
                node.as_bytes(),
                value.as_bytes(),
            ];
            self.command(NODES_KEY, Ask::Beat(now), &beat);
            self.command(
                NODES_KEY,
                Ask::Nodes(now),
                &[b"HGETALL", NODES_KEY.as_bytes()],
            );
        }
        self.update();
        self.flush(registry);
    }

    /// One of the Redis sockets is ready: reads the answers and acts on them.
    pub fn ready(&mut self, registry: &Registry, id: LinkId) {
        let token = (self.token)(id);
        let now = Instant::now();
        let Some(shard) = self.shards.get_mut(id.shard) else {
            return;
        };
        if id.subscriber {
            let was_up = shard.events.state() == LinkState::Up;
            for (_, push) in shard.events.ready(registry, token, now) {
                self.pushed(push);
            }
            if !was_up && self.shards[id.shard].events.state() == LinkState::Up {
                self.subscribe_shard(id.shard);
            }
        } else {
            let was_up = shard.link.state() == LinkState::Up;
            for (ask, reply) in shard.link.ready(registry, token, now) {
                self.answered(ask, reply);
            }
            // The seed answers how Redis is laid out, on every connection:
            // a Redis that came back may be laid out anew.
            if id.shard == 0 && !was_up && self.shards[0].link.state() == LinkState::Up {
                self.ask_topology();
            }
        }
        self.update();
        self.flush(registry);
    }

    /// One answer on a command link.
    fn answered(&mut self, ask: Option<Ask>, reply: Frame) {
        match (ask, reply) {
            (Some(Ask::Topology), reply) => self.laid_out(&reply),
            (Some(ask), Frame::Error(e)) => {
                warn!("cluster: Redis refused {ask}: {e}");
                if e.starts_with("MOVED") || e.starts_with("ASK") {
                    // Slots moved between masters: ask where they are now.
                    self.ask_topology();
                }
                match ask {
                    // Unverified: this node gives it, as when Redis is
                    // away; a collision is settled later.
                    Ask::Claim(number) => self.claimed(number, true),
                    // Questions waiting for the log get what is here.
                    Ask::Backfill(number) => self.read(number, Frame::Array(Vec::new())),
                    _ => {}
                }
            }
            (Some(Ask::Beat(sent)), _) => self.rtt = Some(sent.elapsed()),
            (Some(Ask::Nodes(asked)), frame) => self.listed(&frame, asked),
            (Some(Ask::Claim(number)), reply) => self.claimed(number, reply == Frame::Integer(1)),
            (Some(Ask::Sweep(number)), reply) => self.swept(number, &reply),
            (Some(Ask::Backfill(number)), reply) => self.read(number, reply),
            _ => {}
        }
    }

    /// Asks the seed how Redis is laid out; nothing else is sent meanwhile.
    fn ask_topology(&mut self) {
        self.topology = Topology::Unknown;
        self.shards[0]
            .link
            .send(Ask::Topology, &[b"CLUSTER", b"SLOTS"]);
    }

    /// The answer to `CLUSTER SLOTS`: a plain Redis refuses it; a Redis
    /// Cluster names its masters, and each gets its links.
    fn laid_out(&mut self, reply: &Frame) {
        let slots = match reply {
            Frame::Error(_) => Vec::new(),
            reply => shards::read_slots(reply, self.seed).unwrap_or_else(|| {
                warn!("cluster: an answer to CLUSTER SLOTS that does not read: taking Redis for one server");
                Vec::new()
            }),
        };
        if slots.is_empty() {
            if self.topology != Topology::Single {
                info!("cluster: Redis at {} is one server", self.seed);
            }
            self.topology = Topology::Single;
        } else {
            let mut ranges = Vec::with_capacity(slots.len());
            for (first, last, addr) in slots {
                let shard = match self.shards.iter().position(|s| s.addr == addr) {
                    Some(shard) => shard,
                    None => {
                        let timeout = self.node_timeout;
                        self.shards
                            .push(Shard::new(addr, self.auth.clone(), timeout));
                        self.shards.len() - 1
                    }
                };
                ranges.push(SlotRange { first, last, shard });
            }
            self.topology = Topology::Sharded(ranges);
            info!(
                "cluster: Redis at {} is a Redis Cluster of {} masters: sharded pub/sub",
                self.seed,
                self.topology.masters()
            );
        }
        // Subscriptions made before the layout was known may be on the
        // wrong master, or of the wrong kind: made again where they belong.
        self.subscribed = false;
        for shard in 0..self.shards.len() {
            if self.shards[shard].events.state() == LinkState::Up {
                self.subscribe_shard(shard);
            }
        }
    }

    /// Sends a command about `name` (a key or channel) to the shard that
    /// holds it; false if that link is not up.
    fn command(&mut self, name: &str, ask: Ask, args: &[&[u8]]) -> bool {
        let shard = self.topology.shard_of(name.as_bytes());
        self.shards[shard].link.send(ask, args)
    }

    /// Whether Redis's layout is known and every command link is up.
    fn links_up(&self) -> bool {
        self.topology != Topology::Unknown
            && self.shards.iter().all(|s| s.link.state() == LinkState::Up)
    }

    /// Writes what every link has queued.
    pub fn flush(&mut self, registry: &Registry) {
        let token = self.token;
        for (index, shard) in self.shards.iter_mut().enumerate() {
            let (link, events) = tokens_of(token, index);
            shard.link.flush(registry, link);
            shard.events.flush(registry, events);
        }
    }

    /// Publishes `payload` on `bus`; counted as unsent while the link is
    /// down (the hub re-announces everything when it is back).
    pub fn publish(&mut self, bus: Bus, payload: &[u8]) {
        let channel = channel_of(bus);
        let verb = self.topology.publish_verb();
        let sent = self.topology != Topology::Unknown
            && self.command(&channel, Ask::Publish, &[verb, channel.as_bytes(), payload]);
        if sent {
            self.published += 1;
        } else {
            self.unsent += 1;
        }
    }

    /// Adds a message of channel `folded` to its log (see [`LOG_LINES`]),
    /// whether or not other nodes have members in it now; counted as
    /// unsent while the link is down.
    pub fn log(&mut self, folded: &str, payload: &[u8]) {
        let key = log_key(folded);
        let cap = LOG_LINES.to_string();
        let xadd = [
            b"XADD".as_slice(),
            key.as_bytes(),
            b"MAXLEN",
            b"~",
            cap.as_bytes(),
            b"*",
            b"l",
            payload,
        ];
        if self.topology == Topology::Unknown || !self.command(&key, Ask::Log, &xadd) {
            self.unsent += 1;
        }
    }

    /// Follows channel `folded` (or stops): its messages come while this
    /// node has members in it, and what its log holds is read first.
    pub fn follow(&mut self, folded: &str, on: bool) {
        let changed = if on {
            self.following.insert(folded.to_string())
        } else {
            self.following.remove(folded)
        };
        if changed && self.topology != Topology::Unknown {
            let channel = channel_of(Bus::Channel(folded));
            let command = self.topology.subscribe_verb(on);
            let shard = self.topology.shard_of(channel.as_bytes());
            self.shards[shard]
                .events
                .send(Ask::Subscription, &[command, channel.as_bytes()]);
        }
        if changed && on && self.joined {
            self.read_log(folded);
        }
    }

    /// Asks for what channel `folded`'s log holds, oldest first.
    /// Only what came after the last entry read from it, when it was read
    /// since the network was last joined: a user who joins and parts a
    /// channel over and over costs a few new lines, not the whole log.
    fn read_log(&mut self, folded: &str) {
        let key = log_key(folded);
        let from = match self.read_up_to.get(folded) {
            Some(id) => format!("({id}"),
            None => "-".to_string(),
        };
        let number = self.next_fill;
        let ask = Ask::Backfill(number);
        let xrange = [b"XRANGE".as_slice(), key.as_bytes(), from.as_bytes(), b"+"];
        if self.command(&key, ask, &xrange) {
            self.next_fill += 1;
            self.fills.insert(number, folded.to_string());
        }
    }

    /// Whether channel `folded`'s log is being read: questions about its
    /// history wait for it (an empty name never is).
    pub fn filling(&self, folded: &str) -> bool {
        !folded.is_empty() && self.fills.values().any(|f| f == folded)
    }

    /// The lines of an XRANGE answer, for the hub.
    fn read(&mut self, number: u64, reply: Frame) {
        let folded = self.fills.remove(&number);
        let Frame::Array(entries) = reply else {
            warn!("cluster: a channel's log is not a stream: ignored");
            return;
        };
        for entry in entries {
            // [id, [field, value, …]]: ours have one field, "l".
            let (id, line) = match entry {
                Frame::Array(mut parts) if parts.len() == 2 => {
                    let fields = parts.pop();
                    let line = match fields {
                        Some(Frame::Array(mut fields)) if fields.len() == 2 => fields.pop(),
                        _ => None,
                    };
                    (parts.pop(), line)
                }
                _ => (None, None),
            };
            if let (Some(folded), Some(Frame::BulkString(id))) = (&folded, id) {
                self.read_up_to
                    .insert(folded.clone(), String::from_utf8_lossy(&id).into_owned());
            }
            match line {
                Some(Frame::BulkString(payload)) => self.pending.push(Event::Backfill(payload)),
                _ => warn!("cluster: an entry of a channel's log that is not ours: dropped"),
            }
        }
    }

    /// Asks for, keeps or gives back a nick on the network ([`NickClaim`]);
    /// false when the links are down and nothing was sent.
    pub fn nick_claim(&mut self, claim: NickClaim) -> bool {
        if !self.links_up() {
            return false;
        }
        let claims = claims_key(&self.node);
        let node = self.node.clone();
        match claim {
            NickClaim::Take { id, folded } => {
                let number = self.next_claim;
                self.next_claim += 1;
                self.claims.insert(number, (id, folded.to_string()));
                self.take(Ask::Claim(number), &nick_key(folded), &claims, &node)
            }
            NickClaim::Keep { folded } => {
                self.take(Ask::NickChange, &nick_key(folded), &claims, &node)
            }
            NickClaim::Release { folded } => {
                let key = nick_key(folded);
                self.release(&key, &node);
                for sweep in self.sweeps.values_mut() {
                    sweep.keep.remove(&key);
                }
                true
            }
            NickClaim::Purge { node } => {
                let number = self.next_sweep;
                self.next_sweep += 1;
                let sweep = Sweep {
                    node: node.to_string(),
                    keep: HashSet::new(),
                };
                self.sweeps.insert(number, sweep);
                let key = claims_key(node);
                self.command(&key, Ask::Sweep(number), &[b"SMEMBERS", key.as_bytes()])
            }
        }
    }

    /// Enters `key` in the node's claims set, then takes the nick if it is
    /// free: in this order, so that a nick held is always in the set that
    /// frees it when the node is lost.
    fn take(&mut self, ask: Ask, key: &str, claims: &str, node: &str) -> bool {
        self.command(
            claims,
            Ask::NickChange,
            &[b"SADD", claims.as_bytes(), key.as_bytes()],
        );
        for sweep in self.sweeps.values_mut().filter(|s| s.node == node) {
            sweep.keep.insert(key.to_string());
        }
        self.eval(ask, TAKE_NICK, key, node)
    }

    /// Frees nick `key` if `node` holds it, and takes it out of the node's
    /// claims set.
    fn release(&mut self, key: &str, node: &str) {
        self.eval(Ask::NickChange, RELEASE_NICK, key, node);
        self.unlist(key, node);
    }

    /// Takes nick `key` out of `node`'s claims set.
    fn unlist(&mut self, key: &str, node: &str) {
        let claims = claims_key(node);
        let args: [&[u8]; 3] = [b"SREM", claims.as_bytes(), key.as_bytes()];
        self.command(&claims, Ask::NickChange, &args);
    }

    /// `EVAL script 1 key node` on the shard of `key`.
    fn eval(&mut self, ask: Ask, script: &str, key: &str, node: &str) -> bool {
        let args: [&[u8]; 5] = [
            b"EVAL",
            script.as_bytes(),
            b"1",
            key.as_bytes(),
            node.as_bytes(),
        ];
        self.command(key, ask, &args)
    }

    /// The answer to claim `number`; a nick held elsewhere leaves the
    /// claims set again.
    fn claimed(&mut self, number: u64, free: bool) {
        if let Some((id, folded)) = self.claims.remove(&number) {
            if !free && self.links_up() {
                let node = self.node.clone();
                self.unlist(&nick_key(&folded), &node);
            }
            self.pending.push(Event::NickAnswer { id, folded, free });
        }
    }

    /// The nicks node `sweep` held: each is freed, but those this node
    /// claimed again since it asked.
    fn swept(&mut self, number: u64, reply: &Frame) {
        let Some(sweep) = self.sweeps.remove(&number) else {
            return;
        };
        let Frame::Array(members) = reply else {
            warn!(
                "cluster: the claims of node {} are not a set: left alone",
                sweep.node
            );
            return;
        };
        for member in members {
            let key = match member {
                Frame::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                _ => continue,
            };
            if !sweep.keep.contains(&key) {
                self.release(&key, &sweep.node);
            }
        }
    }

    /// What happened since the last call, for the hub.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.pending)
    }

    /// A subscriber link is up (or the layout is known): subscribes it to
    /// whichever of the net, this node's channel and the channels followed
    /// its shard holds. A plain Redis takes them in one `SUBSCRIBE`; a
    /// Redis Cluster takes one `SSUBSCRIBE` per channel, since channels of
    /// one command must share a slot.
    fn subscribe_shard(&mut self, shard: usize) {
        if self.topology == Topology::Unknown {
            return;
        }
        let mut channels = vec![channel_of(Bus::Net), self.own_channel.clone()];
        channels.extend(self.following.iter().map(|f| channel_of(Bus::Channel(f))));
        channels.retain(|c| self.topology.shard_of(c.as_bytes()) == shard);
        let verb = self.topology.subscribe_verb(true);
        let events = &mut self.shards[shard].events;
        if self.topology.sharded() {
            for channel in &channels {
                events.send(Ask::Subscription, &[verb, channel.as_bytes()]);
            }
        } else if !channels.is_empty() {
            let mut args: Vec<&[u8]> = vec![verb];
            args.extend(channels.iter().map(String::as_bytes));
            events.send(Ask::Subscription, &args);
        }
    }

    /// A push on a subscriber link: a published line, or the confirmation
    /// of a subscription.
    fn pushed(&mut self, push: Frame) {
        let Frame::Array(items) = push else {
            warn!("cluster: Redis pushed something that is not pub/sub: dropped");
            return;
        };
        let bytes = |f: Option<&Frame>| match f {
            Some(Frame::BulkString(b) | Frame::SimpleString(b)) => Some(b.clone()),
            _ => None,
        };
        match bytes(items.first()).as_deref() {
            Some(b"message" | b"smessage") => match bytes(items.get(2)) {
                Some(payload) => {
                    self.heard += 1;
                    self.pending.push(Event::Line(payload));
                }
                None => warn!("cluster: a pub/sub message without a payload: dropped"),
            },
            Some(b"subscribe" | b"ssubscribe") => {
                if bytes(items.get(1)).as_deref() == Some(self.own_channel.as_bytes()) {
                    self.subscribed = true;
                }
            }
            Some(b"unsubscribe" | b"sunsubscribe") => {}
            _ => warn!("cluster: Redis pushed an unknown pub/sub frame: dropped"),
        }
    }

    /// Notices the links coming up together, or any going down.
    fn update(&mut self) {
        // The confirmation of this node's own channel comes on the link of
        // the shard that holds it: it holds while that link does.
        let holder = self.topology.shard_of(self.own_channel.as_bytes());
        if self.shards[holder].events.state() != LinkState::Up {
            self.subscribed = false;
        }
        let every_subscriber = self
            .shards
            .iter()
            .all(|s| s.events.state() == LinkState::Up);
        let up = self.links_up();
        match (up, self.up_since) {
            (true, None) => self.up_since = Some(Instant::now()),
            (true, Some(_)) => {}
            (false, _) => self.up_since = None,
        }
        if !up {
            // Their answers went down with the links: the nicks are this
            // node's to give, as when Redis is away; sweeps are asked
            // again on joining.
            let numbers: Vec<u64> = self.claims.keys().copied().collect();
            for number in numbers {
                self.claimed(number, true);
            }
            self.sweeps.clear();
            // Questions waiting for a log are answered with what is here;
            // on joining again every log is read whole.
            self.fills.clear();
            self.read_up_to.clear();
        }
        let together = self.subscribed && every_subscriber && up;
        if together && !self.joined {
            self.joined = true;
            self.pending.push(Event::Joined);
            // What was said while this node was away, or before it came.
            let following: Vec<String> = self.following.iter().cloned().collect();
            for folded in following {
                self.read_log(&folded);
            }
        } else if !together && self.joined {
            self.joined = false;
            self.pending.push(Event::Interrupted);
        }
    }

    /// Takes in every node's heartbeat: a silent one is lost, and whoever
    /// sees that first removes it from the hash (HDEL is idempotent).
    fn listed(&mut self, frame: &Frame, asked: Instant) {
        let Some(fields) = resp::pairs(frame) else {
            warn!("cluster: {NODES_KEY} is not a hash of heartbeats: ignored");
            return;
        };
        let now = now_ms();
        let timeout = i64::try_from(self.node_timeout.as_millis()).unwrap_or(i64::MAX);
        let mut live = BTreeMap::new();
        for (name, value) in fields {
            let beat = value.split_once(' ').and_then(|(at, clients)| {
                Some((at.parse::<i64>().ok()?, clients.parse::<u64>().ok()?))
            });
            match beat {
                Some((at, clients)) if now - at <= timeout || name == self.node => {
                    if !self.nodes.contains_key(&name) && name != self.node {
                        info!("cluster: node {name} is up ({clients} clients)");
                    }
                    live.insert(name, (at, clients));
                    continue;
                }
                Some((at, _)) => {
                    warn!(
                        "cluster: node {name} lost: last heartbeat {} ms ago",
                        now - at
                    )
                }
                None => warn!("cluster: node {name:?} has a malformed heartbeat {value:?}"),
            }
            self.command(
                NODES_KEY,
                Ask::Forget,
                &[b"HDEL", NODES_KEY.as_bytes(), name.as_bytes()],
            );
        }
        if self
            .up_since
            .is_some_and(|since| asked >= since + self.node_timeout)
        {
            self.pending.push(Event::Alive {
                nodes: live.keys().cloned().collect(),
                asked,
            });
        }
        self.nodes = live;
    }

    /// Status for `groupchatctl status` and `nodes`.
    pub fn status(&self) -> ClusterStatus {
        let now = now_ms();
        let up = self.links_up();
        let state = if up && self.joined {
            "up"
        } else if up
            || self
                .shards
                .iter()
                .any(|s| s.link.state() != LinkState::Down)
        {
            "connecting"
        } else {
            "down"
        };
        ClusterStatus {
            state: state.into(),
            published: self.published,
            heard: self.heard,
            unsent: self.unsent,
            following: self.following.len(),
            redis: self.seed.to_string(),
            redis_masters: self.topology.masters(),
            node: self.node.clone(),
            rtt_us: self
                .rtt
                .filter(|_| up)
                .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            error: self
                .shards
                .iter()
                .find_map(|s| s.link.error().or(s.events.error()))
                .map(str::to_string),
            nodes: self
                .nodes
                .iter()
                .map(|(name, (at, clients))| NodeStatus {
                    name: name.clone(),
                    clients: *clients,
                    heartbeat_ms_ago: now - at,
                })
                .collect(),
        }
    }

    /// When [`Cluster::tick`] next has something to do: a link's retry or
    /// deadline, and while the links are up the next heartbeat (one due
    /// while they are down waits for them, or the loop would spin).
    pub fn next_due(&self) -> Instant {
        let beat = self.links_up().then_some(self.next_beat);
        self.shards
            .iter()
            .flat_map(|s| [s.link.next_due(), s.events.next_due()])
            .chain([beat])
            .flatten()
            .min()
            .unwrap_or(self.next_beat)
    }
}

/// `cluster.password_file`, else the systemd credential, if present.
fn password_file(config: &ClusterConfig) -> Option<PathBuf> {
    config.password_file.clone().or_else(|| {
        let dir = PathBuf::from(std::env::var_os("CREDENTIALS_DIRECTORY")?);
        Some(dir.join(REDIS_PASSWORD_CREDENTIAL)).filter(|p| p.exists())
    })
}

fn read_password(path: &PathBuf) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cluster password {}: {e}", path.display()))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_give_host_port_and_login() {
        let url = RedisUrl::parse("redis://127.0.0.1").expect("plain");
        assert_eq!((url.host.as_str(), url.port), ("127.0.0.1", 6379));
        assert_eq!((url.user, url.password), (None, None));
        let url = RedisUrl::parse("redis://chat:p%40ss@redis.lan:7000").expect("login");
        assert_eq!((url.host.as_str(), url.port), ("redis.lan", 7000));
        assert_eq!(url.user.as_deref(), Some("chat"));
        assert_eq!(url.password.as_deref(), Some("p@ss"));
        let url = RedisUrl::parse("redis://:only-pass@[::1]:6380").expect("v6");
        assert_eq!((url.host.as_str(), url.port), ("::1", 6380));
        assert_eq!(
            (url.user, url.password.as_deref()),
            (None, Some("only-pass"))
        );
        for bad in ["127.0.0.1:6379", "http://h", "redis://", "redis:///x"] {
            assert!(RedisUrl::parse(bad).is_err(), "{bad}");
        }
    }

    /// Node "a" of a cluster whose Redis is never reached.
    fn unconnected() -> Cluster {
        let config = crate::config::Config::parse(
            std::path::Path::new("t.toml"),
            "[cluster]\nredis = \"redis://127.0.0.1:1\"\n",
        )
        .expect("config");
        Cluster::new(&config.cluster, "a".into(), |_| Token(0)).expect("cluster")
    }

    #[test]
    fn a_moved_answer_asks_for_the_layout_again_and_a_refused_claim_is_given() {
        let mut cluster = unconnected();
        cluster.topology = Topology::Single;
        let moved = Frame::Error("MOVED 866 127.0.0.1:7001".into());
        cluster.answered(Some(Ask::Publish), moved);
        assert_eq!(cluster.topology, Topology::Unknown, "asked again");
        cluster.claims.insert(7, (3, "bob".into()));
        cluster.answered(Some(Ask::Claim(7)), Frame::Error("OOM".into()));
        assert_eq!(
            cluster.take_events(),
            [Event::NickAnswer {
                id: 3,
                folded: "bob".into(),
                free: true
            }]
        );
    }

    #[test]
    fn a_channels_log_is_read_into_lines_and_a_refused_read_waits_no_more() {
        let mut cluster = unconnected();
        let bulk = |b: &[u8]| Frame::BulkString(b.to_vec());
        let entry = |line: &[u8]| {
            Frame::Array(vec![
                bulk(b"1-0"),
                Frame::Array(vec![bulk(b"l"), bulk(line)]),
            ])
        };
        cluster.fills.insert(1, "#x".into());
        cluster.fills.insert(2, "#y".into());
        assert!(cluster.filling("#x") && !cluster.filling("#z") && !cluster.filling(""));
        let log = Frame::Array(vec![entry(b"one"), bulk(b"not an entry"), entry(b"two")]);
        cluster.answered(Some(Ask::Backfill(1)), log);
        assert_eq!(
            cluster.take_events(),
            [
                Event::Backfill(b"one".to_vec()),
                Event::Backfill(b"two".to_vec())
            ]
        );
        assert!(!cluster.filling("#x"));
        assert_eq!(
            cluster.read_up_to.get("#x").map(String::as_str),
            Some("1-0")
        );
        cluster.answered(Some(Ask::Backfill(2)), Frame::Error("WRONGTYPE".into()));
        assert!(!cluster.filling("#y"), "questions about #y are asked");
        assert!(cluster.take_events().is_empty());
    }

    #[test]
    fn cluster_settings_are_checked_with_their_key() {
        let check = |text: &str| {
            crate::config::Config::parse(std::path::Path::new("t.toml"), text)
                .map_err(|e| e.to_string())
        };
        assert!(check("[cluster]\nredis = \"redis://127.0.0.1:6379\"\n").is_ok());
        let err = check("[cluster]\nredis = \"127.0.0.1:6379\"\n").expect_err("no scheme");
        assert!(
            err.contains("cluster.redis") && err.contains("t.toml:2"),
            "{err}"
        );
        let err =
            check("[cluster]\nredis = \"redis://h\"\nheartbeat = \"3s\"\nnode_timeout = \"5s\"\n")
                .expect_err("timeout too short");
        assert!(err.contains("cluster.node_timeout"), "{err}");
        let err =
            check("[cluster]\nredis = \"redis://h\"\nheartbeat = \"0.5s\"\n").expect_err("bad");
        assert!(err.contains("cluster.heartbeat"), "{err}");
        let err =
            check("[cluster]\nredis = \"redis://h\"\nnode_name = \"a b\"\n").expect_err("name");
        assert!(err.contains("cluster.node_name"), "{err}");
    }
}
