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
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../../scripts/lib.sh"
cd "$EH_ROOT"

[ -x build/release/bin/eh-worker ] || make --no-print-directory MODE=release build

if [ -z "${EH_DATABASE_URL:-}" ]; then
    mkdir -p .run
    run_dir=$(mktemp -d "$EH_ROOT/.run/bench-XXXXXX")
    trap 'scripts/services.sh stop "$run_dir" >/dev/null 2>&1 || true; rm -rf "$run_dir"' EXIT
    scripts/services.sh start "$run_dir"
    # shellcheck disable=SC1091
    . "$run_dir/env"
    if [ -x build/release/bin/eh-api ] && build/release/bin/eh-api migrate >/dev/null 2>&1; then
        :
    else
        psql -q -v ON_ERROR_STOP=1 "$EH_DATABASE_URL" -f migrations/0001_init.sql >/dev/null
    fi
fi

exec /usr/bin/python3 "$here/ingest.py" "$@"
