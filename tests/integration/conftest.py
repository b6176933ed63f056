"""Shared fixtures for the integration tests.

The services (PostgreSQL, RabbitMQ, s3rver) are started once per run by
scripts/test.sh, which exports their addresses as EH_* variables; the
migrations are applied by then. Each test starts the binaries it needs with
the environment it wants, against a clean database and clean queues.

Identity (issue 10): eh-api runs with EH_AUTH on, as in production. Every
test gets a tenant with a write and a read key (fixture `tenant`), and every
eh-api started by `start_api` knows it:
  api.key / api.read_key       the tenant's keys
  api.headers                  {"Authorization": "Bearer <write key>"}
  api.session                  a requests.Session sending api.headers
  api.tenant                   the Tenant (id, name, write_key, read_key, headers(scope))
  api.admin_headers            the EH_ADMIN_TOKEN bearer for /api/v1/admin/*
  make_tenant(name=None)       another tenant (isolation tests), a Tenant
  auth_headers(api_or_port)    the default key's header for that eh-api (raw sockets, http.client)
Any `requests` call to a started eh-api that sets no Authorization header
itself carries the test tenant's write key (see _default_key_for), so tests
written without keys in mind keep working; to send none, pass
headers={"Authorization": None}. start_api turns the per-key rate limit and
the tenant quota off (EH_RATE_LIMIT_RPS=0, EH_TENANT_MAX_ACTIVE_JOBS=0)
unless the test sets them.
"""
import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import uuid

import pika
import psycopg2
import pytest
import requests
import secrets

import openapi_check
from openapi_check import response_validation_off  # noqa: F401  (for tests: `from conftest import ...`)

REPO = os.environ.get("EH_REPO_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN_DIR = os.environ.get("EH_TEST_BIN_DIR", os.path.join(REPO, "build", "asan", "bin"))
RUN_DIR = os.environ.get("EH_RUN_DIR", "")
SERVICES = os.path.join(REPO, "scripts", "services.sh")

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "WARNING: ThreadSanitizer")

ADMIN_TOKEN = "test-admin-" + secrets.token_urlsafe(24)

# Every secret the tests made (keys, their SHA-256 in hex, the admin token): no log of any binary started
# by a test may contain one (checked at the end of every test, in `procs`). remember_secret() adds keys a
# test gets from the admin endpoint or eh-admin.
SECRETS = {ADMIN_TOKEN}


def remember_secret(key):
    SECRETS.add(key)
    SECRETS.add(hashlib.sha256(key.encode()).hexdigest())
    return key

SERVICE_ENV_KEYS = ("EH_DATABASE_URL", "EH_AMQP_URL", "EH_S3_ENDPOINT", "EH_S3_BUCKET", "EH_S3_ACCESS_KEY",
                    "EH_S3_SECRET_KEY")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=30.0, interval=0.05, what="condition"):
    """Polls predicate until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")


def base_env(**overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EH_") or k in SERVICE_ENV_KEYS}
    env.update({
        "EH_LOG_LEVEL": "info",
        "EH_LINE_DELAY_MAX_MS": "0",
        # Tests run side by side: the /metrics listeners take a free port (logged as metrics_port).
        "EH_API_METRICS_ADDR": "127.0.0.1:0",
        "EH_WORKER_METRICS_ADDR": "127.0.0.1:0",
        "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=66",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        "LSAN_OPTIONS": "suppressions=" + os.path.join(REPO, "tests", "lsan.supp"),
    })
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class Proc:
    """A binary of the project started with its own log file."""

    def __init__(self, name, args, env, log_dir):
        self.name = name
        self.log_path = os.path.join(str(log_dir), f"{name}-{uuid.uuid4().hex[:8]}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=REPO)
        self.pid = self.proc.pid
        self.exit_checked = False  # set once the test stopped the process and saw its exit itself
        self.expected_exit = 0     # an exit code the test expects the process to end with on its own

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, sig=None, timeout=30.0):
        """Stops the process and returns its exit code (negative: killed by a signal)."""
        if sig is None:  # not a default argument: in the class body `signal` is the method above
            sig = signal.SIGTERM
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait()
                raise AssertionError(f"{self.name} did not stop within {timeout}s after {sig!r}")
        self.log.close()
        self.exit_checked = True
        return self.proc.returncode

    def kill_group(self):
        """Hard stop of the process and everything it forked (test cleanup only)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.log.close()
        self.exit_checked = True

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def json_lines(self):
        lines = []
        for line in self.output().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
        return lines

    def sanitizer_reports(self):
        text = self.output()
        return [m for m in SANITIZER_MARKS if m in text]


# Ports of the eh-api processes the tests started: their responses are checked against the OpenAPI document.
API_PORTS = set()
# ---- identity: tenants and keys for the tests -----------------------------------------------------

def new_key_text():
    """A key in the format of common/apikey.h: eh_<12 hex>_<43 base64url>, and its prefix."""
    prefix = secrets.token_hex(6)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return f"eh_{prefix}_{secret}", prefix


def insert_key(conn, tenant_id, scope):
    """Stores a new key of the tenant as eh-admin does (prefix + SHA-256); returns (key_id, key)."""
    key, prefix = new_key_text()
    key_id = str(uuid.uuid4())
    remember_secret(key)
    query(conn, "INSERT INTO api_keys (id, tenant_id, prefix, hash, scope) VALUES (%s, %s, %s, %s, %s)",
          key_id, tenant_id, prefix, psycopg2.Binary(hashlib.sha256(key.encode()).digest()), scope)
    return key_id, key


class Tenant:
    """A tenant with one write and one read key."""

    def __init__(self, conn, name=None):
        self.name = name or "t-" + uuid.uuid4().hex[:12]
        self.id = str(uuid.uuid4())
        query(conn, "INSERT INTO tenants (id, name) VALUES (%s, %s)", self.id, self.name)
        self.write_key_id, self.write_key = insert_key(conn, self.id, "write")
        self.read_key_id, self.read_key = insert_key(conn, self.id, "read")

    def headers(self, scope="write"):
        return {"Authorization": "Bearer " + (self.write_key if scope == "write" else self.read_key)}

    def session(self, scope="write"):
        s = requests.Session()
        s.headers.update(self.headers(scope))
        return s


@pytest.fixture
def make_tenant():
    """make_tenant(name=None) -> Tenant: more tenants for isolation tests."""
    conn = db_connect()
    yield lambda name=None: Tenant(conn, name)
    conn.close()


@pytest.fixture
def tenant(make_tenant):
    """The test's own tenant; every eh-api of start_api sends its write key by default."""
    return make_tenant()


# "127.0.0.1:port" of every running eh-api of the test -> the key its requests carry by default.
_DEFAULT_KEYS = {}


def _default_key_for(url):
    m = re.match(r"^(?:http|ws)://([^/]+)", url or "")
    return _DEFAULT_KEYS.get(m.group(1)) if m else None


def auth_headers(api_or_port):
    """{"Authorization": "Bearer <key>"} of the test tenant for a started eh-api (or its port)."""
    port = api_or_port if isinstance(api_or_port, int) else api_or_port.port
    key = _DEFAULT_KEYS.get(f"127.0.0.1:{port}")
    return {"Authorization": f"Bearer {key}"} if key else {}


_requests_request = requests.sessions.Session.request


def _request_with_default_key(self, method, url, *args, **kwargs):
    headers = kwargs.get("headers") or {}
    has_auth = any(k.lower() == "authorization" for k in list(headers) + list(self.headers))
    key = _default_key_for(url)
    if key and not has_auth and kwargs.get("auth") is None:
        kwargs["headers"] = dict(headers, Authorization=f"Bearer {key}")
    return _requests_request(self, method, url, *args, **kwargs)


requests.sessions.Session.request = _request_with_default_key


class Api(Proc):
    def __init__(self, env, log_dir, tenant=None):
        self.port = int(env["EH_HTTP_PORT"])
        API_PORTS.add(self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.tenant = tenant
        self.key = tenant.write_key if tenant else None
        self.read_key = tenant.read_key if tenant else None
        self.headers = tenant.headers("write") if tenant else {}
        self.session = requests.Session()
        self.session.headers.update(self.headers)
        self.admin_headers = {"Authorization": "Bearer " + env.get("EH_ADMIN_TOKEN", "")}
        if self.key:
            _DEFAULT_KEYS[f"127.0.0.1:{self.port}"] = self.key
        super().__init__("eh-api", [os.path.join(BIN_DIR, "eh-api")], env, log_dir)

    def wait_ready(self, timeout=30.0):
        def up():
            if not self.alive():
                raise AssertionError(f"eh-api exited early:\n{self.output()[-4000:]}")
            try:
                return requests.get(self.url + "/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False
        wait_for(up, timeout, what="eh-api /healthz")
        return self


def pytest_configure(config):
    config.addinivalue_line("markers", "no_response_validation: this test's requests to eh-api are not checked "
                                       "against the OpenAPI document (malformed requests on purpose)")


_original_send = requests.Session.send


def _validating_send(self, request, **kwargs):
    """requests.Session.send, plus the OpenAPI check of every answer eh-api gives (openapi_check.py)."""
    resp = _original_send(self, request, **kwargs)
    url = urllib.parse.urlsplit(request.url)
    if openapi_check.enabled() and url.hostname in ("127.0.0.1", "localhost") and url.port in API_PORTS:
        streamed = kwargs.get("stream", False)
        openapi_check.check(request.method, url.path, resp.status_code, resp.headers,
                            b"" if streamed else resp.content, not streamed)
    return resp


@pytest.fixture(scope="session", autouse=True)
def openapi_response_validation():
    """Session-wide: every requests call to an eh-api of the tests is validated against api/openapi.json."""
    openapi_check.load(os.path.join(REPO, "api", "openapi.json"))
    requests.Session.send = _validating_send
    yield
    requests.Session.send = _original_send


@pytest.fixture(autouse=True)
def _response_validation_opt_out(request):
    if request.node.get_closest_marker("no_response_validation") is None:
        yield
        return
    with response_validation_off():
        yield


def leaked_secrets(text):
    """The test secrets (keys, key hashes, the admin token) that appear in text."""
    lowered = text.lower()
    return [x for x in SECRETS if x in text or (len(x) == 64 and x in lowered)]


@pytest.fixture
def procs(tmp_path):
    """Every binary a test starts; all are stopped at the end and checked for sanitizer reports."""
    started = []
    yield started
    problems = []
    for p in started:
        if p.alive():
            code = p.stop(timeout=30)
            if code not in (0,):
                problems.append(f"{p.name} exited with {code} at teardown")
        else:
            p.log.close()
            # A binary that died on its own (crash, abort, fatal start-up) fails the test unless the test
            # stopped or killed it itself (Proc.stop / kill_group) or declared the exit it expected.
            code = p.proc.returncode
            if not p.exit_checked and code != 0 and code != p.expected_exit:
                problems.append(f"{p.name} exited by itself with {code}:\n{p.output()[-4000:]}")
        reports = p.sanitizer_reports()
        if reports:
            problems.append(f"{p.name}: sanitizer report {reports}:\n{p.output()[-6000:]}")
        leaked = leaked_secrets(p.output())
        if leaked:
            problems.append(f"{p.name}: its log holds {len(leaked)} key(s), hash(es) or token(s)")
    assert not problems, "\n".join(problems)


@pytest.fixture
def start_api(procs, tmp_path, tenant):
    def start(wait=True, **overrides):
        overrides.setdefault("EH_HTTP_PORT", free_port())
        overrides.setdefault("EH_SPOOL_DIR", str(tmp_path))
        overrides.setdefault("EH_ADMIN_TOKEN", ADMIN_TOKEN)
        overrides.setdefault("EH_RATE_LIMIT_RPS", 0)
        overrides.setdefault("EH_TENANT_MAX_ACTIVE_JOBS", 0)
        api = Api(base_env(**overrides), tmp_path, tenant)
        procs.append(api)
        return api.wait_ready() if wait else api
    yield start
    _DEFAULT_KEYS.clear()


@pytest.fixture
def start_worker(procs, tmp_path):
    def start(**overrides):
        overrides.setdefault("EH_WORKERS", 1)
        overrides.setdefault("EH_LEASE_MS", 5000)
        overrides.setdefault("EH_REAPER_INTERVAL_MS", 500)
        overrides.setdefault("EH_BATCH_MS", 200)
        w = Proc("eh-worker", [os.path.join(BIN_DIR, "eh-worker")], base_env(**overrides), tmp_path)
        procs.append(w)
        return w
    return start


def db_connect():
    conn = psycopg2.connect(os.environ["EH_DATABASE_URL"])
    conn.autocommit = True
    return conn


@pytest.fixture
def db():
    conn = db_connect()
    yield conn
    conn.close()


def query(conn, sql, *params):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else None


def amqp_params():
    return pika.URLParameters(os.environ["EH_AMQP_URL"])


def queue_depth(name):
    conn = pika.BlockingConnection(amqp_params())
    try:
        ch = conn.channel()
        return ch.queue_declare(queue=name, passive=True).method.message_count
    finally:
        conn.close()


def queue_get_all(name):
    """Takes every message off a queue (acked) and returns the bodies."""
    conn = pika.BlockingConnection(amqp_params())
    bodies = []
    try:
        ch = conn.channel()
        while True:
            method, _, body = ch.basic_get(queue=name, auto_ack=True)
            if method is None:
                return bodies
            bodies.append(body)
    finally:
        conn.close()


def purge_queues():
    try:
        conn = pika.BlockingConnection(amqp_params())
    except pika.exceptions.AMQPError:
        return
    try:
        ch = conn.channel()
        for q in ("eh.jobs", "eh.jobs.dead"):
            try:
                ch.queue_purge(q)
            except pika.exceptions.ChannelClosedByBroker:
                ch = conn.channel()  # not declared yet: nothing to purge
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def clean_state():
    """Every test starts with no jobs, no entries and empty queues."""
    conn = db_connect()
    query(conn, "TRUNCATE jobs, log_entries, job_errors, job_purges, idempotency_keys")
    query(conn, "DELETE FROM api_keys")
    query(conn, "DELETE FROM tenants WHERE id <> '00000000-0000-0000-0000-000000000000'")
    conn.close()
    purge_queues()
    yield


@pytest.fixture
def services():
    """Stops and starts one local service, keeping its data and port (fault tests)."""
    class Services:
        def stop(self, name):
            subprocess.run([SERVICES, "stop-one", RUN_DIR, name], check=True, stdout=subprocess.DEVNULL)

        def start(self, name):
            subprocess.run([SERVICES, "start-one", RUN_DIR, name], check=True, stdout=subprocess.DEVNULL)

    s = Services()
    stopped = []
    orig_stop = s.stop

    def tracking_stop(name):
        orig_stop(name)
        stopped.append(name)
    s.stop = tracking_stop
    yield s
    # A failed test must not leave a service down for the next one.
    for name in stopped:
        subprocess.run([SERVICES, "start-one", RUN_DIR, name], check=False, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def upload(api, name, data, field="file", content_type="application/x-ndjson", timeout=60, headers=None):
    """POSTs a file as the test tenant (api.headers) unless headers says otherwise."""
    if isinstance(data, str):
        data = data.encode()
    return requests.post(api.url + "/api/v1/files/upload", files={field: (name, data, content_type)},
                         timeout=timeout, headers=headers if headers is not None else api.headers)


def job_row(conn, job_id):
    rows = query(conn, "SELECT status, lines_total, lines_processed, entries_ingested, lines_invalid, attempts, "
                       "lease_owner, error FROM jobs WHERE id = %s", job_id)
    if not rows:
        return None
    keys = ("status", "lines_total", "lines_processed", "entries_ingested", "lines_invalid", "attempts",
            "lease_owner", "error")
    return dict(zip(keys, rows[0]))


def wait_job(conn, job_id, statuses=("completed", "failed"), timeout=60.0):
    def done():
        row = job_row(conn, job_id)
        return row if row and row["status"] in statuses else None
    return wait_for(done, timeout, interval=0.1, what=f"job {job_id} in {statuses}")


def log_line(i, level="info", service="svc", **extra):
    entry = {"timestamp": f"2026-11-21T10:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z", "level": level,
             "service": service, "message": f"line {i}"}
    entry.update(extra)
    return json.dumps(entry)


def lease_pid(owner):
    """The pid in a lease owner "<host>:<pid>:<nonce>"."""
    m = re.match(r"^[^:]*:(\d+):", owner or "")
    return int(m.group(1)) if m else None


# ---- worker tests: jobs made without the api ---------------------------------
# The worker tests insert the job row, store the object and publish the message
# themselves, as eh-api does (row first, then the object, then the message).

def count_lines(data):
    """lines_total as the contract counts it: newline-terminated lines plus a final non-empty piece."""
    if isinstance(data, str):
        data = data.encode()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _s3_request(method, key, data=b"", content_type="", query=""):
    """One request to the S3 server, signed with AWS signature v2 (what libs3 and s3rver speak)."""
    import base64
    import email.utils
    import hashlib
    import hmac
    bucket = os.environ["EH_S3_BUCKET"]
    date = email.utils.formatdate(usegmt=True)
    # The date goes in x-amz-date (signed as an amz header, Date line empty), which s3rver reads.
    resource = f"/{bucket}/{key}" if key else f"/{bucket}"  # key "": the bucket itself (listing)
    to_sign = f"{method}\n\n{content_type}\n\nx-amz-date:{date}\n{resource}"
    sig = base64.b64encode(hmac.new(os.environ["EH_S3_SECRET_KEY"].encode(), to_sign.encode(),
                                    hashlib.sha1).digest()).decode()
    headers = {"x-amz-date": date, "Authorization": f"AWS {os.environ['EH_S3_ACCESS_KEY']}:{sig}"}
    if content_type:
        headers["Content-Type"] = content_type
    url = f"http://{os.environ['EH_S3_ENDPOINT']}{resource}" + (f"?{query}" if query else "")
    return requests.request(method, url, data=data, headers=headers, timeout=60)


def s3_put(key, data):
    if isinstance(data, str):
        data = data.encode()
    r = _s3_request("PUT", key, data, "application/octet-stream")
    assert r.status_code == 200, (r.status_code, r.text)


def s3_delete(key):
    r = _s3_request("DELETE", key)
    assert r.status_code in (200, 204), (r.status_code, r.text)


def s3_get(key):
    """The object's bytes, or None when there is no such object."""
    r = _s3_request("GET", key)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, (r.status_code, r.text)
    return r.content


def s3_keys(prefix="uploads/"):
    """Keys of the bucket under prefix (the query string is not part of what signature v2 signs)."""
    r = _s3_request("GET", "", query="prefix=" + prefix + "&max-keys=1000")
    assert r.status_code == 200, (r.status_code, r.text)
    return set(re.findall(r"<Key>([^<]+)</Key>", r.text))


def declare_topology(ch):
    """The same declarations as eh_mq_declare_topology (arguments must match exactly)."""
    ch.exchange_declare("eh.jobs.dlx", exchange_type="fanout", durable=True)
    ch.queue_declare("eh.jobs.dead", durable=True)
    ch.queue_bind("eh.jobs.dead", "eh.jobs.dlx")
    ch.queue_declare("eh.jobs", durable=True, arguments={"x-dead-letter-exchange": "eh.jobs.dlx"})
    ch.exchange_declare("eh.progress", exchange_type="topic", durable=True)


def publish_job_message(body):
    """Publishes a raw job message (str or bytes) to eh.jobs, persistent."""
    if isinstance(body, str):
        body = body.encode()
    conn = pika.BlockingConnection(amqp_params())
    try:
        ch = conn.channel()
        declare_topology(ch)
        ch.confirm_delivery()
        ch.basic_publish("", "eh.jobs", body,
                         pika.BasicProperties(delivery_mode=2, content_type="application/json"))
    finally:
        conn.close()


def create_job(conn, data, file_name="app.jsonl", store=True, publish=True, tenant_id=None):
    """Inserts a queued job for data, stores its object, publishes its message; returns the job id."""
    if isinstance(data, str):
        data = data.encode()
    job_id = str(uuid.uuid4())
    key = f"uploads/{job_id}.jsonl"
    query(conn, "INSERT INTO jobs (id, file_name, object_key, size_bytes, lines_total, tenant_id) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
          job_id, file_name, key, len(data), count_lines(data), tenant_id or "00000000-0000-0000-0000-000000000000")
    if store:
        s3_put(key, data)
    if publish:
        publish_job_message(json.dumps({"job_id": job_id, "object_key": key}))
        query(conn, "UPDATE jobs SET published_at = now() WHERE id = %s", job_id)
    return job_id


def entries_of(conn, job_id):
    """{line_no: (ts, level, service, message, attributes)} of the job's log_entries."""
    rows = query(conn, "SELECT line_no, ts, level, service, message, attributes FROM log_entries "
                       "WHERE job_id = %s ORDER BY line_no", job_id)
    return {r[0]: r[1:] for r in rows}


def errors_of(conn, job_id):
    """{line_no: reason} of the job's job_errors."""
    return dict(query(conn, "SELECT line_no, reason FROM job_errors WHERE job_id = %s ORDER BY line_no", job_id))


class EventListener:
    """Collects the job events published on eh.progress (an exclusive queue bound to job.#)."""

    def __init__(self):
        self.conn = pika.BlockingConnection(amqp_params())
        self.ch = self.conn.channel()
        declare_topology(self.ch)
        self.queue = self.ch.queue_declare("", exclusive=True, auto_delete=True).method.queue
        self.ch.queue_bind(self.queue, "eh.progress", routing_key="job.#")
        self.events = []

    def drain(self):
        while True:
            method, _, body = self.ch.basic_get(self.queue, auto_ack=True)
            if method is None:
                return self.events
            self.events.append((method.routing_key, json.loads(body)))

    def of(self, job_id):
        self.drain()
        return [e for key, e in self.events if key == f"job.{job_id}"]

    def close(self):
        try:
            self.conn.close()
        except pika.exceptions.AMQPError:
            pass


@pytest.fixture
def events():
    listener = EventListener()
    yield listener
    listener.close()


def worker_children(worker):
    """Pids of the processes eh-worker forked (its consumers and its reaper)."""
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(worker.pid)], capture_output=True, text=True,
                             check=False).stdout
    except OSError:
        return []
    return [int(p) for p in out.split()]


def wait_worker_ready(worker, count, timeout=30.0):
    """Waits until `count` consumers logged "worker started" and connected to the broker."""
    def ready():
        if not worker.alive():
            raise AssertionError(f"eh-worker exited early:\n{worker.output()[-4000:]}")
        lines = worker.json_lines()
        return sum(1 for l in lines if l.get("msg") == "connected to the broker" and
                   l.get("component") == "worker") >= count
    wait_for(ready, timeout, what=f"{count} worker(s) connected")
