#!/usr/bin/env bash
# The Swagger UI at /docs, checked in a real browser: installs Debian's chromium when it is
# missing, then runs the test that starts push-server on a free loopback port, renders /docs in
# headless Chromium and asserts every operation of /openapi.json is rendered. Extra arguments go
# to `cargo test` (for example `--features otel`, to reuse the build the other tests made).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v "${CHROMIUM:-chromium}" >/dev/null 2>&1; then
    echo "== installing chromium (Debian package)"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be missing or stale on a fresh machine: update only when needed.
    if ! $sudo apt-get install -y --no-install-recommends chromium; then
        $sudo apt-get update
        $sudo apt-get install -y --no-install-recommends chromium
    fi
fi

echo "== Swagger UI in headless Chromium"
cargo test --locked "$@" --test ops docs_browser -- --ignored --nocapture
