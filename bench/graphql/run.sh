#!/usr/bin/env bash
# bench/graphql: POST /graphql `{ job(id) { status progress } }` beside REST GET /api/v1/jobs/<id>,
# the same job, the same eh-api (release build), one run: `wrk -t2 -c64 -d<duration>` on each in turn.
# Prints requests per second and p99 of both and their ratio. Asserts nothing.
#
#   bench/graphql/run.sh [DURATION]     default: 10s
#
# Target (issue 13): GraphQL >= 0.7 x REST.
set -euo pipefail

EH_SCRIPT=bench-graphql
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"
duration=${1:-10s}

command -v wrk >/dev/null || eh_die "wrk is not installed (apt-get install wrk)"
bench_setup bench-graphql
work=$BENCH_WORK

# Both with an API key, as in production (the per-key rate limit out of the way): a write key of the
# default tenant, which uploads the job too.
key=$(build/release/bin/eh-admin key create default --scope write |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
bench_start_api EH_AUTH=on EH_RATE_LIMIT_RPS=1000000 EH_RATE_LIMIT_BURST=1000000
port=$BENCH_PORT
auth="Authorization: Bearer $key"

printf '{"timestamp":"2026-11-21T10:00:00Z","level":"info","message":"hello"}\n' >"$work/one.jsonl"
job_id=$(curl -sf -H "$auth" -F "file=@$work/one.jsonl" "http://127.0.0.1:$port/api/v1/files/upload" |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["job_id"])')
rest="http://127.0.0.1:$port/api/v1/jobs/$job_id"
gql="http://127.0.0.1:$port/graphql"
body="{\"query\":\"{ job(id: \\\"$job_id\\\") { status progress } }\"}"
curl -sf -H "$auth" "$rest" >/dev/null || eh_die "GET $rest failed"
answer=$(curl -sf -H "$auth" -H 'Content-Type: application/json' -d "$body" "$gql") || eh_die "POST $gql failed"
case $answer in *'"status":"QUEUED"'*) ;; *) eh_die "unexpected GraphQL answer: $answer" ;; esac

cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = [[$body]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
LUA

wrk -t2 -c64 -d"$duration" --latency -H "$auth" "$rest" | tee "$work/rest.out"
wrk -t2 -c64 -d"$duration" --latency -s "$work/post.lua" "$gql" | tee "$work/gql.out"
rps() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
p99() { awk '$1 == "99%" { print $2 }' "$1"; }
non2xx() { awk '/Non-2xx/ { print $NF }' "$1"; }
rest_rps=$(rps "$work/rest.out")
gql_rps=$(rps "$work/gql.out")
echo
echo "wrk -t2 -c64 -d$duration, one job, same eh-api, both with an API key:"
printf '  %-44s %10s req/s   p99 %s\n' "REST GET /api/v1/jobs/<id>" "$rest_rps" "$(p99 "$work/rest.out")"
printf '  %-44s %10s req/s   p99 %s\n' "POST /graphql { job(id) { status progress } }" "$gql_rps" "$(p99 "$work/gql.out")"
echo "  ratio GraphQL / REST: $(awk -v g="$gql_rps" -v r="$rest_rps" 'BEGIN { printf "%.2f", g / r }') (target >= 0.7)"
for f in rest gql; do
    n=$(non2xx "$work/$f.out")
    [ -z "$n" ] || echo "  $f non-2xx: $n"
done
