//! Accepting connections: who gets in (`max_clients`, `max_clients_per_ip`)
//! and what happens when the process runs out of descriptors.
//!
//! A refused client is told why in one ERROR line and closed at once, so
//! refusals cost no state. Out of descriptors, accepting pauses for a short
//! back-off instead of spinning on a listener that stays readable.

use super::Server;
use super::tokens::Source;
use crate::connection::{Connection, Phase};
use crate::stats::DisconnectReason;
use crate::transport::{TlsSession, Transport, WebSession};
use log::{debug, info, warn};
use mio::Interest;
use mio::net::TcpStream;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv6Addr, Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long accepting pauses when descriptors run out.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(250);

impl Server {
    pub(super) fn accept(&mut self, index: usize) {
        loop {
            let Some(listener) = self.listeners.get(index) else {
                return;
            };
            let (tls, web) = (listener.endpoint.tls, listener.endpoint.web);
            let (stream, peer) = match listener.socket.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_descriptor_shortage(&e) => {
                    if !self.descriptor_shortage {
                        warn!("out of descriptors ({e}): not accepting for a while");
                        self.descriptor_shortage = true;
                        self.net.stats.descriptor_shortages += 1;
                    }
                    self.accept_retry_at = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
                Err(e) => {
                    warn!("accept failed: {e}");
                    return;
                }
            };
            if self.descriptor_shortage {
                info!("descriptors available again: accepting");
                self.descriptor_shortage = false;
            }
            if self.admits(peer.ip()) {
                self.welcome(stream, peer, tls, web);
            } else {
                self.refuse(stream, peer);
            }
        }
    }

    /// After a back-off, accepts what waited in the listen queues.
    pub(super) fn retry_accepting(&mut self, now: Instant) {
        if self.accept_retry_at.is_some_and(|at| now >= at) {
            self.accept_retry_at = None;
            for index in 0..self.listeners.len() {
                self.accept(index);
            }
        }
    }

    fn admits(&self, ip: IpAddr) -> bool {
        let per_ip = self.net.limits.max_clients_per_ip;
        self.net.conns.len() < self.net.limits.max_clients
            && (per_ip == 0 || self.per_ip.get(&address_group(ip)).copied().unwrap_or(0) < per_ip)
    }

    /// Takes an accepted connection in: a chat client, or on a web
    /// listener a request (which becomes a client if it upgrades).
    fn welcome(&mut self, mut stream: TcpStream, peer: SocketAddr, tls: bool, web: bool) {
        let transport = match (tls, &self.tls) {
            (false, _) => Transport::plain(),
            (true, Some(identity)) => match TlsSession::new(Arc::clone(&identity.config)) {
                Ok(session) => Transport::tls(session),
                Err(e) => {
                    warn!("cannot start TLS with {peer}: {e}");
                    return;
                }
            },
            (true, None) => return,
        };
        let _ = stream.set_nodelay(true);
        let entry = self.net.conns.vacant_entry();
        let id = entry.key();
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Source::Client(id).token(),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!("cannot watch connection from {peer}: {e}");
            return;
        }
        *self.per_ip.entry(address_group(peer.ip())).or_insert(0) += 1;
        self.net.stats.accepted += 1;
        let now = Instant::now();
        if web {
            // Tags come on top of the line, as for the line framer.
            let max_message = self.net.limits.max_input();
            let transport = transport.with_web(WebSession::new(max_message));
            let phase = Phase::Http { since: now };
            entry.insert(Connection::starting(stream, peer, transport, phase));
            self.net.watched.push(id);
            debug!("web: #{id} from {peer}{}", if tls { " (TLS)" } else { "" });
            return;
        }
        entry.insert(Connection::new(stream, peer, transport));
        self.hub.connect(id, peer.ip(), tls, now);
        info!(
            "connect #{id} from {peer}{}",
            if tls { " (TLS)" } else { "" }
        );
        // An address K-line refuses it before it says anything.
        self.hub.refuse_if_klined(id, &mut self.net);
    }

    /// Tells the client why and closes. What it already sent is read first,
    /// so that closing does not reset the connection before it reads why.
    fn refuse(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        let reason = DisconnectReason::TooManyConnections;
        let _ = stream.read(&mut self.read_buffer);
        let line = format!("ERROR :Closing Link: {} ({})\r\n", peer.ip(), reason.text());
        let _ = stream.write(line.as_bytes());
        let _ = stream.shutdown(Shutdown::Write);
        self.net.stats.count_disconnect(reason);
        self.refused_since_log += 1;
    }

    /// Called once a second: one log line for all refusals, not one each, so
    /// a connection flood cannot flood the log too.
    pub(super) fn log_refusals(&mut self) {
        if self.refused_since_log > 0 {
            info!(
                "refused {} connection(s): Too many connections ({} open, at most {} per address)",
                self.refused_since_log,
                self.net.conns.len(),
                self.net.limits.max_clients_per_ip
            );
            self.refused_since_log = 0;
        }
    }

    /// Forgets a connection in the per-address counts.
    pub(super) fn count_departure(&mut self, ip: IpAddr) {
        let group = address_group(ip);
        if let Some(count) = self.per_ip.get_mut(&group) {
            *count -= 1;
            if *count == 0 {
                self.per_ip.remove(&group);
            }
        }
    }
}

fn is_descriptor_shortage(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// The unit `max_clients_per_ip` counts: an IPv4 address, or an IPv6 /64
/// (one subscriber's network), with IPv4-mapped IPv6 taken as IPv4.
pub(super) fn address_group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(network))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_group_by_ipv4_address_and_ipv6_network() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("address");
        assert_eq!(address_group(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(address_group(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(
            address_group(ip("2001:db8:1:2:aaaa::1")),
            address_group(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            address_group(ip("2001:db8:1:2::1")),
            address_group(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            address_group(ip("2001:db8:1:2:aaaa::1")),
            ip("2001:db8:1:2::")
        );
    }
}
