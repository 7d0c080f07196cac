#!/usr/bin/env bash
# Coverage-guided fuzzing of groupchatd with libFuzzer, through cargo-fuzz,
# on the stable toolchain.
#
#   fuzz/run.sh                 every target for 60 s each
#   fuzz/run.sh 600             every target for 600 s each
#   fuzz/run.sh 30 connection   one target for 30 s
#
# Targets (fuzz/fuzz_targets/):
#   parse_line   LineFramer + Message::parse on arbitrary bytes
#   connection   two clients' byte streams through LineFramer into one Hub
#   web_input    an HTTP request, then WebSocket frames, through WebSession
#                into lines, and lines back out as frames
#   tls_glue     a TLS session between a rustls client and our TlsSession,
#                over a socket the input cuts anywhere, with garbage
#
# Install once: `cargo install cargo-fuzz` (it builds libFuzzer from the
# libfuzzer-sys crate's C++ source, so g++ is needed; nothing else). The
# script installs it when it is missing.
#
# Why `--sanitizer none`: cargo-fuzz's default, AddressSanitizer, needs
# `-Zsanitizer`, which stable rustc refuses (RUSTC_BOOTSTRAP=1 does not get
# past cargo's target probe either). The code under test has no `unsafe`,
# so ASan would find nothing that Rust's own checks miss; debug assertions
# and overflow checks stay on (cargo-fuzz's default build), so arithmetic
# overflow panics like any other bug. Coverage instrumentation (sancov) is
# stable and is all libFuzzer needs.
#
# The working corpus grows in fuzz/corpus/TARGET (not committed); the seeds
# in fuzz/seeds/TARGET are read too, and fuzz/irc.dict gives the IRC words.
# A failing input is saved in fuzz/artifacts/TARGET/; reproduce it with
#   cargo fuzz run -s none TARGET fuzz/artifacts/TARGET/crash-...
# and keep it as a regression test in the normal test suite once fixed.
#
# The exit status is non-zero if any target found a failure. Each run ends
# with libFuzzer's summary: executions, exec/s and coverage.
set -euo pipefail

seconds=${1:-60}
shift || true
cd "$(dirname "$0")"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(parse_line connection tls_glue web_input)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz
fi

failed=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "== $target: ${seconds} s"
    if ! cargo fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -dict=irc.dict -max_len=4096 -print_final_stats=1; then
        echo "== $target: FAILED, see fuzz/artifacts/$target/"
        failed=1
    fi
done
exit "$failed"
