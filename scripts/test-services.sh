#!/usr/bin/env bash
# Throwaway PostgreSQL and Redis for the backend test suites, on loopback and non-default ports.
#
#   scripts/test-services.sh start [ENV_FILE]   install if missing, start both, wait until they
#                                               answer, print (or write to ENV_FILE) the
#                                               `export PUSH_TEST_...` lines for the tests
#   scripts/test-services.sh stop               stop both and remove their data
#
# Both commands are idempotent: `start` on running services only prints the URLs again, `stop`
# with nothing running does nothing. Ports and the data directory can be moved with
# PUSH_TEST_PG_PORT, PUSH_TEST_REDIS_PORT and PUSH_TEST_SERVICES_DIR.
set -euo pipefail

PG_PORT="${PUSH_TEST_PG_PORT:-55432}"
REDIS_PORT="${PUSH_TEST_REDIS_PORT:-56379}"
# A fixed place (not mktemp) so that `stop`, a later `start` and a re-run after a crash find what
# an earlier `start` left behind.
DIR="${PUSH_TEST_SERVICES_DIR:-${TMPDIR:-/tmp}/push-server-test-services-${PG_PORT}}"
PGDATA="$DIR/pg"
DATABASE_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres"
REDIS_URL="redis://127.0.0.1:${REDIS_PORT}/"

say() { echo "test-services: $*" >&2; }
die() { say "$*"; exit 1; }

pg_bin() {
    # Debian keeps the server binaries out of PATH, one folder per major version; take the newest.
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$bin" ] && [ -x "$bin/$1" ] && { echo "$bin/$1"; return; }
    command -v "$1" || return 1
}

install_missing() {
    local missing=()
    pg_bin initdb >/dev/null 2>&1 && pg_bin pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
    command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 || missing+=(redis-server)
    [ ${#missing[@]} -eq 0 ] && return
    [ "$(id -u)" -eq 0 ] || die "need ${missing[*]}; run as root or install them first"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The packages start system-wide services on their default ports; the tests use their own.
    for svc in redis-server postgresql; do
        if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
    done
}

# Runs a command as the PostgreSQL user: postgres refuses to run as root. The Debian package
# creates that user; a machine with the binaries but without it gets one here.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        getent passwd postgres >/dev/null || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_running() { [ -f "$PGDATA/postmaster.pid" ] && as_pg "$(pg_bin pg_ctl)" -D "$PGDATA" status >/dev/null 2>&1; }
redis_running() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

start_pg() {
    if pg_running; then say "PostgreSQL already running on 127.0.0.1:$PG_PORT"; return; fi
    mkdir -p "$DIR"
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        rm -rf "$PGDATA"
        mkdir -p "$PGDATA"
        [ "$(id -u)" -eq 0 ] && chown postgres "$PGDATA"
        # The parent must be traversable by the postgres user.
        chmod 755 "$DIR"
        as_pg "$(pg_bin initdb)" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 --no-sync >/dev/null
    fi
    # Throwaway data: durability settings off for speed; a socket dir of our own (the system one
    # may not exist); connections for several servers plus parallel tests.
    as_pg "$(pg_bin pg_ctl)" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PGDATA -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
        start >/dev/null || { cat "$PGDATA/server.log" >&2; die "PostgreSQL did not start"; }
}

start_redis() {
    if redis_running; then say "Redis already running on 127.0.0.1:$REDIS_PORT"; return; fi
    mkdir -p "$DIR/redis"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save '' --appendonly no \
        --dir "$DIR/redis" --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" --protected-mode yes
}

wait_until() {
    local what=$1; shift
    for _ in $(seq 1 100); do
        "$@" >/dev/null 2>&1 && return
        sleep 0.2
    done
    die "$what does not answer"
}

env_lines() {
    echo "export PUSH_TEST_DATABASE_URL=$DATABASE_URL"
    echo "export PUSH_TEST_REDIS_URL=$REDIS_URL"
}

start() {
    install_missing
    start_pg
    start_redis
    wait_until "PostgreSQL on 127.0.0.1:$PG_PORT" "$(pg_bin pg_isready)" -h 127.0.0.1 -p "$PG_PORT" -U postgres
    wait_until "Redis on 127.0.0.1:$REDIS_PORT" redis_running
    say "PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT, data in $DIR"
    if [ -n "${1:-}" ]; then mkdir -p "$(dirname "$1")"; env_lines >"$1"; else env_lines; fi
}

stop() {
    if [ -f "$PGDATA/PG_VERSION" ] && pg_bin pg_ctl >/dev/null 2>&1; then
        as_pg "$(pg_bin pg_ctl)" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
    if redis_running; then redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; fi
    if [ -f "$DIR/redis.pid" ]; then
        pid=$(cat "$DIR/redis.pid" 2>/dev/null || true)
        # Only the redis this script started, by its recorded pid.
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    fi
    rm -rf "$DIR"
    say "stopped"
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) stop ;;
    *) echo "usage: $0 start [ENV_FILE] | stop" >&2; exit 2 ;;
esac
