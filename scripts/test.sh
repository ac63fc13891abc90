#!/usr/bin/env bash
# The one command that runs every test (the README's test command; CI runs it too).
# It installs and starts what the tests need on loopback (throwaway PostgreSQL, PgBouncer and Redis
# in its set-ups, on non-default ports), runs the whole suite with every feature, and stops them again, even when
# a test fails. In this command nothing is skipped: a missing service is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== services on loopback: PostgreSQL, PgBouncer, Redis, TLS Redis, Redis Cluster, Redis Sentinel"
envs=$(scripts/test-services.sh start)      # fails loudly if they cannot start
trap 'scripts/test-services.sh stop' EXIT
eval "$envs"                                # PUSH_TEST_DATABASE_URL, PUSH_TEST_REDIS_URL, ... (see there)

# Every member of the workspace (its default members): the server, push-testkit and push-bench,
# whose binary the ops tests' benchmark smoke run finds beside the server's.
echo "== every test with every feature (SQLite + Postgres, memory + Redis, log sink + APNS + FCM fakes)"
PUSH_TEST_REQUIRE_SERVICES=1 cargo test --locked --all-features

echo "== Swagger UI at /docs rendered in headless Chromium (installs Debian's chromium if missing)"
scripts/check-docs-browser.sh --all-features

echo "== default features (the embedded build a fresh checkout runs)"
cargo test --locked

echo "== schema fuzzing: schemathesis (PyPI, throwaway venv) against /openapi.json, every check"
scripts/schemathesis.sh

echo "== soak: RSS stays flat under steady load (bounded)"
scripts/soak.sh
