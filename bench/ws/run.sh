#!/usr/bin/env bash
# bench/ws: the WebSocket relay of eh-api (release build) under 1,000
# concurrent clients spread over 100 jobs, while eh-worker processes the jobs
# with a small per-line delay so that progress events flow. Prints p50/p99
# latency from the worker's publish ("emitted_at") to the client's receipt,
# terminal events lost (must be 0) and eh-api's RSS. Asserts nothing.
#
#   bench/ws/run.sh [CLIENTS] [JOBS]      default: 1000 100
#
# With EH_DATABASE_URL etc. already exported (services running, migrations
# applied) it uses those; otherwise it starts throwaway services under .run/.
set -euo pipefail

EH_SCRIPT=bench-ws
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../../scripts/lib.sh"
cd "$EH_ROOT"

make --no-print-directory MODE=release build >/dev/null

if [ -z "${EH_DATABASE_URL:-}" ]; then
    mkdir -p .run
    run_dir=$(mktemp -d "$EH_ROOT/.run/bench-XXXXXX")
    trap 'scripts/services.sh stop "$run_dir" >/dev/null 2>&1 || true; rm -rf "$run_dir"' EXIT
    scripts/services.sh start "$run_dir"
    # shellcheck disable=SC1091
    . "$run_dir/env"
    build/release/bin/eh-api migrate >/dev/null
fi

# Every client is a socket in this process and in eh-api.
[ "$(ulimit -n)" -ge 4096 ] || ulimit -n 4096

exec /usr/bin/python3 "$here/ws_bench.py" "$@"
