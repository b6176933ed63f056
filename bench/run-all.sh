#!/usr/bin/env bash
# `make bench`: every benchmark once, on one set of throwaway services.
# Prints figures; asserts nothing. Run on an otherwise idle machine.
set -euo pipefail

EH_SCRIPT=bench
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../scripts/lib.sh"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_setup bench-all fresh

for bench in ingest upload status ws graphql metrics many_jobs; do
    echo "== bench/$bench"
    "bench/$bench/run.sh"
done
