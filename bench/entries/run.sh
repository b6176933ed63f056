#!/usr/bin/env bash
# bench/entries: paging through the entries of one large job with a release
# eh-api: pages/s and rows/s without a filter, with a level filter, with a
# q that matches nothing (each page bounded by EH_ENTRIES_SCAN_LINES), and
# the slowest single page of each. Prints figures; asserts nothing.
#
#   bench/entries/run.sh [LINES]     default: 1000000
#
# With EH_DATABASE_URL etc. already exported (services running, migrations
# applied) it uses those; otherwise it starts throwaway services under .run/.
set -euo pipefail

EH_SCRIPT=bench-entries
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"

bench_setup bench-entries
bench_start_api EH_LOG_LEVEL=warn
/usr/bin/python3 "$EH_ROOT/bench/entries/entries.py" "http://127.0.0.1:$BENCH_PORT" "$@"
