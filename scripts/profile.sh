#!/usr/bin/env bash
# Where the send path spends its time: runs the release server under callgrind while push-bench
# sends signed notifications, then lists the functions by instructions executed (inclusive and
# self). Instruction counts do not depend on what else the machine is doing, so they compare
# builds fairly on a busy machine. Needs valgrind.
#
#   scripts/profile.sh [encrypted|cleartext] [seconds]     (default: encrypted, 20)
#
# Output: target/profile/callgrind.out and target/profile/summary.txt. The binaries come from
# ${CARGO_TARGET_DIR:-target}/release (push-bench is a workspace member of its own).
set -euo pipefail
cd "$(dirname "$0")/.."

payload=${1:-encrypted}
seconds=${2:-20}
cargo build --release --locked -p push-server -p push-bench
bin=${CARGO_TARGET_DIR:-target}/release
out=target/profile
rm -rf "$out"
mkdir -p "$out"

secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
public=$("$bin/push-bench" relay-public-key --relay-secret "$secret")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

env -i PATH="$PATH" HOST=127.0.0.1 PORT="$port" RUST_LOG=warn RATE_LIMIT_PER_MINUTE=0 \
    DATABASE_URL="sqlite://$PWD/$out/bench.db" RELAY_PUBLIC_KEY="$public" \
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" --dump-instr=no \
    "$bin/push-server" 2>"$out/valgrind.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

"$bin/push-bench" send --url "http://127.0.0.1:$port" --server-pid "$server" --relay-secret "$secret" \
    --payload "$payload" --connections 8 --warmup 2 --duration "$seconds" --clients 100 --rate-hint 2000 | tee "$out/bench.txt"

kill -TERM "$server"
wait "$server" || true
trap - EXIT

requests=$(grep -o '([0-9]* requests' "$out/bench.txt" | tr -dc 0-9)
callgrind_annotate --inclusive=yes "$out/callgrind.out" >"$out/inclusive.txt" 2>/dev/null
callgrind_annotate "$out/callgrind.out" >"$out/self.txt" 2>/dev/null
{
    echo "callgrind of push-server, send ($payload), $requests measured requests (plus warm-up and start-up)"
    sed -n 1,60p "$out/inclusive.txt"
    echo
    echo "== self cost"
    sed -n 1,45p "$out/self.txt"
} >"$out/summary.txt"
echo "summary in $out/summary.txt"
