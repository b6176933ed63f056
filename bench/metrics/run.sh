#!/usr/bin/env bash
# bench/metrics: what counting costs. Ingest (eh-worker, one process,
# EH_LINE_DELAY_MAX_MS=0) and status reads (wrk on GET /api/v1/jobs/<id>)
# with EH_METRICS=on and =off, alternated ROUNDS times in one run, medians
# side by side with the difference in percent (target: at most 3 %), and the
# CPU each process spent per line / per request in the same runs (what
# counting adds to the process's own work; a rate also moves with whatever
# else shares the cores). While metrics are on, /metrics is scraped every
# second, as Prometheus would.
# First, the CPU cost of counting one request in nanoseconds (independent
# of the machine's load). Prints figures; asserts nothing.
#
#   bench/metrics/run.sh [LINES] [ROUNDS] [WRK_DURATION]   default: 300000 3 5s
#
# With EH_DATABASE_URL etc. already exported (services running, migrations
# applied) it uses those; otherwise it starts throwaway services under .run/.
set -euo pipefail

EH_SCRIPT=bench-metrics
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"

command -v wrk >/dev/null || eh_die "wrk is not installed (apt-get install wrk)"
bench_setup bench-metrics
make --no-print-directory MODE=release build/release/bench/metrics_cost >/dev/null
echo "== the cost of one counted request, in CPU time (bench/metrics/metrics_cost.c)"
build/release/bench/metrics_cost
echo "== throughput, metrics on vs off"
/usr/bin/python3 "$EH_ROOT/bench/metrics/metrics_bench.py" "$BENCH_WORK" "$@"
