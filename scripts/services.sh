#!/usr/bin/env bash
# Local PostgreSQL 15, RabbitMQ and s3rver for runs and tests, without Docker.
#
#   scripts/services.sh start DIR          fresh services, data under DIR, writes DIR/env
#   scripts/services.sh stop DIR           stop everything started from DIR (never fails)
#   scripts/services.sh stop-one DIR SVC   stop one service, keep its data and port
#   scripts/services.sh start-one DIR SVC  start it again (same port, same data)
#   scripts/services.sh status DIR         what runs and answers (exit 0 only if all do)
#   scripts/services.sh rabbitmqctl DIR ARGS...   rabbitmqctl against DIR's node
#
# SVC is postgres, rabbitmq or s3. DIR/env holds `export` lines (EH_DATABASE_URL,
# EH_AMQP_URL, EH_S3_*, PG*) to source.
#
# Every service listens on 127.0.0.1 only, on ports chosen free at `start`. By
# default they are drawn from 20000 up to just below the kernel's ephemeral
# range, so that no outgoing connection can take a port while its service is
# down for a fault test; EH_SVC_PORT_RANGE=LO-HI picks them from another range.
#
# Layout of DIR (everything lives here):
#   state           ports and node name, read by every later command
#   env             the sourceable exports
#   pids/           pids of what this script launched in the background
#   pg/             owned by postgres: data/, sock/, postgres.log
#   rabbitmq/       owned by rabbitmq: home/ (cookie), mnesia/, log/, config
#   epmd/           working folder of the Erlang port mapper of this node
#   s3/             data/ and s3rver.log
#
# A process belongs to DIR when its working directory is inside one of those
# folders (each service is started from its own folder, and PostgreSQL moves
# into its data folder). That is how `stop` and a `start` over a killed run
# find everything, including children a pid file does not name, without ever
# matching a process by its name.
#
# Run as root (CI does): PostgreSQL refuses root, so it runs as `postgres`,
# and RabbitMQ as `rabbitmq` (setpriv, so no extra su process sits in between).
# As another user both run as that user. Nothing is written outside DIR: the
# Debian wrappers /usr/sbin/rabbitmq-server and rabbitmqctl, which would cd to
# /var/lib/rabbitmq and log to /var/log/rabbitmq, are bypassed for the real
# scripts in /usr/lib/rabbitmq/bin. The one exception is what PostgreSQL
# itself needs: dynamic shared memory segments in /dev/shm and a small System V
# segment, both released when it stops (a kill -9 can leave the small ones).
set -euo pipefail

EH_SCRIPT=services
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_BIN=/usr/lib/postgresql/15/bin
PG_TUNING="$EH_ROOT/deploy/postgres/tuning.conf"
RMQ_BIN=/usr/lib/rabbitmq/bin
S3RVER="$EH_ROOT/node_modules/.bin/s3rver"
S3_BUCKET=eh-uploads
S3_KEY=S3RVER

# Debian's python3 (stdlib only): a pyenv shim earlier on PATH costs ~0.3 s a call.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3

PG_TIMEOUT=30
RMQ_TIMEOUT=60
S3_TIMEOUT=20

# A clean environment for the services: nothing from the caller's RABBITMQ_*,
# PG* or ERL_* variables leaks into them.
BASE_ENV=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8)

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---------------------------------------------------------------- paths

# set_dir DIR: absolute paths of everything under DIR.
set_dir() {
    [ -n "${1:-}" ] || usage
    DIR=$(realpath -m -- "$1")
    STATE="$DIR/state"
    ENV_FILE="$DIR/env"
    PIDS="$DIR/pids"
    PG_DIR="$DIR/pg"
    PG_DATA="$PG_DIR/data"
    PG_SOCK="$PG_DIR/sock"
    PG_LOG="$PG_DIR/postgres.log"
    RMQ_DIR="$DIR/rabbitmq"
    RMQ_LOG_DIR="$RMQ_DIR/log"
    RMQ_CONSOLE="$RMQ_LOG_DIR/console.log"
    EPMD_DIR="$DIR/epmd"
    S3_DIR="$DIR/s3"
    S3_LOG="$S3_DIR/s3rver.log"
}

load_state() {
    [ -f "$STATE" ] || eh_die "$DIR has no services (no $STATE): run 'start' first"
    # shellcheck disable=SC1090
    . "$STATE"
}

# ---------------------------------------------------------------- users

is_root() {
    [ "$(id -u)" -eq 0 ]
}

# as_user USER: sets AS to the command prefix that runs a command as USER
# when we are root (setpriv execs in place, so a pid we record is the
# service's own), or to nothing when we run as someone else. An array rather
# than a function, so that `exec "${AS[@]}" cmd` works.
as_user() {
    AS=()
    if is_root; then
        AS=(setpriv --reuid="$1" --regid="$1" --init-groups --)
    fi
}

# own USER PATH...: hand folders to the service's user (root only).
own() {
    local user=$1
    shift
    if is_root; then
        chown -R "$user:$user" "$@"
    fi
}

# ---------------------------------------------------------------- processes

# procs_in PATH...: pids whose working directory is one of PATHs or below,
# leaving out this script and its ancestors (a caller may sit in DIR).
procs_in() {
    "$PYTHON" - "$@" <<'PY'
import os, sys
prefixes = [os.path.realpath(p) for p in sys.argv[1:]]
skip, pid = set(), os.getpid()
while pid > 1:
    skip.add(pid)
    try:
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        break
for entry in os.listdir("/proc"):
    if not entry.isdigit() or int(entry) in skip:
        continue
    try:
        cwd = os.readlink(f"/proc/{entry}/cwd")
    except OSError:  # gone, a zombie, or not ours to look at
        continue
    if cwd.endswith(" (deleted)"):
        cwd = cwd[: -len(" (deleted)")]
    if any(cwd == p or cwd.startswith(p + "/") for p in prefixes):
        print(entry)
PY
}

# pid_in PIDFILE PATH: the pid in PIDFILE if that process still runs from PATH
# (a stale file after a reboot may name an unrelated process).
pid_in() {
    local file=$1 path=$2 pid cwd
    [ -s "$file" ] || return 1
    pid=$(head -n1 "$file" | tr -dc '0-9')
    [ -n "$pid" ] || return 1
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
    cwd=${cwd% (deleted)}
    case "$cwd" in
        "$path" | "$path"/*) printf '%s\n' "$pid" ;;
        *) return 1 ;;
    esac
}

# reap TIMEOUT PATH...: wait until nothing runs from PATHs, then SIGKILL
# whatever is left and wait a little more. Never fails; says what it killed.
reap() {
    local timeout=$1 deadline pids
    shift
    deadline=$(eh_deadline "$timeout")
    while pids=$(procs_in "$@") && [ -n "$pids" ] && eh_before "$deadline"; do
        sleep 0.2
    done
    [ -n "$pids" ] || return 0
    eh_warn "still running after ${timeout}s, killing: ${pids//$'\n'/ }"
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    deadline=$(eh_deadline 5)
    while pids=$(procs_in "$@") && [ -n "$pids" ] && eh_before "$deadline"; do
        sleep 0.2
    done
    [ -z "$pids" ] || eh_warn "could not end: ${pids//$'\n'/ }"
    return 0
}

# ---------------------------------------------------------------- ports

# free_ports N: N distinct free loopback ports. The sockets stay bound until
# all N are found, so the same port cannot come out twice.
free_ports() {
    "$PYTHON" - "$1" <<'PY'
import os, random, socket, sys
n = int(sys.argv[1])
spec = os.environ.get("EH_SVC_PORT_RANGE", "")
if spec:
    lo, hi = (int(x) for x in spec.split("-"))
else:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        eph_lo = int(f.read().split()[0])
    lo, hi = 20000, eph_lo - 1
held = []
if hi - lo >= 100:
    ports = list(range(lo, hi + 1))
    random.shuffle(ports)
    for port in ports:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        held.append(s)
        if len(held) == n:
            break
else:  # no usable range: let the kernel choose
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        held.append(s)
if len(held) < n:
    sys.exit(f"only {len(held)} free ports in {lo}-{hi}")
print(" ".join(str(s.getsockname()[1]) for s in held))
PY
}

# tcp_open PORT: something accepts connections on 127.0.0.1:PORT.
tcp_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---------------------------------------------------------------- PostgreSQL

pg_init() {
    mkdir -p "$PG_DIR" "$PG_SOCK"
    own postgres "$PG_DIR"
    as_user postgres
    # --no-sync only skips initdb's final flush; the server keeps fsync=on.
    if ! (cd "$PG_DIR" && exec "${AS[@]}" "${BASE_ENV[@]}" "$PG_BIN/initdb" -D "$PG_DATA" \
        -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync --no-instructions) \
        >"$PG_DIR/initdb.log" 2>&1 </dev/null; then
        eh_tail "$PG_DIR/initdb.log"
        eh_die "initdb failed"
    fi
    # A Unix socket path longer than sun_path stops the server: then TCP only.
    local sockdir=$PG_SOCK
    if [ "${#PG_SOCK}" -gt 90 ]; then
        sockdir=""
    fi
    # The tuning users deploy (deploy/postgres/tuning.conf, which docker-compose.yml
    # uses too), then what only this local server needs. The test suite runs
    # many processes at once, hence more connections.
    cat >>"$PG_DATA/postgresql.conf" <<EOF

# --- scripts/services.sh ---
include '$PG_TUNING'
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$sockdir'
max_connections = 200
EOF
}

pg_launch() {
    # pg_ctl -l detaches the postmaster (own session, output to the log), so it
    # holds none of our descriptors; -w returns once it accepts connections.
    as_user postgres
    if ! (cd "$PG_DIR" && exec "${AS[@]}" "${BASE_ENV[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" \
        -l "$PG_LOG" -w -t "$PG_TIMEOUT" -s start) >"$PG_DIR/pg_ctl.log" 2>&1 </dev/null; then
        eh_tail "$PG_DIR/pg_ctl.log" 10
        eh_tail "$PG_LOG"
        eh_die "PostgreSQL did not start on port $PG_PORT within ${PG_TIMEOUT}s"
    fi
}

pg_psql() {
    PGCONNECT_TIMEOUT=3 "${BASE_ENV[@]}" psql -X -w -q -h 127.0.0.1 -p "$PG_PORT" "$@"
}

pg_answers() {
    pg_psql -U postgres -d postgres -At -c 'select 1' 2>/dev/null | grep -qx 1
}

pg_wait() {
    local deadline
    deadline=$(eh_deadline "$PG_TIMEOUT")
    until pg_answers; do
        if ! eh_before "$deadline"; then
            eh_tail "$PG_LOG"
            eh_die "PostgreSQL does not answer on port $PG_PORT"
        fi
        sleep 0.2
    done
}

pg_create_db() {
    local out
    if ! out=$(pg_psql -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c 'CREATE ROLE eh LOGIN CREATEDB' -c 'CREATE DATABASE eh OWNER eh' 2>&1); then
        printf '    %s\n' "$out" >&2
        eh_die "could not create role and database eh"
    fi
}

pg_stop() {
    if [ -f "$PG_DATA/postmaster.pid" ] && [ -n "$(procs_in "$PG_DIR")" ]; then
        as_user postgres
        (cd "$PG_DIR" && exec "${AS[@]}" "${BASE_ENV[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" \
            -m fast -w -t 20 -s stop) >/dev/null 2>&1 </dev/null || true
    fi
    reap 10 "$PG_DIR"
    # Nothing of ours runs any more, so a lock file left by a kill is stale.
    rm -f "$PG_DATA/postmaster.pid" "$PG_SOCK"/.s.PGSQL.*
}

# ---------------------------------------------------------------- RabbitMQ

# The variables that keep a RabbitMQ node and its CLI inside DIR; Erlang's
# distribution port (the CLI's way in) listens on loopback only, too.
rmq_env() {
    RMQ_ENV=("${BASE_ENV[@]}"
        HOME="$RMQ_DIR/home"
        ERL_EPMD_PORT="$EPMD_PORT"
        ERL_EPMD_ADDRESS=127.0.0.1
        RABBITMQ_NODENAME="$RMQ_NODE"
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
        RABBITMQ_NODE_PORT="$AMQP_PORT"
        RABBITMQ_DIST_PORT="$DIST_PORT"
        RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia"
        RABBITMQ_LOG_BASE="$RMQ_LOG_DIR"
        RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf"
        RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf"
        RABBITMQ_CONFIG_FILES="$RMQ_DIR/conf.d"
        RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_DIR/advanced.config"
        RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins"
        RABBITMQ_FEATURE_FLAGS_FILE="$RMQ_DIR/feature_flags"
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")
}

rmq_init() {
    mkdir -p "$RMQ_DIR/home" "$RMQ_DIR/mnesia" "$RMQ_LOG_DIR" "$RMQ_DIR/conf.d" "$EPMD_DIR"
    : >"$RMQ_DIR/rabbitmq-env.conf"
    # rabbitmq_prometheus: the broker's own /metrics, as docker-compose.yml's
    # Prometheus scrapes it (tests/integration/test_prometheus.py does too).
    echo '[rabbitmq_prometheus].' >"$RMQ_DIR/enabled_plugins"
    cat >"$RMQ_DIR/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = $RMQ_PROM_PORT
# The file log has everything; the console (console.log) only what goes wrong.
log.file.level = info
log.console = true
log.console.level = warning
log.console.use_colors = off
EOF
    # Our own cookie, so that the CLI run with the same HOME can talk to the node.
    tr -dc '[:upper:]' </dev/urandom | head -c 20 >"$RMQ_DIR/home/.erlang.cookie" || true
    chmod 400 "$RMQ_DIR/home/.erlang.cookie"
    own rabbitmq "$RMQ_DIR" "$EPMD_DIR"
}

# The node's own epmd on our port: without it the node would start a shared
# one on the default port 4369, which outlives the node and mixes test runs.
epmd_launch() {
    local pid deadline
    if pid_in "$PIDS/epmd.pid" "$EPMD_DIR" >/dev/null; then
        return 0
    fi
    as_user rabbitmq
    (cd "$EPMD_DIR" && exec "${AS[@]}" "${BASE_ENV[@]}" epmd -port "$EPMD_PORT" -address 127.0.0.1) \
        >"$EPMD_DIR/epmd.log" 2>&1 </dev/null &
    echo $! >"$PIDS/epmd.pid"
    deadline=$(eh_deadline 10)
    until "${BASE_ENV[@]}" epmd -port "$EPMD_PORT" -names >/dev/null 2>&1; do
        if ! eh_before "$deadline" || ! pid_in "$PIDS/epmd.pid" "$EPMD_DIR" >/dev/null; then
            eh_tail "$EPMD_DIR/epmd.log"
            eh_die "epmd did not start on port $EPMD_PORT"
        fi
        sleep 0.1
    done
}

rmq_launch() {
    epmd_launch
    rmq_env
    # setsid: the node gets its own process group (stopped as a whole) and no
    # Ctrl-C from the caller's terminal. setsid, setpriv and env all exec, so
    # $! is the pid of rabbitmq-server itself.
    as_user rabbitmq
    (cd "$RMQ_DIR" && exec setsid "${AS[@]}" "${RMQ_ENV[@]}" "$RMQ_BIN/rabbitmq-server") \
        >>"$RMQ_CONSOLE" 2>&1 </dev/null &
    echo $! >"$PIDS/rabbitmq.pid"
    RMQ_LAUNCHED=$(eh_now)
}

# amqp_login PORT: a whole AMQP 0-9-1 connection as guest (handshake, PLAIN
# login, open the default vhost, close politely): the node has booted and
# takes our credentials, and its log gets no "client unexpectedly closed".
amqp_login() {
    "$PYTHON" - "$1" <<'PY' 2>/dev/null
import socket, struct, sys

def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            sys.exit(1)
        data += chunk
    return data

def method(sock):
    """Reads one frame; returns ((class, method), arguments) of a method frame."""
    ftype, _chan, size = struct.unpack(">BHI", recv_exact(sock, 7))
    body = recv_exact(sock, size + 1)[:-1]
    if ftype != 1:
        sys.exit(1)
    return struct.unpack(">HH", body[:4]), body[4:]

def send(sock, cls, mth, args):
    payload = struct.pack(">HH", cls, mth) + args
    sock.sendall(struct.pack(">BHI", 1, 0, len(payload)) + payload + b"\xce")

def expect(sock, cls, mth):
    got, args = method(sock)
    if got != (cls, mth):
        sys.exit(1)
    return args

with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3) as s:
    s.sendall(b"AMQP\x00\x00\x09\x01")
    expect(s, 10, 10)  # connection.start
    creds = b"\x00guest\x00guest"
    send(s, 10, 11, struct.pack(">I", 0) + b"\x05PLAIN" + struct.pack(">I", len(creds)) + creds + b"\x05en_US")
    chan_max, frame_max, _hb = struct.unpack(">HIH", expect(s, 10, 30)[:8])  # connection.tune
    send(s, 10, 31, struct.pack(">HIH", chan_max, frame_max, 0))  # tune-ok, no heartbeats
    send(s, 10, 40, b"\x01/\x00\x00")  # connection.open "/"
    expect(s, 10, 41)
    send(s, 10, 50, struct.pack(">H", 200) + b"\x00" + struct.pack(">HH", 0, 0))  # connection.close
    expect(s, 10, 51)
PY
}

# What went wrong in a failed boot: the first errors (the cause; the crash
# report after it is long), then the end of both logs.
rmq_explain() {
    eh_first "$RMQ_CONSOLE" '\[error\]|[Ee]rror' 12
    eh_tail "$RMQ_CONSOLE" 15
    eh_tail "$RMQ_LOG_DIR/$RMQ_NODE.log" 15
}

rmq_wait() {
    local deadline
    deadline=$(awk -v a="$RMQ_LAUNCHED" -v s="$RMQ_TIMEOUT" 'BEGIN { printf "%.3f", a + s }')
    until tcp_open "$AMQP_PORT" && amqp_login "$AMQP_PORT"; do
        if ! pid_in "$PIDS/rabbitmq.pid" "$RMQ_DIR" >/dev/null; then
            rmq_explain
            eh_die "RabbitMQ exited during startup"
        fi
        if ! eh_before "$deadline"; then
            rmq_explain
            eh_die "RabbitMQ does not answer on port $AMQP_PORT after ${RMQ_TIMEOUT}s"
        fi
        sleep 0.3
    done
}

rmq_stop() {
    local pid
    # SIGTERM to the node's group is RabbitMQ's graceful shutdown (queues and
    # messages flushed), the same as `rabbitmqctl stop`, without booting a CLI.
    if pid=$(pid_in "$PIDS/rabbitmq.pid" "$RMQ_DIR"); then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    fi
    reap 30 "$RMQ_DIR"
    if pid=$(pid_in "$PIDS/epmd.pid" "$EPMD_DIR"); then
        kill -TERM "$pid" 2>/dev/null || true
    fi
    reap 5 "$EPMD_DIR"
    rm -f "$PIDS/rabbitmq.pid" "$PIDS/epmd.pid"
}

rmq_ctl() {
    rmq_env
    as_user rabbitmq
    (cd "$RMQ_DIR" && exec "${AS[@]}" "${RMQ_ENV[@]}" "$RMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" "$@")
}

# ---------------------------------------------------------------- s3rver

s3_launch() {
    [ -x "$S3RVER" ] || eh_die "$S3RVER is missing: run scripts/deps.sh (make deps)"
    mkdir -p "$S3_DIR/data"
    (cd "$S3_DIR" && exec setsid "$S3RVER" -d "$S3_DIR/data" -a 127.0.0.1 -p "$S3_PORT" \
        --configure-bucket "$S3_BUCKET" --silent) >>"$S3_LOG" 2>&1 </dev/null &
    echo $! >"$PIDS/s3.pid"
    S3_LAUNCHED=$(eh_now)
}

# s3_answers: the bucket answers over HTTP (s3rver lets anonymous GETs list).
s3_answers() {
    local code
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$S3_PORT/$S3_BUCKET") || true
    [ -n "$code" ] && [ "$code" != 000 ] && [ "$code" != 404 ]
}

s3_wait() {
    local deadline
    deadline=$(awk -v a="$S3_LAUNCHED" -v s="$S3_TIMEOUT" 'BEGIN { printf "%.3f", a + s }')
    until s3_answers; do
        if ! pid_in "$PIDS/s3.pid" "$S3_DIR" >/dev/null; then
            eh_tail "$S3_LOG"
            eh_die "s3rver exited during startup"
        fi
        if ! eh_before "$deadline"; then
            eh_tail "$S3_LOG"
            eh_die "s3rver does not answer on port $S3_PORT after ${S3_TIMEOUT}s"
        fi
        sleep 0.2
    done
}

s3_stop() {
    local pid
    if pid=$(pid_in "$PIDS/s3.pid" "$S3_DIR"); then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    fi
    reap 10 "$S3_DIR"
    rm -f "$PIDS/s3.pid"
}

# ---------------------------------------------------------------- commands

write_env() {
    local q
    q=$(printf '%q' "$DIR")
    cat >"$ENV_FILE.tmp" <<EOF
# Written by scripts/services.sh start; source it.
export EH_RUN_DIR=$q
export EH_DATABASE_URL=postgresql://eh@127.0.0.1:$PG_PORT/eh
export EH_AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/
export EH_S3_ENDPOINT=127.0.0.1:$S3_PORT
export EH_S3_BUCKET=$S3_BUCKET
export EH_S3_ACCESS_KEY=$S3_KEY
export EH_S3_SECRET_KEY=$S3_KEY
export EH_PG_PORT=$PG_PORT
export EH_AMQP_PORT=$AMQP_PORT
export EH_S3_PORT=$S3_PORT
export EH_RABBITMQ_PROMETHEUS_PORT=$RMQ_PROM_PORT
export EH_RABBITMQ_NODE=$RMQ_NODE
export EH_EPMD_PORT=$EPMD_PORT
export PGHOST=127.0.0.1
export PGPORT=$PG_PORT
export PGUSER=eh
export PGDATABASE=eh
EOF
    mv -f "$ENV_FILE.tmp" "$ENV_FILE"
}

stop_all() {
    # In parallel: RabbitMQ's graceful stop takes a few seconds by itself.
    # `|| true` keeps a failed stop in one background job from stopping the others.
    s3_stop || true &
    rmq_stop || true &
    pg_stop || true
    wait
    # Anything still running from DIR (a crash left an orphan): end it.
    reap 5 "$PG_DIR" "$RMQ_DIR" "$EPMD_DIR" "$S3_DIR"
}

# A failed `start` leaves nothing running behind it.
STARTING=0
on_exit() {
    local rc=$?
    if [ "$STARTING" -eq 1 ] && [ "$rc" -ne 0 ]; then
        eh_warn "start failed: stopping what was started"
        STARTING=0
        stop_all >/dev/null 2>&1 || true
    fi
    return "$rc"
}

cmd_start() {
    local t0 ports user
    t0=$(eh_now)
    mkdir -p "$DIR"
    # A leftover run (killed test, crashed machine): end it and start afresh.
    if [ -e "$STATE" ] || [ -e "$PG_DIR" ] || [ -e "$RMQ_DIR" ] || [ -e "$S3_DIR" ]; then
        eh_say "cleaning up an earlier run in $DIR"
        stop_all
    fi
    rm -rf "$PG_DIR" "$RMQ_DIR" "$EPMD_DIR" "$S3_DIR" "$PIDS" "$STATE" "$ENV_FILE"
    mkdir -p "$PIDS"
    # The service users must be able to walk into DIR (mktemp -d makes it 0700).
    if is_root; then
        chmod go+x "$DIR"
        for user in postgres rabbitmq; do
            as_user "$user"
            "${AS[@]}" test -x "$DIR" ||
                eh_die "user $user cannot enter $DIR: a parent folder is closed to it (use a DIR under /tmp or the project)"
        done
    fi

    ports=$(free_ports 6) || eh_die "no free ports"
    read -r PG_PORT AMQP_PORT DIST_PORT EPMD_PORT S3_PORT RMQ_PROM_PORT <<<"$ports"
    RMQ_NODE="eh-$AMQP_PORT@localhost"
    cat >"$STATE" <<EOF
PG_PORT=$PG_PORT
AMQP_PORT=$AMQP_PORT
DIST_PORT=$DIST_PORT
EPMD_PORT=$EPMD_PORT
S3_PORT=$S3_PORT
RMQ_PROM_PORT=$RMQ_PROM_PORT
RMQ_NODE=$RMQ_NODE
EOF

    STARTING=1
    # RabbitMQ boots slowest: launch it and s3rver first, set up PostgreSQL
    # meanwhile, then wait for each.
    rmq_init
    rmq_launch
    s3_launch
    pg_init
    pg_launch
    pg_wait
    pg_create_db
    eh_say "postgres  127.0.0.1:$PG_PORT  ready"
    s3_wait
    eh_say "s3rver    127.0.0.1:$S3_PORT  ready (bucket $S3_BUCKET)"
    rmq_wait
    eh_say "rabbitmq  127.0.0.1:$AMQP_PORT  ready (node $RMQ_NODE)"
    write_env
    STARTING=0
    eh_say "all up in $(eh_elapsed "$t0")s; source $ENV_FILE"
}

cmd_stop() {
    if [ ! -d "$DIR" ]; then
        eh_say "$DIR does not exist: nothing to stop"
        return 0
    fi
    if [ -f "$STATE" ]; then
        # shellcheck disable=SC1090
        . "$STATE"
    fi
    stop_all
    eh_say "stopped everything under $DIR"
}

cmd_stop_one() {
    load_state
    case "$1" in
        postgres) pg_stop ;;
        rabbitmq) rmq_stop ;;
        s3) s3_stop ;;
        *) usage ;;
    esac
    eh_say "$1 stopped"
}

cmd_start_one() {
    load_state
    # A service killed with -9 may have left children or a lock file behind:
    # unless its main process is alive, clear up first (keeping the data).
    case "$1" in
        postgres)
            if ! pg_answers; then
                pg_stop
                pg_launch
            fi
            pg_wait
            ;;
        rabbitmq)
            if ! pid_in "$PIDS/rabbitmq.pid" "$RMQ_DIR" >/dev/null; then
                rmq_stop
                rmq_launch
            fi
            RMQ_LAUNCHED=$(eh_now)
            rmq_wait
            ;;
        s3)
            if ! pid_in "$PIDS/s3.pid" "$S3_DIR" >/dev/null; then
                s3_stop
                s3_launch
            fi
            S3_LAUNCHED=$(eh_now)
            s3_wait
            ;;
        *) usage ;;
    esac
    eh_say "$1 running"
}

cmd_status() {
    local bad=0
    load_state
    if pg_answers; then
        echo "postgres  up    127.0.0.1:$PG_PORT"
    else
        echo "postgres  down  127.0.0.1:$PG_PORT"
        bad=1
    fi
    if tcp_open "$AMQP_PORT" && amqp_login "$AMQP_PORT"; then
        echo "rabbitmq  up    127.0.0.1:$AMQP_PORT  node $RMQ_NODE"
    else
        echo "rabbitmq  down  127.0.0.1:$AMQP_PORT  node $RMQ_NODE"
        bad=1
    fi
    if s3_answers; then
        echo "s3        up    127.0.0.1:$S3_PORT"
    else
        echo "s3        down  127.0.0.1:$S3_PORT"
        bad=1
    fi
    return "$bad"
}

main() {
    [ $# -ge 2 ] || usage
    local cmd=$1
    set_dir "$2"
    shift 2
    trap on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    case "$cmd" in
        start) [ $# -eq 0 ] || usage; cmd_start ;;
        stop) [ $# -eq 0 ] || usage; cmd_stop ;;
        stop-one) [ $# -eq 1 ] || usage; cmd_stop_one "$1" ;;
        start-one) [ $# -eq 1 ] || usage; cmd_start_one "$1" ;;
        status) [ $# -eq 0 ] || usage; cmd_status ;;
        rabbitmqctl) load_state; rmq_ctl "$@" ;;
        *) usage ;;
    esac
}

main "$@"
