#!/usr/bin/env bash
# `make bench`: every benchmark once, on one set of throwaway services.
# Prints figures; asserts nothing. Run on an otherwise idle machine.
set -euo pipefail

EH_SCRIPT=bench
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../scripts/lib.sh"
cd "$EH_ROOT"

mkdir -p .run
run_dir=$(mktemp -d "$EH_ROOT/.run/bench-all-XXXXXX")
trap 'scripts/services.sh stop "$run_dir" >/dev/null 2>&1 || true; rm -rf "$run_dir"' EXIT
scripts/services.sh start "$run_dir"
# shellcheck disable=SC1091
. "$run_dir/env"
build/release/bin/eh-api migrate >/dev/null

for bench in ingest upload status ws; do
    echo "== bench/$bench"
    "bench/$bench/run.sh"
done
