#!/usr/bin/env bash
# `make run`: the whole service on this machine without Docker. Local
# PostgreSQL, RabbitMQ and s3rver under .run/local, migrations, then eh-api and
# eh-worker in the foreground. Ctrl-C (or SIGTERM) stops everything it started.
# Any EH_* variable set in the caller's environment is passed through.
#
# On first start it creates the tenant "local" and a write key (bin/eh-admin),
# keeps the key in .run/local/api-key (mode 600) and prints it with ready curl
# lines; it also writes $XDG_CONFIG_HOME/eh/config (url=, key=) for the eh CLI
# when that file does not exist yet. EH_AUTH=off skips all of this.
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

# The local key: made once, made again when the database no longer knows it (a wiped .run/local).
key_file="$run_dir/api-key"
auth_on=1
case "${EH_AUTH:-on}" in 0 | off | OFF | false | no) auth_on=0 ;; esac
key_known() {
    [ -s "$key_file" ] || return 1
    local prefix
    prefix=$(cut -c4-15 "$key_file")
    [ "$(psql "$EH_DATABASE_URL" -Atc "SELECT count(*) FROM api_keys WHERE prefix = '$prefix' AND revoked_at IS NULL" \
        2>/dev/null)" = "1" ]
}
if [ "$auth_on" -eq 1 ] && ! key_known; then
    bin/eh-admin tenant create local >/dev/null 2>&1 || true # exists already after a lost key file
    created=$(bin/eh-admin key create local --scope write)
    (umask 077 && printf '%s\n' "$created" | sed -n 's/.*"key":"\([^"]*\)".*/\1/p' >"$key_file")
    [ -s "$key_file" ] || { echo "event-horizon: could not create the local API key" >&2; exit 1; }
fi

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
auth=""
if [ "$auth_on" -eq 1 ]; then
    key=$(cat "$key_file")
    auth="-H \"Authorization: Bearer $key\" "
    # The eh CLI's configuration: written once, never overwritten.
    config="${XDG_CONFIG_HOME:-$HOME/.config}/eh/config"
    if [ ! -e "$config" ]; then
        mkdir -p "$(dirname "$config")"
        (umask 077 && printf 'url=http://%s:%s\nkey=%s\n' "$host" "$port" "$key" >"$config")
        echo "event-horizon: wrote $config for the eh CLI" >&2
    fi
else
    echo "event-horizon: EH_AUTH=off: no API key; every caller is the default tenant" >&2
fi
cat >&2 <<MSG

  Event Horizon is running:  http://$host:$port
MSG
[ "$auth_on" -eq 0 ] || cat >&2 <<MSG
    API key:   $key   (tenant "local", write; also in .run/local/api-key)
MSG
cat >&2 <<MSG
    upload:    curl ${auth}-F file=@examples/sample.jsonl http://$host:$port/api/v1/files/upload
    status:    curl ${auth}http://$host:$port/api/v1/jobs/<job_id>
    progress:  scripts/ws-follow.py http://$host:$port <job_id>   (ws://$host:$port/ws/jobs/<job_id>)
  Ctrl-C stops everything.

MSG

# Whichever binary exits first ends the run (and the trap stops the other).
wait -n "$api_pid" "$worker_pid" || true
