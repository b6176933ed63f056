#!/usr/bin/env bash
# bench/ingest: end-to-end ingest rate of eh-worker (release build, one
# worker, EH_LINE_DELAY_MAX_MS=0) against `psql \copy` of the same rows into a
# scratch copy of log_entries (the machine's ceiling), and the worker's peak
# RSS. Prints figures; asserts nothing.
#
#   bench/ingest/run.sh [LINES...]     default: 1000000 5000000
#
# With EH_DATABASE_URL etc. already exported (services running, migrations
# applied) it uses those; otherwise it starts throwaway services under .run/.
set -euo pipefail

EH_SCRIPT=bench-ingest
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"

bench_setup bench-ingest

# Not exec: the EXIT trap must still stop the services afterwards.
/usr/bin/python3 "$EH_ROOT/bench/ingest/ingest.py" "$@"
