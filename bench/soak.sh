#!/usr/bin/env bash
# Soak test (not part of CI): a release groupchatd on a free loopback port
# under `groupchat-bench churn` (clients connecting, chatting a little and
# leaving, half of them by reset) plus a steady chat load (`fanout` at a
# modest rate) for a long time, then a check that it gave back what the
# clients took: open file descriptors and resident memory at the start, the
# peak, and the end once every client has gone.
#
#   bench/soak.sh              # 600 s
#   bench/soak.sh 60           # a short run
#   SOAK_SECONDS=3600 bench/soak.sh
#
# Knobs (environment): CHURN_CONCURRENCY (sessions alive at once, 50),
# CHAT_MEMBERS (20), CHAT_SENDERS (5), CHAT_RATE (messages/s per sender, 2),
# SAMPLE_EVERY (seconds between samples, 10), KEEP=1 keeps the work folder
# (daemon log, bench output, samples.csv).
#
# Exit status: 0 when the daemon survived, both loads finished without
# failures and the fd count came back to where it started; 1 otherwise.
# RSS is reported but not judged: the allocator keeps freed pages, so only
# steady growth over a long run means a leak.
#
# Only 127.0.0.1 is ever used: the daemon listens there and groupchat-bench
# refuses any address outside 127.0.0.0/8.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
DURATION=${1:-${SOAK_SECONDS:-600}}
CHURN_CONCURRENCY=${CHURN_CONCURRENCY:-50}
CHAT_MEMBERS=${CHAT_MEMBERS:-20}
CHAT_SENDERS=${CHAT_SENDERS:-5}
CHAT_RATE=${CHAT_RATE:-2}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
# How long the clients may take to be gone after the loads end.
SETTLE_SECONDS=30

log() { echo "== $*" >&2; }
die() {
    echo "soak.sh: $*" >&2
    exit 1
}

[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "duration must be whole seconds, got '$DURATION'"

log "building groupchatd and groupchat-bench (release)"
(cd "$repo" && cargo build --release --quiet --bin groupchatd --bin groupchat-bench)
target=${CARGO_TARGET_DIR:-$repo/target}
GROUPCHATD=$target/release/groupchatd
BENCH=$target/release/groupchat-bench

work=$(mktemp -d /tmp/groupchatd-soak.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ ${KEEP:-0} == 1 ]]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Enough descriptors for both loads with room to spare.
ulimit -n "$(ulimit -Hn)"

# The bench config: no per-address connection limit (every client comes
# from 127.0.0.1) and no flood control (the loads are the point).
# One info line per connect and per disconnect would be ~50 MB a minute at
# churn's rate: only the start-up lines and warnings or worse are kept.
"$GROUPCHATD" --config "$here/groupchatd.toml" --listen 127.0.0.1:0 --admin-socket "$work/admin.sock" \
    2> >(sed -u -n -e '1,20{p;d}' -e '/^groupchatd: INFO /!p' >"$work/daemon.log") &
daemon=$!
pids+=("$daemon")
addr=
for _ in $(seq 100); do
    addr=$(sed -n 's/.*listening on \(127\.[0-9.]*:[0-9]*\).*/\1/p' "$work/daemon.log" | head -n1)
    [[ -n $addr ]] && break
    kill -0 "$daemon" 2>/dev/null || die "groupchatd exited: $(cat "$work/daemon.log")"
    sleep 0.1
done
[[ -n $addr ]] || die "groupchatd did not report a loopback address"
port=${addr##*:}

fds() { find "/proc/$daemon/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$daemon/status" 2>/dev/null || echo 0; }
clients() { ss -Htn state established "( sport = :$port )" 2>/dev/null | wc -l; }

start_fds=$(fds)
start_rss=$(rss_kib)
log "groupchatd pid $daemon on $addr: $start_fds fds, $start_rss KiB RSS"
echo "seconds,fds,rss_kib,clients" >"$work/samples.csv"
began=$SECONDS
sample() { echo "$((SECONDS - began)),$(fds),$(rss_kib),$(clients)" >>"$work/samples.csv"; }
sample

chat_messages=$((DURATION * CHAT_RATE))
log "for ${DURATION} s: churn with $CHURN_CONCURRENCY sessions at once; chat: $CHAT_MEMBERS members, $CHAT_SENDERS senders at $CHAT_RATE msg/s ($chat_messages each)"
"$BENCH" --server "$addr" --channel '#soak-churn' --nick-prefix churn \
    churn -c "$CHURN_CONCURRENCY" --duration "$DURATION" >"$work/churn.txt" 2>&1 &
churn=$!
pids+=("$churn")
"$BENCH" --server "$addr" --channel '#soak-chat' --nick-prefix chat --quiet 30 \
    fanout -n "$CHAT_MEMBERS" -k "$CHAT_SENDERS" -m "$chat_messages" --rate "$CHAT_RATE" \
    --size 100 >"$work/chat.txt" 2>&1 &
chat=$!
pids+=("$chat")

# Sample until both loads are done, keeping the peak.
while kill -0 "$churn" 2>/dev/null || kill -0 "$chat" 2>/dev/null; do
    kill -0 "$daemon" 2>/dev/null || break
    sample
    sleep "$SAMPLE_EVERY" &
    wait $! || true
done
churn_status=0
wait "$churn" || churn_status=$?
chat_status=0
wait "$chat" || chat_status=$?

# Wait for every client to be gone from the daemon's side too.
for _ in $(seq $((SETTLE_SECONDS * 10))); do
    [[ $(clients) == 0 && $(fds) -le $start_fds ]] && break
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.1
done
alive=yes
kill -0 "$daemon" 2>/dev/null || alive=no
sample
end_fds=$(fds)
end_rss=$(rss_kib)
peak_fds=$(tail -n +2 "$work/samples.csv" | cut -d, -f2 | sort -n | tail -n1)
peak_rss=$(tail -n +2 "$work/samples.csv" | cut -d, -f3 | sort -n | tail -n1)

echo
echo "--- churn ($CHURN_CONCURRENCY at once, ${DURATION} s), exit $churn_status"
cat "$work/churn.txt"
echo "--- chat ($CHAT_MEMBERS members, $CHAT_SENDERS senders x $chat_messages at $CHAT_RATE/s), exit $chat_status"
cat "$work/chat.txt"
echo "--- groupchatd (pid $daemon, alive at the end: $alive)"
printf '%-6s %10s %12s\n' "" "open fds" "VmRSS KiB"
printf '%-6s %10s %12s\n' start "$start_fds" "$start_rss"
printf '%-6s %10s %12s\n' peak "$peak_fds" "$peak_rss"
printf '%-6s %10s %12s\n' end "$end_fds" "$end_rss"
echo "clients still connected at the end: $(clients)"
warnings=$(grep -cE '^groupchatd: (WARN|ERROR)' "$work/daemon.log" || true)
echo "daemon log: $(wc -l <"$work/daemon.log") lines, $warnings warnings or errors"

verdict=pass
[[ $alive == yes ]] || { echo "FAIL: groupchatd died"; verdict=fail; }
[[ $churn_status == 0 ]] || { echo "FAIL: churn reported failures"; verdict=fail; }
[[ $chat_status == 0 ]] || { echo "FAIL: chat reported failures"; verdict=fail; }
((end_fds <= start_fds)) || { echo "FAIL: $((end_fds - start_fds)) fds more than at the start"; verdict=fail; }
echo "soak: $verdict"
[[ $verdict == pass ]]
