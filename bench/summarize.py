#!/usr/bin/env python3
"""Medians of compare.sh's JSON results, with groupchatd/peer ratios.

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
]


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
                problems.append(f"{server} run {run} {suffix}: no result")
                continue
            v = get(doc, path)
            if v is not None:
                values.append(float(v))
        medians[(server, label)] = statistics.median(values) if values else None
    for run in range(1, runs + 1):
        for suffix in ("connect", "max", "paced"):
            doc = load(server, run, suffix) or {}
            failed = get(doc, "connect.failed") or 0
            lost = get(doc, "fanout.lost") or 0
            if failed or lost or doc.get("silent_loss"):
                problems.append(f"{server} run {run} {suffix}: {failed} connect failures, {lost} lost")

base, peers = servers[0], servers[1:]
header = ["metric (median of %d)" % runs, base] + [x for p in peers for x in (p, f"{base}/{p}")]
rows = []
for label, _suffix, _path, unit, _lower in METRICS:
    g = medians[(base, label)]
    row = [label, "n/a" if g is None else f"{g:,.0f} {unit}"]
    for p in peers:
        v = medians[(p, label)]
        row.append("n/a" if v is None else f"{v:,.0f} {unit}")
        row.append("n/a" if g is None or not v else f"{g / v:.2f}")
    rows.append(row)
widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
for r in [header, ["-" * w for w in widths]] + rows:
    print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
for p in problems:
    print(f"note: {p}")
