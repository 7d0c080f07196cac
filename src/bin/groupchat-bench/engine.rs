//! One mio event loop driving many IRC client connections. Scenarios steer it
//! through a handful of calls and react to the [`Note`]s it produces; all
//! protocol chores (registration, PING, JOIN, counting deliveries) happen here.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use nix::sys::socket::{setsockopt, sockopt::IpBindAddressNoPort};
use slab::Slab;
use socket2::{Domain, SockRef, Socket, Type};

use crate::irc::{self, Payload};
use crate::tracker::Tracker;
use crate::transport::{Opener, Transport};

/// Bytes read from one socket before other sockets get a turn.
const READ_BUDGET: usize = 256 * 1024;
/// Bytes written to one socket before other sockets get a turn.
const WRITE_BUDGET: usize = 256 * 1024;
/// A max-rate sender generates messages only while less than this is queued,
/// so a message's timestamp is taken just before the kernel gets it.
const FILL_TARGET: usize = 16 * 1024;

/// Lines asked for per CHATHISTORY request (groupchatd's `CHATHISTORY=100`).
pub const HISTORY_LIMIT: u32 = 100;

/// IRCv3 capabilities the harness can ask for, as a bit set.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Caps(u8);

impl Caps {
    pub const NONE: Caps = Caps(0);
    /// `BATCH +ref` / `BATCH -ref` around a CHATHISTORY answer.
    pub const BATCH: Caps = Caps(1);
    /// A `msgid` on every relayed line.
    pub const MESSAGE_TAGS: Caps = Caps(2);
    pub const SERVER_TIME: Caps = Caps(4);
    pub const CHATHISTORY: Caps = Caps(8);
    /// The answer to a request is the batch carrying its label, not the
    /// join playback that may arrive while it waits.
    pub const LABELED_RESPONSE: Caps = Caps(16);
    const NAMES: [(Caps, &'static str); 5] = [
        (Caps::BATCH, "batch"),
        (Caps::MESSAGE_TAGS, "message-tags"),
        (Caps::SERVER_TIME, "server-time"),
        (Caps::CHATHISTORY, "draft/chathistory"),
        (Caps::LABELED_RESPONSE, "labeled-response"),
    ];

    pub const fn with(self, other: Caps) -> Caps {
        Caps(self.0 | other.0)
    }

    pub fn has(self, other: Caps) -> bool {
        self.0 & other.0 == other.0
    }

    fn both(self, other: Caps) -> Caps {
        Caps(self.0 & other.0)
    }

    /// The ones of a `CAP LS` or `CAP ACK` list (`name[=value] ...`) that
    /// the harness knows.
    fn from_list(list: &[u8]) -> Caps {
        list.split(|&b| b == b' ')
            .map(|item| item.split(|&b| b == b'=').next().unwrap_or(item))
            .filter_map(|name| {
                Caps::NAMES
                    .iter()
                    .find(|(_, n)| n.as_bytes() == name)
                    .map(|&(c, _)| c)
            })
            .fold(Caps::NONE, Caps::with)
    }

    fn names(self) -> String {
        let names: Vec<&str> = Caps::NAMES
            .iter()
            .filter(|&&(c, _)| self.has(c))
            .map(|&(_, n)| n)
            .collect();
        names.join(" ")
    }
}

/// How one client is set up.
#[derive(Clone, Copy, Default, Debug)]
pub struct Spawn {
    /// Fixed receive buffer (slow readers), so that the server, not the
    /// kernel, has to hold what the client does not read.
    pub rcvbuf: Option<usize>,
    /// Capabilities to ask for (those the server offers) before registering.
    pub caps: Caps,
}

/// A `chathistory` batch being received.
struct OpenBatch {
    reference: Vec<u8>,
    /// It began while a request was waiting: it is that request's answer.
    answer: bool,
    lines: u32,
    last_msgid: Option<u64>,
}

/// What the querying clients (see [`Engine::start_queries`]) got.
pub struct Queries {
    pub answered: u64,
    pub lines: u64,
    /// Request to the end of its batch, in nanoseconds.
    pub latency: Histogram<u64>,
    pub failures: BTreeMap<String, u64>,
    started: Option<Instant>,
    /// From the first request to [`Engine::stop_queries`].
    pub span: Duration,
}

impl Queries {
    fn new() -> Queries {
        Queries {
            answered: 0,
            lines: 0,
            latency: Histogram::new(3).expect("3 significant digits is a valid precision"),
            failures: BTreeMap::new(),
            started: None,
            span: Duration::ZERO,
        }
    }
}

/// Whether and how clients get into the channel after registering.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum JoinMode {
    /// They stay out of it.
    None,
    /// They send JOIN as soon as 001 arrives.
    Send,
    /// The server puts them in (groupchatd's default channel): they only
    /// wait for their JOIN and the names list.
    Await,
}

/// Where a client stands with the channel.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Joined {
    No,
    /// Its own JOIN arrived; the names list has not ended yet.
    Listing,
    /// Its own JOIN and the end of the names list (366) arrived.
    Yes,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Connecting,
    Registering,
    Registered,
}

struct SenderState {
    index: u32,
    next_at: Instant,
}

struct Client {
    id: u32,
    stream: TcpStream,
    transport: Transport,
    state: State,
    joined: Joined,
    /// We asked to leave (QUIT) or closed it ourselves: not a disconnect.
    leaving: bool,
    /// A slow reader: the socket is not read until resumed.
    paused: bool,
    started: Instant,
    /// When the current wait (connect, 001, JOIN, close after QUIT) began.
    waiting_since: Instant,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    sender: Option<SenderState>,
    error_line: Option<String>,
    /// Capabilities to ask for, those offered so far, those acknowledged.
    want: Caps,
    offered: Caps,
    caps: Caps,
    /// Asks CHATHISTORY LATEST again as soon as an answer ends (or at
    /// `next_query`, paced); its live deliveries are nobody's to track.
    querier: bool,
    /// A paced querier's next request: due then, or already sent when
    /// `request` is set.
    next_query: Option<Instant>,
    /// When the CHATHISTORY request in flight was sent.
    request: Option<Instant>,
    /// Requests sent, the last one's number being its label.
    requests: u32,
    batch: Option<OpenBatch>,
}

impl Client {
    fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Nothing of what it wrote waits above the kernel.
    fn flushed(&self) -> bool {
        self.pending() == 0 && !self.transport.holds_output()
    }
}

/// Something a scenario may need to act upon.
#[derive(Debug)]
pub enum Note {
    Registered {
        id: u32,
        key: usize,
        elapsed: Duration,
    },
    /// Its own JOIN and the end of the names list arrived.
    Joined {
        id: u32,
        key: usize,
        /// Since the connect began.
        elapsed: Duration,
    },
    Closed {
        id: u32,
        /// The harness ended it (QUIT sent, reset, or shutdown).
        intentional: bool,
        reason: String,
        /// The reason came from the server itself (its ERROR line).
        server_said: bool,
    },
    /// A benchmark message arrived (only with [`Engine::collect`]).
    Message {
        id: u32,
        payload: Payload,
        msgid: Option<u64>,
        /// It came inside a batch: history, not a live delivery.
        history: bool,
        at_ns: u64,
    },
    /// The batch answering a CHATHISTORY request ended.
    History {
        id: u32,
        key: usize,
        lines: u32,
        last_msgid: Option<u64>,
    },
    /// The server refused a CHATHISTORY request (421 or FAIL).
    HistoryFailed { id: u32, reason: String },
}

/// How the senders of a round pace themselves.
pub struct SendPlan {
    pub size: usize,
    /// `None`: as fast as the socket takes them.
    pub interval: Option<Duration>,
}

enum Flush {
    Drained,
    Blocked,
    OverBudget,
    Closed,
}

pub struct Engine {
    poll: Poll,
    events: Events,
    clients: Slab<Client>,
    /// Where clients connect, round-robin by client id.
    servers: Vec<SocketAddr>,
    /// `--tls` or `--websocket`: what every client speaks.
    opener: Opener,
    /// Protocol and cipher suite of the first TLS client registered.
    pub tls_session: Option<String>,
    sources: Vec<Ipv4Addr>,
    channel: String,
    nick_prefix: String,
    epoch: Instant,
    scratch: Vec<u8>,
    next_id: u32,
    /// Client ids go up by this much: with `--threads`, engine `t` of `T`
    /// numbers its clients t, t+T, t+2T, ...
    id_step: u32,
    pub join: JoinMode,
    pub tracker: Option<Tracker>,
    plan: Option<SendPlan>,
    senders: Vec<usize>,
    read_again: Vec<usize>,
    write_again: Vec<usize>,
    /// QUIT reasons other members saw, by client id: the server's word for a
    /// member that could not read its own ERROR line.
    pub quit_reasons: HashMap<u32, String>,
    /// Turn every benchmark message into a [`Note::Message`].
    pub collect: bool,
    pub queries: Queries,
    /// Paced queries: how far apart one querier's requests are.
    query_interval: Option<Duration>,
    notes: Vec<Note>,
}

impl Engine {
    pub fn new(
        servers: Vec<SocketAddr>,
        opener: Opener,
        sources: Vec<Ipv4Addr>,
        channel: &str,
        nick_prefix: &str,
        epoch: Instant,
        ids: (u32, u32),
    ) -> io::Result<Self> {
        Ok(Engine {
            poll: Poll::new()?,
            events: Events::with_capacity(4096),
            clients: Slab::new(),
            servers,
            opener,
            tls_session: None,
            sources,
            channel: channel.to_owned(),
            nick_prefix: nick_prefix.to_owned(),
            epoch,
            scratch: vec![0; 64 * 1024],
            next_id: ids.0,
            id_step: ids.1.max(1),
            join: JoinMode::None,
            tracker: None,
            plan: None,
            senders: Vec::new(),
            read_again: Vec::new(),
            write_again: Vec::new(),
            quit_reasons: HashMap::new(),
            collect: false,
            queries: Queries::new(),
            query_interval: None,
            notes: Vec::new(),
        })
    }

    /// Nanoseconds on the clock all message timestamps use.
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    /// Starts one client connecting; failures arrive as a `Closed` note.
    pub fn spawn(&mut self, how: Spawn) -> u32 {
        let id = self.next_id;
        self.next_id += self.id_step;
        if let Err(e) = self.try_spawn(id, how) {
            self.notes.push(Note::Closed {
                id,
                intentional: false,
                reason: format!("connect: {}", io_reason(&e)),
                server_said: false,
            });
        }
        id
    }

    fn try_spawn(&mut self, id: u32, how: Spawn) -> io::Result<()> {
        let transport = self.opener.transport().map_err(io::Error::other)?;
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        socket.set_tcp_nodelay(true)?;
        if let Some(size) = how.rcvbuf {
            socket.set_recv_buffer_size(size)?;
        }
        if !self.sources.is_empty() {
            let src = self.sources[id as usize % self.sources.len()];
            // The port is then picked by connect, which only needs the
            // 4-tuple to be unique; bind alone would search the whole range
            // for a port free on every address.
            setsockopt(&socket, IpBindAddressNoPort, &true)?;
            socket.bind(&SocketAddr::from((src, 0)).into())?;
        }
        let server = self.servers[id as usize % self.servers.len()];
        match socket.connect(&server.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let mut stream = TcpStream::from_std(socket.into());
        let entry = self.clients.vacant_entry();
        self.poll.registry().register(
            &mut stream,
            Token(entry.key()),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let now = Instant::now();
        entry.insert(Client {
            id,
            stream,
            transport,
            state: State::Connecting,
            joined: Joined::No,
            leaving: false,
            paused: false,
            started: now,
            waiting_since: now,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            sender: None,
            error_line: None,
            want: how.caps,
            offered: Caps::NONE,
            caps: Caps::NONE,
            querier: false,
            next_query: None,
            request: None,
            requests: 0,
            batch: None,
        });
        Ok(())
    }

    /// Waits for readiness (at most `timeout`, less when a sender is due) and
    /// handles it.
    pub fn turn(&mut self, timeout: Duration) -> io::Result<()> {
        let mut timeout = timeout;
        if !self.read_again.is_empty() || !self.write_again.is_empty() {
            timeout = Duration::ZERO;
        } else if let Some(due) = self
            .next_send_due()
            .into_iter()
            .chain(self.next_query_due())
            .min()
        {
            timeout = timeout.min(due.saturating_duration_since(Instant::now()));
        }
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let ready: Vec<(usize, bool, bool)> = self
            .events
            .iter()
            .map(|e| {
                let readable = e.is_readable() || e.is_read_closed() || e.is_error();
                (e.token().0, readable, e.is_writable())
            })
            .collect();
        for (key, readable, writable) in ready {
            if writable {
                self.on_writable(key);
            }
            if readable {
                self.on_readable(key);
            }
        }
        for key in std::mem::take(&mut self.read_again) {
            self.on_readable(key);
        }
        for key in std::mem::take(&mut self.write_again) {
            self.pump(key);
        }
        self.send_due();
        self.ask_due();
        Ok(())
    }

    fn on_writable(&mut self, key: usize) {
        let Some(c) = self.clients.get_mut(key) else {
            return;
        };
        if c.state == State::Connecting {
            match c.stream.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    let reason = format!("connect: {}", io_reason(&e));
                    return self.close(key, reason, false);
                }
            }
            match c.stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => {
                    let reason = format!("connect: {}", io_reason(&e));
                    return self.close(key, reason, false);
                }
            }
            c.state = State::Registering;
            c.waiting_since = Instant::now();
            let nick = format!("{}{}", self.nick_prefix, c.id);
            if c.want != Caps::NONE {
                // The server holds registration until CAP END.
                c.out.extend_from_slice(b"CAP LS 302\r\n");
            }
            let _ = write!(c.out, "NICK {nick}\r\nUSER {nick} 0 * :groupchat-bench\r\n");
        }
        self.pump(key);
    }

    fn on_readable(&mut self, key: usize) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut budget = READ_BUDGET;
        while let Some(c) = self.clients.get_mut(key) {
            if c.paused || c.state == State::Connecting {
                break;
            }
            if budget == 0 {
                self.read_again.push(key);
                break;
            }
            match c.transport.read(&mut c.stream, &mut scratch) {
                Ok(0) => {
                    let (reason, said) = match &c.error_line {
                        Some(e) => (e.clone(), true),
                        None => ("connection closed by server".to_owned(), false),
                    };
                    self.close(key, reason, said);
                    break;
                }
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    self.input(key, &scratch[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let (reason, said) = match &c.error_line {
                        Some(l) => (l.clone(), true),
                        None => (io_reason(&e), false),
                    };
                    self.close(key, reason, said);
                    break;
                }
            }
        }
        self.scratch = scratch;
        // Over TLS or WebSocket, output the transport would not take before
        // the handshake ended waits for no socket event, and reading may
        // just have ended the handshake. (Output behind bytes the socket
        // refused waits for the writable event.)
        if self.clients.get(key).is_some_and(|c| {
            c.pending() > 0 && c.transport.has_handshake() && !c.transport.holds_output()
        }) {
            self.pump(key);
        }
    }

    /// Splits fresh bytes into lines, keeping a partial last line for later.
    fn input(&mut self, key: usize, data: &[u8]) {
        let mut buf = std::mem::take(&mut self.clients[key].inbuf);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let mut line = &buf[start..start + nl];
            if let Some(l) = line.strip_suffix(b"\r") {
                line = l;
            }
            start += nl + 1;
            if !line.is_empty() {
                self.on_line(key, line);
            }
            if !self.clients.contains(key) {
                return;
            }
        }
        buf.drain(..start);
        self.clients[key].inbuf = buf;
    }

    fn on_line(&mut self, key: usize, line: &[u8]) {
        let msg = irc::parse(line);
        let c = &mut self.clients[key];
        match msg.command {
            b"PING" => {
                c.out.extend_from_slice(b"PONG ");
                c.out.extend_from_slice(msg.params);
                c.out.extend_from_slice(b"\r\n");
                self.pump(key);
            }
            b"PRIVMSG" => {
                let Some(p) = irc::parse_payload(irc::last_param(msg.params)) else {
                    return;
                };
                // self.now_ns(), with `c` still borrowed.
                let (id, now) = (c.id, self.epoch.elapsed().as_nanos() as u64);
                let msgid = irc::msgid(msg.tags);
                let history = irc::tag(msg.tags, b"batch").is_some();
                if history {
                    if let Some(b) = &mut c.batch {
                        b.lines += 1;
                        b.last_msgid = msgid.or(b.last_msgid);
                    }
                } else if !c.querier
                    && let Some(t) = &mut self.tracker
                {
                    t.record(id, p, now);
                }
                if self.collect {
                    self.notes.push(Note::Message {
                        id,
                        payload: p,
                        msgid,
                        history,
                        at_ns: now,
                    });
                }
            }
            b"CAP" if c.state == State::Registering => {
                let rest = irc::rest_params(msg.params);
                let list = irc::last_param(rest);
                let reply = match irc::first_param(rest) {
                    b"LS" => {
                        c.offered = c.offered.with(Caps::from_list(list));
                        // `CAP * LS * :...`: more lines follow.
                        let more = irc::first_param(irc::rest_params(rest)) == b"*";
                        let ask = c.want.both(c.offered);
                        match (more, ask) {
                            (true, _) => None,
                            (false, Caps::NONE) => Some("CAP END".to_owned()),
                            (false, ask) => Some(format!("CAP REQ :{}", ask.names())),
                        }
                    }
                    b"ACK" => {
                        c.caps = c.caps.with(Caps::from_list(list));
                        Some("CAP END".to_owned())
                    }
                    b"NAK" => Some("CAP END".to_owned()),
                    _ => None,
                };
                if let Some(reply) = reply {
                    self.send_line(key, &reply);
                }
            }
            b"BATCH" => {
                let reference = irc::first_param(msg.params);
                if let Some(r) = reference.strip_prefix(b"+") {
                    let kind = irc::first_param(irc::rest_params(msg.params));
                    if kind.ends_with(b"chathistory") {
                        let answer = c.request.is_some()
                            && (!c.caps.has(Caps::LABELED_RESPONSE)
                                || irc::tag(msg.tags, b"label")
                                    == Some(c.requests.to_string().as_bytes()));
                        c.batch = Some(OpenBatch {
                            reference: r.to_vec(),
                            answer,
                            lines: 0,
                            last_msgid: None,
                        });
                    }
                } else if let Some(r) = reference.strip_prefix(b"-")
                    && c.batch.as_ref().is_some_and(|b| b.reference == r)
                    && let Some(b) = c.batch.take()
                    && b.answer
                    && let Some(sent) = c.request.take()
                {
                    self.answered(key, b, sent.elapsed());
                }
            }
            b"FAIL" | b"421" if c.request.is_some() => {
                let params = match msg.command {
                    b"FAIL" => msg.params,
                    _ => irc::rest_params(msg.params),
                };
                if irc::first_param(params).eq_ignore_ascii_case(b"CHATHISTORY") {
                    let text = String::from_utf8_lossy(params);
                    let reason = format!("{} {text}", String::from_utf8_lossy(msg.command));
                    c.request = None;
                    c.querier = false;
                    let id = c.id;
                    *self.queries.failures.entry(reason.clone()).or_default() += 1;
                    self.notes.push(Note::HistoryFailed { id, reason });
                }
            }
            b"001" if c.state == State::Registering => {
                c.state = State::Registered;
                c.waiting_since = Instant::now();
                if self.tls_session.is_none() {
                    self.tls_session = c.transport.describe();
                }
                let (id, elapsed) = (c.id, c.started.elapsed());
                self.notes.push(Note::Registered { id, key, elapsed });
                if self.join == JoinMode::Send {
                    let join = format!("JOIN {}", self.channel);
                    self.send_line(key, &join);
                }
            }
            b"JOIN" => {
                let own = irc::nick_id(irc::prefix_nick(msg.prefix), &self.nick_prefix);
                let chan = irc::first_param(msg.params);
                if own == Some(c.id)
                    && c.joined == Joined::No
                    && chan.eq_ignore_ascii_case(self.channel.as_bytes())
                {
                    c.joined = Joined::Listing;
                }
            }
            // RPL_ENDOFNAMES `<nick> <channel> :End of /NAMES list`: the
            // join is complete once the list (or a large channel's summary)
            // that follows it has ended.
            b"366" if c.joined == Joined::Listing => {
                let chan = irc::first_param(irc::rest_params(msg.params));
                if chan.eq_ignore_ascii_case(self.channel.as_bytes()) {
                    c.joined = Joined::Yes;
                    let (id, elapsed) = (c.id, c.started.elapsed());
                    self.notes.push(Note::Joined { id, key, elapsed });
                }
            }
            b"QUIT" => {
                let nick = irc::prefix_nick(msg.prefix);
                if let Some(id) = irc::nick_id(nick, &self.nick_prefix) {
                    let text = String::from_utf8_lossy(irc::last_param(msg.params));
                    // Some servers (ngIRCd) give the nick as the reason of a
                    // kill; without it reasons group in the report.
                    let nick = String::from_utf8_lossy(nick);
                    self.quit_reasons
                        .entry(id)
                        .or_insert_with(|| text.replace(&*nick, "<nick>"));
                }
            }
            b"ERROR" => {
                let text = String::from_utf8_lossy(irc::last_param(msg.params));
                // The server repeats the nick and host in it; drop them so
                // that reasons group in the report.
                let nick = format!("{}{}", self.nick_prefix, c.id);
                c.error_line = Some(format!("ERROR: {}", text.replace(&nick, "<nick>")));
            }
            cmd if is_refusal(cmd, c.state == State::Registered, c.joined != Joined::No) => {
                let text = String::from_utf8_lossy(line);
                let rest = text.split_once(' ').map_or(&*text, |(_, r)| r);
                let nick = format!("{}{}", self.nick_prefix, c.id);
                let reason = format!("refused: {}", rest.replace(&nick, "<nick>"));
                self.close(key, reason, true);
            }
            _ => {}
        }
    }

    /// The end of a CHATHISTORY answer: a note, and for a querier the
    /// figures and its next request.
    fn answered(&mut self, key: usize, b: OpenBatch, elapsed: Duration) {
        let Some(c) = self.clients.get(key) else {
            return;
        };
        self.notes.push(Note::History {
            id: c.id,
            key,
            lines: b.lines,
            last_msgid: b.last_msgid,
        });
        if c.querier {
            let paced = c.next_query.is_some();
            let q = &mut self.queries;
            q.answered += 1;
            q.lines += u64::from(b.lines);
            let _ = q.latency.record((elapsed.as_nanos() as u64).max(1));
            if !paced {
                self.request_history(key, "LATEST", "*");
            }
        }
    }

    /// Sends `CHATHISTORY <subcommand> <channel> <point> 100`; its answer
    /// arrives as a [`Note::History`] (with the batch capability).
    pub fn request_history(&mut self, key: usize, subcommand: &str, point: &str) {
        if let Some(c) = self.clients.get_mut(key) {
            c.request = Some(Instant::now());
            c.requests += 1;
            let label = match c.caps.has(Caps::LABELED_RESPONSE) {
                true => format!("@label={} ", c.requests),
                false => String::new(),
            };
            let line = format!(
                "{label}CHATHISTORY {subcommand} {} {point} {HISTORY_LIMIT}",
                self.channel
            );
            self.send_line(key, &line);
        }
    }

    /// The capabilities the server acknowledged for this client.
    pub fn caps(&self, key: usize) -> Caps {
        self.clients.get(key).map_or(Caps::NONE, |c| c.caps)
    }

    /// Makes these clients ask `CHATHISTORY LATEST <channel> * 100`, each
    /// waiting for the end of its answer, until [`Engine::stop_queries`]:
    /// back to back, or `rate` requests a second over them all, each on
    /// its own steady schedule (staggered). Their live deliveries are not
    /// tracked.
    pub fn start_queries(&mut self, keys: &[usize], rate: Option<f64>) {
        let now = Instant::now();
        self.queries = Queries::new();
        self.queries.started = Some(now);
        self.query_interval = rate
            .filter(|r| *r > 0.0)
            .map(|r| Duration::from_secs_f64(keys.len() as f64 / r));
        for (n, &key) in keys.iter().enumerate() {
            let Some(c) = self.clients.get_mut(key) else {
                continue;
            };
            c.querier = true;
            match self.query_interval {
                Some(interval) => {
                    c.next_query = Some(now + interval * n as u32 / keys.len() as u32)
                }
                None => self.request_history(key, "LATEST", "*"),
            }
        }
    }

    /// The earliest paced request due and not yet sent.
    fn next_query_due(&self) -> Option<Instant> {
        self.query_interval?;
        let waiting = self
            .clients
            .iter()
            .filter(|(_, c)| c.querier && c.request.is_none());
        waiting.filter_map(|(_, c)| c.next_query).min()
    }

    /// Paced queriers: sends every request whose time has come and whose
    /// querier's last answer has ended.
    fn ask_due(&mut self) {
        let Some(interval) = self.query_interval else {
            return;
        };
        let now = Instant::now();
        let due: Vec<usize> = (self.clients.iter())
            .filter(|(_, c)| c.querier && c.request.is_none())
            .filter(|(_, c)| c.next_query.is_some_and(|at| at <= now))
            .map(|(key, _)| key)
            .collect();
        for key in due {
            if let Some(at) = self
                .clients
                .get_mut(key)
                .and_then(|c| c.next_query.as_mut())
            {
                *at += interval;
            }
            self.request_history(key, "LATEST", "*");
        }
    }

    /// Stops asking; answers still in flight are not counted.
    pub fn stop_queries(&mut self) -> Queries {
        for (_, c) in self.clients.iter_mut() {
            c.querier = false;
            c.next_query = None;
        }
        self.query_interval = None;
        let mut q = std::mem::replace(&mut self.queries, Queries::new());
        q.span = q.started.map_or(Duration::ZERO, |s| s.elapsed());
        q
    }

    /// Queues one line and writes what the socket takes.
    pub fn send_line(&mut self, key: usize, line: &str) {
        if let Some(c) = self.clients.get_mut(key) {
            c.out.extend_from_slice(line.as_bytes());
            c.out.extend_from_slice(b"\r\n");
            self.pump(key);
        }
    }

    /// Sends one benchmark message now.
    pub fn send_payload(&mut self, key: usize, p: Payload, size: usize) {
        if let Some(c) = self.clients.get_mut(key) {
            irc::write_privmsg(&mut c.out, &self.channel, p, size);
            self.pump(key);
        }
    }

    /// Sends QUIT and waits for the server to close the connection.
    pub fn quit(&mut self, key: usize, message: &str) {
        if let Some(c) = self.clients.get_mut(key) {
            c.leaving = true;
            c.waiting_since = Instant::now();
            self.send_line(key, &format!("QUIT :{message}"));
        }
    }

    /// Drops the connection with an RST (SO_LINGER 0), the way a crashing
    /// client or a vanished NAT entry looks to the server.
    pub fn reset(&mut self, key: usize) {
        if let Some(c) = self.clients.get_mut(key) {
            // Failing to set linger only turns the RST into a FIN.
            let _ = SockRef::from(&c.stream).set_linger(Some(Duration::ZERO));
            c.leaving = true;
            self.close(key, "reset by harness".to_owned(), false);
        }
    }

    /// Sends QUIT to everyone left and closes without waiting.
    pub fn shutdown(&mut self) {
        let keys: Vec<usize> = self.clients.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.clients[key].leaving = true;
            self.send_line(key, "QUIT :groupchat-bench done");
            if self.clients.contains(key) {
                self.close(key, "harness shutdown".to_owned(), false);
            }
        }
        self.notes.clear();
    }

    pub fn pause(&mut self, key: usize) {
        if let Some(c) = self.clients.get_mut(key) {
            c.paused = true;
        }
    }

    /// Reads again; the socket is edge-triggered, so read now instead of
    /// waiting for an event that already fired.
    pub fn resume(&mut self, key: usize) {
        if let Some(c) = self.clients.get_mut(key) {
            c.paused = false;
            self.on_readable(key);
        }
    }

    /// Closes clients stuck longer than `limit` in connect, registration,
    /// JOIN, or waiting for the server to close after QUIT.
    pub fn expire(&mut self, limit: Duration) {
        let stuck: Vec<(usize, &'static str)> = self
            .clients
            .iter()
            .filter(|(_, c)| c.waiting_since.elapsed() > limit)
            .filter_map(|(k, c)| {
                let what = if c.leaving {
                    "server did not close the connection after QUIT"
                } else {
                    match c.state {
                        State::Connecting => "timed out connecting",
                        State::Registering => "timed out waiting for 001",
                        State::Registered
                            if self.join != JoinMode::None && c.joined != Joined::Yes =>
                        {
                            "timed out waiting for own JOIN and 366"
                        }
                        State::Registered => return None,
                    }
                };
                Some((k, what))
            })
            .collect();
        for (key, what) in stuck {
            self.close(key, what.to_owned(), false);
        }
    }

    fn close(&mut self, key: usize, reason: String, server_said: bool) {
        let c = self.clients.remove(key);
        // Deregistering can only fail if the fd is already gone; dropping the
        // stream closes it either way.
        let _ = self.poll.registry().deregister(&mut { c.stream });
        self.notes.push(Note::Closed {
            id: c.id,
            intentional: c.leaving,
            reason,
            server_said,
        });
    }

    /// Makes the given clients send their messages as the given sender
    /// indexes; the tracker must already be installed.
    pub fn start_round(&mut self, plan: SendPlan, senders: &[(u32, usize)]) {
        let now = Instant::now();
        let k = senders.len().max(1) as u32;
        for &(i, key) in senders {
            if let Some(c) = self.clients.get_mut(key) {
                // Spread paced senders over one interval so they do not all
                // fire on the same tick.
                let offset = plan.interval.map_or(Duration::ZERO, |d| d * i / k);
                c.sender = Some(SenderState {
                    index: i,
                    next_at: now + offset,
                });
                if plan.interval.is_none() {
                    self.write_again.push(key);
                }
            }
        }
        self.senders = senders.iter().map(|&(_, key)| key).collect();
        self.plan = Some(plan);
    }

    /// True once every sender still connected has sent and flushed all.
    pub fn senders_done(&self) -> bool {
        let Some(t) = &self.tracker else {
            return true;
        };
        self.senders.iter().all(|&key| match self.clients.get(key) {
            Some(c) => match &c.sender {
                Some(s) => t.sent[s.index as usize] >= t.messages && c.flushed(),
                None => true,
            },
            None => true,
        })
    }

    pub fn end_round(&mut self) {
        for &key in &self.senders {
            if let Some(c) = self.clients.get_mut(key) {
                c.sender = None;
            }
        }
        self.senders.clear();
        self.plan = None;
    }

    fn next_send_due(&self) -> Option<Instant> {
        self.plan.as_ref()?.interval?;
        let t = self.tracker.as_ref()?;
        self.senders
            .iter()
            .filter_map(|&key| self.clients.get(key)?.sender.as_ref())
            .filter(|s| t.sent[s.index as usize] < t.messages)
            .map(|s| s.next_at)
            .min()
    }

    /// Paced senders: emit every message whose time has come.
    fn send_due(&mut self) {
        let Some(interval) = self.plan.as_ref().and_then(|p| p.interval) else {
            return;
        };
        let now = Instant::now();
        for i in 0..self.senders.len() {
            let key = self.senders[i];
            while let Some(c) = self.clients.get_mut(key) {
                let Some(s) = &mut c.sender else { break };
                if s.next_at > now {
                    break;
                }
                s.next_at += interval;
                if !self.generate(key) {
                    break;
                }
            }
            self.pump(key);
        }
    }

    /// Appends the sender's next message; false when it has sent them all.
    fn generate(&mut self, key: usize) -> bool {
        let now_ns = self.now_ns();
        let (Some(plan), Some(t)) = (&self.plan, &mut self.tracker) else {
            return false;
        };
        let Some(c) = self.clients.get_mut(key) else {
            return false;
        };
        let Some(s) = &c.sender else { return false };
        let idx = s.index as usize;
        if t.sent[idx] >= t.messages {
            return false;
        }
        let p = Payload {
            round: t.round,
            sender: s.index,
            seq: t.sent[idx],
            sent_ns: now_ns,
        };
        irc::write_privmsg(&mut c.out, &self.channel, p, plan.size);
        t.sent[idx] += 1;
        true
    }

    /// Writes what is queued, and for a max-rate sender keeps generating
    /// while the socket takes it, within a budget so others get their turn.
    fn pump(&mut self, key: usize) {
        let max_rate = self.plan.as_ref().is_some_and(|p| p.interval.is_none());
        for _ in 0..16 {
            let Some(c) = self.clients.get(key) else {
                return;
            };
            if c.state == State::Connecting {
                return;
            }
            let sending = max_rate && c.sender.is_some();
            if sending {
                while self.clients[key].pending() < FILL_TARGET && self.generate(key) {}
            }
            match self.flush(key) {
                Flush::Drained
                    if sending && self.clients.get(key).is_some_and(|c| c.pending() == 0) =>
                {
                    if !self.generate(key) {
                        return;
                    }
                }
                Flush::Drained | Flush::Blocked | Flush::Closed => return,
                Flush::OverBudget => break,
            }
        }
        self.write_again.push(key);
    }

    fn flush(&mut self, key: usize) -> Flush {
        let Some(c) = self.clients.get_mut(key) else {
            return Flush::Closed;
        };
        let mut budget = WRITE_BUDGET;
        let result = loop {
            if c.out_pos >= c.out.len() {
                c.out.clear();
                c.out_pos = 0;
                break match c.transport.flush(&mut c.stream) {
                    Ok(true) => Ok(Flush::Drained),
                    Ok(false) => Ok(Flush::Blocked),
                    Err(e) => Err(e),
                };
            }
            if budget == 0 {
                break Ok(Flush::OverBudget);
            }
            let end = c.out.len().min(c.out_pos + budget);
            match c.transport.write(&mut c.stream, &c.out[c.out_pos..end]) {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    c.out_pos += n;
                    budget -= n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(Flush::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        if c.out_pos > 0 && c.out_pos * 2 >= c.out.len() {
            c.out.drain(..c.out_pos);
            c.out_pos = 0;
        }
        match result {
            Ok(f) => f,
            Err(e) => {
                let (reason, said) = match &c.error_line {
                    Some(l) => (l.clone(), true),
                    None => (format!("write: {}", io_reason(&e)), false),
                };
                self.close(key, reason, said);
                Flush::Closed
            }
        }
    }
}

/// Numeric replies that mean the server will not have this client (before
/// 001) or will not let it into the channel (before its JOIN).
fn is_refusal(cmd: &[u8], registered: bool, joined: bool) -> bool {
    const REGISTRATION: [&[u8]; 8] = [
        b"431", b"432", b"433", b"436", b"437", b"461", b"464", b"465",
    ];
    const JOIN: [&[u8]; 8] = [
        b"403", b"405", b"471", b"473", b"474", b"475", b"476", b"477",
    ];
    if !registered {
        REGISTRATION.contains(&cmd)
    } else {
        !joined && JOIN.contains(&cmd)
    }
}

/// An io::Error as a short, groupable reason ("Connection reset by peer").
fn io_reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}
