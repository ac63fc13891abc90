#!/usr/bin/env bash
# Schema fuzzing: runs Schemathesis with all its checks against /openapi.json of a real
# push-server (embedded default: SQLite, memory dedup, log sink) on a free loopback port.
#
# - Schemathesis comes from PyPI into a throwaway virtual environment (pinned version below).
# - The Relay endpoint is fuzzed signed: scripts/schemathesis_hooks.py signs every request with a
#   test Ed25519 key whose public half the server is given.
# - Pass 1, rate limiter off (so fuzzing is not turned into 429s), with the stricter settings of
#   scripts/schemathesis.toml; pass 2, a short one with the default limiter on, since 429 is a
#   documented answer of the registration endpoints.
# Bounded: PUSH_FUZZ_EXAMPLES cases per operation and phase (default 500), and a hard time limit
# per pass (PUSH_FUZZ_MAX_SECS, default 480; about 210 s is typical on 2 cores). Schemathesis's own
# --max-time is a budget it always spends, so the cap is `timeout`. Exits non-zero on any failure.
#
# Environment: PUSH_SERVER_BIN to use a prebuilt binary (default: cargo build, debug profile);
# PUSH_FUZZ_KEEP=1 keeps the temp dir (server logs, reports).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

SCHEMATHESIS_VERSION=4.32.5
CRYPTOGRAPHY_VERSION=50.0.2
EXAMPLES=${PUSH_FUZZ_EXAMPLES:-500}
MAX_SECS=${PUSH_FUZZ_MAX_SECS:-480}

work=$(mktemp -d -t push-fuzz.XXXXXX)
server_pid=""
push_service_pid=""
cleanup() {
    if [[ -n "$push_service_pid" ]]; then kill "$push_service_pid" 2>/dev/null || true; fi
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ "${PUSH_FUZZ_KEEP:-}" == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "== schemathesis: virtual environment in $work/venv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" "cryptography==$CRYPTOGRAPHY_VERSION"

if [[ -z "${PUSH_SERVER_BIN:-}" ]]; then
    # Every feature: project credentials uploaded by the admin API are checked by building APNS
    # and FCM providers, which need their features (nothing else is configured, so the log sink
    # still serves the default project).
    cargo build --locked --quiet --all-features --bin push-server
    PUSH_SERVER_BIN="${CARGO_TARGET_DIR:-target}/debug/push-server"
fi
PUSH_SERVER_BIN=$(realpath "$PUSH_SERVER_BIN")

# A fixed test key: nothing secret, it only has to match between the hooks and the server.
seed=$(printf '2a%.0s' $(seq 32))
# The admin API is on, and the default project is also `fuzz-app`, so the project routes are
# fuzzed through to delivery (the hooks point positive cases at it).
admin_token=fuzz-admin-token-0123456789
credentials_key=$(printf '5c%.0s' $(seq 32))
public_key=$("$work/venv/bin/python" - "$seed" <<'PY'
import sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sys.argv[1]))
print(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex())
PY
)

free_port() {
    "$work/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The default project's VAPID key (the key routes answer 200; LOG_SINK=true keeps the log sink
# serving apns, fcm and noop beside it), and a push service on loopback that
# accepts every message (201): the one push host registrations may name, so sends to webpush
# clients are fuzzed through to delivery.
vapid_key=$("$PUSH_SERVER_BIN" keygen --vapid | sed -n 's/^WEBPUSH_VAPID_PRIVATE_KEY="\(.*\)"$/\1/p')
"$work/venv/bin/python" - "$work/push-service.port" <<'PY' >"$work/push-service.log" 2>&1 &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class PushService(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), PushService)
with open(sys.argv[1], "w") as out:
    out.write(str(server.server_address[1]))
server.serve_forever()
PY
push_service_pid=$!
for _ in $(seq 100); do [[ -s "$work/push-service.port" ]] && break; sleep 0.1; done
webpush_host=127.0.0.1:$(cat "$work/push-service.port")

start_server() { # $1: pass name, $2: RATE_LIMIT_PER_MINUTE
    local dir="$work/$1"
    mkdir -p "$dir"
    port=$(free_port)
    # A clean environment: only what this run sets, so a developer's .env or shell does not leak in.
    (cd "$dir" && exec env -i PATH="$PATH" HOST=127.0.0.1 PORT="$port" \
        DATABASE_URL="sqlite://$dir/clients.db" SQLITE_SYNCHRONOUS=normal \
        RELAY_PUBLIC_KEY="$public_key" RATE_LIMIT_PER_MINUTE="$2" RUST_LOG=warn \
        ADMIN_TOKEN="$admin_token" CREDENTIALS_KEY="$credentials_key" DEFAULT_PROJECT_ID=fuzz-app \
        WEBPUSH_VAPID_PRIVATE_KEY="$vapid_key" WEBPUSH_SUBJECT=mailto:fuzz@push-server.local \
        WEBPUSH_ALLOWED_HOSTS="$webpush_host" LOG_SINK=true \
        "$PUSH_SERVER_BIN") >"$dir/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "push-server did not start:" >&2
    cat "$dir/server.log" >&2
    exit 1
}

stop_server() {
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

run_schemathesis() { # $1: time limit in seconds; then schemathesis arguments
    local limit=$1
    shift
    # From the temp dir, so nothing (reports, caches) lands in the checkout.
    (cd "$work" && PUSH_FUZZ_RELAY_SEED="$seed" PUSH_FUZZ_BASE_URL="http://127.0.0.1:$port" \
        PUSH_FUZZ_ADMIN_TOKEN="$admin_token" PUSH_FUZZ_WEBPUSH_HOST="$webpush_host" \
        SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$repo/scripts" \
        timeout "$limit" "$work/venv/bin/schemathesis" "$@") || {
        local status=$?
        [[ $status == 124 ]] && echo "schemathesis did not finish within $limit s" >&2
        return $status
    }
}

echo "== schemathesis pass 1: all checks, rate limiter off, $EXAMPLES examples, at most $MAX_SECS s"
start_server fuzz 0
run_schemathesis "$MAX_SECS" --config-file "$repo/scripts/schemathesis.toml" \
    run "http://127.0.0.1:$port/openapi.json" \
    --checks all --workers 1 --max-examples "$EXAMPLES" --generation-database none --no-color
stop_server

echo "== schemathesis pass 2: all checks, default rate limiter on (429 is documented)"
start_server limited 120
run_schemathesis 120 run "http://127.0.0.1:$port/openapi.json" \
    --checks all --workers 1 --max-examples 50 --generation-database none --no-color
stop_server
