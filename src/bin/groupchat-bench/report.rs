//! The run's results: one serialisable object for `--json` and a human table.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

#[derive(Serialize, Default)]
pub struct Report {
    pub scenario: String,
    pub server: String,
    /// With `--tls`: the protocol and cipher suite the server chose.
    pub tls: Option<String>,
    pub channel: String,
    /// Loopback source addresses clients were spread over (empty: kernel's choice).
    pub source_addresses: Vec<String>,
    pub connect: Option<ConnectReport>,
    pub fanout: Option<FanoutReport>,
    /// The slow scenario's first round, with every member reading.
    pub baseline: Option<FanoutReport>,
    pub slow: Option<SlowReport>,
    pub churn: Option<ChurnReport>,
    pub history: Option<HistoryReport>,
    pub reconnect: Option<ReconnectReport>,
    pub server_usage: Option<ServerUsage>,
    /// Deliveries went missing at members the server never disconnected, or
    /// disconnected without saying why; this makes the exit status non-zero.
    pub silent_loss: bool,
    /// "ok", or "FAIL: " and what makes the exit status non-zero.
    pub verdict: String,
    /// Errors that are not per-client (e.g. /proc unreadable).
    pub warnings: Vec<String>,
}

#[derive(Serialize, Default)]
pub struct ConnectReport {
    pub requested: u64,
    pub registered: u64,
    pub failed: u64,
    pub failures: BTreeMap<String, u64>,
    /// What a client had to reach to count as done: "001" (registered) or
    /// "366" (registered and in the channel, names list ended).
    pub until: String,
    /// Clients neither done nor failed when --deadline passed (also counted
    /// in `failed`).
    pub unfinished: u64,
    pub deadline_s: Option<f64>,
    /// From the first connect() to the last client done.
    pub total_ms: f64,
    /// Connect to 001, per client.
    pub per_client: Option<Percentiles>,
    /// Connect to 366, per client (with --join or --auto-join).
    pub per_client_join: Option<Percentiles>,
    pub held_s: f64,
    pub disconnected_while_held: BTreeMap<String, u64>,
}

#[derive(Serialize, Default, Clone, Copy)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Serialize, Default, Clone, Copy)]
pub struct Latency {
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

#[derive(Serialize, Default)]
pub struct FanoutReport {
    pub members: u64,
    pub senders: u64,
    pub messages_per_sender: u32,
    pub sent: u64,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub lost_explained: u64,
    pub lost_silent: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    /// Benchmark messages that did not belong to this round or to any member.
    pub stray: u64,
    /// Deliveries to measured (not slow) members; rate and latency use these.
    pub measured_deliveries: u64,
    pub deliveries_per_s: f64,
    pub duration_s: f64,
    pub latency: Option<Latency>,
    pub disconnects: BTreeMap<String, u64>,
    pub per_sender: Vec<SenderReport>,
}

#[derive(Serialize, Default, Clone)]
pub struct SenderReport {
    pub sender: u32,
    pub sent: u32,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
}

#[derive(Serialize, Default)]
pub struct SlowReport {
    pub slow_members: u64,
    pub slow_disconnected: u64,
    /// Slow members still connected at the end and how much they missed.
    pub slow_still_connected: u64,
    pub reasons: BTreeMap<String, u64>,
    /// Fast members' deliveries/s with slow readers present, over the baseline.
    pub fast_rate_ratio: f64,
    pub fast_p99_ratio: Option<f64>,
}

#[derive(Serialize, Default)]
pub struct ChurnReport {
    pub duration_s: f64,
    pub concurrency: u64,
    pub sessions_started: u64,
    pub left_with_quit: u64,
    pub left_with_reset: u64,
    pub sessions_per_s: f64,
    pub registration: Option<Percentiles>,
    pub errors: BTreeMap<String, u64>,
}

/// CHATHISTORY LATEST asked back to back during a fan-out round.
#[derive(Serialize, Default)]
pub struct HistoryReport {
    pub queriers: u64,
    /// Answers (whole batches) that ended while the round ran.
    pub answered: u64,
    pub answers_per_s: f64,
    pub lines: u64,
    pub lines_per_s: f64,
    /// Request to the end of its batch.
    pub latency: Option<Percentiles>,
    pub duration_s: f64,
    /// Requests the server refused (421, FAIL), by reply.
    pub failures: BTreeMap<String, u64>,
}

/// R members dropping and coming back to fetch what they missed.
#[derive(Serialize, Default)]
pub struct ReconnectReport {
    pub members: u64,
    pub reconnecting: u64,
    pub observers: u64,
    /// Messages the sender sent, in all.
    pub sent: u64,
    /// Observers' delivery latency for messages sent before the drop, and
    /// for those sent from the reconnect until the last one caught up.
    pub normal: Option<Latency>,
    pub storm: Option<Latency>,
    pub storm_p99_ratio: Option<f64>,
    /// Observer deliveries behind `normal` and `storm`.
    pub normal_samples: u64,
    pub storm_samples: u64,
    /// Reconnected and fetched until an answer came back short.
    pub caught_up: u64,
    /// From the reconnect to the last one caught up.
    pub all_caught_up_ms: f64,
    /// From the reconnect to each one caught up.
    pub catch_up: Option<Percentiles>,
    pub requests: u64,
    /// Messages the reconnecting members saw only through history.
    pub fetched: u64,
    /// Messages some reconnecting member never saw, live or fetched, and
    /// how many members missed something.
    pub gaps: u64,
    pub members_with_gaps: u64,
    /// Observer deliveries that never came.
    pub observers_lost: u64,
    /// Why reconnecting members failed (could not reconnect, request refused).
    pub failures: BTreeMap<String, u64>,
}

#[derive(Serialize, Default)]
pub struct ServerUsage {
    /// The processes measured; the figures are their sums.
    pub pids: Vec<u32>,
    pub cpu_ms: Option<f64>,
    pub cpu_ns_per_delivery: Option<f64>,
    pub rss_before_kib: Option<u64>,
    pub rss_after_connect_kib: Option<u64>,
    pub rss_per_client_bytes: Option<f64>,
}

fn row(out: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "  {name:<28} {value}");
}

fn reasons(out: &mut String, title: &str, map: &BTreeMap<String, u64>) {
    for (reason, n) in map {
        row(out, title, format!("{n} × {reason}"));
    }
}

fn fanout(out: &mut String, title: &str, f: &FanoutReport) {
    let _ = writeln!(out, "{title}");
    row(
        out,
        "members / senders",
        format!("{} / {}", f.members, f.senders),
    );
    row(out, "messages per sender", f.messages_per_sender);
    row(out, "sent", f.sent);
    row(out, "deliveries expected", f.expected);
    row(out, "deliveries received", f.received);
    row(
        out,
        "lost (silent / explained)",
        format!("{} ({} / {})", f.lost, f.lost_silent, f.lost_explained),
    );
    row(out, "duplicated", f.duplicated);
    row(out, "out of order", f.out_of_order);
    if f.stray > 0 {
        row(out, "stray", f.stray);
    }
    row(out, "deliveries/s", format!("{:.0}", f.deliveries_per_s));
    row(out, "duration", format!("{:.2} s", f.duration_s));
    if let Some(l) = f.latency {
        row(
            out,
            "latency p50/p99/p99.9/max",
            format!(
                "{:.0} / {:.0} / {:.0} / {:.0} µs",
                l.p50_us, l.p99_us, l.p999_us, l.max_us
            ),
        );
    }
    reasons(out, "disconnected", &f.disconnects);
    for s in f
        .per_sender
        .iter()
        .filter(|s| s.lost + s.duplicated + s.out_of_order > 0)
    {
        row(
            out,
            &format!("sender {}", s.sender),
            format!(
                "sent {} lost {} dup {} out-of-order {}",
                s.sent, s.lost, s.duplicated, s.out_of_order
            ),
        );
    }
}

impl Report {
    pub fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "groupchat-bench {} against {} ({})",
            self.scenario, self.server, self.channel
        );
        if let Some(tls) = &self.tls {
            row(&mut out, "TLS", tls);
        }
        if !self.source_addresses.is_empty() {
            row(
                &mut out,
                "source addresses",
                self.source_addresses.join(", "),
            );
        }
        if let Some(c) = &self.connect {
            let _ = writeln!(out, "connect");
            row(&mut out, "requested", c.requested);
            row(&mut out, "registered", c.registered);
            row(&mut out, "failed", c.failed);
            reasons(&mut out, "failure", &c.failures);
            if let (Some(d), true) = (c.deadline_s, c.unfinished > 0) {
                row(
                    &mut out,
                    "not done",
                    format!("{} after {d} s (--deadline)", c.unfinished),
                );
            }
            row(
                &mut out,
                &format!("total (until {})", c.until),
                format!("{:.1} ms", c.total_ms),
            );
            for (name, p) in [("001", c.per_client), ("366", c.per_client_join)] {
                if let Some(p) = p {
                    row(
                        &mut out,
                        &format!("to {name} p50/p99/max"),
                        format!("{:.2} / {:.2} / {:.2} ms", p.p50_ms, p.p99_ms, p.max_ms),
                    );
                }
            }
            if c.held_s > 0.0 {
                row(&mut out, "held", format!("{:.1} s", c.held_s));
                reasons(&mut out, "dropped while held", &c.disconnected_while_held);
            }
        }
        if let Some(b) = &self.baseline {
            fanout(&mut out, "baseline round (all members reading)", b);
        }
        if let Some(f) = &self.fanout {
            let title = if self.slow.is_some() {
                "slow round (slow members stop reading; rate/latency are the fast members')"
            } else {
                "fanout"
            };
            fanout(&mut out, title, f);
        }
        if let Some(s) = &self.slow {
            let _ = writeln!(out, "slow readers");
            row(&mut out, "slow members", s.slow_members);
            row(&mut out, "disconnected by server", s.slow_disconnected);
            row(&mut out, "still connected", s.slow_still_connected);
            reasons(&mut out, "reason", &s.reasons);
            row(
                &mut out,
                "fast deliveries/s vs base",
                format!("{:.2}×", s.fast_rate_ratio),
            );
            if let Some(r) = s.fast_p99_ratio {
                row(&mut out, "fast p99 latency vs base", format!("{r:.2}×"));
            }
        }
        if let Some(c) = &self.churn {
            let _ = writeln!(out, "churn");
            row(&mut out, "duration", format!("{:.1} s", c.duration_s));
            row(&mut out, "concurrency", c.concurrency);
            row(&mut out, "sessions started", c.sessions_started);
            row(&mut out, "left with QUIT", c.left_with_quit);
            row(&mut out, "left with reset", c.left_with_reset);
            row(&mut out, "sessions/s", format!("{:.1}", c.sessions_per_s));
            if let Some(p) = c.registration {
                row(
                    &mut out,
                    "registration p50/p99/max",
                    format!("{:.2} / {:.2} / {:.2} ms", p.p50_ms, p.p99_ms, p.max_ms),
                );
            }
            reasons(&mut out, "error", &c.errors);
        }
        if let Some(h) = &self.history {
            let _ = writeln!(out, "chathistory (LATEST * 100, back to back)");
            row(&mut out, "queriers", h.queriers);
            row(&mut out, "answers", h.answered);
            row(&mut out, "answers/s", format!("{:.0}", h.answers_per_s));
            row(&mut out, "lines/s", format!("{:.0}", h.lines_per_s));
            if let Some(p) = h.latency {
                row(
                    &mut out,
                    "answer p50/p99/max",
                    format!("{:.2} / {:.2} / {:.2} ms", p.p50_ms, p.p99_ms, p.max_ms),
                );
            }
            reasons(&mut out, "refused", &h.failures);
        }
        if let Some(r) = &self.reconnect {
            let _ = writeln!(out, "reconnect");
            row(
                &mut out,
                "members / reconnecting",
                format!("{} / {}", r.members, r.reconnecting),
            );
            row(&mut out, "observers", r.observers);
            row(&mut out, "sent", r.sent);
            for (name, l, n) in [
                ("normal", r.normal, r.normal_samples),
                ("storm", r.storm, r.storm_samples),
            ] {
                if let Some(l) = l {
                    row(
                        &mut out,
                        &format!("observers {name} p50/p99/max"),
                        format!(
                            "{:.0} / {:.0} / {:.0} µs ({n} deliveries)",
                            l.p50_us, l.p99_us, l.max_us
                        ),
                    );
                }
            }
            if let Some(x) = r.storm_p99_ratio {
                row(&mut out, "storm p99 vs normal", format!("{x:.2}×"));
            }
            row(&mut out, "caught up", r.caught_up);
            row(
                &mut out,
                "all caught up after",
                format!("{:.1} ms", r.all_caught_up_ms),
            );
            if let Some(p) = r.catch_up {
                row(
                    &mut out,
                    "catch-up p50/p99/max",
                    format!("{:.2} / {:.2} / {:.2} ms", p.p50_ms, p.p99_ms, p.max_ms),
                );
            }
            row(&mut out, "requests", r.requests);
            row(&mut out, "fetched", r.fetched);
            row(
                &mut out,
                "gaps (members with gaps)",
                format!("{} ({})", r.gaps, r.members_with_gaps),
            );
            row(&mut out, "observer deliveries lost", r.observers_lost);
            reasons(&mut out, "failure", &r.failures);
        }
        if let Some(u) = &self.server_usage {
            let pids: Vec<String> = u.pids.iter().map(u32::to_string).collect();
            let _ = writeln!(out, "server pid {}", pids.join("+"));
            if let Some(v) = u.cpu_ms {
                row(&mut out, "CPU user+system", format!("{v:.0} ms"));
            }
            if let Some(v) = u.cpu_ns_per_delivery {
                row(&mut out, "CPU per delivery", format!("{v:.0} ns"));
            }
            if let (Some(a), Some(b)) = (u.rss_before_kib, u.rss_after_connect_kib) {
                row(&mut out, "RSS before / connected", format!("{a} / {b} KiB"));
            }
            if let Some(v) = u.rss_per_client_bytes {
                row(&mut out, "RSS per client", format!("{v:.0} bytes"));
            }
        }
        for w in &self.warnings {
            row(&mut out, "warning", w);
        }
        row(&mut out, "verdict", &self.verdict);
        out
    }
}
