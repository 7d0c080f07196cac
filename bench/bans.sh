#!/usr/bin/env bash
# What a long ban list costs: fan-out on #bench whose creator (an operator)
# has set 0 or BANS bans that match nobody, alternating, fresh daemon each
# run, pinned as in compare.sh (daemon on CPU 0, harness on CPU 1); medians
# and the with/without ratio. Loopback only; no root needed.
#
#   bench/bans.sh target/release/groupchatd          # 5 runs each, 200 bans
#   RUNS=3 BANS=100 bench/bans.sh target/release/groupchatd
set -euo pipefail

bin=$1
here=$(cd "$(dirname "$0")" && pwd)
RUNS=${RUNS:-5}
BANS=${BANS:-200}
PORT=${PORT:-17900}
BENCH=${BENCH:-$(dirname "$bin")/groupchat-bench}
OUT=${OUT:-$(mktemp -d /tmp/gcbench-bans.XXXXXX)}
mkdir -p "$OUT"

# The operator: creates #bench, sets the bans (MODES=4 a line), checks the
# list, says "ready <count>", then stays, answering PINGs.
cat >"$OUT/op.py" <<'PY'
import socket, sys
port, bans = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
def send(line): s.sendall((line + "\r\n").encode())
send("NICK chanop"); send("USER op 0 * :op"); send("JOIN #bench")
masks = [f"nomatch{i}!*@10.{i // 250}.{i % 250}.*" for i in range(bans)]
for i in range(0, len(masks), 4):
    chunk = masks[i:i + 4]
    send(f"MODE #bench +{'b' * len(chunk)} {' '.join(chunk)}")
send("MODE #bench b")
count = 0
for line in f:
    if line.startswith(b"PING"):
        send("PONG " + line.split(b" ", 1)[1].decode().strip())
    elif b" 367 " in line:
        count += 1
    elif b" 368 " in line:
        break
print("ready", count, flush=True)
for line in f:
    if line.startswith(b"PING"):
        send("PONG " + line.split(b" ", 1)[1].decode().strip())
PY

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; true' EXIT

{ cat "$here/groupchatd.toml"; printf '[history]\npath = "%s/history.sqlite3"\n' "$OUT"; } \
    >"$OUT/groupchatd.toml"

run() {
    local bans=$1 r=$2
    rm -f "$OUT"/history.sqlite3*
    taskset -c 0 "$bin" --config "$OUT/groupchatd.toml" --listen "127.0.0.1:$PORT" \
        --admin-socket "$OUT/admin.sock" 2>/dev/null &
    local daemon=$!
    pids=("$daemon")
    for _ in $(seq 50); do
        ss -ltn "sport = :$PORT" | grep -q LISTEN && break
        sleep 0.1
    done
    python3 "$OUT/op.py" "$PORT" "$bans" >"$OUT/op.out" &
    pids+=($!)
    for _ in $(seq 100); do
        grep -q ready "$OUT/op.out" && break
        sleep 0.1
    done
    read -r _ set <"$OUT/op.out"
    if [[ $set != "$bans" ]]; then
        echo "run $r: $set bans set, not $bans" >&2
        exit 1
    fi
    local common=(--server "127.0.0.1:$PORT" --server-pid "$daemon" --json --quiet 10)
    taskset -c 1 "$BENCH" "${common[@]}" fanout -n 1000 -k 10 -m 200 --concurrency 1000 \
        >"$OUT/b$bans-$r-max.json" || true
    taskset -c 1 "$BENCH" "${common[@]}" fanout -n 1000 -k 10 -m 100 --rate 10 \
        --concurrency 1000 >"$OUT/b$bans-$r-paced.json" || true
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    pids=()
}

for r in $(seq "$RUNS"); do
    echo "== run $r" >&2
    run 0 "$r"
    run "$BANS" "$r"
done

python3 - "$OUT" "$RUNS" "$BANS" <<'PY'
import json, statistics, sys
out, runs, bans = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def get(b, r, s, path):
    try:
        v = json.load(open(f"{out}/b{b}-{r}-{s}.json"))
    except (OSError, ValueError):
        return None
    for k in path:
        v = v.get(k) if isinstance(v, dict) else None
    return v
print(f"| metric (median of {runs}) | no bans | {bans} bans | ratio | without: runs | with: runs |")
print("| --- | --- | --- | --- | --- | --- |")
for name, s, path in [
    ("CPU/delivery max (ns)", "max", ("server_usage", "cpu_ns_per_delivery")),
    ("deliveries/s max", "max", ("fanout", "deliveries_per_s")),
    ("CPU/delivery paced (ns)", "paced", ("server_usage", "cpu_ns_per_delivery")),
    ("p99 paced (us)", "paced", ("fanout", "latency", "p99_us")),
]:
    a = [v for v in (get(0, r, s, path) for r in range(1, runs + 1)) if v is not None]
    b = [v for v in (get(bans, r, s, path) for r in range(1, runs + 1)) if v is not None]
    if not a or not b:
        print(f"| {name} | n/a | n/a | | | |")
        continue
    ma, mb = statistics.median(a), statistics.median(b)
    fmt = lambda xs: " ".join(f"{x:,.0f}" for x in xs)
    print(f"| {name} | {ma:,.0f} | {mb:,.0f} | {mb / ma:.3f} | {fmt(a)} | {fmt(b)} |")
PY
echo "JSON of every run: $OUT" >&2
