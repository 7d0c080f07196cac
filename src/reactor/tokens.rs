//! Every token the loop's `Poll` hands out and what it stands for, mapped
//! in this one place: a new kind of socket gets a variant here, not a token
//! range of its own elsewhere.

use crate::cluster::LinkId;
use crate::hub::ClientId;
use mio::Token;

/// What a readiness event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// A client connection: its slab key, which the hub knows it by.
    Client(ClientId),
    /// A listening socket (plain or TLS), by its index in the listener list.
    Listener(usize),
    AdminListener,
    /// An admin socket connection, by its key in the admin slab.
    Admin(usize),
    Signals,
    /// The helper threads' one waker (mio allows one per `Poll`): history
    /// or accounts has finished something.
    Workers,
    /// One of the cluster's connections to Redis: commands or subscriber,
    /// to one Redis or one master of a Redis Cluster.
    Redis(LinkId),
}

/// Clients take the tokens from 0 up, as slab keys; the rest live far
/// above any slab key.
const ADMIN_BASE: usize = usize::MAX / 4;
const LISTENER_BASE: usize = usize::MAX / 2;
/// Two tokens per Redis server, commands then subscriber.
const REDIS_BASE: usize = usize::MAX / 4 * 3;
const ADMIN_LISTENER: usize = usize::MAX - 2;
const SIGNALS: usize = usize::MAX - 1;
const WORKERS: usize = usize::MAX - 3;

impl Source {
    pub(super) fn token(self) -> Token {
        Token(match self {
            Source::Client(id) => id,
            Source::Admin(key) => ADMIN_BASE + key,
            Source::Listener(index) => LISTENER_BASE + index,
            Source::AdminListener => ADMIN_LISTENER,
            Source::Signals => SIGNALS,
            Source::Workers => WORKERS,
            Source::Redis(link) => REDIS_BASE + 2 * link.shard + usize::from(link.subscriber),
        })
    }

    pub(super) fn of(token: Token) -> Source {
        match token.0 {
            SIGNALS => Source::Signals,
            WORKERS => Source::Workers,
            ADMIN_LISTENER => Source::AdminListener,
            t if t >= REDIS_BASE => Source::Redis(LinkId {
                shard: (t - REDIS_BASE) / 2,
                subscriber: (t - REDIS_BASE) % 2 == 1,
            }),
            t if t >= LISTENER_BASE => Source::Listener(t - LISTENER_BASE),
            t if t >= ADMIN_BASE => Source::Admin(t - ADMIN_BASE),
            id => Source::Client(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_maps_back_from_its_token() {
        for source in [
            Source::Client(0),
            Source::Client(123_456),
            Source::Listener(0),
            Source::Listener(7),
            Source::Workers,
            Source::Redis(LinkId {
                shard: 0,
                subscriber: false,
            }),
            Source::Redis(LinkId {
                shard: 5,
                subscriber: true,
            }),
            Source::AdminListener,
            Source::Admin(0),
            Source::Admin(42),
            Source::Signals,
        ] {
            assert_eq!(Source::of(source.token()), source);
        }
    }
}
