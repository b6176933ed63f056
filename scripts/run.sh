#!/usr/bin/env bash
# `make run`: the whole service on this machine without Docker. Local
# PostgreSQL, RabbitMQ and s3rver under .run/local, migrations, then eh-api and
# eh-worker in the foreground. Ctrl-C (or SIGTERM) stops everything it started.
# Any EH_* variable set in the caller's environment is passed through.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
run_dir="$root/.run/local"
mkdir -p "$run_dir"

api_pid=""
worker_pid=""
stopping=0
stop_all() {
    [ "$stopping" -eq 0 ] || return 0
    stopping=1
    echo "event-horizon: stopping" >&2
    [ -z "$api_pid" ] || kill -TERM "$api_pid" 2>/dev/null || true
    [ -z "$worker_pid" ] || kill -TERM "$worker_pid" 2>/dev/null || true
    [ -z "$api_pid" ] || wait "$api_pid" 2>/dev/null || true
    [ -z "$worker_pid" ] || wait "$worker_pid" 2>/dev/null || true
    scripts/services.sh stop "$run_dir" || true
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The caller's choices win over the local services' addresses.
saved_env=$(export -p | grep -E '^declare -x EH_' || true)
scripts/services.sh start "$run_dir"
# shellcheck disable=SC1091
. "$run_dir/env"
eval "$saved_env"

bin/eh-api migrate

# Each binary gets a session of its own, so that Ctrl-C reaches only this
# script, which then sends exactly one SIGTERM to each (a second stop signal
# tells eh-worker to stop at once instead of finishing its batch).
setsid bin/eh-api &
api_pid=$!
setsid bin/eh-worker &
worker_pid=$!

port=${EH_HTTP_PORT:-8080}
host=${EH_HTTP_HOST:-127.0.0.1}
for _ in $(seq 1 100); do
    if bin/eh-api healthcheck >/dev/null 2>&1; then
        break
    fi
    kill -0 "$api_pid" 2>/dev/null || { echo "event-horizon: eh-api exited" >&2; exit 1; }
    sleep 0.1
done
cat >&2 <<MSG

  Event Horizon is running:  http://$host:$port
    upload:    curl -F file=@examples/sample.jsonl http://$host:$port/api/v1/files/upload
    status:    curl http://$host:$port/api/v1/jobs/<job_id>
    progress:  scripts/ws-follow.py http://$host:$port <job_id>   (ws://$host:$port/ws/jobs/<job_id>)
  Ctrl-C stops everything.

MSG

# Whichever binary exits first ends the run (and the trap stops the other).
wait -n "$api_pid" "$worker_pid" || true
