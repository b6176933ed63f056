#!/usr/bin/env bash
# bench/upload: upload a generated .jsonl (1 GiB by default) through eh-api
# (release build) with curl, and PUT the same file straight to the same S3
# server with curl in the same round. Prints both rates and their ratio for
# each round (after an uncounted warm-up pair), and eh-api's peak RSS
# (VmHWM). Asserts nothing.
#
#   bench/upload/run.sh [MIB]        default: 1024; ROUNDS=3
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

S3_AUTH=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$EH_S3_ACCESS_KEY:$EH_S3_SECRET_KEY"
         -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
s3_delete() { curl -sS -o /dev/null -X DELETE "${S3_AUTH[@]}" "http://$EH_S3_ENDPOINT/$EH_S3_BUCKET/$1"; }
# Prints "<http code> <seconds>" and deletes the object it made.
direct() {
    local key="bench/direct-$1.jsonl" out
    out=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -T "$file" "${S3_AUTH[@]}" \
        -H "Content-Type: application/x-ndjson" "http://$EH_S3_ENDPOINT/$EH_S3_BUCKET/$key")
    s3_delete "$key"
    echo "$out"
}
through_api() {
    local out body
    body=$(mktemp "$work/answer-XXXXXX")
    out=$(curl -sS -o "$body" -w '%{http_code} %{time_total}' -F "file=@$file" \
        "http://127.0.0.1:$port/api/v1/files/upload")
    local id
    id=$(sed -n 's/.*"job_id": *"\([0-9a-f-]*\)".*/\1/p' "$body")
    rm -f "$body"
    [ -z "$id" ] || s3_delete "uploads/$id.jsonl"
    echo "$out"
}
rate() { awk -v b="$size" -v t="$1" 'BEGIN { printf "%.1f", b / 1048576 / t }'; }

# Each transfer starts from the same state: no dirty pages of an earlier one
# still being written back (sync), and no earlier object left in s3rver's
# directory (each is deleted after its run). Without that, the page cache's
# writeback of the previous GiB lands on whichever transfer runs next, and
# one path or the other pays for it at random. The order alternates (ABBA).
rounds=${ROUNDS:-3}
# A warm-up pair first, not counted: s3rver's first GiB after its start is
# the fastest it ever takes, and it would go to whichever path ran first.
sync
read -r code t <<<"$(direct warmup)"
eh_say "warm-up: direct PUT ${t}s ($code)"
sync
read -r code t <<<"$(through_api)"
eh_say "warm-up: via eh-api ${t}s ($code)"
ratios=()
for run in $(seq 1 "$rounds"); do
    if [ $((run % 2)) = 1 ]; then order="direct api"; else order="api direct"; fi
    for kind in $order; do
        sync
        if [ "$kind" = direct ]; then
            read -r code t <<<"$(direct "$run")"
            [ "$code" = 200 ] || eh_die "direct PUT answered $code"
            d=$(rate "$t")
            eh_say "round $run: direct PUT   ${t}s  ${d} MiB/s"
        else
            read -r code t <<<"$(through_api)"
            [ "$code" = 202 ] || { eh_tail "$work/api.log"; eh_die "upload answered $code"; }
            a=$(rate "$t")
            eh_say "round $run: via eh-api   ${t}s  ${a} MiB/s"
        fi
    done
    ratios+=("$(awk -v a="$a" -v d="$d" 'BEGIN { printf "%.2f", a / d }')")
done
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$BENCH_API_PID/status")

echo
echo "upload of $((size / 1048576)) MiB, $rounds rounds (through eh-api / direct PUT to S3 in the same round):"
echo "  ratios           : ${ratios[*]}  (target >= 0.80 in every round)"
echo "  median ratio     : $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
echo "  eh-api peak RSS  : $((hwm / 1024)) MiB (target < 64 MiB)"
