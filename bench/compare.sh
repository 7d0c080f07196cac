#!/usr/bin/env bash
# Runs the same groupchat-bench scenarios against groupchatd and against
# ngIRCd, InspIRCd and ircd-hybrid, alternately, RUNS times each, and prints
# medians and groupchatd/peer ratios. Not part of CI: it installs packages
# (needs root and Debian's apt) and takes about ten minutes.
#
# Everything runs inside a private network namespace that has only loopback,
# so no server can send anything off this machine (InspIRCd and ircd-hybrid
# would otherwise try reverse DNS through /etc/resolv.conf).
#
# "floor" is bench/floor.rs: a relay that does nothing per delivery but one
# send, so its column is what the kernel alone costs on this machine.
#
#   bench/compare.sh                 # all peers and the floor, 3 runs
#   RUNS=1 PEERS="ngircd" bench/compare.sh
#   OUT=/tmp/results bench/compare.sh   # keep the JSON of every run
#   TLS=1 bench/compare.sh           # the same over TLS (see below)
#   HISTORY=1 bench/compare.sh       # groupchatd with history on vs off (below)
#   WEBSOCKET=1 bench/compare.sh     # groupchatd over WebSocket vs plain (below)
set -euo pipefail
# InspIRCd dumps core when stopped after its TLS runs; no core files in the tree.
ulimit -c 0

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
RUNS=${RUNS:-3}
PEERS=${PEERS:-"ngircd inspircd hybrid floor"}
# 10,000 clients for the idle-RSS and connect-time rows.
CLIENTS=${CLIENTS:-10000}
# The fan-out rows: N members, K senders, 100-byte messages.
MEMBERS=${MEMBERS:-1000}
SENDERS=${SENDERS:-10}
MAX_RATE_MESSAGES=${MAX_RATE_MESSAGES:-200}
PACED_MESSAGES=${PACED_MESSAGES:-100}   # at 10 msg/s per sender: 10 s
# The large-group row: JOIN_CLIENTS clients all end up in #lobby (groupchatd
# puts them there itself; the peers are sent JOIN #lobby), on a fresh server,
# given up after JOIN_DEADLINE seconds.
JOIN_CLIENTS=${JOIN_CLIENTS:-10000}
JOIN_DEADLINE=${JOIN_DEADLINE:-60}
# WEBSOCKET=1: no peers (none serves IRC over WebSocket); the same
# groupchatd twice, alternately: "groupchatd-ws" with a [web] listener on
# the measured port, which the harness loads with --websocket (ws://, text
# frames), and "groupchatd" over plain TCP, for the connect, max and paced
# rows. groupchatd-ws's IRC port is the measured port + 1000. Not with TLS=1.
WEBSOCKET=${WEBSOCKET:-0}
# Which scenarios to run: any of connect max paced join.
if ((WEBSOCKET)); then
    SCENARIOS=${SCENARIOS:-"connect max paced"}
else
    SCENARIOS=${SCENARIOS:-"connect max paced join"}
fi
# Every server (all its threads) runs on CPU SERVER_CPU and the harness on
# HARNESS_CPU, so the scheduler never makes them share a core mid-run (it
# likes to pull a woken reader onto its waker's CPU). PIN=0 turns this off.
PIN=${PIN:-1}
SERVER_CPU=${SERVER_CPU:-0}
HARNESS_CPU=${HARNESS_CPU:-1}
# TLS=1: every server serves TLS on the measured port, all with one ECDSA
# P-256 certificate made by openssl at run time, and the harness runs with
# --tls (TLS 1.3, full handshakes, certificate not verified). A server's
# plain port, where it needs one, is the measured port + 1000. The floor
# has no TLS and is left out; a groupchatd built without the [tls]
# listener is skipped (its cells read n/a).
TLS=${TLS:-0}
if ((TLS)); then
    PEERS=${PEERS/floor/}
fi
if ((WEBSOCKET)); then
    ((TLS)) && { echo "compare.sh: WEBSOCKET=1 and TLS=1 do not combine" >&2; exit 2; }
    PEERS=""
fi
# HISTORY=1: no peers; the same groupchatd twice, "groupchatd-on" with
# [history] kept in a fresh SQLite file per run and "groupchatd-off" with
# history off, alternately, for the rows of issue 12: the fan-out at max
# rate and at 10 msg/s (max, paced), CHATHISTORY LATEST answered while a
# fan-out runs (history), RECONNECT members dropping and fetching what they
# missed (reconnect), and the store's size after STORE_MESSAGES messages
# (store). history, reconnect and store run on groupchatd-on only: with
# history off there is nothing to ask.
HISTORY=${HISTORY:-0}
QUERIERS=${QUERIERS:-10}
QUERY_RATE=${QUERY_RATE:-}          # requests/s over the queriers (empty: back to back)
RECONNECT=${RECONNECT:-1000}
RECONNECT_OBSERVERS=${RECONNECT_OBSERVERS:-10}
STORE_MESSAGES=${STORE_MESSAGES:-1000000}
if ((HISTORY)); then
    PEERS=""
    SCENARIOS=${HISTORY_SCENARIOS:-"max paced history reconnect store"}
fi

log() { echo "== $*" >&2; }

install_peers() {
    local need=()
    command -v ip >/dev/null || need+=(iproute2)
    [[ $PEERS == *ngircd* ]] && ! command -v ngircd >/dev/null && need+=(ngircd)
    [[ $PEERS == *inspircd* ]] && ! command -v inspircd >/dev/null && need+=(inspircd)
    [[ $PEERS == *hybrid* ]] && ! dpkg -s libltdl7 >/dev/null 2>&1 && need+=(libltdl7)
    if ((${#need[@]})); then
        log "installing ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
    if [[ $PEERS == *hybrid* ]]; then
        # ircd-hybrid conflicts with ngircd as a package: unpack it privately.
        mkdir -p "$work/hybrid"
        chmod 777 "$work/hybrid"
        (cd "$work/hybrid" && apt-get download -qq ircd-hybrid && dpkg -x ircd-hybrid_*.deb root)
    fi
}

build() {
    log "building groupchatd and groupchat-bench (release)"
    (cd "$repo" && cargo build --release --quiet --bin groupchatd --bin groupchat-bench \
        --bin groupchatctl --example floor)
    local target=${CARGO_TARGET_DIR:-$repo/target}
    GROUPCHATD=$target/release/groupchatd
    GROUPCHATCTL=$target/release/groupchatctl
    BENCH=$target/release/groupchat-bench
    FLOOR=$target/release/examples/floor
}

# make_cert: the certificate every server serves under TLS=1. A throwaway
# key for loopback, readable by all: ircd-hybrid reads it as nobody.
make_cert() {
    log "making an ECDSA P-256 certificate"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj /CN=localhost -days 30 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
    chmod 644 "$work/tls.key"
}

# Prints the [tls] table that makes groupchatd serve TLS on port $1.
groupchatd_tls() {
    printf '\n[tls]\nlisten = ["127.0.0.1:%s"]\ncert_file = "%s"\nkey_file = "%s"\n' \
        "$1" "$work/tls.crt" "$work/tls.key"
}

# True when this groupchatd build accepts the [tls] table.
groupchatd_has_tls() {
    { cat "$here/groupchatd.toml"; groupchatd_tls 6697; } >"$work/tls-check.toml"
    "$GROUPCHATD" --check-config --config "$work/tls-check.toml" >/dev/null 2>&1
}

wait_port() {
    local port=$1
    for _ in $(seq 100); do
        ss -ltn "sport = :$port" | grep -q LISTEN && return 0
        sleep 0.1
    done
    echo "compare.sh: nothing listens on port $port" >&2
    return 1
}

# start_server NAME PORT: starts a fresh server, serving TLS on PORT when
# TLS=1 (WebSocket for groupchatd-ws), and sets SERVER_PID and OVER, the
# harness's flags for what PORT speaks.
start_server() {
    local name=$1 port=$2 dir=$work/$1 plain=$2
    local cert=$work/tls.crt key=$work/tls.key
    OVER=()
    if ((TLS)); then
        plain=$((port + 1000))
        OVER=(--tls)
    elif [[ $name == groupchatd-ws ]]; then
        plain=$((port + 1000))
        OVER=(--websocket)
    fi
    mkdir -p "$dir"
    chmod 777 "$dir"
    case $name in
    groupchatd | groupchatd-on | groupchatd-off | groupchatd-ws)
        cp "$here/groupchatd.toml" "$dir/groupchatd.toml"
        ((TLS)) && groupchatd_tls "$port" >>"$dir/groupchatd.toml"
        # The harness's Origin is http://<its Host>, which the default
        # (no allowed_origins) accepts.
        [[ $name == groupchatd-ws ]] &&
            printf '\n[web]\nlisten = ["127.0.0.1:%s"]\n' "$port" >>"$dir/groupchatd.toml"
        if [[ $name == groupchatd-on ]]; then
            # A fresh store each time, otherwise the defaults (playback on
            # join included: reconnecting members get it too).
            rm -f "$dir"/history.sqlite3*
            printf '\n[history]\nenabled = true\npath = "%s"\n' \
                "$dir/history.sqlite3" >>"$dir/groupchatd.toml"
        elif [[ $name == groupchatd-off ]]; then
            printf '\n[history]\nenabled = false\n' >>"$dir/groupchatd.toml"
        fi
        "$GROUPCHATD" --listen "127.0.0.1:$plain" --config "$dir/groupchatd.toml" \
            --admin-socket "$dir/admin.sock" 2>"$dir/log" &
        SERVER_PID=$!
        ;;
    floor)
        "$FLOOR" "127.0.0.1:$port" 2>"$dir/log" &
        SERVER_PID=$!
        ;;
    ngircd)
        sed "s/^\tPorts = .*/\tPorts = $plain/" "$here/ngircd.conf" >"$dir/ngircd.conf"
        if ((TLS)); then
            printf '[SSL]\n\tCertFile = %s\n\tKeyFile = %s\n\tPorts = %s\n' \
                "$cert" "$key" "$port" >>"$dir/ngircd.conf"
        fi
        ngircd -n -f "$dir/ngircd.conf" >"$dir/log" 2>&1 &
        SERVER_PID=$!
        ;;
    inspircd)
        echo bench >"$dir/inspircd.motd"
        sed "s|@PORT@|$plain|; s|@DIR@|$dir|g" "$here/inspircd.conf" >"$dir/inspircd.conf"
        if ((TLS)); then
            cat >>"$dir/inspircd.conf" <<EOF
<module name="ssl_gnutls">
<sslprofile name="bench" provider="gnutls" certfile="$cert" keyfile="$key" dhfile=""
            requestclientcert="no">
<bind address="127.0.0.1" port="$port" type="clients" sslprofile="bench">
EOF
        fi
        inspircd --nofork --runasroot --config="$dir/inspircd.conf" >"$dir/log" 2>&1 &
        SERVER_PID=$!
        ;;
    hybrid)
        # ircd-hybrid refuses to run as root.
        sed "s|@PORT@|$plain|; s|@DIR@|$dir|g; s|@MODULES@|/usr/lib/ircd-hybrid/modules|g" \
            "$here/ircd-hybrid.conf" >"$dir/ircd.conf"
        if ((TLS)); then
            # Debian's build uses GnuTLS, which takes an EC key under this
            # name too.
            printf 'serverinfo {\n\trsa_private_key_file = "%s";\n\ttls_certificate_file = "%s";\n};\n' \
                "$key" "$cert" >>"$dir/ircd.conf"
            printf 'listen {\n\thost = "127.0.0.1";\n\tflags = tls;\n\tport = %s;\n};\n' \
                "$port" >>"$dir/ircd.conf"
        fi
        rm -f "$dir/pid"
        for f in kline dline xline resv; do : >"$dir/$f"; done
        chown nobody "$dir"/{kline,dline,xline,resv}
        chmod a+r "$dir/ircd.conf"
        runuser -u nobody -- "$work/hybrid/root/usr/sbin/ircd-hybrid" -foreground \
            -configfile "$dir/ircd.conf" -pidfile "$dir/pid" -logfile "$dir/log" \
            -klinefile "$dir/kline" -dlinefile "$dir/dline" -xlinefile "$dir/xline" \
            -resvfile "$dir/resv" >"$dir/out" 2>&1 &
        pids+=($!)
        wait_port "$port"
        SERVER_PID=$(cat "$dir/pid")
        ;;
    esac
    pids+=("$SERVER_PID")
    wait_port "$port"
    if ((PIN)); then
        taskset -a -p -c "$SERVER_CPU" "$SERVER_PID" >/dev/null
    fi
}

# bench ARGS...: runs the harness, on its own CPU when pinning, speaking
# what the last server started serves (OVER).
bench() {
    if ((PIN)); then
        taskset -c "$HARNESS_CPU" "$BENCH" "${OVER[@]}" "$@"
    else
        "$BENCH" "${OVER[@]}" "$@"
    fi
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    # ircd-hybrid is not our child (runuser is), so wait did not wait: poll
    # until it is gone, or the next server finds its port still taken.
    while kill -0 "$SERVER_PID" 2>/dev/null; do sleep 0.1; done
}

# ngIRCd listens with a backlog of 10 (compiled in): more connects in flight
# overflow it and cost SYN retransmits of a second and more. Every other
# server gets 1000 in flight.
concurrency() { [[ $1 == ngircd ]] && echo 10 || echo 1000; }

wants() { [[ " $SCENARIOS " == *" $1 "* ]]; }

# status NAME RUN WHAT: keeps groupchatctl's view (history health among it).
status() {
    "$GROUPCHATCTL" --socket "$work/$1/admin.sock" --json status \
        >"$OUT/$1-$2-$3-status.json" 2>/dev/null || true
}

# history_rows NAME RUN: the scenarios only a server keeping history can run.
history_rows() {
    local name=$1 run=$2 port=$((17000 + run))
    [[ $name == groupchatd-on ]] || return 0
    local common=(--server "127.0.0.1:$port" --json --quiet 10)
    if wants history; then
        start_server "$name" "$port"
        log "run $run: $name, $QUERIERS clients asking CHATHISTORY during a fan-out"
        bench "${common[@]}" --server-pid "$SERVER_PID" history -n "$MEMBERS" -k "$SENDERS" \
            -m "$PACED_MESSAGES" --size 100 --rate 10 -q "$QUERIERS" --concurrency 1000 \
            ${QUERY_RATE:+--query-rate "$QUERY_RATE"} \
            >"$OUT/$name-$run-history.json" || true
        status "$name" "$run" history
        stop_server
    fi
    if wants reconnect; then
        start_server "$name" "$port"
        log "run $run: $name, $RECONNECT members reconnecting at once"
        bench "${common[@]}" --server-pid "$SERVER_PID" reconnect \
            -n $((RECONNECT + RECONNECT_OBSERVERS + 100)) -r "$RECONNECT" \
            --observers "$RECONNECT_OBSERVERS" --concurrency 1000 \
            >"$OUT/$name-$run-reconnect.json" || true
        status "$name" "$run" reconnect
        stop_server
    fi
    if wants store; then
        start_server "$name" "$port"
        log "run $run: $name, $STORE_MESSAGES messages into the store"
        bench "${common[@]}" --server-pid "$SERVER_PID" fanout -n 2 -k 1 \
            -m "$STORE_MESSAGES" --size 100 >"$OUT/$name-$run-store-fanout.json" || true
        # Until everything is committed, if the daemon says (at most 60 s).
        for _ in $(seq 120); do
            status "$name" "$run" store
            python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["status"]["history"]["queued"] != 0)' \
                "$OUT/$name-$run-store-status.json" 2>/dev/null && break
            sleep 0.5
        done
        stop_server
        # The files after a clean stop, and what the daemon said before it.
        python3 - "$work/$name/history.sqlite3" "$OUT/$name-$run-store-fanout.json" \
            "$OUT/$name-$run-store-status.json" >"$OUT/$name-$run-store.json" <<'PY' || true
import json, os, sys
db, fanout = sys.argv[1], json.load(open(sys.argv[2]))
try:
    daemon = json.load(open(sys.argv[3]))["status"].get("history")
except (OSError, ValueError, KeyError):
    daemon = None
files = {f: os.path.getsize(f) for f in (db, db + "-wal") if os.path.exists(f)}
sent = fanout["fanout"]["sent"]
total = sum(files.values())
print(json.dumps({"store": {"messages": sent, "files": files, "bytes": total,
                            "bytes_per_1m": total * 1e6 / sent if sent else None,
                            "daemon": daemon}}))
PY
    fi
}

run_one() {
    local name=$1 run=$2 port=$((17000 + run)) c
    c=$(concurrency "$name")
    if wants connect || wants max || wants paced; then
        start_server "$name" "$port"
        local common=(--server "127.0.0.1:$port" --server-pid "$SERVER_PID" --json --quiet 10)
        log "run $run: $name (pid $SERVER_PID)"
        if wants connect; then
            bench "${common[@]}" connect -n "$CLIENTS" --concurrency "$c" --hold 2 \
                >"$OUT/$name-$run-connect.json" || true
        fi
        if wants max; then
            bench "${common[@]}" fanout -n "$MEMBERS" -k "$SENDERS" \
                -m "$MAX_RATE_MESSAGES" --size 100 --concurrency "$c" \
                >"$OUT/$name-$run-max.json" || true
        fi
        if wants paced; then
            bench "${common[@]}" fanout -n "$MEMBERS" -k "$SENDERS" -m "$PACED_MESSAGES" \
                --size 100 --rate 10 --concurrency "$c" >"$OUT/$name-$run-paced.json" || true
        fi
        stop_server
    fi
    if wants join; then
        # groupchatd joins every client to its default channel; the others
        # are asked to. Either way a client is done at its JOIN and 366.
        local how=--join
        [[ $name == groupchatd* ]] && how=--auto-join
        start_server "$name" "$port"
        log "run $run: $name, $JOIN_CLIENTS clients into #lobby (pid $SERVER_PID)"
        bench --server "127.0.0.1:$port" --server-pid "$SERVER_PID" --json --quiet 10 \
            --channel '#lobby' --timeout "$JOIN_DEADLINE" \
            connect -n "$JOIN_CLIENTS" --concurrency "$c" "$how" --deadline "$JOIN_DEADLINE" \
            >"$OUT/$name-$run-join.json" || true
        stop_server
    fi
    history_rows "$name" "$run"
}

if [[ ${1:-} != --in-netns ]]; then
    # Phase 1, with the network: packages and the build.
    [[ $(id -u) == 0 ]] || { echo "compare.sh: needs root (apt-get, unshare)" >&2; exit 2; }
    work=$(mktemp -d /tmp/gcbench-compare.XXXXXX)
    chmod 755 "$work"
    install_peers
    build
    ((TLS)) && make_cert
    export work GROUPCHATD GROUPCHATCTL BENCH FLOOR
    # Phase 2, in a namespace with only loopback.
    exec unshare --net --mount "$0" --in-netns
fi
ip link set lo up
mount --make-rprivate /
# Servers that look up client host names ask a stub on 127.0.0.1 that says
# NXDOMAIN at once, instead of waiting out a resolver they cannot reach.
echo "nameserver 127.0.0.1" >"$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf
python3 "$here/nxdomain.py" &
dns_pid=$!
if [[ $PEERS == *hybrid* ]]; then
    # Show hybrid's modules at their compiled-in path, through an overlay that
    # exists only in this mount namespace.
    mount -t overlay overlay -o "lowerdir=$work/hybrid/root/usr/lib:/usr/lib" /usr/lib
fi
OUT=${OUT:-$work/results}
mkdir -p "$OUT"
pids=("$dns_pid")
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
servers="groupchatd $PEERS"
((HISTORY)) && servers="groupchatd-on groupchatd-off"
((WEBSOCKET)) && servers="groupchatd-ws groupchatd"
if ((TLS)) && ! groupchatd_has_tls; then
    log "this groupchatd has no [tls] listener: skipped"
    servers=$PEERS
fi
for run in $(seq "$RUNS"); do
    for name in $servers; do
        run_one "$name" "$run"
    done
done
python3 "$here/summarize.py" "$OUT" "$RUNS" $servers
echo "JSON of every run: $OUT" >&2
