#!/usr/bin/env bash
# bench/status: `wrk -t2 -c64 -d10s --latency` on GET /api/v1/jobs/<id>
# against eh-api (release build) with PostgreSQL on the same machine. Prints
# requests per second and the 99th percentile latency. Asserts nothing.
#
#   bench/status/run.sh [DURATION]     default: 10s
#
# With EH_DATABASE_URL etc. already exported (services running, migrations
# applied) it uses those; otherwise it starts throwaway services under .run/.
# Target (issue 3): at least 10,000 req/s on 2 cores.
set -euo pipefail

EH_SCRIPT=bench-status
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../../scripts/lib.sh"
cd "$EH_ROOT"
duration=${1:-10s}

command -v wrk >/dev/null || eh_die "wrk is not installed (apt-get install wrk)"
[ -x build/release/bin/eh-api ] || make --no-print-directory MODE=release build

mkdir -p .run
work=$(mktemp -d "$EH_ROOT/.run/bench-status-XXXXXX")
chmod 755 "$work" # the service users (postgres, rabbitmq) must be able to walk into it
run_dir=""
api_pid=""
cleanup() {
    [ -z "$api_pid" ] || { kill -TERM "$api_pid" 2>/dev/null; wait "$api_pid" 2>/dev/null || true; }
    [ -z "$run_dir" ] || scripts/services.sh stop "$run_dir" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${EH_DATABASE_URL:-}" ]; then
    run_dir="$work/svc"
    scripts/services.sh start "$run_dir" >/dev/null
    # shellcheck disable=SC1091
    . "$run_dir/env"
    build/release/bin/eh-api migrate >/dev/null 2>&1
fi

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The request log stays on (info): every request writes its line, as in production.
EH_HTTP_PORT=$port EH_SPOOL_DIR="$work" build/release/bin/eh-api >"$work/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

printf '{"timestamp":"2026-11-21T10:00:00Z","level":"info","message":"hello"}\n' >"$work/one.jsonl"
job_id=$(curl -sf -F "file=@$work/one.jsonl" "http://127.0.0.1:$port/api/v1/files/upload" |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["job_id"])')
url="http://127.0.0.1:$port/api/v1/jobs/$job_id"
curl -sf "$url" >/dev/null || eh_die "GET $url failed"

wrk -t2 -c64 -d"$duration" --latency "$url" | tee "$work/wrk.out"
rps=$(awk '/^Requests\/sec:/ { print $2 }' "$work/wrk.out")
p99=$(awk '$1 == "99%" { print $2 }' "$work/wrk.out")
non2xx=$(awk '/Non-2xx/ { print $NF }' "$work/wrk.out")
echo
echo "GET /api/v1/jobs/<id>, wrk -t2 -c64 -d$duration:"
echo "  requests/s : $rps (target >= 10000)"
echo "  p99        : $p99"
[ -z "$non2xx" ] || echo "  non-2xx    : $non2xx"
