#!/usr/bin/env bash
# `make compose-test`: the project's images built from its Dockerfile and run
# as the docker-compose.yml stack, for real, with rootful podman (no Docker
# engine, no registry: see scripts/podman-setup.sh and docker-compose.ci.yml).
#
#   scripts/compose-test.sh            everything, then tear down
#   scripts/compose-test.sh --smoke    build and start the stack, check that
#                                      migrate succeeds and api/worker start;
#                                      no readiness wait, no upload
#   scripts/compose-test.sh --keep     leave the stack up at the end
#
# Steps, each timed: host setup (packages, containers.conf), base images,
# CI stand-in images and the project's images, `docker-compose config -q`
# and the check of every EH_* variable against common/config.c, containers
# created by podman-compose and started in depends_on order (postgres +
# rabbitmq + minio healthy, migrate exited 0, api + 2 workers, then nginx,
# the PostgreSQL exporter and Prometheus), /readyz through nginx (the only
# published port), then examples/sample.jsonl and examples/mixed.jsonl
# uploaded through nginx, the first followed over the WebSocket and both
# over REST to `completed`, their counts, error list and PostgreSQL rows
# checked; Prometheus must scrape every target (api, both workers, RabbitMQ,
# PostgreSQL) and see the ingested lines. Grafana is not created: it has no
# Debian package to stand in for its image (its dashboard is checked by the
# test suite).
# The stack is torn down (volumes too) on every way out; on failure the
# containers' logs are printed first.
#
# Environment: COMPOSE_TEST_PORT (published nginx port, 44080),
# COMPOSE_TEST_PROJECT (eh-ci), COMPOSE_TEST_WS=0 to skip following the job
# over the WebSocket, EH_LINE_DELAY_MAX_MS (100 here, to keep the run short).
set -euo pipefail

# shellcheck disable=SC2034 # read by lib.sh's eh_say
EH_SCRIPT=compose-test
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$EH_ROOT"

PROJECT=${COMPOSE_TEST_PROJECT:-eh-ci}
PORT=${COMPOSE_TEST_PORT:-44080}
WS=${COMPOSE_TEST_WS:-1}
PY=/usr/bin/python3 # Debian's, with python3-yaml (a dependency of podman-compose)
FILES=(-f docker-compose.yml -f docker-compose.ci.yml)
INFRA=(postgres rabbitmq minio)
# Every service but grafana (see above).
SERVICES=(postgres rabbitmq minio migrate init api worker nginx prometheus postgres-exporter)
BASE_URL="http://127.0.0.1:$PORT"

smoke=0
keep=0
for arg in "$@"; do
    case "$arg" in
    --smoke) smoke=1 ;;
    --keep) keep=1 ;;
    *) eh_die "usage: $0 [--smoke] [--keep]" ;;
    esac
done

# What the stack runs with. The api and workers take the S3 keys from the
# MinIO variables; s3rver's are fixed. Exported: podman-compose and
# docker-compose interpolate from the environment.
export IMAGE_TAG=ci
export HTTP_BIND=127.0.0.1 HTTP_PORT=$PORT
export MINIO_ROOT_USER=S3RVER MINIO_ROOT_PASSWORD=S3RVER
export POSTGRES_PASSWORD=ci-postgres RABBITMQ_PASSWORD=ci-rabbitmq
# Up to 100 ms per line: sample.jsonl takes a few seconds, long enough for
# the WebSocket client to see live events.
export EH_LINE_DELAY_MAX_MS=${EH_LINE_DELAY_MAX_MS:-100}
export EH_WORKERS=${EH_WORKERS:-1} WORKER_REPLICAS=${WORKER_REPLICAS:-2}
export EH_LOG_LEVEL=${EH_LOG_LEVEL:-info}
# The admin token: the test makes its own tenant and key through the admin endpoint.
EH_ADMIN_TOKEN=ci-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export EH_ADMIN_TOKEN
API_KEY=""

logs=$(mktemp -d "${TMPDIR:-/tmp}/eh-compose-test.XXXXXX")
timings=()
t_all=$(eh_now)
stack_started=0

# phase NAME COMMAND...: runs COMMAND and records how long it took. Called
# as a plain command, so that `set -e` stays in force inside COMMAND; a
# failure exits through teardown, which records the phase that failed.
current_phase=""
phase_t0=""
phase() {
    current_phase=$1
    shift
    eh_say "== $current_phase"
    phase_t0=$(eh_now)
    "$@"
    record_phase ""
}

record_phase() { # $1: suffix for the name
    [ -n "$current_phase" ] || return 0
    timings+=("$(printf '%-30s %7ss' "$current_phase$1" "$(eh_elapsed "$phase_t0")")")
    current_phase=""
}

# pc ARGS...: podman-compose on the two files; its chatter goes to a log.
pc() {
    podman-compose "${FILES[@]}" -p "$PROJECT" "$@" >>"$logs/podman-compose.log" 2>&1
}

print_timings() {
    eh_say "timings:"
    local line
    for line in "${timings[@]}"; do
        printf '    %s\n' "$line"
    done
    printf '    %-30s %7ss\n' total "$(eh_elapsed "$t_all")"
}

dump_logs() {
    local c
    eh_warn "--- containers ---"
    podman ps -a --filter "label=io.podman.compose.project=$PROJECT" \
        --format '{{.Names}}  {{.Status}}  {{.Image}}' >&2 || true
    for c in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}' 2>/dev/null); do
        eh_warn "--- last 60 log lines of $c ---"
        podman logs --tail 60 "$c" 2>&1 | sed 's/^/    /' >&2 || true
    done
    eh_tail "$logs/podman-compose.log" 30
}

teardown() {
    local rc=$?
    trap - EXIT
    record_phase " (FAILED)"
    if [ "$rc" -ne 0 ] && [ "$stack_started" -eq 1 ]; then
        dump_logs
    fi
    if [ "$stack_started" -eq 1 ] && [ "$keep" -eq 0 ]; then
        current_phase="down -v"
        phase_t0=$(eh_now)
        stack_down
        record_phase ""
    fi
    print_timings
    if [ "$rc" -eq 0 ]; then
        [ "$keep" -eq 0 ] || eh_say "stack left up; to remove it: podman-compose ${FILES[*]} -p $PROJECT down -v"
        rm -rf "$logs"
        eh_say "OK"
    else
        eh_warn "FAILED (exit $rc; logs kept in $logs)"
    fi
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stack_down() {
    # Nothing of the project left: nothing to do (podman-compose takes seconds for it).
    if [ -z "$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT")" ] &&
        [ -z "$(podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT")" ]; then
        podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
        return 0
    fi
    pc down -v -t 10 || true
    # podman-compose 1.0.3 leaves the project's network behind.
    podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- images --

setup_host() {
    scripts/podman-setup.sh packages
    scripts/podman-setup.sh conf
    # The test's own client tools (make deps installs them too).
    local missing=()
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    "$PY" -c 'import websockets' 2>/dev/null || missing+=(python3-websockets)
    if [ ${#missing[@]} -gt 0 ]; then
        eh_say "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if [ -f .env ]; then
        # podman-compose 1.0.3 lets .env override the environment set above.
        eh_warn "warning: .env exists; podman-compose lets it override this test's settings"
    fi
}

# build NAME LOG podman-build-args...: a build whose output goes to LOG.
build() {
    local name=$1 log=$2 t0
    shift 2
    t0=$(eh_now)
    if ! podman build --format docker "$@" >"$log" 2>&1; then
        eh_tail "$log" 40
        eh_die "building $name failed"
    fi
    eh_say "built $name in $(eh_elapsed "$t0")s ($(podman image inspect --format '{{.Size}}' "$name" |
        awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

# The stand-ins for postgres, rabbitmq and minio (.ci/images/).
build_ci_image() {
    case "$1" in
    postgres) build localhost/eh-ci/postgres:15 "$logs/build-postgres.log" -t localhost/eh-ci/postgres:15 .ci/images/postgres ;;
    rabbitmq) build localhost/eh-ci/rabbitmq:3 "$logs/build-rabbitmq.log" -t localhost/eh-ci/rabbitmq:3 .ci/images/rabbitmq ;;
    nginx | prometheus | postgres-exporter)
        local tag
        case "$1" in nginx) tag=1 ;; prometheus) tag=2 ;; *) tag=0 ;; esac
        build "localhost/eh-ci/$1:$tag" "$logs/build-$1.log" -t "localhost/eh-ci/$1:$tag" ".ci/images/$1"
        ;;
    s3rver)
        # Its context: its folder plus the project's npm pins.
        local ctx="$logs/s3rver-context" ca=()
        mkdir -p "$ctx"
        cp .ci/images/s3rver/* package.json package-lock.json "$ctx/"
        # The host's CA bundle, for hosts whose HTTPS goes through an inspecting proxy.
        # shellcheck disable=SC2054 # the comma belongs to --secret's value
        [ -s /etc/ssl/certs/ca-certificates.crt ] && ca=(--secret id=npm_ca,src=/etc/ssl/certs/ca-certificates.crt)
        build localhost/eh-ci/s3rver:3 "$logs/build-s3rver.log" "${ca[@]}" -t localhost/eh-ci/s3rver:3 "$ctx"
        ;;
    esac
}

build_project_images() {
    local target ca=()
    # The api image's docs stage runs npm ci: the host's CA bundle, as for s3rver.
    # shellcheck disable=SC2054 # the comma belongs to --secret's value
    [ -s /etc/ssl/certs/ca-certificates.crt ] && ca=(--secret id=npm_ca,src=/etc/ssl/certs/ca-certificates.crt)
    for target in api worker migrate; do
        build "event-horizon/$target:$IMAGE_TAG" "$logs/build-$target.log" "${ca[@]}" \
            --target "$target" -t "event-horizon/$target:$IMAGE_TAG" .
    done
}

# All at once: the stand-ins mostly wait on apt and npm downloads while the
# project's images compile. Each is a no-op (layer cache) when unchanged.
build_images() {
    local img pids=() rc=0 pid
    for img in postgres rabbitmq s3rver nginx prometheus postgres-exporter; do
        build_ci_image "$img" >"$logs/build-$img.out" 2>&1 &
        pids+=($!)
    done
    (build_project_images) || rc=$?
    for pid in "${pids[@]}"; do
        wait "$pid" || rc=1
    done
    cat "$logs"/build-{postgres,rabbitmq,s3rver,nginx,prometheus,postgres-exporter}.out
    return "$rc"
}

# ---------------------------------------------------------------- checks --

# Debian's docker-compose (v1) validates without an engine; the same check
# runs on the file with the CI override.
validate_compose() {
    docker-compose -f docker-compose.yml config -q
    docker-compose "${FILES[@]}" config -q
    check_compose_contents
}

# Every variable given to the project's services is one the binaries read
# (common/config.c's table); only nginx publishes a port to the world (and
# grafana one on loopback), the api none; every declared volume is mounted.
check_compose_contents() {
    docker-compose -f docker-compose.yml config >"$logs/config.yml"
    "$PY" - "$logs/config.yml" common/config.c <<'PYEOF'
import re, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
known = set(re.findall(r'^\s*\{"(EH_[A-Z0-9_]+)"', open(sys.argv[2]).read(), re.M))
if len(known) < 10:
    sys.exit("could not read the EH_* table from common/config.c")
bad = []
services = cfg["services"]
for name, svc in services.items():
    if "build" not in svc:          # the official images take their own variables
        continue
    for var in (svc.get("environment") or {}):
        if var not in known:
            bad.append(f"{name}: {var} is not read by the binaries (common/config.c)")
published = sorted(n for n, s in services.items() if s.get("ports"))
if published != ["grafana", "nginx"]:
    bad.append(f"only nginx (and grafana) may publish a port, not {published}")
mounted = {v["source"] if isinstance(v, dict) else v.split(":")[0]
           for s in services.values() for v in (s.get("volumes") or [])}
for vol in cfg.get("volumes") or {}:
    if vol not in mounted:
        bad.append(f"volume {vol} is declared but not mounted")
for line in bad:
    print("compose-test: " + line, file=sys.stderr)
n = sum(len(s.get("environment") or {}) for s in services.values() if "build" in s)
print(f"compose-test: {n} EH_* settings of the project's services checked against {len(known)} known names")
sys.exit(1 if bad else 0)
PYEOF
}

# ------------------------------------------------------------------ stack --

container() { # service [n] -> container name as podman-compose 1.0.3 makes it
    printf '%s_%s_%s' "$PROJECT" "$1" "${2:-1}"
}

# wait_healthy SERVICE SECONDS: podman runs the service's own health check
# (from the compose file or the image) until it passes. podman-compose
# neither waits for `condition: service_healthy` nor schedules the checks.
wait_healthy() {
    local svc=$1 deadline state c
    c=$(container "$svc")
    deadline=$(eh_deadline "$2")
    while eh_before "$deadline"; do
        state=$(podman inspect --format '{{.State.Status}}' "$c" 2>/dev/null || echo missing)
        case "$state" in
        exited | missing) eh_die "$svc is $state before it became healthy" ;;
        esac
        if podman healthcheck run "$c" >/dev/null 2>&1; then
            eh_say "$svc healthy"
            return 0
        fi
        sleep 1
    done
    eh_die "$svc not healthy after $2 s"
}

# podman-compose turns the compose files into containers (created, not
# started); the test then starts them in the order the depends_on conditions
# give, because podman-compose 1.0.3 ignores those conditions (and, asked to
# start one service, starts its dependencies again, re-running migrate).
create_stack() {
    stack_down # leftovers of an interrupted run
    stack_started=1
    pc up --no-build --no-start "${SERVICES[@]}"
    local svc n
    for svc in "${INFRA[@]}" migrate init api nginx prometheus postgres-exporter; do
        podman container exists "$(container "$svc")" || eh_die "podman-compose did not create $svc"
    done
    for n in $(seq 1 "$WORKER_REPLICAS"); do
        podman container exists "$(container worker "$n")" || eh_die "podman-compose did not create worker $n"
    done
}

# pstart CONTAINER: podman start, its chatter (it cannot schedule health
# checks without systemd, and says so) kept in the log.
pstart() {
    podman start "$1" >>"$logs/podman.log" 2>&1 || {
        eh_tail "$logs/podman.log" 10
        eh_die "podman start $1 failed"
    }
}

up_infra() {
    local svc
    for svc in "${INFRA[@]}"; do
        pstart "$(container "$svc")"
    done
    for svc in "${INFRA[@]}"; do
        wait_healthy "$svc" 120
    done
}

# `condition: service_completed_successfully`, by hand.
run_migrate() {
    local rc
    pstart "$(container migrate)"
    rc=$(podman wait "$(container migrate)")
    [ "$rc" -eq 0 ] || eh_die "migrate exited with $rc"
    eh_say "migrate exited 0"
}

# The init step, once migrate is done: on first start a tenant and its key, printed once.
run_init() {
    local rc
    pstart "$(container init)"
    rc=$(podman wait "$(container init)")
    [ "$rc" -eq 0 ] || eh_die "init exited with $rc"
    podman logs "$(container init)" 2>/dev/null | grep -q '"key":"eh_' || eh_die "init printed no API key"
    eh_say "init exited 0 and printed the first API key"
}

up_app() {
    local n svc
    pstart "$(container api)"
    for n in $(seq 1 "$WORKER_REPLICAS"); do
        pstart "$(container worker "$n")"
    done
    eh_say "api and $WORKER_REPLICAS worker containers started"
    for svc in postgres-exporter nginx prometheus; do
        pstart "$(container "$svc")"
    done
    eh_say "postgres-exporter, nginx and prometheus started"
}

# promql EXPR: the value of an instant query, asked inside the Prometheus
# container (it publishes no port) with its own promtool.
promql() {
    podman exec "$(container prometheus)" promtool query -o json instant http://127.0.0.1:9090 "$1" 2>/dev/null |
        "$PY" -c 'import json, sys; r = json.load(sys.stdin); print(r[0]["value"][1] if r else "")'
}

# Prometheus scrapes every target of deploy/prometheus/prometheus.yml: the
# api, each worker container (found by DNS), RabbitMQ's plugin, the
# PostgreSQL exporter and itself.
wait_scraped() {
    local deadline want=$((WORKER_REPLICAS + 4)) got=""
    deadline=$(eh_deadline 120)
    while eh_before "$deadline"; do
        got=$(promql 'count(up == 1)' || true)
        if [ "${got:-0}" = "$want" ]; then
            eh_say "prometheus scrapes all $want targets"
            return 0
        fi
        sleep 2
    done
    podman exec "$(container prometheus)" promtool query instant http://127.0.0.1:9090 'up' >&2 || true
    eh_die "prometheus scrapes ${got:-0} of $want targets after 120 s"
}

# After the end-to-end run: the lines the two jobs ingested (50 + 7 valid)
# show in the workers' counters, summed by Prometheus over both containers.
expect_scraped_counts() {
    local deadline got=""
    deadline=$(eh_deadline 60)
    while eh_before "$deadline"; do
        got=$(promql 'sum(eh_ingest_lines_total{result="valid"})' || true)
        if [ "$got" = 57 ]; then
            eh_say "prometheus: eh_ingest_lines_total{result=\"valid\"} summed over the workers is 57"
            return 0
        fi
        sleep 2
    done
    eh_die "prometheus: valid lines ingested = ${got:-nothing}, expected 57"
}

wait_ready() {
    local deadline
    deadline=$(eh_deadline 90)
    while eh_before "$deadline"; do
        if curl -fsS -m 3 -o /dev/null "$BASE_URL/readyz" 2>/dev/null; then
            eh_say "$BASE_URL/readyz is 200"
            return 0
        fi
        sleep 1
    done
    curl -sS -m 3 "$BASE_URL/readyz" >&2 || true
    eh_die "the api was not ready on $BASE_URL/readyz after 90 s"
}

# --------------------------------------------------------------- end to end --

# json FILE EXPR: one value of a JSON document, read with Python (no jq needed).
json() {
    "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$1" "$2"
}

# make_key: a tenant and a write key through the admin endpoints (EH_ADMIN_TOKEN); sets API_KEY.
# Without a key the API answers 401: that is checked first.
make_key() {
    local out="$logs/key.json" code
    code=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' "$BASE_URL/api/v1/jobs/00000000-0000-4000-8000-000000000000")
    [ "$code" = 401 ] || eh_die "a request without a key got HTTP $code, not 401"
    code=$(curl -sS -m 10 -o "$out" -w '%{http_code}' -H "Authorization: Bearer $EH_ADMIN_TOKEN" \
        -d '{"name":"ci"}' "$BASE_URL/api/v1/admin/tenants") || eh_die "create tenant: curl failed"
    [ "$code" = 201 ] || eh_die "create tenant: HTTP $code: $(cat "$out")"
    code=$(curl -sS -m 10 -o "$out" -w '%{http_code}' -H "Authorization: Bearer $EH_ADMIN_TOKEN" \
        -d '{"scope":"write"}' "$BASE_URL/api/v1/admin/tenants/$(json "$out" 'd["tenant_id"]')/keys") ||
        eh_die "create key: curl failed"
    [ "$code" = 201 ] || eh_die "create key: HTTP $code"
    API_KEY=$(json "$out" 'd["key"]')
    rm -f "$out"
    eh_say "tenant ci and its write key made through the admin endpoint"
}

# upload FILE -> prints the job id (202 and a Location header required).
upload() {
    local file=$1 out code
    out="$logs/upload-${file##*/}.json"
    code=$(curl -sS -m 30 -o "$out" -D "$out.headers" -w '%{http_code}' -H "Authorization: Bearer $API_KEY" \
        -F "file=@$file" "$BASE_URL/api/v1/files/upload") || eh_die "upload of $file: curl failed"
    [ "$code" = 202 ] || eh_die "upload of $file: HTTP $code: $(cat "$out")"
    grep -qi '^location: /api/v1/jobs/' "$out.headers" || eh_die "upload of $file: no Location header"
    json "$out" 'd["job_id"]'
}

# follow_job_rest ID SECONDS: polls GET /api/v1/jobs/ID until the job ends.
follow_job_rest() {
    local id=$1 deadline status="" out="$logs/job-$1.json"
    deadline=$(eh_deadline "$2")
    while eh_before "$deadline"; do
        curl -fsS -m 5 -H "Authorization: Bearer $API_KEY" -o "$out" "$BASE_URL/api/v1/jobs/$id" ||
            eh_die "GET job $id failed"
        status=$(json "$out" 'd["status"]')
        case "$status" in
        completed) return 0 ;;
        failed) eh_die "job $id failed: $(json "$out" 'd["error"]')" ;;
        esac
        sleep 0.5
    done
    eh_die "job $id not completed after $2 s (status $status)"
}

# follow_job_websocket ID SECONDS: follows the job on /ws/jobs/ID until the
# server closes: snapshot first, seq growing, completed last, close code 1000.
# Uses Debian's python3-websockets (10.x, asyncio API).
follow_job_websocket() {
    local id=$1 timeout=$2
    EH_TEST_KEY=$API_KEY "$PY" - "ws://127.0.0.1:$PORT/ws/jobs/$id" "$timeout" <<'PYEOF'
import asyncio, json, os, sys
import websockets

async def main(url, timeout):
    events = []
    headers = {"Authorization": "Bearer " + os.environ["EH_TEST_KEY"]}
    async with websockets.connect(url, open_timeout=10, extra_headers=headers) as ws:
        async for raw in ws:
            events.append(json.loads(raw))
        code = ws.close_code
    names = [e.get("event") for e in events]
    seqs = [e.get("seq") for e in events]
    problems = []
    if not events or names[0] != "snapshot":
        problems.append(f"first event is not snapshot: {names[:1]}")
    if any(b <= a for a, b in zip(seqs, seqs[1:])):
        problems.append(f"seq does not grow: {seqs}")
    # A job that ended before the connection shows only its final snapshot.
    if not events or events[-1].get("status") != "completed":
        problems.append(f"the last event's status is not completed: {events[-1:]}")
    if "completed" in names and names.index("completed") != len(names) - 1:
        problems.append(f"events after completed: {names}")
    if code != 1000:
        problems.append(f"close code {code}, not 1000")
    if problems:
        sys.exit("websocket: " + "; ".join(problems))
    print(f"compose-test: websocket: {len(events)} events ({', '.join(dict.fromkeys(names))}), closed with 1000")

asyncio.run(asyncio.wait_for(main(sys.argv[1], float(sys.argv[2])), float(sys.argv[2])))
PYEOF
}

# expect_counts ID TOTAL INGESTED INVALID: the finished job's counters.
expect_counts() {
    local out="$logs/job-$1.json" got want
    curl -fsS -m 5 -H "Authorization: Bearer $API_KEY" -o "$out" "$BASE_URL/api/v1/jobs/$1" ||
        eh_die "GET job $1 failed"
    got=$(json "$out" '"%s %s %s %s" % (d["lines_total"], d["entries_ingested"], d["lines_invalid"], d["progress"])')
    want="$2 $3 $4"
    case "$got" in
    "$want 100" | "$want 100.0") eh_say "job $1: lines_total=$2 entries_ingested=$3 lines_invalid=$4 progress=100" ;;
    *) eh_die "job $1: lines_total entries_ingested lines_invalid progress = $got, expected $want 100" ;;
    esac
}

# The error list of mixed.jsonl: every invalid line, in order (examples/README.md).
expect_errors() {
    local out="$logs/errors-$1.json" got
    curl -fsS -m 5 -H "Authorization: Bearer $API_KEY" -o "$out" "$BASE_URL/api/v1/jobs/$1/errors?limit=100" ||
        eh_die "GET errors of $1 failed"
    got=$(json "$out" '"%s:%s" % (d["total"], ",".join(str(e["line_no"]) for e in d["errors"]))')
    [ "$got" = "8:3,4,7,8,9,10,11,13" ] || eh_die "errors of mixed.jsonl: got $got, expected 8:3,4,7,8,9,10,11,13"
    eh_say "job $1: errors list lines 3,4,7,8,9,10,11,13"
}

# The rows behind the counters: what PostgreSQL holds for the job.
expect_rows() { # ID ENTRIES ERRORS
    local got
    got=$(podman exec "$(container postgres)" psql -U "${POSTGRES_USER:-eh}" -d "${POSTGRES_DB:-eh}" -Atc \
        "SELECT (SELECT count(*) FROM log_entries WHERE job_id = '$1') || ' ' ||
                (SELECT count(*) FROM job_errors WHERE job_id = '$1')") || eh_die "psql in the postgres container failed"
    [ "$got" = "$2 $3" ] || eh_die "job $1: PostgreSQL holds $got entries/errors, expected $2 $3"
    eh_say "job $1: PostgreSQL holds $2 entries and $3 error rows"
}

end_to_end() {
    local sample mixed ws_pid=""
    make_key
    sample=$(upload examples/sample.jsonl)
    eh_say "uploaded sample.jsonl: job $sample"
    if [ "$WS" = 1 ]; then
        follow_job_websocket "$sample" 120 &
        ws_pid=$!
    fi
    mixed=$(upload examples/mixed.jsonl)
    eh_say "uploaded mixed.jsonl: job $mixed"
    follow_job_rest "$sample" 120
    follow_job_rest "$mixed" 120
    if [ -n "$ws_pid" ]; then
        wait "$ws_pid" || eh_die "following job $sample over the WebSocket failed"
    fi
    expect_counts "$sample" 50 50 0
    expect_counts "$mixed" 16 7 8
    expect_errors "$mixed"
    expect_rows "$sample" 50 0
    expect_rows "$mixed" 7 8
}

# ------------------------------------------------------------------- main --

phase "host setup" setup_host
phase "base images" scripts/podman-setup.sh base
phase "images (project + CI)" build_images
phase "compose config" validate_compose
phase "create containers" create_stack
phase "postgres/rabbitmq/minio up" up_infra
phase "migrate" run_migrate
phase "init" run_init
phase "api + workers up" up_app
if [ "$smoke" -eq 1 ]; then
    eh_say "--smoke: no readiness wait, no upload"
    exit 0
fi
phase "api ready (through nginx)" wait_ready
phase "prometheus targets up" wait_scraped
phase "upload and follow" end_to_end
phase "prometheus counts" expect_scraped_counts
