#!/usr/bin/env bash
# Runs each libFuzzer harness given for FUZZ_SECONDS (default 60) at nice 19,
# with its committed seed corpus; new inputs go to build/fuzz/corpus-<name>
# (not committed), crashes to build/fuzz/artifacts/. Prints one summary line
# per harness (executions, coverage, features) and exits 1 when one crashed.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${FUZZ_SECONDS:-60}
mkdir -p build/fuzz/artifacts
failed=0
for bin in "$@"; do
    name=$(basename "$bin")
    case "$name" in
    validate_fuzz) seed=tests/fuzz/corpus; extra=(-dict=tests/fuzz/validate.dict) ;;
    request_head_fuzz) seed=tests/fuzz/corpus-head; extra=() ;;
    sniff_fuzz) seed=tests/fuzz/corpus-sniff; extra=() ;;
    json_scan_fuzz) seed=tests/fuzz/corpus-json; extra=(-dict=tests/fuzz/validate.dict) ;;
    gql_fuzz) seed=tests/fuzz/gql_corpus; extra=() ;;
    multipart_fuzz) seed=tests/fuzz/corpus-multipart; extra=(-dict=tests/fuzz/multipart.dict) ;;
    *) echo "fuzz: no corpus known for $name" >&2; failed=1; continue ;;
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
    if [ "$rc" -ne 0 ]; then
        status="CRASH (exit $rc, see $log and build/fuzz/artifacts/)"
        failed=1
    fi
    echo "fuzz: $name ${seconds}s executions=${execs:-?} cov=${cov:-?} ft=${ft:-?} $status"
done
exit "$failed"
