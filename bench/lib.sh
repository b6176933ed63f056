# Shared preamble of the benchmarks. Source it after scripts/lib.sh; it
# defines functions only.
#
#   bench_setup NAME [fresh]   release build, cd to EH_ROOT, a work dir .run/NAME-XXXXXX
#                              (BENCH_WORK), and services: throwaway ones with migrations
#                              applied, unless EH_DATABASE_URL is exported and fresh not given
#   bench_start_api [VAR=VALUE...]   a release eh-api on a free port (BENCH_PORT, BENCH_API_PID)
#   bench_stop_api                   stops it (SIGTERM, waits)
#
# Cleanup (EXIT trap) stops eh-api and the services that were started here and
# removes BENCH_WORK.
# shellcheck shell=bash

BENCH_WORK=""
BENCH_SVC_DIR=""
BENCH_PORT=""
BENCH_API_PID=""

bench_stop_api() {
    if [ -n "$BENCH_API_PID" ]; then
        kill -TERM "$BENCH_API_PID" 2>/dev/null || true
        wait "$BENCH_API_PID" 2>/dev/null || true
    fi
    BENCH_API_PID=""
}

bench_cleanup() {
    bench_stop_api
    [ -z "$BENCH_SVC_DIR" ] || scripts/services.sh stop "$BENCH_SVC_DIR" >/dev/null 2>&1 || true
    [ -z "$BENCH_WORK" ] || rm -rf "$BENCH_WORK"
}

# bench_setup NAME [fresh]: see above. Services already exported (by
# bench/run-all.sh, or by hand) are used as they are; run-all itself asks for
# a fresh set, shared by every benchmark.
bench_setup() {
    cd "$EH_ROOT" || eh_die "cannot enter $EH_ROOT"
    make --no-print-directory MODE=release build >/dev/null
    mkdir -p .run
    BENCH_WORK=$(mktemp -d "$EH_ROOT/.run/$1-XXXXXX")
    # mktemp -d makes it 0700: the service users (postgres, rabbitmq) must be able to walk into it.
    chmod 755 "$BENCH_WORK"
    trap bench_cleanup EXIT
    if [ "${2:-}" = fresh ] || [ -z "${EH_DATABASE_URL:-}" ]; then
        BENCH_SVC_DIR="$BENCH_WORK/svc"
        scripts/services.sh start "$BENCH_SVC_DIR"
        # shellcheck disable=SC1091
        . "$BENCH_SVC_DIR/env"
        build/release/bin/eh-api migrate >"$BENCH_WORK/migrate.log" 2>&1 ||
            { eh_tail "$BENCH_WORK/migrate.log"; eh_die "migrations failed"; }
    fi
}

# bench_start_api [VAR=VALUE...]: eh-api with its spool in BENCH_WORK, its log in
# BENCH_WORK/api.log, and the extra environment given; returns once /healthz answers.
bench_start_api() {
    BENCH_PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    env EH_HTTP_PORT="$BENCH_PORT" EH_SPOOL_DIR="$BENCH_WORK" "$@" build/release/bin/eh-api >"$BENCH_WORK/api.log" 2>&1 &
    BENCH_API_PID=$!
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$BENCH_PORT/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    eh_tail "$BENCH_WORK/api.log"
    eh_die "eh-api did not answer on port $BENCH_PORT"
}
