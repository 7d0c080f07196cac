//! `/metrics` in the Prometheus text format, rendered from the same
//! `Status` that `groupchatctl status` shows, so the two never disagree,
//! plus the loop's turn-time histogram.

use crate::admin::protocol::Status;
use crate::stats::{TURN_BUCKETS, TurnTimes};
use std::fmt::Write;

/// The exposition text for `status` and the turn times.
pub fn render(status: &Status, turns: &TurnTimes) -> String {
    let mut out = String::new();
    let c = &status.clients;
    let wss = c.websocket_tls;
    let ws = c.websocket.saturating_sub(wss);
    let tls = c.tls.saturating_sub(wss);
    let plain = c.connected.saturating_sub(tls + c.websocket);
    family(
        &mut out,
        "clients",
        "gauge",
        "Connected clients by transport.",
    );
    for (transport, count) in [("plain", plain), ("tls", tls), ("ws", ws), ("wss", wss)] {
        line(
            &mut out,
            "clients",
            &format!("transport=\"{transport}\""),
            count,
        );
    }
    let gauges: [(&str, &str, u64); 7] = [
        (
            "clients_registered",
            "Registered clients.",
            c.registered as u64,
        ),
        (
            "clients_peak",
            "Most registered clients at once.",
            c.peak as u64,
        ),
        ("channels", "Channels.", status.channels as u64),
        (
            "queued_bytes",
            "Output queued for all clients.",
            status.queued_bytes as u64,
        ),
        (
            "peak_queued_bytes",
            "Most output queued at once.",
            status.peak_queued_bytes as u64,
        ),
        (
            "throttled_clients",
            "Clients held back by flood control.",
            status.throttled_clients as u64,
        ),
        (
            "reading_paused",
            "1 while the output cap stops all reading.",
            u64::from(status.reading_paused),
        ),
    ];
    for (name, help, value) in gauges {
        family(&mut out, name, "gauge", help);
        line(&mut out, name, "", value);
    }
    let counters: [(&str, &str, u64); 9] = [
        (
            "messages_total",
            "PRIVMSG and NOTICE accepted.",
            status.messages_in,
        ),
        (
            "deliveries_total",
            "Copies of messages queued for recipients.",
            status.messages_out,
        ),
        ("lines_in_total", "Lines received.", status.lines_in),
        ("lines_out_total", "Lines queued.", status.lines_out),
        (
            "lines_too_long_total",
            "Lines refused as too long.",
            status.lines_too_long,
        ),
        ("bytes_in_total", "Bytes received.", status.bytes_in),
        ("bytes_out_total", "Bytes sent.", status.bytes_out),
        (
            "descriptor_shortages_total",
            "Times accepting paused for descriptors.",
            status.descriptor_shortages,
        ),
        (
            "uptime_seconds_total",
            "Seconds since start.",
            status.uptime_seconds,
        ),
    ];
    for (name, help, value) in counters {
        family(&mut out, name, "counter", help);
        line(&mut out, name, "", value);
    }
    family(
        &mut out,
        "disconnects_total",
        "counter",
        "Connections ended, by reason.",
    );
    for (reason, count) in &status.disconnects {
        line(
            &mut out,
            "disconnects_total",
            &format!("reason=\"{reason}\""),
            *count,
        );
    }
    let h = &status.history;
    family(
        &mut out,
        "history_state",
        "gauge",
        "1 for the history store's state.",
    );
    line(
        &mut out,
        "history_state",
        &format!("state=\"{}\"", h.state),
        1,
    );
    for (name, help, value, kind) in [
        (
            "history_stored_total",
            "History entries committed.",
            h.stored,
            "counter",
        ),
        (
            "history_lost_total",
            "History entries that could not be stored.",
            h.lost,
            "counter",
        ),
        (
            "history_queued",
            "History entries waiting for their commit.",
            h.queued,
            "gauge",
        ),
    ] {
        family(&mut out, name, kind, help);
        line(&mut out, name, "", value);
    }
    if let Some(cluster) = &status.cluster {
        family(
            &mut out,
            "cluster_link",
            "gauge",
            "1 for the cluster link's state (up, connecting, down).",
        );
        line(
            &mut out,
            "cluster_link",
            &format!("state=\"{}\"", cluster.state),
            1,
        );
        let rtt = cluster.rtt_us.map(|us| us as f64 / 1e6);
        for (name, help, value, kind) in [
            (
                "cluster_nodes",
                "Nodes alive at the last heartbeat, this one included.",
                cluster.nodes.len() as f64,
                "gauge",
            ),
            (
                "cluster_redis_rtt_seconds",
                "The last heartbeat's round trip to Redis (NaN while down).",
                rtt.unwrap_or(f64::NAN),
                "gauge",
            ),
            (
                "cluster_published_total",
                "Lines published for the other nodes.",
                cluster.published as f64,
                "counter",
            ),
            (
                "cluster_heard_total",
                "Lines heard from the other nodes.",
                cluster.heard as f64,
                "counter",
            ),
            (
                "cluster_unsent_total",
                "Lines for the other nodes dropped while the link was down.",
                cluster.unsent as f64,
                "counter",
            ),
        ] {
            family(&mut out, name, kind, help);
            line(&mut out, name, "", value);
        }
    }
    if let Some(rss) = status.rss_bytes {
        family(
            &mut out,
            "resident_memory_bytes",
            "gauge",
            "Resident memory.",
        );
        line(&mut out, "resident_memory_bytes", "", rss);
    }
    family(
        &mut out,
        "loop_turn_seconds",
        "histogram",
        "Time the event loop spends per turn.",
    );
    let mut cumulative = 0;
    for (bound, count) in TURN_BUCKETS.iter().zip(turns.buckets) {
        cumulative += count;
        line(
            &mut out,
            "loop_turn_seconds_bucket",
            &format!("le=\"{bound}\""),
            cumulative,
        );
    }
    line(
        &mut out,
        "loop_turn_seconds_bucket",
        "le=\"+Inf\"",
        turns.count,
    );
    let _ = writeln!(
        out,
        "groupchatd_loop_turn_seconds_sum {}",
        turns.sum_seconds
    );
    line(&mut out, "loop_turn_seconds_count", "", turns.count);
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP groupchatd_{name} {help}");
    let _ = writeln!(out, "# TYPE groupchatd_{name} {kind}");
}

fn line(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    if labels.is_empty() {
        let _ = writeln!(out, "groupchatd_{name} {value}");
    } else {
        let _ = writeln!(out, "groupchatd_{name}{{{labels}}} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn renders_counts_by_transport_and_a_cumulative_histogram() {
        let mut status = Status::default();
        status.clients.connected = 10;
        status.clients.tls = 4;
        status.clients.websocket = 3;
        status.clients.websocket_tls = 1;
        status.disconnects.insert("quit".into(), 7);
        status.history.state = "ok".into();
        status.cluster = Some(crate::cluster::ClusterStatus {
            state: "up".into(),
            rtt_us: Some(250),
            published: 12,
            nodes: vec![Default::default(), Default::default()],
            ..Default::default()
        });
        let mut turns = TurnTimes::default();
        turns.record(Duration::from_micros(10));
        turns.record(Duration::from_micros(700));
        turns.record(Duration::from_secs(1));
        let text = render(&status, &turns);
        for expected in [
            "groupchatd_clients{transport=\"plain\"} 4\n",
            "groupchatd_clients{transport=\"tls\"} 3\n",
            "groupchatd_clients{transport=\"ws\"} 2\n",
            "groupchatd_clients{transport=\"wss\"} 1\n",
            "groupchatd_disconnects_total{reason=\"quit\"} 7\n",
            "groupchatd_history_state{state=\"ok\"} 1\n",
            "groupchatd_cluster_link{state=\"up\"} 1\n",
            "groupchatd_cluster_nodes 2\n",
            "groupchatd_cluster_redis_rtt_seconds 0.00025\n",
            "groupchatd_cluster_published_total 12\n",
            "groupchatd_loop_turn_seconds_bucket{le=\"0.00005\"} 1\n",
            "groupchatd_loop_turn_seconds_bucket{le=\"0.001\"} 2\n",
            "groupchatd_loop_turn_seconds_bucket{le=\"0.25\"} 2\n",
            "groupchatd_loop_turn_seconds_bucket{le=\"+Inf\"} 3\n",
            "groupchatd_loop_turn_seconds_count 3\n",
            "# TYPE groupchatd_loop_turn_seconds histogram\n",
        ] {
            assert!(text.contains(expected), "{expected}in\n{text}");
        }
    }
}
