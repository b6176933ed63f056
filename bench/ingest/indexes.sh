#!/usr/bin/env bash
# bench/ingest/indexes.sh: ingest lines/s without and with migration 0004's
# indexes, alternating, in one run (the index budget of issue 12: <= 5 %).
#
#   bench/ingest/indexes.sh [LINES [ROUNDS]]     default: 1000000 2
set -euo pipefail

EH_SCRIPT=bench-ingest-indexes
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"

bench_setup bench-ingest-indexes
/usr/bin/python3 "$EH_ROOT/bench/ingest/indexes.py" "$@"
