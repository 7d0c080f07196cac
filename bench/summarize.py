#!/usr/bin/env python3
"""Medians of compare.sh's JSON results (with the range across runs when
they differ), and groupchatd/peer ratios of the medians.

usage: summarize.py RESULTS_DIR RUNS groupchatd PEER...
"""
import json
import statistics
import sys
from pathlib import Path

out, runs, servers = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]

# (label, file suffix, JSON path, unit, lower is better)
METRICS = [
    ("server CPU per delivery, max rate", "max", "server_usage.cpu_ns_per_delivery", "ns", True),
    ("server CPU per delivery, 10 msg/s/sender", "paced", "server_usage.cpu_ns_per_delivery", "ns", True),
    ("deliveries/s, max rate", "max", "fanout.deliveries_per_s", "/s", False),
    ("latency p99, 10 msg/s/sender", "paced", "fanout.latency.p99_us", "µs", True),
    ("latency p99.9, 10 msg/s/sender", "paced", "fanout.latency.p999_us", "µs", True),
    ("RSS per idle client", "connect", "server_usage.rss_per_client_bytes", "B", True),
    ("connect+register all clients", "connect", "connect.total_ms", "ms", True),
    ("all clients joined to #lobby", "join", "connect.total_ms", "ms", True),
    ("server RSS after the joins", "join", "server_usage.rss_after_connect_kib", "KiB", True),
    # HISTORY=1 (groupchatd-on only).
    ("CHATHISTORY LATEST answers/s during a fan-out", "history", "history.answers_per_s", "/s", False),
    ("CHATHISTORY LATEST answer p99", "history", "history.latency.p99_ms", "ms", True),
    ("fan-out p99 while queried, 10 msg/s/sender", "history", "fanout.latency.p99_us", "µs", True),
    ("reconnect: observers' p99, normal", "reconnect", "reconnect.normal.p99_us", "µs", True),
    ("reconnect: observers' p99, storm", "reconnect", "reconnect.storm.p99_us", "µs", True),
    ("reconnect: storm p99 / normal p99", "reconnect", "reconnect.storm_p99_ratio", "×", True),
    ("reconnect: all caught up", "reconnect", "reconnect.all_caught_up_ms", "ms", True),
    ("reconnect: messages missed after catching up", "reconnect", "reconnect.gaps", "", True),
    ("store size per 1M messages (db + WAL)", "store", "store.bytes_per_1m", "B", True),
]
SUFFIXES = ("connect", "max", "paced", "join", "history", "reconnect")
HISTORY_ONLY = ("history", "reconnect", "store")


def unfinished(doc):
    """'not done after X s' when a join run hit its deadline."""
    c = (doc or {}).get("connect") or {}
    if c.get("unfinished"):
        return f"not done after {c.get('deadline_s', 0):g} s ({c['requested'] - c['failed']:,} of {c['requested']:,})"
    return None


def get(obj, path):
    for key in path.split("."):
        if not isinstance(obj, dict) or obj.get(key) is None:
            return None
        obj = obj[key]
    return obj


def load(server, run, suffix):
    try:
        return json.loads((out / f"{server}-{run}-{suffix}.json").read_text())
    except (OSError, ValueError):
        return None


problems = []
medians = {}
for server in servers:
    for label, suffix, path, _unit, _lower in METRICS:
        values = []
        for run in range(1, runs + 1):
            doc = load(server, run, suffix)
            if doc is None:
                # Not run at all, or not for this server (HISTORY=1's
                # history-only rows on groupchatd-off).
                ran = suffix not in HISTORY_ONLY or any(out.glob(f"{server}-*-{suffix}.json"))
                if ran and any(out.glob(f"*-{suffix}.json")):
                    problems.append(f"{server} run {run} {suffix}: no result")
                continue
            if suffix == "join" and unfinished(doc):
                # One unfinished run makes the median meaningless: say so.
                medians[(server, label, "text")] = unfinished(doc)
            v = get(doc, path)
            if v is not None:
                values.append(float(v))
        medians[(server, label)] = statistics.median(values) if values else None
        if len(values) > 1 and min(values) != max(values):
            medians[(server, label, "range")] = (min(values), max(values))
    for run in range(1, runs + 1):
        for suffix in SUFFIXES:
            doc = load(server, run, suffix)
            if doc is None:
                continue
            failed = get(doc, "connect.failed") or 0
            lost = get(doc, "fanout.lost") or 0
            if suffix == "join" and unfinished(doc):
                problems.append(f"{server} run {run} join: {unfinished(doc)}")
            elif failed or lost or doc.get("silent_loss"):
                problems.append(f"{server} run {run} {suffix}: {failed} connect failures, {lost} lost")
            elif doc.get("verdict", "ok") != "ok":
                problems.append(f"{server} run {run} {suffix}: {doc['verdict']}")

base, peers = servers[0], servers[1:]
header = ["metric (median of %d, range)" % runs, base] + [x for p in peers for x in (p, f"{base}/{p}")]
rows = []
def number(v, unit):
    if unit == "×":
        return f"{v:.2f}×"
    return f"{v:,.2f} ms" if unit == "ms" and v < 100 else f"{v:,.0f} {unit}".rstrip()


def cell(server, label, unit):
    text = medians.get((server, label, "text"))
    v = medians[(server, label)]
    if text and unit == "ms":
        return text, None
    if v is None:
        return "n/a", v
    spread = medians.get((server, label, "range"))
    if spread:
        low, high = (number(x, unit).removesuffix(" " + unit) for x in spread)
        return f"{number(v, unit)} ({low}–{high})", v
    return number(v, unit), v


for label, _suffix, _path, unit, _lower in METRICS:
    if all(medians[(s, label)] is None for s in servers):
        continue  # scenario not run
    gtext, g = cell(base, label, unit)
    row = [label, gtext]
    for p in peers:
        text, v = cell(p, label, unit)
        row.append(text)
        row.append("n/a" if g is None or not v else f"{g / v:.2f}")
    rows.append(row)
widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
for r in [header, ["-" * w for w in widths]] + rows:
    print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
for p in dict.fromkeys(problems):
    print(f"note: {p}")
