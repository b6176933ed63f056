#!/usr/bin/env bash
# bench/many_jobs: many jobs in flight per worker process (issue 16).
#
#   bench/many_jobs/run.sh capacity [JOBS LINES]...   delay-bound capacity; default: 200 200 and 2000 20
#   bench/many_jobs/run.sh fairness [BIG_LINES]       bulk fairness and throughput; default 1000000
#   bench/many_jobs/run.sh                            both
#
# capacity: JOBS jobs of LINES lines published at once, the default per-line
# delay (0-1000 ms), EH_WORKERS=2: time until all are complete, p50/p99
# completion, peak RSS per consumer process, PostgreSQL connections.
# fairness: EH_WORKERS=1, no delay: one BIG_LINES job alone with the worker
# of BENCH_BASELINE_REF (before) and with this tree (after); then 4 such
# jobs at once and a 10-line job published after them: its completion time,
# and the 4 jobs' total rate against one job alone.
#
# With EH_DATABASE_URL etc. exported it uses those services; otherwise it
# starts throwaway ones under .run/. Prints figures; asserts nothing.
set -euo pipefail

EH_SCRIPT=bench-many-jobs
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"

bench_setup bench-many-jobs

mode=${1:-all}
[ $# -eq 0 ] || shift
if [ "$mode" = fairness ] || [ "$mode" = all ]; then
    # The worker as it was before the event loop, built from git in the work dir.
    ref=${BENCH_BASELINE_REF:-162ed45}
    mkdir -p "$BENCH_WORK/baseline"
    git archive "$ref" | tar -x -C "$BENCH_WORK/baseline"
    make --no-print-directory -C "$BENCH_WORK/baseline" MODE=release build >"$BENCH_WORK/baseline.log" 2>&1 ||
        { eh_tail "$BENCH_WORK/baseline.log"; eh_die "baseline build of $ref failed"; }
    export BENCH_BASELINE_WORKER="$BENCH_WORK/baseline/build/release/bin/eh-worker" BENCH_BASELINE_REF="$ref"
fi
/usr/bin/python3 "$EH_ROOT/bench/many_jobs/many_jobs.py" "$mode" "$@"
