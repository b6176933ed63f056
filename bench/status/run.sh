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
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"
duration=${1:-10s}

command -v wrk >/dev/null || eh_die "wrk is not installed (apt-get install wrk)"
bench_setup bench-status
work=$BENCH_WORK

# The request log stays on (info): every request writes its line, as in production.
# shellcheck disable=SC2119 # no extra environment for eh-api
bench_start_api
port=$BENCH_PORT

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
