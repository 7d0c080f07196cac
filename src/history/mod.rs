//! Chat history: what was said in each channel and private conversation,
//! kept so clients can ask for it (IRCv3 `draft/chathistory`) and so a
//! join can play back the last lines.
//!
//! The parts, each with one job:
//! - this module: the entry and query types and the [`Backend`] trait, the
//!   one interface every storage engine implements (as Centrifugo's engines
//!   do), so memory, SQLite and later Redis are interchangeable;
//! - [`msgid`]: the msgids (an entry's seq), the same on every node;
//! - [`select`]: what each [`Query`] means, written once for every engine;
//! - [`memory`]: an in-memory engine, also the loop's window of recent
//!   entries that answers common queries without a round trip;
//! - [`sqlite`]: the durable engine;
//! - `worker` and [`History`]: the reactor thread never waits on a disk,
//!   so a helper thread owns the engine and talks to the loop through a
//!   channel and a `mio::Waker`, like Redis's `bio.c`.

mod handle;
pub mod memory;
pub mod msgid;
pub mod select;
pub mod sqlite;
mod worker;

#[cfg(test)]
mod tests;

pub use handle::{Done, Health, History, Purge, Retention};
pub use memory::MemoryBackend;
pub use sqlite::SqliteBackend;

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

/// What kind of line an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Privmsg,
    Notice,
    Tagmsg,
    Join,
    Part,
    Quit,
}

impl Kind {
    /// A join, part or quit: history only `draft/event-playback` clients
    /// see.
    pub fn is_event(self) -> bool {
        matches!(self, Kind::Join | Kind::Part | Kind::Quit)
    }

    /// The IRC command, which is also how the SQLite engine stores the kind
    /// (readable with the `sqlite3` shell, stable across versions).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Privmsg => "PRIVMSG",
            Kind::Notice => "NOTICE",
            Kind::Tagmsg => "TAGMSG",
            Kind::Join => "JOIN",
            Kind::Part => "PART",
            Kind::Quit => "QUIT",
        }
    }
}

impl FromStr for Kind {
    type Err = String;

    /// The inverse of [`Kind::as_str`]; anything else is an error (a row
    /// written by a newer version, or a damaged one).
    fn from_str(s: &str) -> Result<Kind, String> {
        Ok(match s {
            "PRIVMSG" => Kind::Privmsg,
            "NOTICE" => Kind::Notice,
            "TAGMSG" => Kind::Tagmsg,
            "JOIN" => Kind::Join,
            "PART" => Kind::Part,
            "QUIT" => Kind::Quit,
            _ => return Err(format!("unknown entry kind {s:?}")),
        })
    }
}

/// One thing said (or done) in a target, as history keeps it.
///
/// Its texts are shared (`Arc<str>`), so the window of recent lines hands
/// out copies of an entry for a count each, not six allocations: an answer
/// to `CHATHISTORY LATEST * 100` copies a hundred entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Unique over the network, and the order of a target's history; the
    /// msgid is its decimal form. This node's own increase, across
    /// restarts too; one heard from another node may be older than the
    /// last one stored (see [`msgid`]).
    pub seq: u64,
    /// Unix milliseconds when the server accepted it (server-time).
    pub time_ms: i64,
    /// The conversation key: a folded channel name ("#lobby"), or for a
    /// private conversation `private_key(a, b)`.
    pub target: Text,
    pub kind: Kind,
    /// `nick!user@host` of whoever said it.
    pub prefix: Text,
    /// Folded nick of the sender (for purge by nick).
    pub nick: Text,
    /// The target parameter as sent on the wire: channel name as created,
    /// or recipient nick as written.
    pub to: Text,
    /// Message text, or part/quit reason (may be empty).
    pub text: Text,
    /// Client-only tags as received, already escaped, without '@' (e.g.
    /// "+draft/react=x;+foo"), may be empty.
    pub tags: Text,
}

/// A text of an [`Entry`], shared by its copies.
pub type Text = std::sync::Arc<str>;

/// The key of the private conversation between two folded nicks, the same
/// whichever way round: "a b" with the smaller first. Nicks hold no spaces
/// and channel keys start with '#', so a key cannot be mistaken for either.
pub fn private_key(a: &str, b: &str) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    format!("{first} {second}")
}

/// The folded nicks of the two parties of a private key, None for a
/// channel key.
pub fn private_parties(key: &str) -> Option<(&str, &str)> {
    key.split_once(' ')
}

/// Whether `nick` is one of the parties of `key` (false for channel keys).
fn is_party(key: &str, nick: &str) -> bool {
    private_parties(key).is_some_and(|(a, b)| a == nick || b == nick)
}

/// A point in a target's history (draft/chathistory selectors).
///
/// `Seq(s)` is compared with `entry.seq` and `Time(t)` with
/// `entry.time_ms`; results are always ordered by seq (see [`select`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    Seq(u64),
    /// Unix milliseconds.
    Time(i64),
}

/// One draft/chathistory request for one target. Results are always
/// returned oldest first, at most `limit`. The exact meaning of each
/// variant is [`select::run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// The latest `limit`, newer than `after` if given (LATEST target * |
    /// LATEST target sel).
    Latest {
        target: String,
        after: Option<Selector>,
        limit: usize,
    },
    /// The `limit` just before `sel` (exclusive).
    Before {
        target: String,
        sel: Selector,
        limit: usize,
    },
    /// The `limit` just after `sel` (exclusive).
    After {
        target: String,
        sel: Selector,
        limit: usize,
    },
    /// Around `sel`: up to limit/2 (rounded down) before it and the rest
    /// from it on (the entry at `sel` included when it exists), as Ergo
    /// does.
    Around {
        target: String,
        sel: Selector,
        limit: usize,
    },
    /// Strictly between `from` and `to`, from `from`'s side: if from < to
    /// the `limit` oldest after from; if from > to the `limit` newest
    /// before from. Still returned oldest first.
    Between {
        target: String,
        from: Selector,
        to: Selector,
        limit: usize,
    },
}

impl Query {
    /// The conversation the query reads.
    pub fn target(&self) -> &str {
        match self {
            Query::Latest { target, .. }
            | Query::Before { target, .. }
            | Query::After { target, .. }
            | Query::Around { target, .. }
            | Query::Between { target, .. } => target,
        }
    }
}

/// A CHATHISTORY TARGETS request: conversations among `channels` (channel
/// keys the client is in) and the private keys containing `nick`, with
/// activity in [from_ms, to_ms] (either way round).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetsQuery {
    pub channels: Vec<String>,
    pub nick: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub limit: usize,
}

/// A conversation with activity in a time range (CHATHISTORY TARGETS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetActivity {
    pub target: String,
    /// The newest `time_ms` of the target within the asked range.
    pub latest_ms: i64,
}

/// Why the store could not do something. The message names the database
/// and what failed, because it ends up in logs and `groupchatctl status`
/// where an operator must be able to act on it alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(String);

impl StoreError {
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError(message.into())
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// How many entries one [`Backend::retain`] call removes at most (about:
/// an engine that removes more at once may).
pub const RETAIN_PER_CALL: u64 = 10_000;

/// The one interface of a history engine. It runs on the worker thread, so
/// its methods may block on the disk.
pub trait Backend: Send {
    /// Stores a batch atomically (one transaction); returns only once it is
    /// committed (written to the WAL, so a SIGKILL of the process cannot
    /// lose it). Returns how many entries it added: one whose seq is kept
    /// already is not (see [`msgid`]).
    fn append(&mut self, batch: &[Entry]) -> Result<u64, StoreError>;
    /// Answers one query as [`select::run`] defines it, with joins, parts
    /// and quits when `events`.
    fn query(&mut self, q: &Query, events: bool) -> Result<Vec<Entry>, StoreError>;
    /// The conversations `q` asks for, ordered by latest activity
    /// ascending (ties by key), at most `q.limit`: the oldest activity
    /// first, as the CHATHISTORY TARGETS spec lists them.
    fn targets(&mut self, q: &TargetsQuery) -> Result<Vec<TargetActivity>, StoreError>;
    /// Deletes everything `nick` said and every private conversation it is
    /// a party of; returns how many entries went.
    fn purge_nick(&mut self, nick: &str) -> Result<u64, StoreError>;
    /// Deletes a whole conversation; returns how many entries went.
    fn purge_target(&mut self, target: &str) -> Result<u64, StoreError>;
    /// Retention: drops entries older than `max_age_ms` before `now_ms`, and
    /// all but the newest `max_messages` of each target in `scope` (0 for
    /// either: no such limit); returns how many went. Neither part reads
    /// the whole store: the age limit looks at the oldest entries only, and
    /// the count limit at the targets in scope. Works in bounded chunks and
    /// stops after about [`RETAIN_PER_CALL`] entries, returning at least
    /// that many when more may be left: the worker then commits waiting
    /// appends before it calls again, so a large backlog (a first start
    /// with a shorter `max_age`) never holds appends up for long.
    fn retain(
        &mut self,
        now_ms: i64,
        max_age_ms: i64,
        max_messages: usize,
        scope: Scope<'_>,
    ) -> Result<u64, StoreError>;
    /// The highest seq ever stored (0 when empty), read once at start. It
    /// survives purges and retention, so seqs are never reused.
    fn max_seq(&mut self) -> Result<u64, StoreError>;
    /// How many entries are stored: read once at start (it may read the
    /// whole store); the worker keeps the figure up to date from there.
    fn count(&mut self) -> Result<u64, StoreError>;
    /// Bytes on disk, for status ("store size per 1M messages"); cheap.
    fn bytes(&mut self) -> Result<u64, StoreError>;
}

/// The targets whose `max_messages` limit a retention pass enforces.
#[derive(Clone, Copy)]
pub enum Scope<'a> {
    /// Every target: the first pass after start, when the limit may have
    /// been lowered.
    All,
    /// The targets appended to since the last pass: no other has grown.
    Only(&'a HashSet<String>),
}

impl Scope<'_> {
    fn includes(&self, target: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Only(targets) => targets.contains(target),
        }
    }
}
