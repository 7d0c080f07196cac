//! Human-readable renderings of the daemon's replies: aligned columns for
//! lists, a two-column sheet for the status.

use groupchatd::admin::protocol::{
    AccountLine, AccountsStatus, BanLine, ChannelInfo, ClientInfo, ClusterStatus, HistoryLine,
    HistoryStatus, Reply, Status,
};
use std::fmt::Write;

pub fn render(reply: &Reply) -> String {
    if let Some(status) = &reply.status {
        return status_sheet(status);
    }
    if let Some(clients) = &reply.clients {
        return clients_table(clients);
    }
    if let Some(channels) = &reply.channels {
        return channels_table(channels);
    }
    if let Some(lines) = &reply.history {
        return history_lines(lines);
    }
    if let Some(accounts) = &reply.accounts {
        return accounts_table(accounts);
    }
    if let Some(cluster) = &reply.nodes {
        return nodes_table(cluster);
    }
    if let Some(bans) = &reply.bans {
        return bans_table(bans);
    }
    match &reply.message {
        Some(message) => format!("{message}\n"),
        None => String::new(),
    }
}

fn status_sheet(s: &Status) -> String {
    let disconnects: Vec<String> = s
        .disconnects
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect();
    let mut rows = vec![
        ("version", s.version.clone()),
        ("pid", s.pid.to_string()),
        ("uptime", duration(s.uptime_seconds)),
        (
            "config",
            s.config_file.clone().unwrap_or("built-in defaults".into()),
        ),
        ("listeners", s.listeners.join(", ")),
        (
            "clients",
            format!(
                "{} connected{}, {} registered, peak {}",
                s.clients.connected,
                match (s.clients.tls, s.clients.websocket) {
                    (0, 0) => String::new(),
                    (tls, 0) => format!(" ({tls} over TLS)"),
                    (0, ws) => format!(" ({ws} over WebSocket)"),
                    (tls, ws) => format!(" ({tls} over TLS, {ws} over WebSocket)"),
                },
                s.clients.registered,
                s.clients.peak
            ),
        ),
        ("channels", s.channels.to_string()),
        (
            "messages",
            format!("{} in, {} delivered", s.messages_in, s.messages_out),
        ),
        ("lines", format!("{} in, {} out", s.lines_in, s.lines_out)),
        (
            "input",
            format!(
                "{} lines too long, {} clients slowed by flood control",
                s.lines_too_long, s.throttled_clients
            ),
        ),
        (
            "bytes",
            format!("{} in, {} out", bytes(s.bytes_in), bytes(s.bytes_out)),
        ),
        (
            "queued",
            format!(
                "{} now, peak {}",
                bytes(s.queued_bytes as u64),
                bytes(s.peak_queued_bytes as u64)
            ),
        ),
        (
            "disconnects",
            if disconnects.is_empty() {
                "none".into()
            } else {
                disconnects.join(", ")
            },
        ),
        (
            "memory",
            s.rss_bytes
                .map_or("unknown".into(), |b| format!("{} resident", bytes(b))),
        ),
        ("history", history_summary(&s.history)),
        ("accounts", accounts_summary(&s.accounts)),
    ];
    if let Some(cluster) = &s.cluster {
        rows.push(("cluster", cluster_summary(cluster)));
    }
    if s.descriptor_shortages > 0 {
        rows.push((
            "accepting",
            format!(
                "paused {} time(s): out of descriptors",
                s.descriptor_shortages
            ),
        ));
    }
    if s.reading_paused {
        rows.push(("reading", "paused: the output cap is reached".into()));
    }
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(k, v)| vec![k.to_string(), v])
        .collect();
    columns(&[], &rows)
}

/// `ok, 1,204 stored since start, in /var/lib/…` and what went wrong.
fn history_summary(h: &HistoryStatus) -> String {
    let mut text = match h.state.as_str() {
        "off" => return "off".into(),
        "unavailable" => format!("UNAVAILABLE ({})", h.path),
        state => format!(
            "{}, {} stored since start, {} waiting, in {}",
            if state == "ok" { "ok" } else { "FAILING" },
            h.stored,
            h.queued,
            h.path
        ),
    };
    if let (Some(entries), Some(size)) = (h.entries, h.bytes) {
        let size = bytes(size);
        text.push_str(&format!(
            "; at the last retention pass {entries} entries, {size} on disk"
        ));
    }
    if h.lost > 0 {
        text.push_str(&format!("; {} entries could not be stored", h.lost));
    }
    if let Some(error) = &h.error {
        text.push_str(&format!("; last error: {error}"));
    }
    text
}

/// `node a:6667, link up to 127.0.0.1:6379 (rtt 0.2 ms), 3 nodes` and why
/// the link is down.
fn cluster_summary(c: &ClusterStatus) -> String {
    let mut text = format!("node {}, link {} to Redis at {}", c.node, c.state, c.redis);
    if let Some(rtt) = c.rtt_us {
        text.push_str(&format!(" (round trip {:.1} ms)", rtt as f64 / 1000.0));
    }
    text.push_str(&format!(", {} node(s) alive", c.nodes.len()));
    if let Some(error) = &c.error {
        text.push_str(&format!(
            "; {}: {error}",
            if c.state == "up" { "last error" } else { "why" }
        ));
    }
    text
}

/// Every node alive at the last heartbeat, with its clients and how long
/// ago it was heard from, under this node's link.
fn nodes_table(c: &ClusterStatus) -> String {
    let rows: Vec<Vec<String>> = c
        .nodes
        .iter()
        .map(|n| {
            vec![
                if n.name == c.node {
                    format!("{} (this one)", n.name)
                } else {
                    n.name.clone()
                },
                n.clients.to_string(),
                format!("{:.1} s ago", n.heartbeat_ms_ago as f64 / 1000.0),
            ]
        })
        .collect();
    format!(
        "{}\n{}",
        cluster_summary(c),
        columns(&["NODE", "CLIENTS", "HEARTBEAT"], &rows)
    )
}

/// `ok, 12 accounts, 40 logins, 3 failed, 1 failed OPER, 0 lockouts, 0
/// registrations refused` and what went wrong.
fn accounts_summary(a: &AccountsStatus) -> String {
    let mut text = match a.state.as_str() {
        "off" => return "off".into(),
        "unavailable" => format!("UNAVAILABLE ({})", a.path),
        state => format!(
            "{}, {} account(s); since start {} login(s), {} failed, {} failed OPER(s), {} lockout(s), {} REGISTER(s) refused",
            if state == "ok" { "ok" } else { "FAILING" },
            a.accounts,
            a.logins,
            a.login_failures,
            a.oper_failures,
            a.lockouts,
            a.registrations_refused
        ),
    };
    if let Some(error) = &a.error {
        text.push_str(&format!("; error: {error}"));
    }
    text
}

fn bans_table(bans: &[BanLine]) -> String {
    if bans.is_empty() {
        return "no bans\n".into();
    }
    let rows: Vec<Vec<String>> = bans
        .iter()
        .map(|b| {
            vec![
                b.mask.clone(),
                b.expires.clone().unwrap_or_else(|| "never".into()),
                b.set_by.clone(),
                b.set_at.clone(),
                b.reason.clone(),
            ]
        })
        .collect();
    columns(&["MASK", "EXPIRES", "SET BY", "SET AT", "REASON"], &rows)
}

fn accounts_table(accounts: &[AccountLine]) -> String {
    if accounts.is_empty() {
        return "no accounts\n".into();
    }
    let rows: Vec<Vec<String>> = accounts
        .iter()
        .map(|a| vec![a.name.clone(), a.created.clone()])
        .collect();
    columns(&["ACCOUNT", "CREATED"], &rows)
}

/// One line per entry, as a client shows it: `[time] <nick> text`.
fn history_lines(lines: &[HistoryLine]) -> String {
    if lines.is_empty() {
        return "no lines in history\n".into();
    }
    let mut out = String::new();
    for l in lines {
        let time = l.time.get(..19).unwrap_or(&l.time).replace('T', " ");
        let said = match l.kind.as_str() {
            "PRIVMSG" => format!("<{}> {}", l.nick, l.text),
            "NOTICE" => format!("-{}- {}", l.nick, l.text),
            other => format!("* {} {other} {}", l.nick, l.text),
        };
        let to = if l.to.starts_with('#') {
            String::new()
        } else {
            format!("(to {}) ", l.to)
        };
        out.push_str(&format!("[{time}] {to}{said}\n"));
    }
    out
}

fn clients_table(clients: &[ClientInfo]) -> String {
    let rows: Vec<Vec<String>> = clients
        .iter()
        .map(|c| {
            vec![
                c.nick.clone().unwrap_or_else(|| "*".into()),
                // Another node's user has no address here: its node instead.
                match &c.node {
                    Some(node) => format!("on node {node}"),
                    None => c.address.clone(),
                },
                if c.registered {
                    c.channels.join(",")
                } else {
                    "(registering)".into()
                },
                duration(c.connected_seconds),
                duration(c.idle_seconds),
                bytes(c.queued_bytes as u64),
                match (&c.transport, &c.tls) {
                    _ if c.node.is_some() => "-".into(),
                    (name, _) if !name.is_empty() => name.clone(),
                    (_, Some(tls)) => tls.clone(),
                    (_, None) => "plain".into(),
                },
            ]
        })
        .collect();
    columns(
        &[
            "NICK",
            "ADDRESS",
            "CHANNELS",
            "CONNECTED",
            "IDLE",
            "QUEUED",
            "TRANSPORT",
        ],
        &rows,
    )
}

fn channels_table(channels: &[ChannelInfo]) -> String {
    let rows: Vec<Vec<String>> = channels
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.members.to_string(),
                c.owner.clone().unwrap_or_else(|| "-".into()),
                c.topic.clone().unwrap_or_default(),
            ]
        })
        .collect();
    columns(&["CHANNEL", "MEMBERS", "OWNER", "TOPIC"], &rows)
}

/// Left-aligned columns two spaces apart; the last column is not padded.
fn columns(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut all: Vec<Vec<String>> = Vec::new();
    if !header.is_empty() {
        all.push(header.iter().map(|h| h.to_string()).collect());
    }
    all.extend(rows.iter().cloned());
    let count = all.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|i| {
            all.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &all {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `3d 04h`, `2h 05m`, `4m 07s`, `9s`.
fn duration(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s:02}s"),
        (0, _, _) => format!("{h}h {m:02}m"),
        _ => format!("{d}d {h:02}h"),
    }
}

/// Bytes in binary units with one decimal: `512 B`, `1.5 KiB`, `3.2 MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_read_naturally() {
        assert_eq!(duration(9), "9s");
        assert_eq!(duration(247), "4m 07s");
        assert_eq!(duration(7500), "2h 05m");
        assert_eq!(duration(3 * 86_400 + 4 * 3600), "3d 04h");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 + 200 * 1024), "3.2 MiB");
    }

    #[test]
    fn columns_line_up_under_their_headers() {
        let text = columns(
            &["NICK", "ADDRESS"],
            &[
                vec!["alice".into(), "127.0.0.1:5000".into()],
                vec!["bo".into(), "[::1]:6000".into()],
            ],
        );
        assert_eq!(
            text,
            "NICK   ADDRESS\nalice  127.0.0.1:5000\nbo     [::1]:6000\n"
        );
    }
}
