#!/usr/bin/env bash
# Bounded soak test: runs the real push-server under steady signed load with fresh ids for a few
# minutes and fails if its resident memory grows after warm-up (tests/ops/soak.rs has the details).
#
# Environment: SOAK_SECS (default 180), SOAK_RATE (150 requests a second), SOAK_WARMUP_SECS (30),
# SOAK_TOLERANCE_MB (8), SOAK_TOLERANCE_PCT (10); SOAK_RELEASE=1 builds and soaks the release
# profile instead of the debug one.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=()
if [[ "${SOAK_RELEASE:-}" == 1 ]]; then profile=(--release); fi
echo "== soak: ${SOAK_SECS:-180} s at ${SOAK_RATE:-150} requests/s, RSS sampled every 5 s"
# `soak::` with --ignored picks the one soak test of the ops crate; --test-threads=1 so the server
# gets the cores.
cargo test --locked "${profile[@]}" --test ops soak:: -- --ignored --nocapture --test-threads=1
