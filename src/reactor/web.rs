//! The web listeners' requests inside the reactor: answering what arrived
//! (a response, or an upgrade that makes the connection a chat client),
//! and cutting requests that take too long.
//!
//! A request is not a chat client: it is not in the hub, `groupchatctl
//! clients` does not list it, and it is logged at debug level only, unless
//! it is refused for a reason an operator may want to see (a bad upgrade,
//! a foreign origin, a timeout). It does count as a connection for
//! `max_clients` and `max_clients_per_ip`, from accept to close.

use super::{Server, list_for_flushing, list_for_reading};
use crate::connection::Phase;
use crate::hub::ClientId;
use crate::stats::DisconnectReason;
use crate::transport::Arrived;
use crate::web::metrics;
use crate::web::route::{self, Context, Reply};
use log::{debug, info};
use std::time::Instant;

impl Server {
    /// After a read from a connection in its HTTP phase: answers its
    /// request if it has arrived (and then says so).
    pub(super) fn web_turn(&mut self, id: ClientId) -> bool {
        let Some(arrived) = self
            .net
            .conns
            .get_mut(id)
            .filter(|c| matches!(c.phase, Phase::Http { .. }))
            .and_then(|c| c.transport.web())
            .and_then(|web| web.take_arrived())
        else {
            return false;
        };
        let Some(peer) = self.net.conns.get(id).map(|c| c.peer) else {
            return false;
        };
        let request = match arrived {
            Arrived::Request(request) => request,
            Arrived::Refused(status) => {
                info!("web: #{id} ({}): bad request ({status})", peer.ip());
                self.answer(id, &route::refusal(status));
                return true;
            }
        };
        let context = Context {
            web: &self.config.web,
            peer: peer.ip(),
        };
        let reply = route::route(&request, &context, || {
            metrics::render(&self.status(), &self.net.stats.turns)
        });
        match reply {
            Reply::Respond { status, response } => {
                let wanted_socket = request.upgrade.is_some() || request.ws_key.is_some();
                if wanted_socket {
                    let origin = request.origin.as_deref().unwrap_or("none");
                    info!(
                        "web: #{id} ({}): WebSocket refused with {status} (origin {origin}, version {})",
                        peer.ip(),
                        request.ws_version.as_deref().unwrap_or("none")
                    );
                } else {
                    debug!(
                        "web: {peer} {} {} -> {status}",
                        request.method, request.path
                    );
                }
                self.answer(id, &response);
            }
            Reply::Upgrade {
                response,
                subprotocol,
            } => self.upgrade(id, &response, subprotocol),
        }
        true
    }

    /// Sends a whole response, then closes.
    fn answer(&mut self, id: ClientId, response: &[u8]) {
        let now = Instant::now();
        let net = &mut self.net;
        let Some(conn) = net.conns.get_mut(id) else {
            return;
        };
        let before = conn.queued();
        if let Some(web) = conn.transport.web() {
            web.respond(response);
        }
        net.queued_total = net.queued_total - before + conn.queued();
        conn.phase = Phase::Closing { since: now };
        net.watched.push(id);
        list_for_flushing(&mut net.flush_list, id, conn);
        // Input is read (and dropped) until the peer closes.
        conn.readable = true;
        list_for_reading(&mut self.read_list, id, conn);
    }

    /// Switches to WebSocket: from here on the connection is a chat client.
    fn upgrade(&mut self, id: ClientId, response: &[u8], subprotocol: route::Subprotocol) {
        let net = &mut self.net;
        let Some(conn) = net.conns.get_mut(id) else {
            return;
        };
        let before = conn.queued();
        if let Some(web) = conn.transport.web() {
            web.upgrade(response, subprotocol);
        }
        net.queued_total = net.queued_total - before + conn.queued();
        conn.phase = Phase::Open;
        list_for_flushing(&mut net.flush_list, id, conn);
        // Frames that came with the request are waiting to be decoded.
        conn.readable = true;
        list_for_reading(&mut self.read_list, id, conn);
        let (peer, tls) = (conn.peer, conn.transport.is_tls());
        self.hub.connect(id, peer.ip(), tls, Instant::now());
        info!(
            "connect #{id} from {peer} (WebSocket{}, {subprotocol:?})",
            if tls { " over TLS" } else { "" }
        );
        // An address K-line refuses it before it says anything.
        self.hub.refuse_if_klined(id, &mut self.net);
    }

    /// A request not complete within the registration timeout: told so
    /// (408) and closed, like a client that does not register in time.
    pub(super) fn web_request_expired(&mut self, id: ClientId) {
        let Some(conn) = self.net.conns.get(id) else {
            return;
        };
        info!(
            "web: #{id} ({}): request not complete in {} s",
            conn.peer.ip(),
            self.config.timeouts.registration_timeout
        );
        self.net
            .stats
            .count_disconnect(DisconnectReason::RegistrationTimeout);
        self.answer(id, &route::refusal(408));
    }
}
