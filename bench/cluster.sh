#!/usr/bin/env bash
# One groupchatd node against three nodes of a cluster and their Redis, in
# the same run: alternating runs (one, three, one, three ...) of the same
# scenarios, each against fresh daemons, then medians and three/one ratios.
# The clients are spread over the three nodes round-robin, so most
# deliveries cross Redis; the CPU of the three nodes and redis-server is
# counted together. Loopback only; no root needed; needs redis-server.
#
#   bench/cluster.sh target/release/groupchatd          # 3 runs each
#   RUNS=5 bench/cluster.sh target/release/groupchatd
#   HISTORY=false bench/cluster.sh target/release/groupchatd   # history off
#   PIN=0 bench/cluster.sh target/release/groupchatd   # let the scheduler place them
#   REDIS_CLUSTER=1 bench/cluster.sh target/release/groupchatd   # a 3-master Redis Cluster (needs redis-cli)
#
# Pinned by default, as in compare.sh: every server process (the one node,
# or the three and redis-server) on CPU 0 and the harness on CPU 1, so that
# the harness never waits for a core the servers hold.
set -euo pipefail

bin=$1
here=$(cd "$(dirname "$0")" && pwd)
RUNS=${RUNS:-3}
MEMBERS=${MEMBERS:-1000}
SENDERS=${SENDERS:-10}
MESSAGES=${MESSAGES:-100}          # per sender at RATE msg/s
RATE=${RATE:-10}
MAX_MESSAGES=${MAX_MESSAGES:-200}  # per sender at max rate
CLIENTS=${CLIENTS:-10000}          # registering, for the connect row
HISTORY=${HISTORY:-true}           # history.enabled on every node
PIN=${PIN:-1}                      # servers on CPU 0, the harness on CPU 1 (0: anywhere)
REDIS_CLUSTER=${REDIS_CLUSTER:-0}  # 1: three redis-servers made one Redis Cluster (sharded pub/sub)
BENCH=${BENCH:-$(dirname "$bin")/groupchat-bench}
OUT=${OUT:-$(mktemp -d /tmp/gcbench-cluster.XXXXXX)}
PORT=${PORT:-17800}                # PORT, PORT+1..3 the nodes, PORT+9 Redis (+19, +29 more masters)
mkdir -p "$OUT"
redis_port=$((PORT + 9))
redis_ports=("$redis_port")
if [[ $REDIS_CLUSTER == 1 ]]; then
    redis_ports=("$redis_port" $((PORT + 19)) $((PORT + 29)))
fi

server_cpu=() bench_cpu=()
if [[ $PIN == 1 ]]; then
    server_cpu=(taskset -c 0) bench_cpu=(taskset -c 1)
fi

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; true' EXIT

wait_listening() {
    for _ in $(seq 50); do
        ss -ltn "sport = :$1" | grep -q LISTEN && return
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    exit 1
}

# Starts the servers of one side; sets servers and pids.
start() {
    pids=()
    rm -f "$OUT"/*.sqlite3*
    if [[ $1 == one ]]; then
        { cat "$here/groupchatd.toml"
          printf '[history]\nenabled = %s\npath = "%s/one.sqlite3"\n' "$HISTORY" "$OUT"
        } >"$OUT/one.toml"
        "${server_cpu[@]}" "$bin" --config "$OUT/one.toml" --listen "127.0.0.1:$PORT" \
            --admin-socket "$OUT/one.sock" 2>/dev/null &
        pids+=($!)
        wait_listening "$PORT"
        servers="127.0.0.1:$PORT"
        return
    fi
    for port in "${redis_ports[@]}"; do
        local cluster=()
        if [[ $REDIS_CLUSTER == 1 ]]; then
            # Each master its own directory for nodes.conf, made anew each run.
            rm -rf "$OUT/redis-$port" && mkdir -p "$OUT/redis-$port"
            cluster=(--cluster-enabled yes --cluster-port $((port + 1)) --dir "$OUT/redis-$port")
        fi
        "${server_cpu[@]}" redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
            "${cluster[@]}" >/dev/null &
        pids+=($!)
        wait_listening "$port"
    done
    if [[ $REDIS_CLUSTER == 1 ]]; then
        redis-cli --cluster create $(printf '127.0.0.1:%s ' "${redis_ports[@]}") \
            --cluster-replicas 0 --cluster-yes >/dev/null
        for port in "${redis_ports[@]}"; do
            until redis-cli -p "$port" cluster info | grep -q cluster_state:ok; do sleep 0.1; done
        done
    fi
    servers=
    for n in 1 2 3; do
        { cat "$here/groupchatd.toml"
          # Each node its own history, as on separate machines.
          printf '[history]\nenabled = %s\npath = "%s/n%s.sqlite3"\n' "$HISTORY" "$OUT" "$n"
          printf '[cluster]\nredis = "redis://127.0.0.1:%s"\nnode_name = "n%s"\n' "$redis_port" "$n"
        } >"$OUT/n$n.toml"
        "${server_cpu[@]}" "$bin" --config "$OUT/n$n.toml" --listen "127.0.0.1:$((PORT + n))" \
            --admin-socket "$OUT/n$n.sock" 2>/dev/null &
        pids+=($!)
        wait_listening "$((PORT + n))"
        servers+="${servers:+,}127.0.0.1:$((PORT + n))"
    done
    # Every node up and subscribed before the clients come.
    for n in 1 2 3; do
        for _ in $(seq 100); do
            "$(dirname "$bin")/groupchatctl" --socket "$OUT/n$n.sock" status --json 2>/dev/null \
                | grep -q '"state": *"up"' && break
            sleep 0.1
        done
    done
}

stop() {
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    pids=()
}

# Counts Redis's commands from here on (three nodes only).
redis_reset() {
    [[ $1 == three ]] || return 0
    for port in "${redis_ports[@]}"; do
        redis-cli -p "$port" config resetstat >/dev/null
    done
}

run() {
    local side=$1 run=$2
    start "$side"
    local pidlist
    pidlist=$(IFS=,; echo "${pids[*]}")
    local common=(--server "$servers" --server-pid "$pidlist" --json --quiet 10)
    "${bench_cpu[@]}" "$BENCH" "${common[@]}" fanout -n "$MEMBERS" -k "$SENDERS" -m "$MESSAGES" \
        --rate "$RATE" --concurrency 1000 >"$OUT/$side-$run-paced.json" || true
    redis_reset "$side"
    "${bench_cpu[@]}" "$BENCH" "${common[@]}" fanout -n "$MEMBERS" -k "$SENDERS" -m "$MAX_MESSAGES" \
        --concurrency 1000 >"$OUT/$side-$run-max.json" || true
    if [[ $side == three ]]; then
        for port in "${redis_ports[@]}"; do
            redis-cli -p "$port" info commandstats
            # The channel's log (a Redis Cluster answers for its own slots).
            redis-cli -p "$port" memory usage 'groupchatd:log:{#bench}' | sed 's/^/log_bytes:/'
        done >"$OUT/$side-$run-max-redis.txt"
    fi
    redis_reset "$side"
    "${bench_cpu[@]}" "$BENCH" "${common[@]}" --channel '#lobby' connect -n "$CLIENTS" --auto-join \
        >"$OUT/$side-$run-connect.json" || true
    if [[ $side == three ]]; then
        for port in "${redis_ports[@]}"; do
            redis-cli -p "$port" info commandstats
        done >"$OUT/$side-$run-redis.txt"
    fi
    stop
}

for r in $(seq "$RUNS"); do
    echo "== run $r: one node" >&2
    run one "$r"
    echo "== run $r: three nodes and Redis" >&2
    run three "$r"
done

python3 - "$OUT" "$RUNS" "$CLIENTS" "$((SENDERS * MAX_MESSAGES))" "$MEMBERS" <<'PY'
import json, re, statistics, sys
out, runs, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
messages, members = int(sys.argv[4]), int(sys.argv[5])
rows = [
    ("CPU/delivery max (ns)", "max", ("server_usage", "cpu_ns_per_delivery")),
    ("deliveries/s max", "max", ("fanout", "deliveries_per_s")),
    ("CPU/delivery paced (ns)", "paced", ("server_usage", "cpu_ns_per_delivery")),
    ("p50 paced (us)", "paced", ("fanout", "latency", "p50_us")),
    ("p99 paced (us)", "paced", ("fanout", "latency", "p99_us")),
    (f"{clients} clients registered (ms)", "connect", ("connect", "total_ms")),
]
def get(side, r, suffix, path):
    try:
        v = json.load(open(f"{out}/{side}-{r}-{suffix}.json"))
    except (OSError, ValueError):
        return None
    for k in path:
        v = v.get(k) if isinstance(v, dict) else None
    return v
print(f"| metric (median of {runs}) | one node | three nodes + Redis | three/one | one: runs | three: runs |")
print("| --- | --- | --- | --- | --- | --- |")
for name, suffix, path in rows:
    va = [v for v in (get("one", r, suffix, path) for r in range(1, runs + 1)) if v is not None]
    vb = [v for v in (get("three", r, suffix, path) for r in range(1, runs + 1)) if v is not None]
    if not va or not vb:
        print(f"| {name} | n/a | n/a | | | |")
        continue
    ma, mb = statistics.median(va), statistics.median(vb)
    fmt = lambda xs: " ".join(f"{x:,.0f}" for x in xs)
    print(f"| {name} | {ma:,.0f} | {mb:,.0f} | {mb / ma:.3f} | {fmt(va)} | {fmt(vb)} |")
for side in ("one", "three"):
    for r in range(1, runs + 1):
        for suffix in ("paced", "max"):
            f = get(side, r, suffix, ("fanout",)) or {}
            if f.get("lost") != 0 or f.get("out_of_order") != 0:
                print(f"note: {side} run {r} {suffix}: lost {f.get('lost')}, out of order {f.get('out_of_order')}")
def redis_stats(r, suffix):
    """The run's Redis commands, summed over the masters, and its text."""
    try:
        stats = open(f"{out}/three-{r}-{suffix}.txt").read()
    except OSError:
        return None, ""
    calls = {}
    for name, count in re.findall(r"cmdstat_(\w+):calls=(\d+)", stats):
        calls[name] = calls.get(name, 0) + int(count)
    return calls, stats
for r in range(1, runs + 1):
    calls, _ = redis_stats(r, "redis")
    if calls is not None:
        print(f"note: run {r}, {clients} clients registering and leaving over three nodes: Redis commands {calls}")
for r in range(1, runs + 1):
    calls, stats = redis_stats(r, "max-redis")
    if calls is not None:
        log = sum(int(b) for b in re.findall(r"log_bytes:(\d+)", stats))
        print(f"note: run {r}, max rate, {members} members joining and {messages} messages: Redis commands {calls}; the channel's log {log:,} bytes")
PY
echo "JSON of every run: $OUT" >&2
