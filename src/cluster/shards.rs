//! Where each key and pub/sub channel lives: all in one Redis, or spread
//! over the masters of a Redis Cluster by hash slot.
//!
//! Every name the cluster uses carries its hash tag in braces (a channel's
//! messages `groupchatd:chan:{#name}`, a nick `groupchatd:nick:{bob}`), so
//! that each command touches one slot, and so one master. The node asks
//! the Redis it was given `CLUSTER SLOTS` once its link is up: a plain
//! Redis refuses (cluster support disabled) and stays the one shard; a
//! Redis Cluster names its masters and their slots, and the node opens a
//! command link and a subscriber link to each. A `MOVED` answer (slots
//! moved between masters) makes it ask again.

use super::Ask;
use super::link::Link;
use super::resp::Frame;
use std::net::{IpAddr, SocketAddr};

/// One Redis server the node talks to: all of Redis, or one master of a
/// Redis Cluster.
pub(super) struct Shard {
    pub addr: SocketAddr,
    /// Commands: heartbeats, publications, nick claims.
    pub link: Link<Ask>,
    /// Subscriptions, and what is published to them.
    pub events: Link<Ask>,
}

impl Shard {
    pub fn new(
        addr: SocketAddr,
        auth: Option<Vec<Vec<u8>>>,
        timeout: std::time::Duration,
    ) -> Shard {
        Shard {
            addr,
            link: Link::new(addr, auth.clone(), timeout),
            events: Link::subscriber(addr, auth, timeout),
        }
    }
}

/// What the node knows of how Redis is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Topology {
    /// Not asked yet, or asked again after a `MOVED`: nothing is sent but
    /// the question.
    Unknown,
    /// One Redis: `PUBLISH` and `SUBSCRIBE`.
    Single,
    /// A Redis Cluster: each slot range's shard; `SPUBLISH` and
    /// `SSUBSCRIBE`, the sharded pub/sub of Redis 7, so that a channel's
    /// messages cross only the master that owns its slot.
    Sharded(Vec<SlotRange>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SlotRange {
    pub first: u16,
    pub last: u16,
    pub shard: usize,
}

impl Topology {
    /// The shard that holds `name` (a key or a pub/sub channel).
    pub fn shard_of(&self, name: &[u8]) -> usize {
        let Topology::Sharded(ranges) = self else {
            return 0;
        };
        let slot = redis_protocol::redis_keyslot(name);
        ranges
            .iter()
            .find(|r| (r.first..=r.last).contains(&slot))
            .map_or(0, |r| r.shard)
    }

    pub fn sharded(&self) -> bool {
        matches!(self, Topology::Sharded(_))
    }

    /// How many Redis servers carry the network.
    pub fn masters(&self) -> usize {
        match self {
            Topology::Sharded(ranges) => ranges
                .iter()
                .map(|r| r.shard)
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            _ => 1,
        }
    }

    /// `PUBLISH`, or `SPUBLISH` on a Redis Cluster.
    pub fn publish_verb(&self) -> &'static [u8] {
        if self.sharded() {
            b"SPUBLISH"
        } else {
            b"PUBLISH"
        }
    }

    /// `SUBSCRIBE` or `UNSUBSCRIBE`, sharded (`SSUBSCRIBE`, `SUNSUBSCRIBE`)
    /// on a Redis Cluster.
    pub fn subscribe_verb(&self, on: bool) -> &'static [u8] {
        match (self.sharded(), on) {
            (true, true) => b"SSUBSCRIBE",
            (true, false) => b"SUNSUBSCRIBE",
            (false, true) => b"SUBSCRIBE",
            (false, false) => b"UNSUBSCRIBE",
        }
    }
}

/// A `CLUSTER SLOTS` answer: each slot range and the address of its
/// master (`seed`'s address where the master gives none).
pub(super) fn read_slots(frame: &Frame, seed: SocketAddr) -> Option<Vec<(u16, u16, SocketAddr)>> {
    let Frame::Array(entries) = frame else {
        return None;
    };
    entries
        .iter()
        .map(|entry| {
            let Frame::Array(parts) = entry else {
                return None;
            };
            let slot = |f: Option<&Frame>| match f {
                Some(Frame::Integer(n)) => u16::try_from(*n).ok(),
                _ => None,
            };
            let Some(Frame::Array(master)) = parts.get(2) else {
                return None;
            };
            let ip = match master.first() {
                Some(Frame::BulkString(b)) if b.is_empty() => seed.ip(),
                Some(Frame::BulkString(b)) => {
                    std::str::from_utf8(b).ok()?.parse::<IpAddr>().ok()?
                }
                _ => return None,
            };
            let port = match master.get(1) {
                Some(Frame::Integer(p)) => u16::try_from(*p).ok()?,
                _ => return None,
            };
            Some((
                slot(parts.first())?,
                slot(parts.get(1))?,
                SocketAddr::new(ip, port),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Frame {
        Frame::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn slots_are_read_and_names_found_by_their_hash_tag() {
        let seed: SocketAddr = "127.0.0.1:7000".parse().expect("addr");
        let master =
            |ip: &str, port| Frame::Array(vec![bulk(ip), Frame::Integer(port), bulk("id")]);
        let reply = Frame::Array(vec![
            Frame::Array(vec![
                Frame::Integer(0),
                Frame::Integer(8191),
                master("127.0.0.1", 7000),
                master("127.0.0.1", 7003),
            ]),
            Frame::Array(vec![
                Frame::Integer(8192),
                Frame::Integer(16383),
                master("", 7001),
            ]),
        ]);
        let slots = read_slots(&reply, seed).expect("slots");
        assert_eq!(
            slots,
            [
                (0, 8191, seed),
                (8192, 16383, "127.0.0.1:7001".parse().expect("addr"))
            ]
        );
        assert_eq!(read_slots(&Frame::Array(vec![bulk("x")]), seed), None);
        assert_eq!(read_slots(&Frame::Error("ERR".into()), seed), None);

        let topology = Topology::Sharded(vec![
            SlotRange {
                first: 0,
                last: 8191,
                shard: 0,
            },
            SlotRange {
                first: 8192,
                last: 16383,
                shard: 1,
            },
        ]);
        // Only the part in braces counts: a channel's names share a slot.
        let shard = topology.shard_of(b"groupchatd:chan:{#rust}");
        assert_eq!(topology.shard_of(b"groupchatd:nick:{#rust}"), shard);
        let slot = redis_protocol::redis_keyslot(b"#rust");
        assert_eq!(shard, usize::from(slot >= 8192));
        assert_eq!(Topology::Single.shard_of(b"anything"), 0);
    }
}
