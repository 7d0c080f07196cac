//! The broadcast path allocates nothing per recipient and copies no payload:
//! a channel message is built once and every recipient's write queue holds
//! the same bytes.
//!
//! A counting global allocator (per thread, so that tests running in
//! parallel do not count each other) watches one PRIVMSG to a channel of
//! 1,000 members and one to a channel of 100, pushed through the real hub
//! into real `OutQueue`s; and one to a channel with 200 bans against one
//! with none, since whether a member is banned is a flag kept up to date,
//! not a match per message. And a CHATHISTORY answer: the window of recent
//! lines hands out its entries without copying their texts, and each line
//! is built in one buffer with all its tags, its batch's included.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::Instant;

use groupchatd::config::Config;
use groupchatd::history::{Entry, Kind, MemoryBackend, Query};
use groupchatd::hub::{Answering, Ask, Bus, ClientId, Found, Hub, HubConfig, NickClaim, Outbox};
use groupchatd::message::Line;
use groupchatd::outqueue::OutQueue;
use groupchatd::stats::DisconnectReason;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // try_with: the thread-local may already be gone while a thread exits.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter is a const-initialised thread-local without a destructor, so
// touching it never allocates or re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// An outbox like the daemon's: one write queue per client. It also keeps
/// the first line of the broadcast under test, to see who else holds it.
struct Queues {
    queues: Vec<OutQueue>,
    first: Option<Line>,
    watching: bool,
    sends: usize,
    /// What history was asked, to answer by hand.
    asked: Vec<Answering>,
}

impl Outbox for Queues {
    fn send(&mut self, to: ClientId, line: &Line) {
        if self.watching {
            self.sends += 1;
            if self.first.is_none() {
                // An Rc clone: a reference count, no allocation.
                self.first = Some(Line::clone(line));
            }
        }
        self.queues[to].push(line);
    }
    fn record(&mut self, _entry: Entry) {}
    fn ask(&mut self, _id: ClientId, _ask: Ask, answering: Answering) {
        self.asked.push(answering);
    }
    fn account(&mut self, _id: ClientId, _request: groupchatd::accounts::Request) {}
    fn keep(&mut self, _what: groupchatd::accounts::Keep) {}
    fn close(&mut self, _who: ClientId, _why: DisconnectReason, _reason: &str) {}
    fn publish(&mut self, _bus: Bus, _payload: &Line) {}
    fn log(&mut self, _folded: &str, _payload: &Line) {}
    fn follow(&mut self, _folded: &str, _on: bool) {}
    fn nick_claim(&mut self, _claim: NickClaim) -> bool {
        false
    }
}

impl Queues {
    /// Writes every queue out to nowhere, as the reactor's flush would.
    fn drain(&mut self) {
        for q in &mut self.queues {
            q.write_to(&mut io::sink())
                .expect("the sink takes everything");
            assert!(q.is_empty());
        }
    }
}

struct Broadcast {
    /// Allocations while the hub handled the measured PRIVMSG.
    allocations: u64,
    /// Recipients the outbox was handed the line for.
    sends: usize,
    /// Holders of the first recipient's line after the broadcast, besides
    /// the test's own reference.
    holders: usize,
}

/// `members` clients registered and in `#big` (client 0 made it, so it is
/// its operator and sets `bans` bans that match nobody), one warm-up
/// message, then client 1 says one line to the channel: a member who is
/// not an operator, so whether it may speak depends on the bans.
fn broadcast(members: usize, bans: usize) -> Broadcast {
    let mut hub = Hub::new(HubConfig::new(&Config::default(), None));
    let channel = "#big";
    let now = Instant::now();
    let mut out = Queues {
        queues: (0..members).map(|_| OutQueue::default()).collect(),
        first: None,
        watching: false,
        sends: 0,
        asked: Vec::new(),
    };
    for id in 0..members {
        hub.connect(id, IpAddr::V4(Ipv4Addr::LOCALHOST), false, now);
        hub.handle_line(id, format!("NICK m{id}").as_bytes(), now, &mut out);
        hub.handle_line(id, format!("USER m{id} 0 * :M").as_bytes(), now, &mut out);
        hub.handle_line(id, format!("JOIN {channel}").as_bytes(), now, &mut out);
    }
    for ban in 0..bans {
        let line = format!("MODE {channel} +b nobody{ban}*!*@*");
        hub.handle_line(0, line.as_bytes(), now, &mut out);
    }
    // The welcome burst leaves big queues, which a drain frees; the warm-up
    // message gives every queue the small capacity it keeps between lines.
    out.drain();
    let line = format!("PRIVMSG {channel} :{}", "x".repeat(100));
    hub.handle_line(1, line.as_bytes(), now, &mut out);
    out.drain();

    out.watching = true;
    let before = allocations();
    hub.handle_line(1, line.as_bytes(), now, &mut out);
    let allocations = allocations() - before;
    out.watching = false;
    let first = out.first.take().expect("the message reached someone");
    Broadcast {
        allocations,
        sends: out.sends,
        holders: Rc::strong_count(&first) - 1,
    }
}

#[test]
fn a_channel_message_allocates_the_same_for_100_and_1000_recipients() {
    let small = broadcast(100, 0);
    let large = broadcast(1000, 0);
    assert_eq!(small.sends, 99);
    assert_eq!(large.sends, 999);
    assert_eq!(
        small.allocations, large.allocations,
        "allocations grow with recipients: {} for 99, {} for 999",
        small.allocations, large.allocations
    );
    // Parsing, case-folding the target, building the line and the history
    // entry's strings: a dozen at most, whatever the number of recipients.
    assert!(large.allocations <= 12, "{} allocations", large.allocations);
}

#[test]
fn every_recipient_queues_the_same_bytes() {
    let b = broadcast(1000, 0);
    // One shared allocation held by all 999 queues (the hub keeps none):
    // had any recipient been given a copy, fewer would hold this one.
    assert_eq!(b.holders, 999);
}

#[test]
fn a_channel_message_allocates_the_same_with_200_bans_as_with_none() {
    let open = broadcast(1000, 0);
    let guarded = broadcast(1000, 200);
    assert_eq!(guarded.sends, 999);
    assert_eq!(
        open.allocations, guarded.allocations,
        "bans cost allocations per message: {} without, {} with 200",
        open.allocations, guarded.allocations
    );
}

/// Allocations while the hub answers `CHATHISTORY LATEST` with `lines`
/// stored lines, to a client that takes batches, times and msgids.
fn history_answer(lines: usize) -> u64 {
    let mut hub = Hub::new(HubConfig::new(&Config::default(), None));
    let now = Instant::now();
    let mut out = Queues {
        queues: vec![OutQueue::default()],
        first: None,
        watching: false,
        sends: 0,
        asked: Vec::new(),
    };
    hub.connect(0, IpAddr::V4(Ipv4Addr::LOCALHOST), false, now);
    for line in [
        "CAP REQ :batch server-time message-tags draft/chathistory",
        "CAP END",
        "NICK reader",
        "USER reader 0 * :R",
        "JOIN #h",
        "CHATHISTORY LATEST #h * 100",
    ] {
        hub.handle_line(0, line.as_bytes(), now, &mut out);
    }
    let answering = out.asked.pop().expect("history was asked");
    let entries = stored(lines);
    out.drain();
    let before = allocations();
    hub.history_answer(0, answering, Ok(Found::Entries(entries)), &mut out);
    let spent = allocations() - before;
    out.drain();
    spent
}

/// `lines` messages of 100 bytes to `#h`.
fn stored(lines: usize) -> Vec<Entry> {
    (0..lines)
        .map(|n| Entry {
            seq: n as u64 + 1,
            time_ms: 1_764_000_000_000 + n as i64,
            target: "#h".into(),
            kind: Kind::Privmsg,
            prefix: "writer!w@127.0.0.1".into(),
            nick: "writer".into(),
            to: "#h".into(),
            text: "x".repeat(100).into(),
            tags: "".into(),
        })
        .collect()
}

/// Allocations while the window of recent lines answers
/// `CHATHISTORY LATEST #h * <lines>` from `lines` lines it holds.
fn window_answer(lines: usize) -> u64 {
    let mut window = MemoryBackend::with_cap(100, 1);
    groupchatd::history::Backend::append(&mut window, &stored(lines)).expect("append");
    let query = Query::Latest {
        target: "#h".into(),
        after: None,
        limit: lines,
    };
    let before = allocations();
    let found = window
        .try_answer(&query, false)
        .expect("the window answers");
    let spent = allocations() - before;
    assert_eq!(found.len(), lines);
    spent
}

#[test]
fn the_window_hands_out_its_entries_without_copying_their_texts() {
    let (ten, hundred) = (window_answer(10), window_answer(100));
    // The answer's list grows a few times; an entry's texts are counted,
    // not copied (six of them: 540 allocations more for 90 lines).
    assert!(
        hundred - ten < 10,
        "{ten} allocations for 10 lines, {hundred} for 100"
    );
}

#[test]
fn a_history_answer_builds_each_line_once() {
    let (ten, hundred) = (history_answer(10), history_answer(100));
    // Per line: its buffer and the shared line made of it; the queue and
    // the list of lines grow now and then.
    let per_line = (hundred - ten) as f64 / 90.0;
    assert!(
        per_line <= 2.5,
        "{per_line:.2} allocations a line ({ten} for 10 lines, {hundred} for 100)"
    );
}
