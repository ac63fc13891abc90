#!/usr/bin/env bash
# Throwaway backends for the backend test suites, all on loopback and non-default ports:
#
#   PostgreSQL                                   PUSH_TEST_DATABASE_URL           :25432
#   PgBouncer (transaction pooling) in front     PUSH_TEST_PGBOUNCER_URL          :26432
#   Redis                                        PUSH_TEST_REDIS_URL              :26379
#   Redis, TLS only, certificates made at start  PUSH_TEST_REDIS_TLS_URL          :26380
#                                                PUSH_TEST_REDIS_CA_PATH          (the CA, PEM)
#   Redis Cluster, three masters                 PUSH_TEST_REDIS_CLUSTER_NODES    :27001-27003
#     the same nodes over TLS (bus on TLS too)   PUSH_TEST_REDIS_CLUSTER_TLS_NODES :27201-27203
#     (cluster bus on :17001-17003)
#   Redis master + replica under three Sentinels PUSH_TEST_REDIS_SENTINELS        :27111-27113
#     (data nodes :27101 and :27102)             PUSH_TEST_REDIS_SENTINEL_MASTER  (pushmaster)
#
#   scripts/test-services.sh start [ENV_FILE]   install if missing, start all, wait until they
#                                               answer, print (or write to ENV_FILE) the
#                                               `export PUSH_TEST_...` lines for the tests
#   scripts/test-services.sh stop               stop all and remove their data
#
# Both commands are idempotent: `start` on running services only prints the URLs again, `stop`
# with nothing running does nothing. Ports and the data directory can be moved with
# PUSH_TEST_PG_PORT, PUSH_TEST_REDIS_PORT, PUSH_TEST_PGBOUNCER_PORT, PUSH_TEST_REDIS_TLS_PORT,
# PUSH_TEST_PORT_BASE (Cluster and Sentinel ports are offsets from it, default 27000) and
# PUSH_TEST_SERVICES_DIR. The block PUSH_TEST_PORT_BASE+500 to +599 is left to the Redis processes
# that tests start themselves (push-testkit's redis_node).
set -euo pipefail

PG_PORT="${PUSH_TEST_PG_PORT:-25432}"
REDIS_PORT="${PUSH_TEST_REDIS_PORT:-26379}"
PGBOUNCER_PORT="${PUSH_TEST_PGBOUNCER_PORT:-26432}"
TLS_PORT="${PUSH_TEST_REDIS_TLS_PORT:-26380}"
BASE="${PUSH_TEST_PORT_BASE:-27000}"
CLUSTER_PORTS=("$((BASE + 1))" "$((BASE + 2))" "$((BASE + 3))")
# The Sentinel set's data nodes (the first starts as master) and its Sentinels. Three Sentinels,
# not one: a quorum of two out of three is how Sentinel runs in production, and the failover test
# then goes through the same agreement and leader election.
DATA_PORTS=("$((BASE + 101))" "$((BASE + 102))")
SENTINEL_PORTS=("$((BASE + 111))" "$((BASE + 112))" "$((BASE + 113))")
SENTINEL_MASTER=pushmaster
# A fixed place (not mktemp) so that `stop`, a later `start` and a re-run after a crash find what
# an earlier `start` left behind.
DIR="${PUSH_TEST_SERVICES_DIR:-${TMPDIR:-/tmp}/push-server-test-services-${PG_PORT}}"
PGDATA="$DIR/pg"
TLS_DIR="$DIR/tls"
DATABASE_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres"
PGBOUNCER_URL="postgres://postgres@127.0.0.1:${PGBOUNCER_PORT}/postgres"
REDIS_URL="redis://127.0.0.1:${REDIS_PORT}/"
REDIS_TLS_URL="rediss://127.0.0.1:${TLS_PORT}/"

say() { echo "test-services: $*" >&2; }
die() { say "$*"; exit 1; }

pg_bin() {
    # Debian keeps the server binaries out of PATH, one folder per major version; take the newest.
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$bin" ] && [ -x "$bin/$1" ] && { echo "$bin/$1"; return; }
    command -v "$1" || return 1
}

pgbouncer_bin() {
    [ -x /usr/sbin/pgbouncer ] && { echo /usr/sbin/pgbouncer; return; }
    command -v pgbouncer
}

install_missing() {
    local missing=()
    pg_bin initdb >/dev/null 2>&1 && pg_bin pg_ctl >/dev/null 2>&1 && pg_bin psql >/dev/null 2>&1 || missing+=(postgresql)
    command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 || missing+=(redis-server)
    pgbouncer_bin >/dev/null 2>&1 || missing+=(pgbouncer)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    [ ${#missing[@]} -eq 0 ] && return
    [ "$(id -u)" -eq 0 ] || die "need ${missing[*]}; run as root or install them first"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The packages start system-wide services on their default ports; the tests use their own.
    for svc in redis-server postgresql pgbouncer; do
        if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
    done
}

# Runs a command as the PostgreSQL user: postgres (and PgBouncer) refuse to run as root. The
# Debian package creates that user; a machine with the binaries but without it gets one here.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        getent passwd postgres >/dev/null || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_running() { [ -f "$PGDATA/postmaster.pid" ] && as_pg "$(pg_bin pg_ctl)" -D "$PGDATA" status >/dev/null 2>&1; }
redis_up() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }
redis_running() { redis_up "$REDIS_PORT"; }
tls_running() {
    [ -f "$TLS_DIR/ca.pem" ] && redis-cli --tls --cacert "$TLS_DIR/ca.pem" -h 127.0.0.1 -p "$TLS_PORT" ping 2>/dev/null | grep -q PONG
}
pgbouncer_running() { [ -f "$DIR/pgbouncer/pgbouncer.pid" ] && kill -0 "$(cat "$DIR/pgbouncer/pgbouncer.pid")" 2>/dev/null; }
pgbouncer_ready() { "$(pg_bin psql)" -h 127.0.0.1 -p "$PGBOUNCER_PORT" -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; }

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

# One more throwaway Redis node: `redis_node NAME [redis.conf lines...]`. Its configuration is a
# file rather than flags, so that Sentinel and Cluster can rewrite it as they do in production,
# and so that the failover test can restart a node it killed from INFO's `config_file`.
redis_node() {
    local dir="$DIR/$1"; shift
    mkdir -p "$dir"
    {
        echo "bind 127.0.0.1"
        echo "daemonize yes"
        echo 'save ""'
        echo "appendonly no"
        echo "dir $dir"
        echo "pidfile $dir/redis.pid"
        echo "logfile $dir/redis.log"
        printf '%s\n' "$@"
    } >"$dir/redis.conf"
    redis-server "$dir/redis.conf"
}

# A CA and a server certificate for 127.0.0.1 and localhost, made at start (nothing secret is
# committed) and valid for two days.
make_certs() {
    [ -f "$TLS_DIR/server.pem" ] && return
    mkdir -p "$TLS_DIR"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=push-server test CA" -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
        -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.csr" 2>/dev/null
    # clientAuth too: Cluster nodes present it to each other on the TLS cluster bus.
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' \
        >"$TLS_DIR/ext.cnf"
    openssl x509 -req -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
        -CAcreateserial -days 2 -extfile "$TLS_DIR/ext.cnf" -out "$TLS_DIR/server.pem" 2>/dev/null
    chmod 644 "$TLS_DIR"/*
}

start_tls_redis() {
    if tls_running; then say "TLS Redis already running on 127.0.0.1:$TLS_PORT"; return; fi
    make_certs
    # TLS only (`port 0`): a client that forgot TLS fails instead of quietly talking in the clear.
    redis_node redis-tls "port 0" "tls-port $TLS_PORT" "tls-cert-file $TLS_DIR/server.pem" \
        "tls-key-file $TLS_DIR/server.key" "tls-ca-cert-file $TLS_DIR/ca.pem" "tls-auth-clients no"
}

cluster_ok() { redis-cli -h 127.0.0.1 -p "${CLUSTER_PORTS[0]}" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; }

start_cluster() {
    if cluster_ok; then say "Redis Cluster already running on 127.0.0.1:${CLUSTER_PORTS[*]}"; return; fi
    local port nodes=()
    make_certs
    for port in "${CLUSTER_PORTS[@]}"; do
        # Plain and TLS ports on each node: CLUSTER SLOTS answers a TLS client with TLS ports,
        # so one Cluster serves both the redis:// and the rediss:// tests.
        redis_up "$port" || redis_node "cluster-$port" "port $port" "cluster-port $((port - 10000))" "cluster-enabled yes" \
            "cluster-config-file $DIR/cluster-$port/nodes.conf" "cluster-node-timeout 2000" \
            "tls-port $((port + 200))" "tls-cluster yes" "tls-cert-file $TLS_DIR/server.pem" \
            "tls-key-file $TLS_DIR/server.key" "tls-ca-cert-file $TLS_DIR/ca.pem" "tls-auth-clients no"
        nodes+=("127.0.0.1:$port")
    done
    for port in "${CLUSTER_PORTS[@]}"; do wait_until "Redis Cluster node :$port" redis_up "$port"; done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$DIR/cluster-create.log" 2>&1 \
        || { cat "$DIR/cluster-create.log" >&2; die "Redis Cluster could not be created"; }
    wait_until "Redis Cluster (state ok)" cluster_ok
}

# True when every Sentinel knows the master, its replica and the two other Sentinels.
sentinels_ok() {
    local port
    for port in "${SENTINEL_PORTS[@]}"; do
        redis-cli -h 127.0.0.1 -p "$port" sentinel master "$SENTINEL_MASTER" 2>/dev/null |
            awk 'prev=="num-other-sentinels"{s=$0} prev=="num-slaves"{r=$0} {prev=$0} END{exit !(s>=2 && r>=1)}' ||
            return 1
    done
}

start_sentinel() {
    if sentinels_ok; then say "Redis Sentinel already running on 127.0.0.1:${SENTINEL_PORTS[*]}"; return; fi
    local master=${DATA_PORTS[0]} replica=${DATA_PORTS[1]} port
    redis_up "$master" || redis_node "data-$master" "port $master"
    redis_up "$replica" || redis_node "data-$replica" "port $replica" "replicaof 127.0.0.1 $master"
    for port in "${SENTINEL_PORTS[@]}"; do
        redis_up "$port" && continue
        mkdir -p "$DIR/sentinel-$port"
        # A master silent for 1 s is down (quorum 2 of 3), so the failover test stays short.
        printf '%s\n' "bind 127.0.0.1" "port $port" "daemonize yes" "dir $DIR/sentinel-$port" \
            "pidfile $DIR/sentinel-$port/sentinel.pid" "logfile $DIR/sentinel-$port/sentinel.log" \
            "sentinel monitor $SENTINEL_MASTER 127.0.0.1 $master 2" \
            "sentinel down-after-milliseconds $SENTINEL_MASTER 1000" \
            "sentinel failover-timeout $SENTINEL_MASTER 5000" \
            "sentinel parallel-syncs $SENTINEL_MASTER 1" >"$DIR/sentinel-$port/sentinel.conf"
        redis-server "$DIR/sentinel-$port/sentinel.conf" --sentinel
    done
    wait_until "Redis Sentinel (master, replica and three Sentinels known)" sentinels_ok
}

start_pgbouncer() {
    if pgbouncer_running; then say "PgBouncer already running on 127.0.0.1:$PGBOUNCER_PORT"; return; fi
    local dir="$DIR/pgbouncer"
    mkdir -p "$dir"
    echo '"postgres" ""' >"$dir/userlist.txt"
    # Transaction pooling, as PgBouncer runs at scale: no session state outlives a transaction,
    # so named prepared statements break. `extra_float_digits` is what sqlx sends at connect.
    # Any database name passes through (`*`), so each test can have a database of its own.
    printf '%s\n' "[databases]" "* = host=127.0.0.1 port=$PG_PORT" "[pgbouncer]" \
        "listen_addr = 127.0.0.1" "listen_port = $PGBOUNCER_PORT" "unix_socket_dir =" \
        "auth_type = trust" "auth_file = $dir/userlist.txt" "pool_mode = transaction" \
        "ignore_startup_parameters = extra_float_digits" "max_client_conn = 2000" \
        "default_pool_size = 20" "max_db_connections = 100" \
        "logfile = $dir/pgbouncer.log" "pidfile = $dir/pgbouncer.pid" >"$dir/pgbouncer.ini"
    [ "$(id -u)" -eq 0 ] && chown -R postgres "$dir"
    as_pg "$(pgbouncer_bin)" -d -q "$dir/pgbouncer.ini" || { cat "$dir/pgbouncer.log" >&2 || true; die "PgBouncer did not start"; }
}

wait_until() {
    local what=$1; shift
    for _ in $(seq 1 150); do
        "$@" >/dev/null 2>&1 && return
        sleep 0.2
    done
    die "$what does not answer"
}

env_lines() {
    local nodes="" tls_nodes="" sentinels="" port
    for port in "${CLUSTER_PORTS[@]}"; do nodes+="${nodes:+,}redis://127.0.0.1:$port/"; done
    for port in "${CLUSTER_PORTS[@]}"; do tls_nodes+="${tls_nodes:+,}rediss://127.0.0.1:$((port + 200))/"; done
    for port in "${SENTINEL_PORTS[@]}"; do sentinels+="${sentinels:+,}redis://127.0.0.1:$port/"; done
    echo "export PUSH_TEST_DATABASE_URL=$DATABASE_URL"
    echo "export PUSH_TEST_PGBOUNCER_URL=$PGBOUNCER_URL"
    echo "export PUSH_TEST_REDIS_URL=$REDIS_URL"
    echo "export PUSH_TEST_REDIS_TLS_URL=$REDIS_TLS_URL"
    echo "export PUSH_TEST_REDIS_CA_PATH=$TLS_DIR/ca.pem"
    echo "export PUSH_TEST_REDIS_CLUSTER_NODES=$nodes"
    echo "export PUSH_TEST_REDIS_CLUSTER_TLS_NODES=$tls_nodes"
    echo "export PUSH_TEST_REDIS_SENTINELS=$sentinels"
    echo "export PUSH_TEST_REDIS_SENTINEL_MASTER=$SENTINEL_MASTER"
}

start() {
    install_missing
    start_pg
    start_redis
    start_tls_redis
    start_cluster
    start_sentinel
    wait_until "PostgreSQL on 127.0.0.1:$PG_PORT" "$(pg_bin pg_isready)" -h 127.0.0.1 -p "$PG_PORT" -U postgres
    start_pgbouncer
    wait_until "PgBouncer on 127.0.0.1:$PGBOUNCER_PORT" pgbouncer_ready
    wait_until "Redis on 127.0.0.1:$REDIS_PORT" redis_running
    wait_until "TLS Redis on 127.0.0.1:$TLS_PORT" tls_running
    say "PostgreSQL :$PG_PORT behind PgBouncer :$PGBOUNCER_PORT, Redis :$REDIS_PORT, TLS Redis :$TLS_PORT," \
        "Cluster :${CLUSTER_PORTS[*]}, Sentinels :${SENTINEL_PORTS[*]} over :${DATA_PORTS[*]}; data in $DIR"
    if [ -n "${1:-}" ]; then mkdir -p "$(dirname "$1")"; env_lines >"$1"; else env_lines; fi
}

stop() {
    if [ -f "$PGDATA/PG_VERSION" ] && pg_bin pg_ctl >/dev/null 2>&1; then
        as_pg "$(pg_bin pg_ctl)" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
    if redis_running; then redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; fi
    # Only the processes this script started, by their recorded pids: the plain Redis, each node
    # of the TLS, Cluster and Sentinel sets, and PgBouncer.
    local pidfile pid killed=()
    for pidfile in "$DIR"/redis.pid "$DIR"/*/redis.pid "$DIR"/*/sentinel.pid "$DIR"/pgbouncer/pgbouncer.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile" 2>/dev/null || true)
        if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then killed+=("$pid"); fi
    done
    # A Redis node writes its files on the way out (cluster nodes.conf, a snapshot): the data goes
    # only once every stopped process has exited (at most 10 s each), or `rm` races the last write.
    for pid in "${killed[@]}"; do
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    done
    rm -rf "$DIR"
    say "stopped"
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) stop ;;
    *) echo "usage: $0 start [ENV_FILE] | stop" >&2; exit 2 ;;
esac
