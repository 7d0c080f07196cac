//! Whole connections' state machine on arbitrary bytes: two clients' byte
//! streams go through a LineFramer each into one Hub, with time passing and
//! connections closing and coming back, as the reactor drives them.
//!
//! The input is a script of steps, each one header byte then its operands:
//! - `h & 3 == 0 | 1`: the next `len` bytes (len = next byte) arrive from
//!   client `h >> 7`, in one read;
//! - `h & 3 == 2`: time passes by the next byte's seconds, then `tick`;
//! - `h & 3 == 3`: client `h >> 7`'s connection resets.
//!
//! Checked after every step: no panic; every queued line is one IRC line
//! (CRLF at the end only, no NUL, at most 512 bytes) for a connected client;
//! one step queues a bounded number of lines for what it holds; the framer
//! never holds more than a line; channels never outnumber what the input
//! could have named.

#![no_main]

use groupchatd::config::Config;
use groupchatd::framing::{Frame, LineFramer};
use groupchatd::hub::{ClientId, Hub, HubConfig, Outbox};
use groupchatd::stats::DisconnectReason;
use groupchatd::message::{Line, MAX_LINE};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

const CLIENTS: usize = 2;
const MAX_INPUT_LINE: usize = 512;

/// Checks each line as the hub queues it and counts them.
#[derive(Default)]
struct Checker {
    open: [bool; CLIENTS],
    lines: usize,
}

impl Outbox for Checker {
    fn send(&mut self, to: ClientId, line: &Line) {
        assert!(
            to < CLIENTS && self.open[to],
            "line for a closed client {to}"
        );
        assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
        let body = line.strip_suffix(b"\r\n").expect("ends in CRLF");
        assert!(
            !body.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "{body:?}"
        );
        self.lines += 1;
    }
    fn close(&mut self, who: ClientId, _why: DisconnectReason, _reason: &str) {
        assert!(
            who < CLIENTS && self.open[who],
            "closing a closed client {who}"
        );
        self.open[who] = false;
    }
}

struct World {
    hub: Hub,
    out: Checker,
    framers: [LineFramer; CLIENTS],
    now: Instant,
    /// Bytes fed so far: every channel needs at least `#x,` of them.
    fed: usize,
}

impl World {
    fn new() -> World {
        let mut config = HubConfig::new(&Config::default(), None);
        config.large_channel = 1; // both presence paths get exercised
        let mut world = World {
            hub: Hub::new(config),
            out: Checker::default(),
            framers: Default::default(),
            now: Instant::now(),
            fed: 0,
        };
        for id in 0..CLIENTS {
            world.connect(id);
        }
        world
    }

    /// A new connection on `id`, with a fresh framer, as when the reactor
    /// reuses a slab key; the longest IPv6 text gives the longest prefix.
    fn connect(&mut self, id: ClientId) {
        let ip = if id == 0 {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V6(Ipv6Addr::from([0xffff; 8]))
        };
        self.hub.connect(id, ip, false, self.now);
        self.framers[id] = LineFramer::default();
        self.out.open[id] = true;
    }

    fn feed(&mut self, id: ClientId, bytes: &[u8]) {
        if !self.out.open[id] {
            self.connect(id);
        }
        self.fed += bytes.len();
        let (hub, out, now) = (&mut self.hub, &mut self.out, self.now);
        let _ = self.framers[id].feed(bytes, MAX_INPUT_LINE, |frame| {
            let before = out.lines;
            let len = match frame {
                Frame::Line(line) => {
                    hub.handle_line(id, line, now, out);
                    line.len()
                }
                Frame::TooLong => {
                    hub.line_too_long(id, out);
                    0
                }
            };
            // A line answers with a few lines per word it names, or lists
            // what exists (channels; members are at most CLIENTS).
            let bound = 32 + 4 * (len + hub.channel_count());
            assert!(
                out.lines - before <= bound,
                "{} lines for one",
                out.lines - before
            );
            if out.open[id] {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        });
        // A closed client's unread rest is dropped with its framer.
        if self.out.open[id] {
            assert!(self.framers[id].pending_len() < MAX_INPUT_LINE);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut world = World::new();
    let mut rest = data;
    while let Some((&head, tail)) = rest.split_first() {
        let id = usize::from(head >> 7);
        let (&arg, tail) = tail.split_first().unwrap_or((&0, &[]));
        rest = tail;
        match head & 3 {
            0 | 1 => {
                let take = usize::from(arg).min(rest.len());
                let (bytes, tail) = rest.split_at(take);
                rest = tail;
                world.feed(id, bytes);
            }
            2 => {
                world.now += Duration::from_secs(u64::from(arg));
                world.hub.tick(world.now, &mut world.out);
            }
            _ => {
                if world.out.open[id] {
                    world.hub.disconnect(id, "Connection reset", &mut world.out);
                    world.out.open[id] = false;
                }
            }
        }
        // The default channel exists without being named.
        assert!(world.hub.channel_count() <= 1 + world.fed / 2);
        let (registered, unregistered) = world.hub.client_counts();
        assert!(registered + unregistered <= CLIENTS);
    }
});
