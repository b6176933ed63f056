#!/usr/bin/env bash
# bench/ws: the WebSocket relay of eh-api (release build) under 1,000
# concurrent clients spread over 100 jobs, while eh-worker processes the jobs
# with a small per-line delay so that progress events flow. Prints p50/p99
# latency from the worker's publish ("emitted_at") to the client's receipt,
# terminal events lost (must be 0) and eh-api's RSS. Asserts nothing.
#
#   bench/ws/run.sh [CLIENTS] [JOBS]      default: 1000 100
#
# The clients are bench/ws/ws_clients.c (built here); BENCH_WS_CLIENT=python
# selects the former asyncio clients, for comparison.
#
# With EH_DATABASE_URL etc. already exported (services running, migrations
# applied) it uses those; otherwise it starts throwaway services under .run/.
set -euo pipefail

EH_SCRIPT=bench-ws
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"

bench_setup bench-ws
make --no-print-directory MODE=release build/release/bench/ws_clients >/dev/null

# Every client is a socket in eh-api (and in ws_clients, which raises its own limit too).
[ "$(ulimit -n)" -ge 4096 ] || ulimit -n 4096

# Not exec: the EXIT trap must still stop the services afterwards.
/usr/bin/python3 "$EH_ROOT/bench/ws/ws_bench.py" "$@"
