#!/usr/bin/env bash
# The delivery benchmark (`push-bench deliver`): release build with APNS and FCM, the server pinned
# to core 0, the generator and the in-process fake providers (h2c, log-normal latency, median
# 150 ms, p99 600 ms) on core 1. Prints the delivery table of docs/benchmarks.md. Both binaries are
# taken from ${CARGO_TARGET_DIR:-target}/<profile>/ (push-bench is a workspace member of its own).
#
#   scripts/bench-deliver.sh            APNS at 500 streams (8 connections, then 1), FCM at 100
#                                       streams (16 connections, then 1); BENCH_DURATION seconds each
#   scripts/bench-deliver.sh --smoke    a second per row on the debug build, fast fakes
#   --baseline PATH, --force            see scripts/bench-common.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-common.sh

if $smoke; then
    cargo build --locked -p push-server -p push-bench --features apns,fcm
    bin=${CARGO_TARGET_DIR:-target}/debug
    timing=(--warmup 0.5 --duration 1 --clients 50 --rate-hint 2000 --median-ms 5 --p99-ms 20)
    # A handful of Relay connections, not thousands: the smoke run checks that it works.
    apns_connections=${APNS_RELAY_CONNECTIONS:-16}
    fcm_connections=${FCM_RELAY_CONNECTIONS:-16}
else
    cargo build --release --locked -p push-server -p push-bench --features apns,fcm
    bin=${CARGO_TARGET_DIR:-target}/release
    timing=(--warmup 3 --duration "${BENCH_DURATION:-15}" --clients 20000 --rate-hint 14000)
    apns_connections=${APNS_RELAY_CONNECTIONS:-2500}
    fcm_connections=${FCM_RELAY_CONNECTIONS:-1400}
fi
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
run() {
    echo
    echo "\$ push-bench deliver $* ${baseline[*]}"
    "$bin/push-bench" deliver "$@" "${baseline[@]}" --markdown-out "$rows"
}

run --provider apns --streams 500 "${timing[@]}" --connections "$apns_connections"
run --provider apns --streams 500 --max-connections 1 "${timing[@]}" --connections "$apns_connections"
run --provider fcm --streams 100 --max-connections 16 "${timing[@]}" --connections "$fcm_connections"
run --provider fcm --streams 100 --max-connections 1 "${timing[@]}" --connections "$fcm_connections"

echo
print_machine
echo
echo "| scenario | Relay connections | deliveries/s | Relay latency ms p50 / p90 / p99 | connections opened | streams in flight, peak | server RSS peak MiB | server CPU µs/delivery |"
echo "|---|---|---|---|---|---|---|---|"
cat "$rows"
