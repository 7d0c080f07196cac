#!/usr/bin/env bash
# A/B comparison of two groupchatd binaries: alternating runs (A B A B ...)
# of the same fan-out scenarios against a fresh daemon each time, then the
# median of each metric and B/A ratios. Loopback only; no root needed.
#
#   bench/ab.sh OLD_BINARY NEW_BINARY            # 3 runs each
#   RUNS=5 RATE=10 MESSAGES=100 bench/ab.sh A B
#
# BENCH (default: groupchat-bench next to A) is the harness binary; CONFIG
# (default: bench/groupchatd.toml) the daemon config, for binaries older
# than a key in it.
set -euo pipefail

a=$1 b=$2
here=$(cd "$(dirname "$0")" && pwd)
RUNS=${RUNS:-3}
MEMBERS=${MEMBERS:-1000}
SENDERS=${SENDERS:-10}
MESSAGES=${MESSAGES:-100}          # per sender at RATE msg/s
RATE=${RATE:-10}
MAX_MESSAGES=${MAX_MESSAGES:-200}  # per sender at max rate
BENCH=${BENCH:-$(dirname "$a")/groupchat-bench}
OUT=${OUT:-$(mktemp -d /tmp/gcbench-ab.XXXXXX)}
CONFIG=${CONFIG:-$here/groupchatd.toml}
PORT=${PORT:-17700}
mkdir -p "$OUT"

pid=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null; true' EXIT

run() {
    local label=$1 bin=$2 run=$3
    "$bin" --listen "127.0.0.1:$PORT" --config "$CONFIG" 2>/dev/null &
    pid=$!
    for _ in $(seq 50); do
        ss -ltn "sport = :$PORT" | grep -q LISTEN && break
        sleep 0.1
    done
    local common=(--server "127.0.0.1:$PORT" --server-pid "$pid" --json --quiet 10)
    "$BENCH" "${common[@]}" fanout -n "$MEMBERS" -k "$SENDERS" -m "$MESSAGES" \
        --rate "$RATE" --concurrency 1000 >"$OUT/$label-$run-paced.json" || true
    "$BENCH" "${common[@]}" fanout -n "$MEMBERS" -k "$SENDERS" -m "$MAX_MESSAGES" \
        --concurrency 1000 >"$OUT/$label-$run-max.json" || true
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
}

for r in $(seq "$RUNS"); do
    echo "== run $r: A" >&2
    run A "$a" "$r"
    echo "== run $r: B" >&2
    run B "$b" "$r"
done

python3 - "$OUT" "$RUNS" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
rows = [
    ("CPU/delivery paced (ns)", "paced", ("server_usage", "cpu_ns_per_delivery")),
    ("p50 paced (us)", "paced", ("fanout", "latency", "p50_us")),
    ("p99 paced (us)", "paced", ("fanout", "latency", "p99_us")),
    ("p99.9 paced (us)", "paced", ("fanout", "latency", "p999_us")),
    ("CPU/delivery max (ns)", "max", ("server_usage", "cpu_ns_per_delivery")),
    ("deliveries/s max", "max", ("fanout", "deliveries_per_s")),
]
def get(label, r, suffix, path):
    try:
        v = json.load(open(f"{out}/{label}-{r}-{suffix}.json"))
    except (OSError, ValueError):
        return None
    for k in path:
        v = v.get(k) if isinstance(v, dict) else None
    return v
print(f"| metric (median of {runs}) | A | B | B/A | A runs | B runs |")
print("| --- | --- | --- | --- | --- | --- |")
for name, suffix, path in rows:
    va = [get("A", r, suffix, path) for r in range(1, runs + 1)]
    vb = [get("B", r, suffix, path) for r in range(1, runs + 1)]
    va, vb = [v for v in va if v is not None], [v for v in vb if v is not None]
    if not va or not vb:
        print(f"| {name} | n/a | n/a | | | |")
        continue
    ma, mb = statistics.median(va), statistics.median(vb)
    fmt = lambda xs: " ".join(f"{x:,.0f}" for x in xs)
    print(f"| {name} | {ma:,.0f} | {mb:,.0f} | {mb / ma:.3f} | {fmt(va)} | {fmt(vb)} |")
for label in "AB":
    for r in range(1, runs + 1):
        for suffix in ("paced", "max"):
            lost = get(label, r, suffix, ("fanout", "lost"))
            if lost != 0:
                print(f"note: {label} run {r} {suffix}: lost {lost}")
PY
echo "JSON of every run: $OUT" >&2
