#!/usr/bin/env bash
# The one command that runs every test (the README's test command; CI runs it too).
# It installs and starts what the tests need on loopback, runs the whole suite, and stops them.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== unit, use-case and black-box tests (default features: SQLite, memory dedup, log sink)"
cargo test --locked
