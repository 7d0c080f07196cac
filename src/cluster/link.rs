//! One non-blocking connection to Redis, driven by the event loop like a
//! client socket: commands are pipelined into an output buffer, replies are
//! matched to them in order, and nothing ever waits. A link that cannot
//! connect, or whose Redis takes longer than the timeout to answer (a
//! stopped process answers nothing), goes down and is tried again with a
//! growing backoff; what was asked of it then is dropped, and the callers
//! ask again on their next heartbeat.

use super::resp::{self, Frame};
use log::{info, warn};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The first wait before reconnecting, doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Unsent output allowed before the link counts as stuck: a Redis that
/// reads nothing must not make this buffer grow without bound. Room for a
/// node rejoining the network, which announces all its users at once
/// (about 550 bytes each, their INTRO and their nick's claim): 4 MiB
/// held a node of 15,000 here only because the kernel took the rest, and
/// 100,000 would have cut the link at every rejoin. A stuck Redis is
/// caught by the reply timeout before this fills from ordinary traffic.
const MAX_OUTPUT: usize = 256 << 20;
/// The longest reply or push taken in: ours are a heartbeat listing or one
/// IRC line; anything much longer is not from a groupchatd.
const MAX_REPLY: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// The TCP connection is being made.
    Connecting,
    /// Connected; AUTH (if any) and a PING sent, their answers awaited. A
    /// stopped Redis still accepts connections (the kernel does), so only
    /// an answer shows that it serves.
    Greeting,
    Up,
    Down,
}

/// What a reply on its way answers.
#[derive(Debug, Clone, Copy)]
enum Tag<T> {
    Auth,
    Ping,
    Ask(T),
}

impl<T: fmt::Display> fmt::Display for Tag<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tag::Auth => f.write_str("AUTH"),
            Tag::Ping => f.write_str("PING"),
            Tag::Ask(ask) => ask.fmt(f),
        }
    }
}

/// A pipelined Redis connection whose replies are tagged with `T`.
pub struct Link<T> {
    addr: SocketAddr,
    /// `AUTH [user] password`, sent first on every connection.
    auth: Option<Vec<Vec<u8>>>,
    timeout: Duration,
    stream: Option<TcpStream>,
    state: LinkState,
    /// When the connection attempt began (while connecting).
    since: Instant,
    out: Vec<u8>,
    input: Vec<u8>,
    /// What each reply on its way answers, and when it was asked.
    waiting: VecDeque<(Tag<T>, Instant)>,
    retry_at: Instant,
    backoff: Duration,
    error: Option<String>,
    /// A subscriber connection: once up, whatever Redis sends is a push
    /// (a subscription's confirmation, or a published message), matched to
    /// nothing that was asked.
    pushes: bool,
}

impl<T: Copy + fmt::Display> Link<T> {
    pub fn new(addr: SocketAddr, auth: Option<Vec<Vec<u8>>>, timeout: Duration) -> Link<T> {
        let now = Instant::now();
        Link {
            addr,
            auth,
            timeout,
            stream: None,
            state: LinkState::Down,
            since: now,
            out: Vec::new(),
            input: Vec::new(),
            waiting: VecDeque::new(),
            retry_at: now,
            backoff: FIRST_BACKOFF,
            error: None,
            pushes: false,
        }
    }

    /// A link for SUBSCRIBE, whose replies are pushes ([`Link::ready`]
    /// returns them untagged).
    pub fn subscriber(addr: SocketAddr, auth: Option<Vec<Vec<u8>>>, timeout: Duration) -> Link<T> {
        Link {
            pushes: true,
            ..Link::new(addr, auth, timeout)
        }
    }

    pub fn state(&self) -> LinkState {
        self.state
    }

    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// When [`Link::tick`] has something to check: a retry or a deadline.
    pub fn next_due(&self) -> Option<Instant> {
        match self.state {
            LinkState::Down => Some(self.retry_at),
            LinkState::Connecting | LinkState::Greeting => Some(self.since + self.timeout),
            LinkState::Up => self.waiting.front().map(|(_, at)| *at + self.timeout),
        }
    }

    /// Connects when a retry is due, and gives up on a connection attempt
    /// or an answer that took longer than the timeout.
    pub fn tick(&mut self, registry: &Registry, token: Token, now: Instant) {
        match self.state {
            LinkState::Down if now >= self.retry_at => self.connect(registry, token, now),
            LinkState::Connecting if now >= self.since + self.timeout => {
                self.fail(registry, format!("no connection within {:?}", self.timeout));
            }
            LinkState::Greeting if now >= self.since + self.timeout => {
                self.fail(
                    registry,
                    format!("no answer to PING within {:?}", self.timeout),
                );
            }
            LinkState::Up => {
                if let Some((ask, at)) = self.waiting.front()
                    && now >= *at + self.timeout
                {
                    let why = format!("no answer to {ask} within {:?}", self.timeout);
                    self.fail(registry, why);
                }
            }
            _ => {}
        }
    }

    fn connect(&mut self, registry: &Registry, token: Token, now: Instant) {
        match TcpStream::connect(self.addr) {
            Ok(mut stream) => {
                // Lines go out as they are said: Nagle's algorithm would
                // hold a PUBLISH back until the one before was acknowledged.
                if let Err(e) = stream.set_nodelay(true) {
                    warn!("cluster: cannot set TCP_NODELAY on the link to Redis: {e}");
                }
                let interest = Interest::READABLE | Interest::WRITABLE;
                if let Err(e) = registry.register(&mut stream, token, interest) {
                    self.fail(registry, format!("cannot watch the socket: {e}"));
                    return;
                }
                self.stream = Some(stream);
                self.state = LinkState::Connecting;
                self.since = now;
            }
            Err(e) => self.fail(registry, e.to_string()),
        }
    }

    /// Queues a command whose reply will come back tagged `ask` (on a
    /// subscriber link: as pushes); dropped (false) while the link is not
    /// up.
    pub fn send(&mut self, ask: T, args: &[&[u8]]) -> bool {
        if self.state != LinkState::Up {
            return false;
        }
        let tag = (!self.pushes).then_some(Tag::Ask(ask));
        self.queue(tag, args)
    }

    fn queue(&mut self, tag: Option<Tag<T>>, args: &[&[u8]]) -> bool {
        match resp::encode(args, &mut self.out) {
            Ok(()) => {
                self.waiting.extend(tag.map(|tag| (tag, Instant::now())));
                true
            }
            Err(e) => {
                warn!("cluster: {e}");
                false
            }
        }
    }

    /// The socket is ready: finishes connecting, reads every reply that
    /// came, and writes what is queued. Returns the replies with their
    /// tags, and a subscriber's pushes without.
    pub fn ready(
        &mut self,
        registry: &Registry,
        token: Token,
        now: Instant,
    ) -> Vec<(Option<T>, Frame)> {
        if self.state == LinkState::Connecting {
            let Some(stream) = self.stream.as_ref() else {
                return Vec::new();
            };
            // A failed connect shows as the socket's pending error; one
            // still under way has neither an error nor a peer.
            let outcome = match stream.take_error() {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => stream.peer_addr().map(drop),
            };
            match outcome {
                Ok(()) => self.connected(now),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Vec::new(),
                Err(e) => {
                    self.fail(registry, e.to_string());
                    return Vec::new();
                }
            }
        }
        let replies = match self.read() {
            Ok(replies) => replies,
            Err(why) => {
                self.fail(registry, why);
                return Vec::new();
            }
        };
        let mut answered = Vec::with_capacity(replies.len());
        for reply in replies {
            let Some((ask, _)) = self.waiting.pop_front() else {
                if self.pushes && self.state == LinkState::Up {
                    answered.push((None, reply));
                    continue;
                }
                self.fail(registry, "Redis answered what was not asked".into());
                return answered;
            };
            match (ask, reply) {
                (Tag::Ask(ask), reply) => answered.push((Some(ask), reply)),
                (tag, Frame::Error(e)) => {
                    self.fail(registry, format!("Redis refused {tag}: {e}"));
                    return answered;
                }
                (Tag::Auth, _) => {}
                (Tag::Ping, _) => {
                    info!("cluster: link to Redis at {} is up", self.addr);
                    self.state = LinkState::Up;
                    self.backoff = FIRST_BACKOFF;
                    self.error = None;
                }
            }
        }
        self.flush(registry, token);
        answered
    }

    fn connected(&mut self, now: Instant) {
        self.state = LinkState::Greeting;
        self.since = now;
        if let Some(auth) = self.auth.clone() {
            let args: Vec<&[u8]> = auth.iter().map(Vec::as_slice).collect();
            self.queue(Some(Tag::Auth), &args);
        }
        self.queue(Some(Tag::Ping), &[b"PING"]);
    }

    /// Reads what the socket has and decodes every complete reply, chunk
    /// by chunk, so that only an unfinished reply is ever kept: one longer
    /// than [`MAX_REPLY`] takes the link down rather than memory.
    fn read(&mut self) -> Result<Vec<Frame>, String> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(Vec::new());
        };
        let mut chunk = [0u8; 16 * 1024];
        let mut replies = Vec::new();
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => return Err("Redis closed the connection".into()),
                Ok(n) => self.input.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.to_string()),
            }
            let mut used = 0;
            while let Some((frame, n)) = resp::decode(&self.input[used..])? {
                replies.push(frame);
                used += n;
            }
            self.input.drain(..used);
            if self.input.len() > MAX_REPLY {
                return Err(format!("Redis sent a reply of over {MAX_REPLY} bytes"));
            }
        }
        Ok(replies)
    }

    /// Writes what is queued, as far as the socket takes it.
    pub fn flush(&mut self, registry: &Registry, _token: Token) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        if !matches!(self.state, LinkState::Up | LinkState::Greeting) {
            return;
        }
        let mut written = 0;
        let result = loop {
            if written == self.out.len() {
                break Ok(());
            }
            match stream.write(&self.out[written..]) {
                Ok(0) => break Err("Redis takes no more input".to_string()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e.to_string()),
            }
        };
        self.out.drain(..written);
        match result {
            Err(why) => self.fail(registry, why),
            Ok(()) if self.out.len() > MAX_OUTPUT => {
                self.fail(registry, format!("over {MAX_OUTPUT} bytes unsent"));
            }
            Ok(()) => {}
        }
    }

    /// Drops the connection and what was asked of it; a retry comes after
    /// the backoff.
    fn fail(&mut self, registry: &Registry, why: String) {
        if let Some(mut stream) = self.stream.take() {
            let _ = registry.deregister(&mut stream);
        }
        if self.state != LinkState::Down || self.error.as_ref() != Some(&why) {
            warn!(
                "cluster: link to Redis at {} is down: {why}; retrying in {:?}",
                self.addr, self.backoff
            );
        }
        self.state = LinkState::Down;
        self.error = Some(why);
        self.out.clear();
        self.input.clear();
        self.waiting.clear();
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}
