//! Runs the real `groupchat-bench` binary against a real `groupchatd` at small
//! sizes and checks what it reports: counts, reasons and exit status, never
//! speed.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Output};

use common::tls::TestCert;
use common::{Daemon, TempDir, withholding};
use serde_json::Value;

/// Limits as in production, except that a slow reader is given up on soon
/// after its send queue passes the soft limit; as in bench/groupchatd.toml,
/// no per-address limit (every client is on 127.0.0.1) and no flood
/// control (senders go as fast as the socket takes their lines).
const CONFIG: &str = "\
[limits]
sendq_soft = 65536
sendq_hard = 1048576
sendq_soft_seconds = 3
max_clients_per_ip = 0

[flood]
enabled = false
";

fn bench(daemon: &Daemon, args: &[&str]) -> (Output, Value) {
    let pid = daemon.child.id().to_string();
    let mut all = vec!["--server-pid", &pid, "--quiet", "10"];
    all.extend_from_slice(args);
    bench_at(daemon.addr, &all)
}

/// Runs the harness against `server` with `--json` and `args`.
fn bench_at(server: SocketAddr, args: &[&str]) -> (Output, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_groupchat-bench"))
        .args(["--server", &server.to_string(), "--json"])
        .args(args)
        .output()
        .expect("run groupchat-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "groupchat-bench {args:?} printed no JSON ({e}); stderr:\n{stderr}\nstdout:\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out, json)
}

fn num(v: &Value, path: &str) -> u64 {
    v.pointer(path)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{path} missing or not a count in {v:#}"))
}

fn assert_clean_fanout(json: &Value, members: u64, senders: u64, messages: u64) {
    assert_eq!(num(json, "/connect/failed"), 0, "{json:#}");
    assert_eq!(num(json, "/connect/registered"), members, "{json:#}");
    let expected = senders * messages * (members - 1);
    assert_eq!(num(json, "/fanout/expected"), expected, "{json:#}");
    assert_eq!(num(json, "/fanout/received"), expected, "{json:#}");
    for field in ["lost", "duplicated", "out_of_order", "stray"] {
        assert_eq!(
            num(json, &format!("/fanout/{field}")),
            0,
            "{field}: {json:#}"
        );
    }
    assert_eq!(json["silent_loss"], false);
    assert_eq!(json["verdict"], "ok");
    let latency = &json["fanout"]["latency"];
    let (p50, max) = (latency["p50_us"].as_f64(), latency["max_us"].as_f64());
    assert!(
        p50.zip(max).is_some_and(|(p50, max)| p50 <= max),
        "{json:#}"
    );
}

#[test]
fn connects_and_registers_every_client() {
    let daemon = Daemon::start(CONFIG);
    let (out, json) = bench(&daemon, &["connect", "-n", "50", "--hold", "0.2"]);
    assert!(out.status.success(), "{json:#}");
    assert_eq!(num(&json, "/connect/requested"), 50);
    assert_eq!(num(&json, "/connect/registered"), 50);
    assert_eq!(num(&json, "/connect/failed"), 0);
    assert!(
        json["connect"]["disconnected_while_held"]
            .as_object()
            .is_some_and(|m| m.is_empty())
    );
    assert!(num(&json, "/server_usage/rss_after_connect_kib") > 0);
}

#[test]
fn fanout_delivers_every_message_once_and_in_order() {
    let daemon = Daemon::start(CONFIG);
    let (out, json) = bench(&daemon, &["fanout", "-n", "50", "-k", "5", "-m", "40"]);
    assert!(out.status.success(), "{json:#}");
    assert_clean_fanout(&json, 50, 5, 40);
    assert!(
        json["fanout"]["disconnects"]
            .as_object()
            .is_some_and(|m| m.is_empty())
    );
    let per_sender = json["fanout"]["per_sender"].as_array().expect("per_sender");
    assert_eq!(per_sender.len(), 5);
    assert!(per_sender.iter().all(|s| s["sent"] == 40 && s["lost"] == 0));
}

#[test]
fn paced_fanout_is_complete_too() {
    let daemon = Daemon::start(CONFIG);
    let (out, json) = bench(
        &daemon,
        &[
            "fanout", "-n", "20", "-k", "4", "-m", "10", "--rate", "50", "--size", "300",
        ],
    );
    assert!(out.status.success(), "{json:#}");
    assert_clean_fanout(&json, 20, 4, 10);
}

#[test]
fn slow_members_are_disconnected_and_fast_ones_get_everything() {
    let daemon = Daemon::start(CONFIG);
    let (out, json) = bench(
        &daemon,
        &[
            "slow", "-n", "20", "-k", "4", "-m", "4000", "--size", "400", "--slow", "3", "--stall",
            "4",
        ],
    );
    assert!(out.status.success(), "{json:#}");
    assert_eq!(num(&json, "/baseline/lost"), 0, "{json:#}");
    assert_eq!(num(&json, "/slow/slow_members"), 3, "{json:#}");
    assert_eq!(num(&json, "/slow/slow_disconnected"), 3, "{json:#}");
    assert_eq!(num(&json, "/fanout/lost_silent"), 0, "{json:#}");
    // Whatever was lost was lost at the slow members, with the server's reason.
    let lost = num(&json, "/fanout/lost");
    assert_eq!(num(&json, "/fanout/lost_explained"), lost);
    assert!(lost > 0, "slow members missed nothing? {json:#}");
    let reasons = json["slow"]["reasons"].as_object().expect("reasons");
    assert!(
        reasons.keys().all(|r| r.contains("SendQ exceeded")),
        "{reasons:?}"
    );
}

#[test]
fn churn_sessions_end_without_errors() {
    let daemon = Daemon::start(CONFIG);
    let (out, json) = bench(
        &daemon,
        &["churn", "-c", "10", "--duration", "1", "-m", "2"],
    );
    assert!(out.status.success(), "{json:#}");
    let quit = num(&json, "/churn/left_with_quit");
    let reset = num(&json, "/churn/left_with_reset");
    assert!(quit > 0 && reset > 0, "{json:#}");
    assert_eq!(
        quit + reset,
        num(&json, "/churn/sessions_started"),
        "{json:#}"
    );
    assert!(
        json["churn"]["errors"]
            .as_object()
            .is_some_and(|m| m.is_empty())
    );
}

fn refused(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_groupchat-bench"))
        .args(args)
        .output()
        .expect("run groupchat-bench");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn refuses_to_load_anything_but_loopback() {
    let err = refused(&["--server", "192.0.2.1:6667", "connect", "-n", "1"]);
    assert!(err.contains("loopback"), "{err}");
}

#[test]
fn says_up_front_when_clients_exceed_the_file_limit() {
    let err = refused(&["--server", "127.0.0.1:9", "connect", "-n", "4000000"]);
    assert!(err.contains("RLIMIT_NOFILE"), "{err}");
}

#[test]
fn spreads_clients_over_the_source_addresses_asked_for() {
    let daemon = Daemon::start(CONFIG);
    let (out, json) = bench(&daemon, &["--sources", "3", "connect", "-n", "30"]);
    assert!(out.status.success(), "{json:#}");
    assert_eq!(num(&json, "/connect/registered"), 30);
    for source in ["127.0.0.1:", "127.0.0.2:", "127.0.0.3:"] {
        daemon.expect_log(&format!("from {source}"));
    }
}

#[test]
fn reports_connect_failures_with_their_reason_and_fails() {
    // A loopback port nobody listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_groupchat-bench"))
        .args(["--server", &format!("127.0.0.1:{port}"), "--json"])
        .args(["connect", "-n", "3"])
        .output()
        .expect("run groupchat-bench");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(num(&json, "/connect/failed"), 3, "{json:#}");
    assert_eq!(
        num(&json, "/connect/failures/connect: Connection refused"),
        3,
        "{json:#}"
    );
    assert!(
        json["verdict"]
            .as_str()
            .is_some_and(|v| v.starts_with("FAIL"))
    );
}

/// Runs the harness with `args` (split at blanks) and expects success.
fn bench_ok(daemon: &Daemon, args: &str) -> Value {
    let args: Vec<&str> = args.split_whitespace().collect();
    let (out, json) = bench(daemon, &args);
    assert!(out.status.success(), "{args:?}: {json:#}");
    json
}

#[test]
fn threads_split_the_members_and_merge_every_delivery() {
    let daemon = Daemon::start(CONFIG);
    let json = bench_ok(&daemon, "--threads 3 fanout -n 40 -k 5 -m 30");
    // Receivers and senders sit in different loops: 3 trackers merged.
    assert_clean_fanout(&json, 40, 5, 30);
    let per_sender = json["fanout"]["per_sender"].as_array().expect("per_sender");
    assert!(per_sender.iter().all(|s| s["sent"] == 30), "{json:#}");
}

#[test]
fn threads_merge_paced_rounds_connects_and_churn() {
    let daemon = Daemon::start(CONFIG);
    let json = bench_ok(&daemon, "--threads 2 fanout -n 21 -k 3 -m 5 --rate 50");
    assert_clean_fanout(&json, 21, 3, 5);

    let json = bench_ok(&daemon, "--threads 4 connect -n 30");
    assert_eq!(num(&json, "/connect/requested"), 30, "{json:#}");
    assert_eq!(num(&json, "/connect/registered"), 30, "{json:#}");

    let json = bench_ok(&daemon, "--threads 2 churn -c 6 --duration 0.5");
    assert_eq!(num(&json, "/churn/concurrency"), 6, "{json:#}");
    let ended = num(&json, "/churn/left_with_quit") + num(&json, "/churn/left_with_reset");
    assert_eq!(ended, num(&json, "/churn/sessions_started"), "{json:#}");
}

#[test]
fn auto_join_waits_for_the_join_and_the_names_list() {
    let daemon = Daemon::start(CONFIG);
    let json = bench_ok(
        &daemon,
        "--channel #lobby --threads 2 connect -n 20 --auto-join",
    );
    assert_eq!(json["connect"]["until"], "366", "{json:#}");
    assert_eq!(num(&json, "/connect/registered"), 20, "{json:#}");
    assert!(json["connect"]["per_client_join"]["max_ms"].is_number());
}

#[test]
fn clients_not_joined_by_the_deadline_are_reported_as_not_done() {
    let daemon = Daemon::start(CONFIG);
    // Nobody is put into #bench without asking: these never get their JOIN.
    let (out, json) = bench(
        &daemon,
        &["connect", "-n", "5", "--auto-join", "--deadline", "0.5"],
    );
    assert_eq!(out.status.code(), Some(1), "{json:#}");
    assert_eq!(num(&json, "/connect/unfinished"), 5, "{json:#}");
    assert_eq!(num(&json, "/connect/failed"), 5, "{json:#}");
    assert_eq!(
        num(&json, "/connect/failures/not done after the 0.5 s deadline"),
        5,
        "{json:#}"
    );
}

#[test]
fn refuses_threads_for_the_slow_scenario() {
    let err = refused(&["--threads", "2", "slow", "-n", "10"]);
    assert!(err.contains("--threads"), "{err}");
}

/// Runs the harness against the withholding fake server (see
/// `common::withholding`), which drops every message numbered `withheld`:
/// 6 members, 2 senders, 5 messages each, over TLS when `tls`.
fn against_fake(withheld: u32, tls: bool) -> (Output, Value) {
    let dir = TempDir::new();
    let cert = TestCert::make(&dir.path, "fake", 1, 2);
    let server = withholding::start(withheld, tls.then_some(&cert));
    let mut args = vec!["--quiet", "1", "fanout", "-n", "6", "-k", "2", "-m", "5"];
    if tls {
        args.insert(0, "--tls");
    }
    bench_at(server, &args)
}

/// The last line of each sender's burst never comes, and the server says
/// nothing about it: the round still ends (after --quiet), every missing
/// delivery counts as lost without a reason, and the run fails.
fn withheld_last_lines_are_reported_lost(tls: bool) {
    let (out, json) = against_fake(4, tls);
    assert_eq!(out.status.code(), Some(1), "{json:#}");
    assert_eq!(num(&json, "/fanout/expected"), 2 * 5 * 5, "{json:#}");
    assert_eq!(num(&json, "/fanout/received"), 2 * 4 * 5, "{json:#}");
    assert_eq!(num(&json, "/fanout/lost"), 2 * 5, "{json:#}");
    assert_eq!(num(&json, "/fanout/lost_silent"), 2 * 5, "{json:#}");
    let per_sender = json["fanout"]["per_sender"].as_array().expect("per_sender");
    assert!(per_sender.iter().all(|s| s["lost"] == 5), "{json:#}");
    assert_eq!(json["silent_loss"], true);
    assert!(
        json["verdict"]
            .as_str()
            .is_some_and(|v| v.starts_with("FAIL")),
        "{json:#}"
    );
}

#[test]
fn a_withheld_last_line_is_reported_lost() {
    withheld_last_lines_are_reported_lost(false);
}

#[test]
fn a_withheld_last_line_is_reported_lost_over_tls() {
    withheld_last_lines_are_reported_lost(true);
}

#[test]
fn tls_fanout_through_the_fake_server_gets_every_last_line() {
    // Nothing withheld: what is lost here, the harness lost, e.g. by
    // leaving decrypted lines inside rustls.
    let (out, json) = against_fake(u32::MAX, true);
    assert!(out.status.success(), "{json:#}");
    assert_clean_fanout(&json, 6, 2, 5);
    assert!(
        json["tls"]
            .as_str()
            .is_some_and(|t| t.starts_with("TLSv1_3")),
        "{json:#}"
    );
}

/// The daemon with `CONFIG` and a `[tls]` listener serving a fresh test
/// certificate (kept in the returned directory), and that listener's address.
fn tls_daemon() -> (Daemon, SocketAddr, TempDir) {
    let dir = TempDir::new();
    let cert = TestCert::make(&dir.path, "daemon", 1, 2);
    let daemon = Daemon::start(&format!("{CONFIG}\n{}", cert.config()));
    let line = daemon.expect_log("listening for TLS on ");
    let addr = line
        .split("listening for TLS on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (daemon, addr, dir)
}

/// Runs the harness with `--tls` against the daemon's TLS listener and
/// expects success.
fn bench_tls_ok(daemon: &Daemon, tls: SocketAddr, args: &str) -> Value {
    let pid = daemon.child.id().to_string();
    let mut all = vec!["--tls", "--server-pid", &pid, "--quiet", "10"];
    all.extend(args.split_whitespace());
    let (out, json) = bench_at(tls, &all);
    assert!(out.status.success(), "{args:?}: {json:#}");
    assert!(
        json["tls"]
            .as_str()
            .is_some_and(|t| t.starts_with("TLSv1_3")),
        "{json:#}"
    );
    json
}

#[test]
fn tls_clients_connect_and_get_every_message() {
    let (daemon, tls, _dir) = tls_daemon();
    let json = bench_tls_ok(&daemon, tls, "connect -n 50");
    assert_eq!(num(&json, "/connect/registered"), 50, "{json:#}");
    assert_eq!(num(&json, "/connect/failed"), 0, "{json:#}");

    let json = bench_tls_ok(&daemon, tls, "fanout -n 50 -k 5 -m 40");
    assert_clean_fanout(&json, 50, 5, 40);
    let json = bench_tls_ok(
        &daemon,
        tls,
        "--threads 2 fanout -n 30 -k 3 -m 200 --size 400",
    );
    assert_clean_fanout(&json, 30, 3, 200);
    let json = bench_tls_ok(&daemon, tls, "fanout -n 20 -k 4 -m 10 --rate 50");
    assert_clean_fanout(&json, 20, 4, 10);
}

/// Runs the harness with `--websocket` against the daemon's web listener
/// and expects success.
fn bench_ws_ok(daemon: &Daemon, web: SocketAddr, args: &str) -> Value {
    let pid = daemon.child.id().to_string();
    let mut all = vec!["--websocket", "--server-pid", &pid, "--quiet", "10"];
    all.extend(args.split_whitespace());
    let (out, json) = bench_at(web, &all);
    assert!(out.status.success(), "{args:?}: {json:#}");
    json
}

#[test]
fn websocket_clients_connect_and_get_every_message() {
    let daemon = Daemon::start(&format!("{CONFIG}\n[web]\nlisten = [\"127.0.0.1:0\"]\n"));
    let web = daemon.logged_addrs("listening for web on ")[0];
    let json = bench_ws_ok(&daemon, web, "connect -n 50 --hold 0.2");
    assert_eq!(num(&json, "/connect/registered"), 50, "{json:#}");
    assert_eq!(num(&json, "/connect/failed"), 0, "{json:#}");

    let json = bench_ws_ok(&daemon, web, "fanout -n 50 -k 5 -m 40");
    assert_clean_fanout(&json, 50, 5, 40);
    // Frames of every size class, lines cut across reads, two loops.
    let json = bench_ws_ok(
        &daemon,
        web,
        "--threads 2 fanout -n 30 -k 3 -m 200 --size 400",
    );
    assert_clean_fanout(&json, 30, 3, 200);
    let json = bench_ws_ok(&daemon, web, "fanout -n 20 -k 4 -m 10 --rate 50");
    assert_clean_fanout(&json, 20, 4, 10);
    // The plain port is not a web listener: no 101, and the harness says so.
    let (out, json) = bench_at(daemon.addr, &["--websocket", "connect", "-n", "2"]);
    assert_eq!(out.status.code(), Some(1), "{json:#}");
    assert_eq!(num(&json, "/connect/failed"), 2, "{json:#}");
    let failures = json["connect"]["failures"].as_object().expect("failures");
    assert!(failures.keys().all(|r| r.contains("WebSocket")), "{json:#}");
}

#[test]
fn wss_clients_connect_and_get_every_message() {
    let dir = TempDir::new();
    let cert = TestCert::make(&dir.path, "daemon", 1, 2);
    let daemon = Daemon::start(&format!(
        "{CONFIG}\n{}\n[web]\ntls_listen = [\"127.0.0.1:0\"]\n",
        cert.config()
    ));
    let wss = daemon.logged_addrs("listening for web over TLS on ")[0];
    let over_tls = |json: &Value| {
        assert!(
            json["tls"]
                .as_str()
                .is_some_and(|t| t.starts_with("TLSv1_3")),
            "{json:#}"
        );
    };
    let json = bench_ws_ok(&daemon, wss, "--tls connect -n 30");
    assert_eq!(num(&json, "/connect/registered"), 30, "{json:#}");
    over_tls(&json);
    let json = bench_ws_ok(&daemon, wss, "--tls fanout -n 30 -k 3 -m 50 --size 400");
    assert_clean_fanout(&json, 30, 3, 50);
    over_tls(&json);
}

/// `CONFIG` with history kept, in the daemon's own directory.
fn history_config(enabled: bool) -> String {
    format!("{CONFIG}\n[history]\nenabled = {enabled}\n")
}

#[test]
fn history_queries_are_answered_while_a_fanout_runs() {
    let daemon = Daemon::start(&history_config(true));
    let json = bench_ok(
        &daemon,
        "history -n 20 -k 2 -m 100 --rate 100 --size 100 -q 3",
    );
    // Queriers connect and join too, but are no members of the round.
    assert_eq!(num(&json, "/connect/registered"), 23, "{json:#}");
    assert_eq!(num(&json, "/fanout/members"), 20, "{json:#}");
    let expected = 2 * 100 * 19;
    assert_eq!(num(&json, "/fanout/expected"), expected, "{json:#}");
    assert_eq!(num(&json, "/fanout/received"), expected, "{json:#}");
    assert_eq!(num(&json, "/fanout/lost"), 0, "{json:#}");
    assert_eq!(num(&json, "/fanout/stray"), 0, "{json:#}");
    let h = &json["history"];
    assert_eq!(num(&json, "/history/queriers"), 3, "{json:#}");
    assert!(num(&json, "/history/answered") > 0, "{json:#}");
    // A full channel answers 100 lines; early ones may find fewer.
    assert!(num(&json, "/history/lines") > 100, "{json:#}");
    assert!(
        h["answers_per_s"].as_f64().is_some_and(|r| r > 0.0),
        "{h:#}"
    );
    let (p50, max) = (
        h["latency"]["p50_ms"].as_f64(),
        h["latency"]["max_ms"].as_f64(),
    );
    assert!(p50.zip(max).is_some_and(|(p50, max)| p50 <= max), "{h:#}");
    assert!(
        h["failures"].as_object().is_some_and(|m| m.is_empty()),
        "{h:#}"
    );
    assert_eq!(json["verdict"], "ok");
}

#[test]
fn paced_queries_ask_no_faster_than_their_rate() {
    let daemon = Daemon::start(&history_config(true));
    let json = bench_ok(
        &daemon,
        "history -n 10 -k 1 -m 100 --rate 50 --size 100 -q 3 --query-rate 5",
    );
    // Back to back, three queriers of a small channel ask hundreds a
    // second; paced, at most the rate over the span, plus the first
    // request of each. Slowness can only lower the count.
    let answered = num(&json, "/history/answered") as f64;
    let rate = json["history"]["answers_per_s"].as_f64().unwrap_or(0.0);
    assert!(answered > 0.0 && rate > 0.0, "{json:#}");
    let span = answered / rate;
    assert!(
        answered <= 5.0 * span + 3.0,
        "{answered} in {span} s: {json:#}"
    );
    assert_eq!(json["verdict"], "ok");
}

#[test]
fn history_refused_by_the_server_fails_the_run() {
    let daemon = Daemon::start(&history_config(false));
    let (out, json) = bench(
        &daemon,
        &["history", "-n", "5", "-k", "1", "-m", "5", "-q", "2"],
    );
    assert_eq!(out.status.code(), Some(1), "{json:#}");
    assert_eq!(num(&json, "/history/answered"), 0, "{json:#}");
    let failures = json["history"]["failures"].as_object().expect("failures");
    assert!(
        failures.keys().all(|f| f.starts_with("FAIL CHATHISTORY")),
        "{failures:?}"
    );
    assert!(
        json["verdict"]
            .as_str()
            .is_some_and(|v| v.starts_with("FAIL")),
        "{json:#}"
    );
}

#[test]
fn history_needs_the_batch_capability() {
    let server = withholding::start(u32::MAX, None);
    let out = Command::new(env!("CARGO_BIN_EXE_groupchat-bench"))
        .args(["--server", &server.to_string(), "--json"])
        .args(["history", "-n", "4", "-k", "1", "-m", "2", "-q", "1"])
        .output()
        .expect("run groupchat-bench");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("batch capability"), "{err}");
}

#[test]
fn reconnecting_members_fetch_everything_they_missed() {
    let daemon = Daemon::start(&history_config(true));
    let json = bench_ok(
        &daemon,
        "reconnect -n 30 -r 20 --observers 3 --rate 200 --before 0.5 --away 0.5 --after 0.3",
    );
    let r = &json["reconnect"];
    assert_eq!(num(&json, "/reconnect/reconnecting"), 20, "{r:#}");
    assert_eq!(num(&json, "/reconnect/caught_up"), 20, "{r:#}");
    assert_eq!(num(&json, "/reconnect/gaps"), 0, "{r:#}");
    assert_eq!(num(&json, "/reconnect/members_with_gaps"), 0, "{r:#}");
    assert_eq!(num(&json, "/reconnect/observers_lost"), 0, "{r:#}");
    // Away for half a second at 200 messages/s: each one fetched some.
    assert!(num(&json, "/reconnect/fetched") >= 20, "{r:#}");
    assert!(num(&json, "/reconnect/requests") >= 20, "{r:#}");
    assert!(num(&json, "/reconnect/normal_samples") > 0, "{r:#}");
    // A storm too short for any message to be sent in it has no ratio.
    let storm = num(&json, "/reconnect/storm_samples");
    assert_eq!(r["storm_p99_ratio"].is_number(), storm > 0, "{r:#}");
    assert!(
        r["all_caught_up_ms"].as_f64().is_some_and(|t| t > 0.0),
        "{r:#}"
    );
    assert!(
        r["failures"].as_object().is_some_and(|m| m.is_empty()),
        "{r:#}"
    );
    assert_eq!(json["verdict"], "ok");
}

#[test]
fn reconnect_pages_through_more_than_one_answer() {
    let daemon = Daemon::start(&history_config(true));
    // 1.5 s away at 200 messages/s: about 300 missed, three answers or more.
    let json = bench_ok(
        &daemon,
        "reconnect -n 8 -r 4 --observers 2 --rate 200 --before 0.3 --away 1.5 --after 0.2",
    );
    let r = &json["reconnect"];
    assert_eq!(num(&json, "/reconnect/caught_up"), 4, "{r:#}");
    assert_eq!(num(&json, "/reconnect/gaps"), 0, "{r:#}");
    assert!(num(&json, "/reconnect/requests") >= 4 * 3, "{r:#}");
    assert_eq!(json["verdict"], "ok");
}
