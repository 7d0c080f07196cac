//! The input path: reading sockets, framing lines, handing them to the hub
//! at the pace flood control allows.
//!
//! A client over its line budget is still read from, so that its pending
//! input can be measured: its lines wait unprocessed in its framer ("fake
//! lag"), and past `flood.recvq_max` it is disconnected with `Excess Flood`.

use super::{READS_PER_TURN, Server, list_for_flushing, list_for_reading};
use crate::connection::Phase;
use crate::framing::Frame;
use crate::hub::ClientId;
use crate::stats::DisconnectReason;
use log::{info, warn};
use std::io;
use std::ops::ControlFlow;
use std::time::Instant;

impl Server {
    /// Reads from every connection that may have input and is allowed to.
    pub(super) fn read_listed(&mut self) {
        if !self.may_read() {
            return;
        }
        let now = Instant::now();
        for id in std::mem::take(&mut self.read_list) {
            if let Some(conn) = self.net.conns.get_mut(id) {
                conn.read_listed = false;
                self.read_some(id);
                // The replies to its own lines (a registration burst, a
                // PONG) leave now rather than behind everyone else's, so
                // they are freed at once: a thousand registrations in one
                // turn no longer hold a thousand bursts in memory together.
                self.flush(id, now);
            }
        }
    }

    /// A few reads from one connection; it is listed again if it still has
    /// input, unless its own queue or the global cap says to wait.
    fn read_some(&mut self, id: ClientId) {
        let mut buffer = std::mem::take(&mut self.read_buffer);
        for _ in 0..READS_PER_TURN {
            let Some(conn) = self.net.conns.get(id) else {
                break;
            };
            if !self.may_read() || conn.queued() > self.net.limits.sendq_soft {
                break;
            }
            let web_request = matches!(conn.phase, Phase::Http { .. });
            let result = self.net.read(id, &mut buffer);
            // Its request may have arrived: answered before the rest.
            let answered = web_request && self.web_turn(id);
            let open = self.net.conns.get(id).is_some_and(|c| c.is_open());
            match result {
                Ok(0) => {
                    self.lose(id, DisconnectReason::Closed);
                    break;
                }
                Ok(n) => {
                    self.net.stats.bytes_in += n as u64;
                    if open {
                        self.feed(id, &buffer[..n]);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // An answered request is listed to be read on.
                    if let Some(conn) = self.net.conns.get_mut(id)
                        && !answered
                    {
                        conn.readable = false;
                    }
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let why = DisconnectReason::from_io(&e);
                    if matches!(why, DisconnectReason::Tls | DisconnectReason::WebSocket) {
                        info!("{}: {e}", self.describe(id));
                    }
                    self.lose(id, why);
                    break;
                }
            }
        }
        self.read_buffer = buffer;
        let Some(conn) = self.net.conns.get_mut(id) else {
            return;
        };
        // A TLS handshake step, or lines that waited for the handshake.
        if conn.wants_flush() {
            list_for_flushing(&mut self.net.flush_list, id, conn);
        }
        if conn.readable && conn.queued() <= self.net.limits.sendq_soft {
            list_for_reading(&mut self.read_list, id, conn);
        }
    }

    /// Hands complete lines to the hub until the client goes away or runs
    /// out of line budget; whatever is left waits in its framer.
    pub(super) fn feed(&mut self, id: ClientId, data: &[u8]) {
        let Some(conn) = self.net.conns.get_mut(id) else {
            return;
        };
        if conn.throttled {
            conn.framer.hold(data);
            self.check_recvq(id);
            return;
        }
        let mut framer = std::mem::take(&mut conn.framer);
        let max_line = self.net.limits.max_input();
        let flood = self.net.limits.flood;
        let now = Instant::now();
        let now_ms = self.millis(now);
        let mut throttled = false;
        let _ = framer.feed(data, max_line, |frame| {
            match frame {
                Frame::Line(line) => {
                    log::trace!("#{id} <- {}", crate::message::loggable(line));
                    self.hub.handle_line(id, line, now, &mut self.net);
                    self.net.stats.lines_in += 1;
                }
                Frame::TooLong => {
                    self.hub.line_too_long(id, &mut self.net);
                    self.net.stats.lines_too_long += 1;
                }
            }
            let Some(conn) = self.net.conns.get_mut(id).filter(|c| c.is_open()) else {
                return ControlFlow::Break(());
            };
            if let Some(policy) = &flood {
                conn.budget.spend(policy, now_ms);
                if !conn.budget.allows(policy, now_ms) {
                    throttled = true;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        let Some(conn) = self.net.conns.get_mut(id) else {
            return self.after_delivery();
        };
        conn.framer = framer;
        if throttled && conn.is_open() {
            conn.throttled = true;
            self.throttled.push(id);
            if let Some(policy) = &flood {
                let due = now + conn.budget.wait(policy, now_ms);
                self.next_resume = Some(self.next_resume.map_or(due, |t| t.min(due)));
            }
            self.check_recvq(id);
        }
        self.after_delivery();
    }

    /// Goes on with the input of throttled clients whose budget allows.
    pub(super) fn resume_throttled(&mut self, now: Instant) {
        self.next_resume = None;
        let now_ms = self.millis(now);
        let Some(policy) = self.net.limits.flood else {
            // Flood control was turned off by a reload: release everyone.
            for id in std::mem::take(&mut self.throttled) {
                self.release(id);
            }
            return;
        };
        for id in std::mem::take(&mut self.throttled) {
            let Some(conn) = self.net.conns.get(id).filter(|c| c.is_open()) else {
                continue;
            };
            if conn.budget.allows(&policy, now_ms) {
                self.release(id);
            } else {
                let due = now + conn.budget.wait(&policy, now_ms);
                self.next_resume = Some(self.next_resume.map_or(due, |t| t.min(due)));
                self.throttled.push(id);
            }
        }
    }

    fn release(&mut self, id: ClientId) {
        if let Some(conn) = self.net.conns.get_mut(id) {
            conn.throttled = false;
            self.feed(id, &[]);
        }
    }

    /// Cuts a throttled client whose unprocessed input passed `recvq_max`.
    fn check_recvq(&mut self, id: ClientId) {
        let Some(conn) = self.net.conns.get_mut(id) else {
            return;
        };
        let pending = conn.framer.pending_len();
        if pending <= self.net.limits.recvq_max || !conn.is_open() {
            return;
        }
        conn.framer = Default::default();
        warn!(
            "{}: Excess Flood ({pending} bytes of input unprocessed)",
            self.describe(id)
        );
        let why = DisconnectReason::Flood;
        self.hub.drop_client(id, why, why.text(), &mut self.net);
        self.after_delivery();
    }

    /// Milliseconds on the flood-control clock (since the server started).
    fn millis(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.net.stats.started)
            .as_millis() as u64
    }
}
