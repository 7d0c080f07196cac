//! The scenarios: each drives the engine through its phases and fills the
//! report.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};

use crate::engine::{Caps, Engine, HISTORY_LIMIT, JoinMode, Note, SendPlan, Spawn};
use crate::irc::Payload;
use crate::report::{
    ChurnReport, ConnectReport, FanoutReport, HistoryReport, Latency, Percentiles, ReconnectReport,
    Report, ServerUsage, SlowReport,
};
use crate::sys;
use crate::tracker::{Departure, Tracker};
use crate::transport::{Opener, TlsClient};
use crate::websocket::WsClient;
use crate::{
    ChurnArgs, Cli, Common, ConnectArgs, Error, FanoutArgs, HistoryArgs, Pace, ReconnectArgs,
    Scenario, SlowArgs,
};

/// How often stuck clients are looked for.
const EXPIRE_EVERY: Duration = Duration::from_millis(500);
/// Messages per sender when -m is not given.
const FANOUT_MESSAGES: u32 = 100;
const SLOW_MESSAGES: u32 = 10_000;
/// Longest single wait in the loop, so progress and deadlines are checked.
const TICK: Duration = Duration::from_millis(20);
/// What clients that read history ask for: the end of an answer (batch),
/// which batch answers (labeled-response), msgids (message-tags), and what
/// real clients take along.
const HISTORY_CAPS: Caps = Caps::BATCH
    .with(Caps::LABELED_RESPONSE)
    .with(Caps::MESSAGE_TAGS)
    .with(Caps::SERVER_TIME)
    .with(Caps::CHATHISTORY);

pub struct Outcome {
    pub report: Report,
    /// The measured round, for --plot.
    pub tracker: Option<Tracker>,
    /// Exit non-zero: silent loss or clients that could not be set up.
    pub failed: bool,
    /// Raw distributions behind the report's percentiles, so that the
    /// results of several event loops can be merged.
    hists: Hists,
    /// When the measured round ended, on the engines' common clock.
    round_end_ns: u64,
}

#[derive(Default)]
struct Hists {
    registered: Option<Histogram<u64>>,
    joined: Option<Histogram<u64>>,
    churn: Option<Histogram<u64>>,
}

pub fn run(cli: &Cli) -> Result<Outcome, Error> {
    let c = &cli.common;
    let servers = c
        .server
        .iter()
        .map(|spec| sys::loopback_server(spec))
        .collect::<Result<Vec<_>, _>>()?;
    let server = *servers.first().ok_or("--server: none given")?;
    if seconds("--timeout", c.timeout)?.is_zero() || seconds("--quiet", c.quiet)?.is_zero() {
        return Err("--timeout and --quiet must be positive".into());
    }
    // Every duration is checked here, before any thread could fail on one
    // half-way and leave the others waiting for it.
    match &cli.scenario {
        Scenario::Connect(a) => {
            seconds("--hold", a.hold)?;
            seconds("--deadline", a.deadline)?;
        }
        Scenario::Fanout(a) => check_rate(a.rate)?,
        Scenario::Slow(a) => {
            check_rate(a.fanout.rate)?;
            seconds("--stall", a.stall)?;
            if c.threads > 1 {
                return Err("slow: --threads is not supported (one loop pauses and \
                            resumes the slow readers as the others finish)"
                    .into());
            }
        }
        Scenario::Churn(a) => {
            seconds("--duration", a.duration)?;
        }
        Scenario::History(a) => check_rate(a.fanout.rate)?,
        Scenario::Reconnect(a) => {
            for (option, v) in [
                ("--before", a.before),
                ("--away", a.away),
                ("--after", a.after),
            ] {
                seconds(option, v)?;
            }
            if a.rate <= 0.0 {
                return Err("reconnect: --rate must be positive".into());
            }
            check_rate(a.rate)?;
            if a.observers == 0 || a.reconnecting == 0 {
                return Err("reconnect: --observers and --reconnecting must be positive".into());
            }
            if u64::from(a.members) < 1 + u64::from(a.observers) + u64::from(a.reconnecting) {
                return Err("reconnect: -n must cover the sender, --observers and \
                            --reconnecting"
                    .into());
            }
        }
    }
    if c.threads > 1 && matches!(cli.scenario, Scenario::History(_) | Scenario::Reconnect(_)) {
        return Err("history and reconnect: --threads is not supported".into());
    }
    let (concurrent, members, senders) = match &cli.scenario {
        Scenario::Connect(a) => (a.clients, a.clients, 0),
        Scenario::Fanout(a) => (a.members, a.members, a.senders.min(a.members)),
        Scenario::Slow(a) => (a.fanout.members, a.fanout.members, 0),
        Scenario::Churn(a) => (a.concurrency, 0, 0),
        Scenario::History(a) => (
            a.fanout.members + a.queriers,
            a.fanout.members,
            a.fanout.senders.min(a.fanout.members),
        ),
        // The dropped connections may linger server-side while the same
        // number connect again.
        Scenario::Reconnect(a) => (a.members + a.reconnecting, 0, 0),
    };
    let sources = sys::plan_sources(u64::from(concurrent), c.sources)?;
    let tls = match c.tls {
        true => Some(TlsClient::new(c.tls_version, server.ip())?),
        false => None,
    };
    let opener = match (tls, c.websocket) {
        (tls, true) => Opener::WebSocket(WsClient::new(server, tls)),
        (Some(tls), false) => Opener::Tls(tls),
        (None, false) => Opener::Plain,
    };
    let shared = Shared::new(c.threads, members, senders);
    let epoch = Instant::now();
    let part = |index: u32| -> Result<Outcome, String> {
        let mut guard = AbortUnlessDone {
            shared: &shared,
            done: false,
        };
        let out = run_part(
            cli,
            &servers,
            opener.clone(),
            &sources,
            epoch,
            &shared,
            index,
        )
        .map_err(|e| e.to_string());
        guard.done = out.is_ok();
        out
    };
    let parts: Vec<Outcome> = if c.threads == 1 {
        vec![part(0)?]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..c.threads).map(|t| s.spawn(move || part(t))).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a harness thread panicked".to_owned()))
                })
                .collect::<Result<Vec<_>, String>>()
        })?
    };
    let mut out = merge(parts);
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
    if let Some(h) = &r.history {
        if h.answered == 0 {
            problems.push("no CHATHISTORY request was answered".to_owned());
        }
        let refused: u64 = h.failures.values().sum();
        if refused > 0 {
            problems.push(format!("{refused} CHATHISTORY requests refused"));
        }
    }
    if let Some(x) = &r.reconnect {
        let failed: u64 = x.failures.values().sum();
        if failed > 0 {
            problems.push(format!("{failed} reconnecting members did not catch up"));
        }
        if x.gaps > 0 {
            problems.push(format!(
                "{} members missed {} messages after catching up",
                x.members_with_gaps, x.gaps
            ));
        }
        if x.observers_lost > 0 {
            problems.push(format!("observers lost {} deliveries", x.observers_lost));
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

fn check_rate(rate: f64) -> Result<(), Error> {
    if rate > 0.0 {
        seconds("interval of --rate", 1.0 / rate)?;
    } else if rate != 0.0 {
        return Err(format!("--rate {rate}: must be 0 (max) or positive").into());
    }
    Ok(())
}

/// One event loop's part of the run, on its own thread with `--threads`.
fn run_part(
    cli: &Cli,
    servers: &[SocketAddr],
    opener: Opener,
    sources: &[Ipv4Addr],
    epoch: Instant,
    shared: &Shared,
    index: u32,
) -> Result<Outcome, Error> {
    let c = &cli.common;
    let ids = (index, shared.threads);
    let mut engine = Engine::new(
        servers.to_vec(),
        opener,
        sources.to_vec(),
        &c.channel,
        &c.nick_prefix,
        epoch,
        ids,
    )?;
    let mut out = Outcome {
        report: Report {
            server: c.server.join(","),
            channel: c.channel.clone(),
            source_addresses: sources.iter().map(|a| a.to_string()).collect(),
            server_usage: (!c.server_pid.is_empty()).then(|| ServerUsage {
                pids: c.server_pid.clone(),
                ..ServerUsage::default()
            }),
            ..Report::default()
        },
        tracker: None,
        failed: false,
        hists: Hists::default(),
        round_end_ns: 0,
    };
    let mut bench = Bench {
        c,
        engine: &mut engine,
        out: &mut out,
        shared,
        index,
    };
    let result = match &cli.scenario {
        Scenario::Connect(a) => bench.connect(a),
        Scenario::Fanout(a) => bench.fanout(a),
        Scenario::Slow(a) => bench.slow(a),
        Scenario::Churn(a) => bench.churn(a),
        Scenario::History(a) => bench.history(a),
        Scenario::Reconnect(a) => bench.reconnect(a),
    };
    engine.shutdown();
    out.report.tls = engine.tls_session.take();
    result.map(|()| out)
}

/// What the event loops of one run share: a barrier between phases, the
/// members present, and during a round the senders' progress.
struct Shared {
    threads: u32,
    /// (generation, threads arrived) of the barrier.
    barrier: Mutex<(u64, u32)>,
    arrived: Condvar,
    aborted: AtomicBool,
    present: Mutex<Vec<bool>>,
    /// Messages each sender has put on the wire, published by its own loop.
    sent: Vec<AtomicU32>,
    /// Loops whose own senders have sent and flushed everything.
    senders_done: AtomicU32,
    /// Loops whose receivers have everything (or gave up waiting).
    finished: AtomicU32,
}

impl Shared {
    fn new(threads: u32, members: u32, senders: u32) -> Shared {
        Shared {
            threads,
            barrier: Mutex::new((0, 0)),
            arrived: Condvar::new(),
            aborted: AtomicBool::new(false),
            present: Mutex::new(vec![false; members as usize]),
            sent: (0..senders).map(|_| AtomicU32::new(0)).collect(),
            senders_done: AtomicU32::new(0),
            finished: AtomicU32::new(0),
        }
    }

    /// Waits until every loop has arrived; true for the last to arrive.
    fn wait(&self) -> Result<bool, Error> {
        if self.threads == 1 {
            return Ok(true);
        }
        let poisoned = |_| "harness barrier poisoned";
        let mut b = self.barrier.lock().map_err(poisoned)?;
        let generation = b.0;
        b.1 += 1;
        if b.1 == self.threads {
            *b = (generation + 1, 0);
            self.arrived.notify_all();
            return Ok(true);
        }
        while b.0 == generation && !self.aborted.load(Ordering::SeqCst) {
            b = self.arrived.wait(b).map_err(poisoned)?;
        }
        self.check()?;
        Ok(false)
    }

    fn check(&self) -> Result<(), Error> {
        if self.aborted.load(Ordering::SeqCst) {
            return Err("another harness thread failed".into());
        }
        Ok(())
    }

    fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
        let _guard = self.barrier.lock();
        self.arrived.notify_all();
    }

    /// Publishes this loop's senders' counts and takes the others'.
    fn exchange_sent(&self, t: &mut Tracker, index: u32) {
        for (s, (shared, mine)) in self.sent.iter().zip(&mut t.sent).enumerate() {
            if s as u32 % self.threads == index {
                shared.store(*mine, Ordering::SeqCst);
            } else {
                *mine = shared.load(Ordering::SeqCst);
            }
        }
    }
}

/// Releases the other loops from their barriers when this one leaves early.
struct AbortUnlessDone<'a> {
    shared: &'a Shared,
    done: bool,
}

impl Drop for AbortUnlessDone<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.shared.abort();
        }
    }
}

fn add(into: &mut Option<Histogram<u64>>, from: Option<Histogram<u64>>) {
    match (into.as_mut(), from) {
        (Some(a), Some(b)) => {
            let _ = a.add(&b);
        }
        (None, b) => *into = b,
        (Some(_), None) => {}
    }
}

fn add_counts(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k).or_default() += v;
    }
}

/// One outcome from the event loops' parts. Server usage comes from loop
/// 0, which measured it across barriers that every loop passed.
fn merge(parts: Vec<Outcome>) -> Outcome {
    let mut parts = parts.into_iter();
    let Some(mut out) = parts.next() else {
        return Outcome {
            report: Report::default(),
            tracker: None,
            failed: true,
            hists: Hists::default(),
            round_end_ns: 0,
        };
    };
    let mut merged = false;
    for p in parts {
        merged = true;
        let (r, o) = (&mut out.report, p.report);
        if let (Some(a), Some(b)) = (&mut r.connect, o.connect) {
            a.requested += b.requested;
            a.registered += b.registered;
            a.failed += b.failed;
            a.unfinished += b.unfinished;
            add_counts(&mut a.failures, b.failures);
            add_counts(&mut a.disconnected_while_held, b.disconnected_while_held);
            a.total_ms = a.total_ms.max(b.total_ms);
            a.held_s = a.held_s.max(b.held_s);
        }
        if let (Some(a), Some(b)) = (&mut r.churn, o.churn) {
            a.concurrency += b.concurrency;
            a.sessions_started += b.sessions_started;
            a.left_with_quit += b.left_with_quit;
            a.left_with_reset += b.left_with_reset;
            a.duration_s = a.duration_s.max(b.duration_s);
            add_counts(&mut a.errors, b.errors);
        }
        r.warnings.extend(o.warnings);
        if r.tls.is_none() {
            r.tls = o.tls;
        }
        add(&mut out.hists.registered, p.hists.registered);
        add(&mut out.hists.joined, p.hists.joined);
        add(&mut out.hists.churn, p.hists.churn);
        if let (Some(a), Some(b)) = (&mut out.tracker, p.tracker) {
            a.absorb(b);
        }
        out.round_end_ns = out.round_end_ns.max(p.round_end_ns);
    }
    if !merged {
        return out;
    }
    let r = &mut out.report;
    if let Some(c) = &mut r.connect {
        c.per_client = out.hists.registered.as_ref().and_then(percentiles);
        c.per_client_join = out.hists.joined.as_ref().and_then(percentiles);
        let registered = c.registered;
        if let Some(u) = &mut r.server_usage
            && let (Some(a), Some(b)) = (u.rss_before_kib, u.rss_after_connect_kib)
            && registered > 0
        {
            u.rss_per_client_bytes = Some((b as f64 - a as f64) * 1024.0 / registered as f64);
        }
    }
    if let Some(c) = &mut r.churn {
        c.registration = out.hists.churn.as_ref().and_then(percentiles);
        c.sessions_per_s = (c.left_with_quit + c.left_with_reset) as f64 / c.duration_s.max(1e-9);
    }
    if let Some(t) = &out.tracker {
        let f = t.report(out.round_end_ns);
        if let Some(u) = &mut r.server_usage
            && let Some(ms) = u.cpu_ms
        {
            u.cpu_ns_per_delivery = (f.received > 0).then(|| ms * 1e6 / f.received as f64);
        }
        r.fanout = Some(f);
    }
    out
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
    shared: &'a Shared,
    /// This event loop's number, 0..threads.
    index: u32,
}

impl Bench<'_> {
    /// This loop's share of `n` things numbered 0..n: those equal to its
    /// index modulo the number of loops.
    fn share(&self, n: u32) -> u32 {
        n.saturating_sub(self.index).div_ceil(self.shared.threads)
    }

    /// Waits for every other loop; true for the last to arrive.
    fn sync(&self) -> Result<bool, Error> {
        self.shared.wait()
    }

    /// Loop 0 shows progress; the others would only draw over it.
    fn progress(&self, len: u64, what: &str) -> ProgressBar {
        if self.index == 0 {
            progress(len, what)
        } else {
            ProgressBar::hidden()
        }
    }

    fn warn(&mut self, w: String) {
        self.out.report.warnings.push(w);
    }

    fn usage(&mut self) -> Option<&mut ServerUsage> {
        self.out.report.server_usage.as_mut()
    }

    /// The CPU time of every `--server-pid` together.
    fn server_cpu(&mut self) -> Option<u64> {
        self.sum_over_pids(sys::cpu_ns)
    }

    /// The RSS of every `--server-pid` together.
    fn server_rss(&mut self) -> Option<u64> {
        self.sum_over_pids(sys::rss_kib)
    }

    fn sum_over_pids<E: ToString>(&mut self, read: fn(u32) -> Result<u64, E>) -> Option<u64> {
        let pids = self.c.server_pid.clone();
        if pids.is_empty() {
            return None;
        }
        let mut sum = 0;
        for pid in pids {
            sum += read(pid).map_err(|e| self.warn(e.to_string())).ok()?;
        }
        Some(sum)
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

    /// Who is present at the start of a round, over every loop's members.
    fn share_presence(&self, members: &Members) -> Result<Vec<bool>, Error> {
        let poisoned = |_| "harness presence list poisoned";
        if self.shared.threads == 1 {
            return Ok(members.keys.iter().map(Option::is_some).collect());
        }
        {
            let mut present = self.shared.present.lock().map_err(poisoned)?;
            let threads = self.shared.threads as usize;
            for id in (self.index as usize..present.len()).step_by(threads) {
                present[id] = members.keys[id].is_some();
            }
        }
        self.sync()?;
        let present = self.shared.present.lock().map_err(poisoned)?.clone();
        Ok(present)
    }

    /// Connects `n` clients (this loop's share of them, joining the channel
    /// as `join` says, each set up as `how` says for its id), paced by
    /// `pace`, and fills the connect report. Gives up on clients not done
    /// after `deadline`. Measures server RSS around it.
    fn establish(
        &mut self,
        n: u32,
        pace: Pace,
        join: JoinMode,
        deadline: Option<Duration>,
        how: impl Fn(u32) -> Spawn,
    ) -> Result<Members, Error> {
        self.engine.join = join;
        self.sync()?;
        let rss_before = self.c.rss_baseline_kib.or_else(|| self.server_rss());
        let mut keys = vec![None; n as usize];
        let mine = self.share(n);
        let threads = self.shared.threads;
        let mut report = ConnectReport {
            requested: u64::from(mine),
            until: if join == JoinMode::None { "001" } else { "366" }.into(),
            deadline_s: deadline.map(|d| d.as_secs_f64()),
            ..ConnectReport::default()
        };
        let (mut registered, mut joined) = (new_histogram(), new_histogram());
        let what = if join == JoinMode::None {
            "connect"
        } else {
            "join"
        };
        let bar = self.progress(u64::from(mine), what);
        let start = Instant::now();
        let mut last_done = start;
        let (mut spawned, mut done) = (0u32, 0u32);
        let mut next_expire = start + EXPIRE_EVERY;
        let timeout = seconds("--timeout", self.c.timeout)?;
        // This loop's share of the pace.
        let rate = pace.rate / f64::from(threads);
        let concurrency = pace.concurrency.div_ceil(threads).max(1);
        while done < mine {
            if deadline.is_some_and(|d| start.elapsed() >= d) {
                report.unfinished = u64::from(mine - done);
                let d = deadline.unwrap_or_default().as_secs_f64();
                let reason = format!("not done after the {d} s deadline");
                report.failures.insert(reason, report.unfinished);
                report.failed += report.unfinished;
                break;
            }
            let allowed = if rate > 0.0 {
                (start.elapsed().as_secs_f64() * rate) as u64 + 1
            } else {
                u64::from(done) + u64::from(concurrency)
            };
            while spawned < mine && u64::from(spawned) < allowed {
                self.engine.spawn(how(self.index + spawned * threads));
                spawned += 1;
            }
            self.engine.turn(TICK)?;
            self.shared.check()?;
            if Instant::now() >= next_expire {
                self.engine.expire(timeout);
                next_expire = Instant::now() + EXPIRE_EVERY;
            }
            for note in self.engine.take_notes() {
                match note {
                    Note::Registered { id, key, elapsed } => {
                        let _ = registered.record(elapsed.as_nanos() as u64);
                        if join != JoinMode::None {
                            continue;
                        }
                        keys[id as usize] = Some(key);
                    }
                    Note::Joined { id, key, elapsed } => {
                        let _ = joined.record(elapsed.as_nanos() as u64);
                        keys[id as usize] = Some(key);
                    }
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
                    _ => continue,
                }
                done += 1;
                bar.inc(1);
                last_done = Instant::now();
            }
        }
        bar.finish_and_clear();
        report.registered = u64::from(mine) - report.failed;
        report.total_ms = last_done.duration_since(start).as_secs_f64() * 1e3;
        report.per_client = percentiles(&registered);
        report.per_client_join = percentiles(&joined);
        self.out.hists.registered = Some(registered);
        self.out.hists.joined = (join != JoinMode::None).then_some(joined);
        self.sync()?;
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
        let join = match (a.join, a.auto_join) {
            (true, _) => JoinMode::Send,
            (false, true) => JoinMode::Await,
            (false, false) => JoinMode::None,
        };
        let deadline = seconds("--deadline", a.deadline)?;
        let deadline = (!deadline.is_zero()).then_some(deadline);
        let mut members =
            self.establish(a.clients, a.pace, join, deadline, |_| Spawn::default())?;
        if a.hold > 0.0 {
            let bar = self.progress(a.hold.ceil() as u64, "hold (s)");
            let start = Instant::now();
            let hold = seconds("--hold", a.hold)?;
            while start.elapsed() < hold {
                self.engine.turn(TICK)?;
                self.shared.check()?;
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
        let present = self.share_presence(members)?;
        let threads = self.shared.threads;
        let receivers: Vec<bool> = (0..a.members)
            .map(|id| id % threads == self.index)
            .collect();
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
        self.sync()?;
        let cpu_before = self.server_cpu();
        let start_ns = self.engine.now_ns();
        let mut tracker = Tracker::new(
            round,
            k as usize,
            a.messages.unwrap_or(FANOUT_MESSAGES),
            present,
            slow.to_vec(),
            start_ns,
        );
        tracker.set_receivers(receivers);
        let expected = tracker.expected();
        self.engine.tracker = Some(tracker);
        check_rate(a.rate)?;
        let interval = if a.rate > 0.0 {
            Some(seconds("interval of --rate", 1.0 / a.rate)?)
        } else {
            None
        };
        self.engine.start_round(
            SendPlan {
                size: a.size,
                interval,
            },
            &senders,
        );
        let bar = self.progress(expected, &format!("round {round}"));
        let quiet = seconds("--quiet", self.c.quiet)?;
        let mut progress_at = Instant::now();
        let mut last_count = (0u64, 0u64);
        let mut slow_paused = stall.is_some();
        let mut fast_done_at: Option<Instant> = None;
        // With --threads: this loop's senders are done, this loop is done.
        let (mut own_senders_done, mut own_done) = (false, false);
        loop {
            self.engine.turn(TICK)?;
            self.shared.check()?;
            for note in self.engine.take_notes() {
                if let Note::Closed {
                    id,
                    intentional: false,
                    reason,
                    server_said,
                    ..
                } = note
                {
                    let (reason, said) = self.departure(id, reason, server_said);
                    // Not a member of the round (a querier of `history`).
                    let Some(key) = members.keys.get_mut(id as usize) else {
                        self.warn(format!("client {id} went away: {reason}"));
                        continue;
                    };
                    *key = None;
                    let explained = said || slow[id as usize];
                    if let Some(t) = &mut self.engine.tracker {
                        t.depart(id, Departure { reason, explained });
                    }
                }
            }
            if !own_senders_done && self.engine.senders_done() {
                own_senders_done = true;
                self.shared.senders_done.fetch_add(1, Ordering::SeqCst);
            }
            let Some(t) = &mut self.engine.tracker else {
                break;
            };
            self.shared.exchange_sent(t, self.index);
            let t = &*t;
            let count = (
                t.received,
                t.sent.iter().map(|&s| u64::from(s)).sum::<u64>(),
            );
            bar.set_position(count.0);
            if count != last_count {
                last_count = count;
                progress_at = Instant::now();
            }
            let sending_done = self.shared.senders_done.load(Ordering::SeqCst) == threads;
            if own_done {
                // Keep this loop's sockets served until every loop is done.
                if self.shared.finished.load(Ordering::SeqCst) == threads {
                    break;
                }
                continue;
            }
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
                    own_done = true;
                    self.shared.finished.fetch_add(1, Ordering::SeqCst);
                    continue;
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
        self.out.round_end_ns = end_ns;
        let cpu_after = self.server_cpu();
        // Every loop is past the round: the leader resets the round's shared
        // counters before anyone can start the next one.
        if self.sync()? {
            self.shared.senders_done.store(0, Ordering::SeqCst);
            self.shared.finished.store(0, Ordering::SeqCst);
            for s in &self.shared.sent {
                s.store(0, Ordering::SeqCst);
            }
        }
        self.sync()?;
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
        let mut members = self.establish(a.members, a.pace, JoinMode::Send, None, |_| {
            Spawn::default()
        })?;
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
        let mut members = self.establish(f.members, f.pace, JoinMode::Send, None, |id| Spawn {
            rcvbuf: (id >= first_slow).then_some(rcvbuf),
            caps: Caps::NONE,
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
        self.engine.join = JoinMode::Send;
        let concurrency = self.share(a.concurrency);
        let mut report = ChurnReport {
            concurrency: u64::from(concurrency),
            ..ChurnReport::default()
        };
        let mut hist = new_histogram();
        let duration = seconds("--duration", a.duration)?;
        let bar = self.progress(duration.as_secs(), "churn (s)");
        let timeout = seconds("--timeout", self.c.timeout)?;
        self.sync()?;
        let cpu_before = self.server_cpu();
        let start = Instant::now();
        let mut next_expire = start + EXPIRE_EVERY;
        let mut live = 0u32;
        let is_reset = |id: u32| id % 100 < u32::from(a.reset_percent);
        loop {
            let running = start.elapsed() < duration;
            while running && live < concurrency {
                self.engine.spawn(Spawn::default());
                live += 1;
                report.sessions_started += 1;
            }
            if !running && live == 0 {
                break;
            }
            self.engine.turn(TICK)?;
            self.shared.check()?;
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
                    Note::Joined { id, key, .. } => {
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
                    _ => {}
                }
            }
        }
        bar.finish_and_clear();
        report.duration_s = start.elapsed().as_secs_f64();
        report.sessions_per_s =
            (report.left_with_quit + report.left_with_reset) as f64 / report.duration_s.max(1e-9);
        report.registration = percentiles(&hist);
        self.out.hists.churn = Some(hist);
        self.sync()?;
        let cpu_after = self.server_cpu();
        if let (Some(b), Some(a), Some(u)) = (cpu_before, cpu_after, self.usage()) {
            u.cpu_ms = Some(a.saturating_sub(b) as f64 / 1e6);
        }
        self.out.report.churn = Some(report);
        Ok(())
    }

    fn history(&mut self, a: &HistoryArgs) -> Result<(), Error> {
        self.out.report.scenario = "history".into();
        let f = &a.fanout;
        // Members 0..N, as in `fanout`; queriers after them, in the
        // channel too (a server may keep a channel's history to members).
        let first_querier = f.members;
        let all = self.establish(f.members + a.queriers, f.pace, JoinMode::Send, None, |id| {
            Spawn {
                rcvbuf: None,
                caps: if id >= first_querier {
                    HISTORY_CAPS
                } else {
                    Caps::NONE
                },
            }
        })?;
        let (members, queriers) = all.keys.split_at(f.members as usize);
        let queriers: Vec<usize> = queriers.iter().flatten().copied().collect();
        let mut members = Members {
            keys: members.to_vec(),
        };
        if queriers
            .iter()
            .any(|&k| !self.engine.caps(k).has(Caps::BATCH))
        {
            return Err(
                "history: the server did not grant the batch capability, so \
                        the end of a CHATHISTORY answer cannot be told"
                    .into(),
            );
        }
        if queriers
            .iter()
            .any(|&k| !self.engine.caps(k).has(Caps::CHATHISTORY))
        {
            self.warn("the server does not offer draft/chathistory".to_owned());
        }
        self.engine.start_queries(&queriers, a.query_rate);
        let slow = vec![false; f.members as usize];
        let round = self.round(1, f, &mut members, &slow, None);
        let q = self.engine.stop_queries();
        let (report, tracker) = round?;
        let span = q.span.as_secs_f64().max(1e-9);
        self.out.report.history = Some(HistoryReport {
            queriers: queriers.len() as u64,
            answered: q.answered,
            answers_per_s: q.answered as f64 / span,
            lines: q.lines,
            lines_per_s: q.lines as f64 / span,
            latency: percentiles(&q.latency),
            duration_s: span,
            failures: q.failures,
        });
        self.out.report.fanout = Some(report);
        self.out.tracker = Some(tracker);
        Ok(())
    }

    fn reconnect(&mut self, a: &ReconnectArgs) -> Result<(), Error> {
        self.out.report.scenario = "reconnect".into();
        let members = self.establish(a.members, a.pace, JoinMode::Send, None, |_| Spawn {
            rcvbuf: None,
            caps: HISTORY_CAPS,
        })?;
        let sender = members.keys[0].ok_or("reconnect: the sender could not join")?;
        let needed = Caps::BATCH.with(Caps::MESSAGE_TAGS);
        if !self.engine.caps(sender).has(needed) {
            return Err(
                "reconnect: the server did not grant batch and message-tags, \
                        needed to learn msgids and where a CHATHISTORY answer ends"
                    .into(),
            );
        }
        if !self.engine.caps(sender).has(Caps::CHATHISTORY) {
            self.warn("the server does not offer draft/chathistory".to_owned());
        }
        let mut storm = Storm::new(a);
        let interval = seconds("interval of --rate", 1.0 / a.rate)?;
        let timeout = seconds("--timeout", self.c.timeout)?;
        let quiet = seconds("--quiet", self.c.quiet)?;
        let phases = [
            seconds("--before", a.before)?,
            seconds("--away", a.away)?,
            seconds("--after", a.after)?,
        ];
        self.engine.collect = true;
        self.sync()?;
        let cpu_before = self.server_cpu();
        let mut phase = Phase::Before;
        let mut phase_start = Instant::now();
        let mut next_send = phase_start;
        let mut next_expire = phase_start + EXPIRE_EVERY;
        let mut progress_at = phase_start;
        let bar = self.progress(u64::from(a.reconnecting), "reconnect");
        loop {
            self.engine.turn(TICK)?;
            let now = Instant::now();
            while phase != Phase::Settle && next_send <= now {
                let p = Payload {
                    round: 1,
                    sender: 0,
                    seq: storm.sent,
                    sent_ns: self.engine.now_ns(),
                };
                self.engine.send_payload(sender, p, a.size);
                storm.sent += 1;
                next_send += interval;
            }
            if now >= next_expire {
                self.engine.expire(timeout);
                next_expire = now + EXPIRE_EVERY;
            }
            for note in self.engine.take_notes() {
                if storm.note(note, self.engine) {
                    progress_at = Instant::now();
                }
            }
            bar.set_position(storm.settled());
            let elapsed = phase_start.elapsed();
            let next = match phase {
                Phase::Before if elapsed >= phases[0] => {
                    storm.drop_ns = self.engine.now_ns();
                    for &key in members.keys[storm.first_returning as usize..]
                        .iter()
                        .flatten()
                    {
                        self.engine.reset(key);
                    }
                    Some(Phase::Away)
                }
                Phase::Away if elapsed >= phases[1] => {
                    storm.storm_ns = self.engine.now_ns();
                    for r in 0..storm.returning.len() {
                        let id = self.engine.spawn(Spawn {
                            rcvbuf: None,
                            caps: HISTORY_CAPS,
                        });
                        storm.back.insert(id, r);
                    }
                    Some(Phase::Storm)
                }
                Phase::Storm if storm.settled() == u64::from(a.reconnecting) => {
                    storm.end_ns = Some(self.engine.now_ns());
                    Some(Phase::After)
                }
                Phase::Storm if elapsed >= timeout => {
                    storm.end_ns = Some(self.engine.now_ns());
                    storm.give_up("not caught up before --timeout");
                    Some(Phase::After)
                }
                Phase::After if elapsed >= phases[2] => Some(Phase::Settle),
                Phase::Settle if storm.complete() => break,
                Phase::Settle if progress_at.elapsed() > quiet => {
                    self.warn(format!(
                        "no progress for {:.1} s, stopped waiting for deliveries",
                        quiet.as_secs_f64()
                    ));
                    break;
                }
                _ => None,
            };
            if let Some(next) = next {
                phase = next;
                phase_start = Instant::now();
                progress_at = phase_start;
            }
        }
        bar.finish_and_clear();
        self.engine.collect = false;
        let cpu_after = self.server_cpu();
        if let (Some(b), Some(a), Some(u)) = (cpu_before, cpu_after, self.usage()) {
            u.cpu_ms = Some(a.saturating_sub(b) as f64 / 1e6);
        }
        let report = storm.report(a);
        if report.storm.is_none() {
            self.warn(
                "no observer delivery of a message sent during the storm: raise --rate".into(),
            );
        }
        self.out.report.reconnect = Some(report);
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Everyone present: the observers' normal latency.
    Before,
    /// The reconnecting members are gone.
    Away,
    /// They are back, fetching.
    Storm,
    /// All caught up; the talk goes on a little.
    After,
    /// The talk has stopped; waiting for the last deliveries.
    Settle,
}

/// The sequence numbers one member has seen, live or fetched.
#[derive(Default)]
struct Seen {
    bits: Vec<u64>,
    count: u64,
}

impl Seen {
    /// True when `seq` is new.
    fn insert(&mut self, seq: u32) -> bool {
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        let new = self.bits[word] & bit == 0;
        self.bits[word] |= bit;
        self.count += u64::from(new);
        new
    }
}

/// One reconnecting member, across its two connections.
#[derive(Default)]
struct Returning {
    seen: Seen,
    /// The last msgid its first connection saw live.
    last_msgid: Option<u64>,
    /// Messages first seen in a CHATHISTORY answer.
    fetched: u64,
    caught_up_ns: Option<u64>,
    failed: Option<String>,
}

/// The reconnect scenario's bookkeeping. Client ids: 0 sends, 1..=O
/// observe, `first_returning..N` drop and come back under new ids (`back`).
struct Storm {
    observers: Vec<Seen>,
    first_returning: u32,
    returning: Vec<Returning>,
    back: HashMap<u32, usize>,
    sent: u32,
    requests: u64,
    drop_ns: u64,
    storm_ns: u64,
    end_ns: Option<u64>,
    normal: Histogram<u64>,
    during: Histogram<u64>,
}

impl Storm {
    fn new(a: &ReconnectArgs) -> Storm {
        let mut returning = Vec::new();
        returning.resize_with(a.reconnecting as usize, Returning::default);
        let mut observers = Vec::new();
        observers.resize_with(a.observers as usize, Seen::default);
        Storm {
            observers,
            first_returning: a.members - a.reconnecting,
            returning,
            back: HashMap::new(),
            sent: 0,
            requests: 0,
            drop_ns: u64::MAX,
            storm_ns: u64::MAX,
            end_ns: None,
            normal: new_histogram(),
            during: new_histogram(),
        }
    }

    /// The reconnecting member a client id stands for, on either connection.
    fn returning(&mut self, id: u32) -> Option<&mut Returning> {
        let r = match self.back.get(&id) {
            Some(&r) => r,
            None => id.checked_sub(self.first_returning)? as usize,
        };
        self.returning.get_mut(r)
    }

    /// Takes in one note; true when it is progress.
    fn note(&mut self, note: Note, engine: &mut Engine) -> bool {
        match note {
            Note::Message {
                id,
                payload: p,
                msgid,
                history,
                at_ns,
            } => {
                if p.round != 1 || p.sender != 0 || p.seq >= self.sent {
                    return false;
                }
                if let Some(o) = self.observers.get_mut((id as usize).wrapping_sub(1)) {
                    if !o.insert(p.seq) || history {
                        return false;
                    }
                    let latency = at_ns.saturating_sub(p.sent_ns).max(1);
                    if p.sent_ns < self.drop_ns {
                        let _ = self.normal.record(latency);
                    } else if p.sent_ns >= self.storm_ns
                        && self.end_ns.is_none_or(|end| p.sent_ns <= end)
                    {
                        let _ = self.during.record(latency);
                    }
                    return true;
                }
                let first_connection = !self.back.contains_key(&id);
                let Some(r) = self.returning(id) else {
                    return false;
                };
                if first_connection && !history {
                    r.last_msgid = msgid.or(r.last_msgid);
                }
                let new = r.seen.insert(p.seq);
                if new && history {
                    r.fetched += 1;
                }
                new
            }
            Note::Joined { id, key, .. } => {
                let Some(r) = self.back.get(&id).and_then(|&r| self.returning.get(r)) else {
                    return false;
                };
                match r.last_msgid {
                    Some(m) => engine.request_history(key, "AFTER", &format!("msgid={m}")),
                    None => engine.request_history(key, "LATEST", "*"),
                }
                self.requests += 1;
                true
            }
            Note::History {
                id,
                key,
                lines,
                last_msgid,
                ..
            } => {
                let now = engine.now_ns();
                let Some(r) = self
                    .back
                    .contains_key(&id)
                    .then(|| self.returning(id))
                    .flatten()
                else {
                    return false;
                };
                match last_msgid {
                    // A full page: there may be more.
                    Some(m) if lines >= HISTORY_LIMIT => {
                        engine.request_history(key, "AFTER", &format!("msgid={m}"));
                        self.requests += 1;
                    }
                    _ => r.caught_up_ns = Some(now),
                }
                true
            }
            Note::HistoryFailed { id, reason } => {
                if self.back.contains_key(&id)
                    && let Some(r) = self.returning(id)
                {
                    r.failed.get_or_insert(reason);
                }
                true
            }
            Note::Closed {
                id,
                intentional: false,
                reason,
                ..
            } => {
                if self.back.contains_key(&id)
                    && let Some(r) = self.returning(id)
                {
                    r.failed.get_or_insert(reason);
                }
                true
            }
            _ => false,
        }
    }

    /// Reconnecting members caught up or failed.
    fn settled(&self) -> u64 {
        self.returning
            .iter()
            .filter(|r| r.caught_up_ns.is_some() || r.failed.is_some())
            .count() as u64
    }

    fn give_up(&mut self, reason: &str) {
        for r in &mut self.returning {
            if r.caught_up_ns.is_none() {
                r.failed.get_or_insert_with(|| reason.to_owned());
            }
        }
    }

    /// Every observer and every member that caught up has seen all.
    fn complete(&self) -> bool {
        let all = u64::from(self.sent);
        self.observers.iter().all(|o| o.count >= all)
            && self
                .returning
                .iter()
                .filter(|r| r.failed.is_none())
                .all(|r| r.seen.count >= all)
    }

    fn report(&self, a: &ReconnectArgs) -> ReconnectReport {
        let all = u64::from(self.sent);
        let latency = |h: &Histogram<u64>| {
            let q = |v: f64| h.value_at_quantile(v) as f64 / 1000.0;
            (!h.is_empty()).then(|| Latency {
                p50_us: q(0.5),
                p99_us: q(0.99),
                p999_us: q(0.999),
                max_us: h.max() as f64 / 1000.0,
            })
        };
        let (normal, during) = (latency(&self.normal), latency(&self.during));
        let mut catch_up = new_histogram();
        let mut failures: BTreeMap<String, u64> = BTreeMap::new();
        let (mut gaps, mut members_with_gaps) = (0, 0);
        for r in &self.returning {
            if let Some(f) = &r.failed {
                *failures.entry(f.clone()).or_default() += 1;
                continue;
            }
            if let Some(t) = r.caught_up_ns {
                let _ = catch_up.record(t.saturating_sub(self.storm_ns).max(1));
            }
            let missing = all.saturating_sub(r.seen.count);
            gaps += missing;
            members_with_gaps += u64::from(missing > 0);
        }
        ReconnectReport {
            members: u64::from(a.members),
            reconnecting: u64::from(a.reconnecting),
            observers: u64::from(a.observers),
            sent: all,
            normal,
            storm: during,
            storm_p99_ratio: normal
                .zip(during)
                .filter(|(n, _)| n.p99_us > 0.0)
                .map(|(n, d)| d.p99_us / n.p99_us),
            normal_samples: self.normal.len(),
            storm_samples: self.during.len(),
            caught_up: self
                .returning
                .iter()
                .filter(|r| r.failed.is_none() && r.caught_up_ns.is_some())
                .count() as u64,
            all_caught_up_ms: self
                .end_ns
                .map_or(0.0, |e| e.saturating_sub(self.storm_ns) as f64 / 1e6),
            catch_up: percentiles(&catch_up),
            requests: self.requests,
            fetched: self.returning.iter().map(|r| r.fetched).sum(),
            gaps,
            members_with_gaps,
            observers_lost: self
                .observers
                .iter()
                .map(|o| all.saturating_sub(o.count))
                .sum(),
            failures,
        }
    }
}
