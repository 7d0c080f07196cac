//! The scenarios: each drives the engine through its phases and fills the
//! report.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};

use crate::engine::{Engine, Note, SendPlan};
use crate::report::{
    ChurnReport, ConnectReport, FanoutReport, Percentiles, Report, ServerUsage, SlowReport,
};
use crate::sys;
use crate::tracker::{Departure, Tracker};
use crate::{ChurnArgs, Cli, Common, ConnectArgs, Error, FanoutArgs, Pace, Scenario, SlowArgs};

/// How often stuck clients are looked for.
const EXPIRE_EVERY: Duration = Duration::from_millis(500);
/// Messages per sender when -m is not given.
const FANOUT_MESSAGES: u32 = 100;
const SLOW_MESSAGES: u32 = 10_000;
/// Longest single wait in the loop, so progress and deadlines are checked.
const TICK: Duration = Duration::from_millis(20);

pub struct Outcome {
    pub report: Report,
    /// The measured round, for --plot.
    pub tracker: Option<Tracker>,
    /// Exit non-zero: silent loss or clients that could not be set up.
    pub failed: bool,
}

pub fn run(cli: &Cli) -> Result<Outcome, Error> {
    let c = &cli.common;
    let server = sys::loopback_server(&c.server)?;
    if seconds("--timeout", c.timeout)?.is_zero() || seconds("--quiet", c.quiet)?.is_zero() {
        return Err("--timeout and --quiet must be positive".into());
    }
    let concurrent = match &cli.scenario {
        Scenario::Connect(a) => a.clients,
        Scenario::Fanout(a) => a.members,
        Scenario::Slow(a) => a.fanout.members,
        Scenario::Churn(a) => a.concurrency,
    };
    let sources = sys::plan_sources(u64::from(concurrent), c.sources)?;
    let mut engine = Engine::new(server, sources.clone(), &c.channel, &c.nick_prefix)?;
    let mut out = Outcome {
        report: Report {
            server: server.to_string(),
            channel: c.channel.clone(),
            source_addresses: sources.iter().map(|a| a.to_string()).collect(),
            server_usage: c.server_pid.map(|pid| ServerUsage {
                pid,
                ..ServerUsage::default()
            }),
            ..Report::default()
        },
        tracker: None,
        failed: false,
    };
    let mut bench = Bench {
        c,
        engine: &mut engine,
        out: &mut out,
    };
    match &cli.scenario {
        Scenario::Connect(a) => bench.connect(a)?,
        Scenario::Fanout(a) => bench.fanout(a)?,
        Scenario::Slow(a) => bench.slow(a)?,
        Scenario::Churn(a) => bench.churn(a)?,
    }
    engine.shutdown();
    let r = &mut out.report;
    r.silent_loss = [&r.fanout, &r.baseline]
        .iter()
        .any(|f| f.as_ref().is_some_and(|f| f.lost_silent > 0));
    let mut problems = Vec::new();
    if r.silent_loss {
        problems.push("deliveries lost without the server saying why".to_owned());
    }
    if let Some(c) = r.connect.as_ref().filter(|c| c.failed > 0) {
        problems.push(format!("{} clients could not be set up", c.failed));
    }
    if let Some(c) = &r.churn {
        let errors: u64 = c.errors.values().sum();
        if errors > 0 {
            problems.push(format!("{errors} churn sessions ended in errors"));
        }
    }
    out.failed = !problems.is_empty();
    r.verdict = if out.failed {
        format!("FAIL: {}", problems.join("; "))
    } else {
        "ok".to_owned()
    };
    Ok(out)
}

/// A user-given number of seconds; negative, NaN and absurdly large values
/// are refused here rather than panicking deep inside a run.
fn seconds(option: &str, value: f64) -> Result<Duration, Error> {
    Duration::try_from_secs_f64(value)
        .map_err(|e| format!("{option} {value:?}: not a usable number of seconds ({e})").into())
}

fn progress(len: u64, what: &str) -> ProgressBar {
    // Drawn on stderr, and hidden by indicatif when stderr is no terminal.
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{msg:12} [{bar:40}] {human_pos}/{human_len} {elapsed} (eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

fn percentiles(h: &Histogram<u64>) -> Option<Percentiles> {
    let ms = |v: u64| v as f64 / 1e6;
    (!h.is_empty()).then(|| Percentiles {
        p50_ms: ms(h.value_at_quantile(0.5)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
    })
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is a valid precision")
}

/// Members that got through the connect phase, by client id.
struct Members {
    keys: Vec<Option<usize>>,
}

struct Bench<'a> {
    c: &'a Common,
    engine: &'a mut Engine,
    out: &'a mut Outcome,
}

impl Bench<'_> {
    fn warn(&mut self, w: String) {
        self.out.report.warnings.push(w);
    }

    fn usage(&mut self) -> Option<&mut ServerUsage> {
        self.out.report.server_usage.as_mut()
    }

    fn server_cpu(&mut self) -> Option<u64> {
        let pid = self.c.server_pid?;
        sys::cpu_ns(pid).map_err(|e| self.warn(e.to_string())).ok()
    }

    fn server_rss(&mut self) -> Option<u64> {
        let pid = self.c.server_pid?;
        sys::rss_kib(pid).map_err(|e| self.warn(e.to_string())).ok()
    }

    /// The reason to report for a member that went away: the server's own
    /// ERROR line, else the QUIT reason other members saw, else what the
    /// socket said.
    fn departure(&self, id: u32, reason: String, server_said: bool) -> (String, bool) {
        if server_said {
            return (reason, true);
        }
        match self.engine.quit_reasons.get(&id) {
            Some(q) => (format!("QUIT: {q}"), true),
            None => (reason, false),
        }
    }

    /// Connects `n` clients (joining the channel when `join`), paced by
    /// `pace`, and fills the connect report. Measures server RSS around it.
    fn establish(
        &mut self,
        n: u32,
        pace: Pace,
        join: bool,
        rcvbuf: impl Fn(u32) -> Option<usize>,
    ) -> Result<Members, Error> {
        self.engine.join_on_register = join;
        let rss_before = self.c.rss_baseline_kib.or_else(|| self.server_rss());
        let mut keys = vec![None; n as usize];
        let mut report = ConnectReport {
            requested: u64::from(n),
            ..ConnectReport::default()
        };
        let mut hist = new_histogram();
        let bar = progress(u64::from(n), if join { "join" } else { "connect" });
        let start = Instant::now();
        let mut last_done = start;
        let (mut spawned, mut done) = (0u32, 0u32);
        let mut next_expire = start + EXPIRE_EVERY;
        let timeout = seconds("--timeout", self.c.timeout)?;
        while done < n {
            let allowed = if pace.rate > 0.0 {
                (start.elapsed().as_secs_f64() * pace.rate) as u64 + 1
            } else {
                u64::from(done) + u64::from(pace.concurrency.max(1))
            };
            while spawned < n && u64::from(spawned) < allowed {
                self.engine.spawn(rcvbuf(spawned));
                spawned += 1;
            }
            self.engine.turn(TICK)?;
            if Instant::now() >= next_expire {
                self.engine.expire(timeout);
                next_expire = Instant::now() + EXPIRE_EVERY;
            }
            for note in self.engine.take_notes() {
                match note {
                    Note::Registered { id, key, elapsed } => {
                        let _ = hist.record(elapsed.as_nanos() as u64);
                        if join {
                            continue;
                        }
                        keys[id as usize] = Some(key);
                    }
                    Note::Joined { id, key } => keys[id as usize] = Some(key),
                    Note::Closed { id, reason, .. } => {
                        if keys[id as usize].take().is_none() {
                            *report.failures.entry(reason).or_default() += 1;
                            report.failed += 1;
                            done += 1;
                            bar.inc(1);
                        } else {
                            *report.disconnected_while_held.entry(reason).or_default() += 1;
                        }
                        continue;
                    }
                }
                done += 1;
                bar.inc(1);
                last_done = Instant::now();
            }
        }
        bar.finish_and_clear();
        report.registered = u64::from(n) - report.failed;
        report.total_ms = last_done.duration_since(start).as_secs_f64() * 1e3;
        report.per_client = percentiles(&hist);
        let rss_after = self.server_rss();
        let registered = report.registered;
        if let Some(u) = self.usage() {
            u.rss_before_kib = rss_before;
            u.rss_after_connect_kib = rss_after;
            if let (Some(a), Some(b)) = (rss_before, rss_after)
                && registered > 0
            {
                u.rss_per_client_bytes = Some((b as f64 - a as f64) * 1024.0 / registered as f64);
            }
        }
        self.out.report.connect = Some(report);
        Ok(Members { keys })
    }

    fn connect(&mut self, a: &ConnectArgs) -> Result<(), Error> {
        self.out.report.scenario = "connect".into();
        let mut members = self.establish(a.clients, a.pace, false, |_| None)?;
        if a.hold > 0.0 {
            let bar = progress(a.hold.ceil() as u64, "hold (s)");
            let start = Instant::now();
            let hold = seconds("--hold", a.hold)?;
            while start.elapsed() < hold {
                self.engine.turn(TICK)?;
                bar.set_position(start.elapsed().as_secs());
                for note in self.engine.take_notes() {
                    if let Note::Closed {
                        id,
                        reason,
                        server_said,
                        ..
                    } = note
                    {
                        members.keys[id as usize] = None;
                        let (reason, _) = self.departure(id, reason, server_said);
                        if let Some(c) = &mut self.out.report.connect {
                            *c.disconnected_while_held.entry(reason).or_default() += 1;
                        }
                    }
                }
            }
            bar.finish_and_clear();
            if let Some(c) = &mut self.out.report.connect {
                c.held_s = start.elapsed().as_secs_f64();
            }
        }
        Ok(())
    }

    /// One fan-out round over the members; `slow` members are left out of
    /// rate and latency. With `stall = Some(extra)` they stop reading until
    /// the others have everything and `extra` more has passed.
    fn round(
        &mut self,
        round: u32,
        a: &FanoutArgs,
        members: &mut Members,
        slow: &[bool],
        stall: Option<Duration>,
    ) -> Result<(FanoutReport, Tracker), Error> {
        let present: Vec<bool> = members.keys.iter().map(Option::is_some).collect();
        let k = a.senders.min(a.members);
        let senders: Vec<(u32, usize)> = (0..k)
            .filter_map(|i| Some((i, members.keys[i as usize]?)))
            .collect();
        if stall.is_some() {
            for (id, key) in members.keys.iter().enumerate() {
                if let (Some(key), true) = (key, slow[id]) {
                    self.engine.pause(*key);
                }
            }
        }
        let cpu_before = self.server_cpu();
        let start_ns = self.engine.now_ns();
        let tracker = Tracker::new(
            round,
            k as usize,
            a.messages.unwrap_or(FANOUT_MESSAGES),
            present,
            slow.to_vec(),
            start_ns,
        );
        let expected = tracker.expected();
        self.engine.tracker = Some(tracker);
        let interval = if a.rate == 0.0 {
            None
        } else if a.rate > 0.0 {
            Some(seconds("interval of --rate", 1.0 / a.rate)?)
        } else {
            return Err(format!("--rate {}: must be 0 (max) or positive", a.rate).into());
        };
        self.engine.start_round(
            SendPlan {
                size: a.size,
                interval,
            },
            &senders,
        );
        let bar = progress(expected, &format!("round {round}"));
        let quiet = seconds("--quiet", self.c.quiet)?;
        let mut progress_at = Instant::now();
        let mut last_count = (0u64, 0u64);
        let mut slow_paused = stall.is_some();
        let mut fast_done_at: Option<Instant> = None;
        loop {
            self.engine.turn(TICK)?;
            for note in self.engine.take_notes() {
                if let Note::Closed {
                    id,
                    intentional: false,
                    reason,
                    server_said,
                    ..
                } = note
                {
                    members.keys[id as usize] = None;
                    let (reason, said) = self.departure(id, reason, server_said);
                    let explained = said || slow[id as usize];
                    if let Some(t) = &mut self.engine.tracker {
                        t.depart(id, Departure { reason, explained });
                    }
                }
            }
            let Some(t) = &self.engine.tracker else { break };
            let count = (
                t.received,
                t.sent.iter().map(|&s| u64::from(s)).sum::<u64>(),
            );
            bar.set_position(count.0);
            if count != last_count {
                last_count = count;
                progress_at = Instant::now();
            }
            let sending_done = self.engine.senders_done();
            let finished = sending_done && t.complete(!slow_paused);
            let stalled = !finished && progress_at.elapsed() > quiet;
            if finished && slow_paused {
                // Keep the slow members stalled a little longer: a server may
                // tolerate a full send queue for a while before dropping.
                let extra = stall.unwrap_or_default();
                if fast_done_at.get_or_insert_with(Instant::now).elapsed() < extra {
                    continue;
                }
            }
            if stalled {
                let what = if sending_done {
                    "deliveries"
                } else {
                    "sending"
                };
                self.warn(format!(
                    "round {round}: no progress for {:.1} s, stopped waiting for {what}",
                    quiet.as_secs_f64()
                ));
            }
            if finished || stalled {
                if !slow_paused {
                    break;
                }
                // The fast members are done: let the slow ones read what the
                // server kept for them, or find out that they were dropped.
                slow_paused = false;
                progress_at = Instant::now();
                for (id, key) in members.keys.iter().enumerate() {
                    if let (Some(key), true) = (key, slow[id]) {
                        self.engine.resume(*key);
                    }
                }
            }
        }
        bar.finish_and_clear();
        self.engine.end_round();
        let end_ns = self.engine.now_ns();
        let tracker = self
            .engine
            .tracker
            .take()
            .ok_or("tracker vanished mid-round")?;
        let report = tracker.report(end_ns);
        let cpu_after = self.server_cpu();
        if let (Some(b), Some(a)) = (cpu_before, cpu_after) {
            let received = report.received;
            if let Some(u) = self.usage() {
                u.cpu_ms = Some(a.saturating_sub(b) as f64 / 1e6);
                u.cpu_ns_per_delivery =
                    (received > 0).then(|| a.saturating_sub(b) as f64 / received as f64);
            }
        }
        Ok((report, tracker))
    }

    fn fanout(&mut self, a: &FanoutArgs) -> Result<(), Error> {
        self.out.report.scenario = "fanout".into();
        let mut members = self.establish(a.members, a.pace, true, |_| None)?;
        let slow = vec![false; a.members as usize];
        let (report, tracker) = self.round(1, a, &mut members, &slow, None)?;
        self.out.report.fanout = Some(report);
        self.out.tracker = Some(tracker);
        Ok(())
    }

    fn slow(&mut self, a: &SlowArgs) -> Result<(), Error> {
        self.out.report.scenario = "slow".into();
        let f = &FanoutArgs {
            messages: Some(a.fanout.messages.unwrap_or(SLOW_MESSAGES)),
            ..a.fanout.clone()
        };
        let first_slow = f
            .members
            .saturating_sub(a.slow)
            .max(f.senders.min(f.members));
        let rcvbuf = a.slow_rcvbuf;
        let mut members = self.establish(f.members, f.pace, true, |id| {
            (id >= first_slow).then_some(rcvbuf)
        })?;
        let slow: Vec<bool> = (0..f.members).map(|id| id >= first_slow).collect();
        let (base, _) = self.round(1, f, &mut members, &slow, None)?;
        // Disconnects in the baseline are reported there; the slow round
        // counts only what happens to members still present.
        let slow_at_start: Vec<bool> = slow
            .iter()
            .zip(&members.keys)
            .map(|(&s, k)| s && k.is_some())
            .collect();
        let stall = Some(seconds("--stall", a.stall)?);
        let (run, tracker) = self.round(2, f, &mut members, &slow, stall)?;
        let still = slow_at_start
            .iter()
            .zip(&members.keys)
            .filter(|&(&s, k)| s && k.is_some())
            .count() as u64;
        let slow_members = slow_at_start.iter().filter(|&&s| s).count() as u64;
        let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
        for (reason, n) in &run.disconnects {
            *reasons.entry(reason.clone()).or_default() += n;
        }
        let ratio = |x: f64, y: f64| if y > 0.0 { x / y } else { 0.0 };
        self.out.report.slow = Some(SlowReport {
            slow_members,
            slow_disconnected: slow_members - still,
            slow_still_connected: still,
            reasons,
            fast_rate_ratio: ratio(run.deliveries_per_s, base.deliveries_per_s),
            fast_p99_ratio: base
                .latency
                .zip(run.latency)
                .map(|(b, r)| ratio(r.p99_us, b.p99_us)),
        });
        self.out.report.baseline = Some(base);
        self.out.report.fanout = Some(run);
        self.out.tracker = Some(tracker);
        Ok(())
    }

    fn churn(&mut self, a: &ChurnArgs) -> Result<(), Error> {
        self.out.report.scenario = "churn".into();
        self.engine.join_on_register = true;
        let mut report = ChurnReport {
            concurrency: u64::from(a.concurrency),
            ..ChurnReport::default()
        };
        let mut hist = new_histogram();
        let duration = seconds("--duration", a.duration)?;
        let bar = progress(duration.as_secs(), "churn (s)");
        let timeout = seconds("--timeout", self.c.timeout)?;
        let cpu_before = self.server_cpu();
        let start = Instant::now();
        let mut next_expire = start + EXPIRE_EVERY;
        let mut live = 0u32;
        let is_reset = |id: u32| id % 100 < u32::from(a.reset_percent);
        loop {
            let running = start.elapsed() < duration;
            while running && live < a.concurrency {
                self.engine.spawn(None);
                live += 1;
                report.sessions_started += 1;
            }
            if !running && live == 0 {
                break;
            }
            self.engine.turn(TICK)?;
            bar.set_position(start.elapsed().as_secs().min(duration.as_secs()));
            if Instant::now() >= next_expire {
                self.engine.expire(timeout);
                next_expire = Instant::now() + EXPIRE_EVERY;
            }
            for note in self.engine.take_notes() {
                match note {
                    Note::Registered { elapsed, .. } => {
                        let _ = hist.record(elapsed.as_nanos() as u64);
                    }
                    Note::Joined { id, key } => {
                        for i in 0..a.messages {
                            let line = format!("PRIVMSG {} :churn {id} {i}", self.c.channel);
                            self.engine.send_line(key, &line);
                        }
                        if is_reset(id) {
                            self.engine.reset(key);
                        } else {
                            self.engine.quit(key, "churn");
                        }
                    }
                    Note::Closed {
                        id,
                        intentional,
                        reason,
                        server_said,
                        ..
                    } => {
                        live -= 1;
                        if intentional {
                            if is_reset(id) {
                                report.left_with_reset += 1;
                            } else {
                                report.left_with_quit += 1;
                            }
                        } else {
                            let (reason, _) = self.departure(id, reason, server_said);
                            *report.errors.entry(reason).or_default() += 1;
                        }
                    }
                }
            }
        }
        bar.finish_and_clear();
        report.duration_s = start.elapsed().as_secs_f64();
        report.sessions_per_s =
            (report.left_with_quit + report.left_with_reset) as f64 / report.duration_s.max(1e-9);
        report.registration = percentiles(&hist);
        let cpu_after = self.server_cpu();
        if let (Some(b), Some(a), Some(u)) = (cpu_before, cpu_after, self.usage()) {
            u.cpu_ms = Some(a.saturating_sub(b) as f64 / 1e6);
        }
        self.out.report.churn = Some(report);
        Ok(())
    }
}
