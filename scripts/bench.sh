#!/usr/bin/env bash
# The load benchmark: builds the release binaries, runs every scenario and prints the table of
# docs/benchmarks.md. push-bench is a workspace member of its own (crates/push-bench); cargo puts its
# binary beside push-server's, in ${CARGO_TARGET_DIR:-target}/<profile>/, where it also finds the
# server it starts.
#
#   scripts/bench.sh            full run (about 5 minutes after the build)
#   scripts/bench.sh --smoke    a few seconds per scenario on the debug build (what CI runs);
#                               exits non-zero when any request fails or the server misbehaves
#   scripts/bench.sh --baseline PATH [--force]
#                               see scripts/bench-common.sh: an earlier build beside this one, and
#                               the quiet-machine rule (load average at most 0.5)
#
# The Postgres + Redis row runs when both are given (the binary is then built with
# --features postgres,redis):
#   BENCH_DATABASE_URL=postgres://bench:bench@127.0.0.1:25432/bench \
#   BENCH_REDIS_URL=redis://127.0.0.1:26379 scripts/bench.sh
#
# BENCH_DURATION (seconds, default 20) sets the measured time of the full run. The server is
# started by push-bench with RUST_LOG=warn (no per-delivery log line), no LOG_SINK_PATH and
# RATE_LIMIT_PER_MINUTE=0; every thread of the server is pinned to core 0 (`taskset -a`, checked
# after start-up) and the generator to core 1.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/bench-common.sh

features=()
with_pg_redis=false
if [[ -n ${BENCH_DATABASE_URL:-} && -n ${BENCH_REDIS_URL:-} ]]; then
    with_pg_redis=true
    features=(--features postgres,redis)
fi
# The variables are read by push-bench too; only the Postgres + Redis row should use them.
pg_url=${BENCH_DATABASE_URL:-}
redis_url=${BENCH_REDIS_URL:-}
unset BENCH_DATABASE_URL BENCH_REDIS_URL

if $smoke; then
    cargo build --locked -p push-server -p push-bench "${features[@]}"
    bin="${CARGO_TARGET_DIR:-target}/debug"
    timing=(--warmup 1 --duration 2 --connections 8)
    send_extra=(--clients 20 --rate-hint 4000)
    soak=()
    dedup_entries=50000
else
    cargo build --release --locked -p push-server -p push-bench "${features[@]}"
    bin="${CARGO_TARGET_DIR:-target}/release"
    timing=(--warmup 3 --duration "${BENCH_DURATION:-20}" --connections 64)
    send_extra=(--clients 1000 --rate-hint 40000)
    dedup_entries=1000000
fi

rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
run() {
    echo
    echo "\$ push-bench $* ${baseline[*]}"
    "$bin/push-bench" "$@" "${baseline[@]}" --markdown-out "$rows"
}

run send --payload encrypted "${timing[@]}" "${send_extra[@]}" --label "send, SQLite + memory dedup, encrypted, signatures on"
run send --payload cleartext "${timing[@]}" "${send_extra[@]}" --label "send, SQLite + memory dedup, cleartext, signatures on"
run send --payload encrypted --no-signatures "${timing[@]}" "${send_extra[@]}" --label "send, SQLite + memory dedup, encrypted, signatures off"
# Valid sends while a flood of bad signatures arrives (each costs the server a whole verification):
# the valid sends' throughput and p99 are the figures; every bad one must be refused.
run send --payload encrypted "${timing[@]}" "${send_extra[@]}" --bad-signature-rate "${BENCH_BAD_SIGNATURE_RATE:-5000}" \
    --label "send, SQLite + memory dedup, encrypted, signatures on, beside ${BENCH_BAD_SIGNATURE_RATE:-5000} bad signatures/s"
if $with_pg_redis; then
    run send --payload encrypted "${timing[@]}" "${send_extra[@]}" --database-url "$pg_url" --redis-url "$redis_url" \
        --label "send, Postgres + Redis, encrypted, signatures on"
fi
# Production traffic: registrations never stop (every app launch re-registers its token).
run mixed "${timing[@]}" "${send_extra[@]}" --register-rate 100 \
    --label "mixed: send as above + 100 registrations/s"
run mixed "${timing[@]}" "${send_extra[@]}" --register-rate 1000 \
    --label "mixed: send as above + 1,000 registrations/s"
run register "${timing[@]}" --label "register, SQLite, SQLITE_SYNCHRONOUS=normal (default)"
run register "${timing[@]}" --server-env SQLITE_SYNCHRONOUS=full --label "register, SQLite, SQLITE_SYNCHRONOUS=full"
# Memory under sustained load is scripts/soak.sh (part of the test command): the signed-ahead
# requests of a one-minute run at full rate would be older than a short replay window allows.
echo
echo "\$ push-bench dedup-memory --entries $dedup_entries"
"$bin/push-bench" dedup-memory --entries "$dedup_entries" --markdown-out "$rows"

echo
print_machine
echo
echo "| scenario | connections | requests/s | latency ms p50 / p90 / p99 / max | non-2xx | errors | server RSS MiB (window start → end, peak) | server CPU µs/request |"
echo "|---|---|---|---|---|---|---|---|"
cat "$rows"
