#!/usr/bin/env bash
# Runs each libFuzzer harness given for FUZZ_SECONDS (default 60) at nice 19,
# with its committed seed corpus; new inputs go to build/fuzz/corpus-<name>
# (not committed), crashes to build/fuzz/artifacts/. Prints one summary line
# per harness (executions, coverage, features) and exits 1 when one crashed.
# FUZZ_JOBS (default 1) harnesses run at once, each for its full FUZZ_SECONDS
# (CI runs two on its two cores).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${FUZZ_SECONDS:-60}
mkdir -p build/fuzz/artifacts
# One harness: its run, then its summary line in build/fuzz/<name>.summary; exit 1 on a crash.
fuzz_one() {
    local bin=$1 name seed extra scratch log rc execs last cov ft status
    name=$(basename "$bin")
    rm -f "build/fuzz/$name.summary"
    case "$name" in
    validate_fuzz) seed=tests/fuzz/corpus; extra=(-dict=tests/fuzz/validate.dict) ;;
    request_head_fuzz) seed=tests/fuzz/corpus-head; extra=() ;;
    sniff_fuzz) seed=tests/fuzz/corpus-sniff; extra=() ;;
    json_scan_fuzz) seed=tests/fuzz/corpus-json; extra=(-dict=tests/fuzz/validate.dict) ;;
    gql_fuzz) seed=tests/fuzz/gql_corpus; extra=() ;;
    multipart_fuzz) seed=tests/fuzz/corpus-multipart; extra=(-dict=tests/fuzz/multipart.dict) ;;
    *) echo "fuzz: no corpus known for $name" >"build/fuzz/$name.summary"; return 1 ;;
    esac
    scratch=build/fuzz/corpus-${name%_fuzz}
    mkdir -p "$scratch"
    log=build/fuzz/$name.log
    nice -n 19 "$bin" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
        -artifact_prefix="build/fuzz/artifacts/$name-" "${extra[@]}" "$scratch" "$seed" >"$log" 2>&1
    rc=$?
    execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n1)
    cov=$(printf '%s' "$last" | grep -oE 'cov: [0-9]+' | grep -oE '[0-9]+' || true)
    ft=$(printf '%s' "$last" | grep -oE 'ft: [0-9]+' | grep -oE '[0-9]+' || true)
    status=ok
    [ "$rc" -eq 0 ] || status="CRASH (exit $rc, see $log and build/fuzz/artifacts/)"
    echo "fuzz: $name ${seconds}s executions=${execs:-?} cov=${cov:-?} ft=${ft:-?} $status" >"build/fuzz/$name.summary"
    [ "$rc" -eq 0 ]
}

jobs_max=${FUZZ_JOBS:-1}
for bin in "$@"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
        wait -n || true
    done
    fuzz_one "$bin" &
done
wait
# The verdict from the summaries, in the order given (a harness that wrote none failed to run).
failed=0
for bin in "$@"; do
    summary=build/fuzz/$(basename "$bin").summary
    if [ -f "$summary" ]; then cat "$summary"; else echo "fuzz: $(basename "$bin") did not run"; fi
    grep -q ' ok$' "$summary" 2>/dev/null || failed=1
done
exit "$failed"
