#!/usr/bin/env bash
# bench/upload: upload a generated .jsonl (1 GiB by default) through eh-api
# (release build) with curl, and PUT the same file straight to the same S3
# server with curl in the same run. Prints both rates, their ratio, and
# eh-api's peak RSS (VmHWM). Asserts nothing.
#
#   bench/upload/run.sh [MIB]        default: 1024
#
# With EH_DATABASE_URL etc. already exported (services running, migrations
# applied) it uses those; otherwise it starts throwaway services under .run/.
# Targets (issue 3): api rate >= 0.8 x direct PUT, peak RSS < 64 MiB.
set -euo pipefail

EH_SCRIPT=bench-upload
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"
mib=${1:-1024}

bench_setup bench-upload
work=$BENCH_WORK

file="$work/bench.jsonl"
eh_say "generating ${mib} MiB of log lines"
/usr/bin/python3 - "$file" "$mib" <<'PY'
import json, sys
path, mib = sys.argv[1], int(sys.argv[2])
i = 0
block = b""
while len(block) < 1 << 20:
    block += (json.dumps({"timestamp": f"2026-11-21T10:00:{i % 60:02d}.{i % 1000:03d}Z", "level": "info",
                          "service": "bench", "message": f"request {i} served", "status": 200,
                          "duration_ms": i % 997, "path": f"/api/items/{i}"}) + "\n").encode()
    i += 1
with open(path, "wb") as f:
    for _ in range(mib):
        f.write(block)
PY
size=$(stat -c %s "$file")

# EH_AUTH=off: this measures the upload path; the key check is measured by bench/status.
bench_start_api EH_MAX_UPLOAD_BYTES=$((size + 1)) EH_AUTH=off
port=$BENCH_PORT

direct() {
    curl -sS -o /dev/null -w '%{http_code} %{time_total}' -T "$file" \
        --aws-sigv4 "aws:amz:us-east-1:s3" --user "$EH_S3_ACCESS_KEY:$EH_S3_SECRET_KEY" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -H "Content-Type: application/x-ndjson" \
        "http://$EH_S3_ENDPOINT/$EH_S3_BUCKET/bench/direct-$1.jsonl"
}
through_api() {
    curl -sS -o /dev/null -w '%{http_code} %{time_total}' -F "file=@$file" \
        "http://127.0.0.1:$port/api/v1/files/upload"
}
rate() { awk -v b="$size" -v t="$1" 'BEGIN { printf "%.1f", b / 1048576 / t }'; }

# Alternate the two, so that page cache and s3rver warm-up favour neither.
best_direct=0
best_api=0
for run in 1 2; do
    read -r code t <<<"$(direct "$run")"
    [ "$code" = 200 ] || eh_die "direct PUT answered $code"
    r=$(rate "$t")
    eh_say "run $run: direct PUT   ${t}s  ${r} MiB/s"
    best_direct=$(awk -v a="$best_direct" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
    read -r code t <<<"$(through_api)"
    [ "$code" = 202 ] || { eh_tail "$work/api.log"; eh_die "upload answered $code"; }
    r=$(rate "$t")
    eh_say "run $run: via eh-api   ${t}s  ${r} MiB/s"
    best_api=$(awk -v a="$best_api" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
done
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$BENCH_API_PID/status")

echo
echo "upload of $((size / 1048576)) MiB (best of 2):"
echo "  direct PUT to S3 : $best_direct MiB/s"
echo "  through eh-api   : $best_api MiB/s  (ratio $(awk -v a="$best_api" -v d="$best_direct" 'BEGIN { printf "%.2f", a / d }'), target >= 0.80)"
echo "  eh-api peak RSS  : $((hwm / 1024)) MiB (target < 64 MiB)"
