"""Debian's nginx with the repository's configuration (deploy/nginx/templates/eh.conf.template, rendered
as the official image's entrypoint renders it) in front of a local eh-api: an upload streamed through
unbuffered, a status read, an early 413 from the shared limit, request ids and client addresses passed
on, and a job followed over the WebSocket."""
import asyncio
import json
import os
import re
import shutil
import socket
import tempfile
import time

import pytest
import requests
import websockets

from conftest import REPO, Proc, base_env, free_port, wait_for, wait_job, wait_worker_ready
from metrics_support import metrics_port, parse, scrape, value

TEMPLATE = os.path.join(REPO, "deploy", "nginx", "templates", "eh.conf.template")
TEMPLATE_VARS = ("NGINX_LISTEN", "EH_API_UPSTREAM", "EH_MAX_UPLOAD_BYTES")
LIMIT = 200_000


def render(values):
    """envsubst with only the template's variables, as NGINX_ENVSUBST_FILTER has it in docker-compose.yml."""
    with open(TEMPLATE) as f:
        text = f.read()
    for name in TEMPLATE_VARS:
        text = text.replace("${" + name + "}", str(values[name]))
    assert "${" not in text, "a variable the template uses is not set"
    return text


@pytest.fixture
def nginx(procs, tmp_path):
    """Starts nginx with its own prefix, pid, logs and temp folders; yields a function (api) -> base URL."""
    prefix = tempfile.mkdtemp(prefix="eh-nginx-")
    os.chmod(prefix, 0o755)  # its workers run as nobody when the test runs as root
    started = []

    def start(api):
        port = free_port()
        conf = os.path.join(prefix, "eh.conf")
        with open(conf, "w") as f:
            f.write(render({"NGINX_LISTEN": f"127.0.0.1:{port}", "EH_API_UPSTREAM": f"127.0.0.1:{api.port}",
                            "EH_MAX_UPLOAD_BYTES": LIMIT}))
        temps = ["body", "proxy", "fastcgi", "uwsgi", "scgi"]
        for t in temps:
            os.makedirs(os.path.join(prefix, t), exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(os.path.join(prefix, t), "nobody")
        main = os.path.join(prefix, "nginx.conf")
        with open(main, "w") as f:
            f.write(f"worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log info;\n"
                    f"daemon off;\n{'user nobody nogroup;' if os.geteuid() == 0 else ''}\n"
                    "events { worker_connections 256; }\nhttp {\n" +
                    "".join(f"    {t}_temp_path {prefix}/{t};\n" for t in ("fastcgi", "uwsgi", "scgi", "proxy")) +
                    f"    client_body_temp_path {prefix}/body;\n    include {conf};\n}}\n")
        proc = Proc("nginx", ["/usr/sbin/nginx", "-p", prefix, "-c", main, "-e", f"{prefix}/error.log"],
                    base_env(), tmp_path)
        procs.append(proc)
        started.append(proc)
        base = f"http://127.0.0.1:{port}"

        def up():
            if not proc.alive():
                with open(f"{prefix}/error.log") as f:
                    raise AssertionError(f"nginx exited:\n{f.read()[-3000:]}")
            try:
                return requests.get(base + "/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False
        wait_for(up, 20, what="nginx in front of eh-api")
        return base, port
    yield start
    for p in started:
        p.stop()  # SIGTERM: nginx's fast shutdown, exit 0
    shutil.rmtree(prefix, ignore_errors=True)


def multipart(name, data, boundary="ehtestboundary"):
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/x-ndjson\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def read_response(sock, timeout=10):
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    length = int(headers.get("content-length", "0"))
    deadline = time.monotonic() + timeout
    while len(body) < length and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def lines(n):
    return "".join(json.dumps({"timestamp": "2026-11-21T10:00:00Z", "level": "info", "message": f"line {i}"}) + "\n"
                   for i in range(n)).encode()


def request_lines(api, request_id):
    return [l for l in api.json_lines() if l.get("msg") == "request" and l.get("request_id") == request_id]


def test_upload_status_and_ids_through_nginx(start_api, start_worker, nginx, db):
    api = start_api(EH_TRUSTED_PROXIES="127.0.0.1", EH_MAX_UPLOAD_BYTES=LIMIT)
    worker = start_worker(EH_WORKERS=1)
    wait_worker_ready(worker, 1)
    base, _ = nginx(api)
    r = requests.post(base + "/api/v1/files/upload", files={"file": ("app.jsonl", lines(20))},
                      headers=dict(api.headers, **{"X-Request-Id": "via-nginx-1", "X-Forwarded-For": "198.51.100.7"}),
                      timeout=30)
    assert r.status_code == 202, r.text
    assert r.headers["X-Request-Id"] == "via-nginx-1"
    job_id = r.json()["job_id"]
    assert r.headers["Location"] == f"/api/v1/jobs/{job_id}"
    wait_job(db, job_id, statuses=("completed",))
    status = requests.get(f"{base}/api/v1/jobs/{job_id}", headers=api.headers, timeout=10)
    assert status.status_code == 200 and status.json()["entries_ingested"] == 20
    # The client named by nginx's X-Forwarded-For (the API trusts 127.0.0.1, where nginx connects from).
    line = wait_for(lambda: request_lines(api, "via-nginx-1"), 5)[0]
    assert line["client"] == "198.51.100.7"
    # No id from the client: nginx makes one, the API keeps it and returns it.
    r = requests.get(f"{base}/api/v1/jobs/{job_id}", headers=api.headers, timeout=10)
    assert r.status_code == 200
    rid = r.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid), rid
    assert wait_for(lambda: request_lines(api, rid), 5)[0]["path"] == f"/api/v1/jobs/{job_id}"
    # Errors keep the API's JSON body.
    r = requests.get(f"{base}/api/v1/jobs/not-a-uuid", headers=api.headers, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"]


def test_early_413_from_the_shared_limit(start_api, nginx):
    api = start_api(EH_MAX_UPLOAD_BYTES=LIMIT)
    _, port = nginx(api)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall((f"POST /api/v1/files/upload HTTP/1.1\r\nHost: x\r\nContent-Length: {LIMIT + 1000}\r\n"
                   "Content-Type: multipart/form-data; boundary=b\r\n\r\n").encode())
        t0 = time.monotonic()
        status, headers, body = read_response(s)  # not a byte of the body sent
        assert time.monotonic() - t0 < 5
    assert status == 413
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert str(LIMIT) in json.loads(body)["error"]["message"]


def test_upload_streams_through_unbuffered(start_api, start_worker, nginx, db):
    """eh-api sees the upload while its body is still arriving (proxy_request_buffering off)."""
    api = start_api(EH_MAX_UPLOAD_BYTES=LIMIT)
    _, port = nginx(api)
    mport = metrics_port(api, "ready")
    body, ctype = multipart("app.jsonl", lines(500))
    assert len(body) < LIMIT
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall((f"POST /api/v1/files/upload HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                   f"Authorization: {api.headers['Authorization']}\r\n"
                   f"Content-Type: {ctype}\r\n\r\n").encode() + body[:len(body) // 2])
        wait_for(lambda: value(parse(scrape(mport)), "eh_http_requests_in_flight") == 1, 10,
                 what="the upload in eh-api before its body ended")
        s.sendall(body[len(body) // 2:])
        status, _, answer = read_response(s, timeout=30)
    assert status == 202, answer
    assert json.loads(answer)["lines_total"] == 500


def test_websocket_follow_through_nginx(start_api, start_worker, nginx, db):
    api = start_api()
    worker = start_worker(EH_WORKERS=1, EH_LINE_DELAY_MAX_MS=20)
    wait_worker_ready(worker, 1)
    base, port = nginx(api)
    r = requests.post(base + "/api/v1/files/upload", files={"file": ("app.jsonl", lines(60))}, headers=api.headers,
                      timeout=30)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]

    events = []

    async def follow():
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/jobs/{job_id}", open_timeout=20,
                                      extra_headers=api.headers) as ws:
            async for msg in ws:
                events.append(json.loads(msg))
        return events, ws.close_code
    try:
        events, code = asyncio.run(asyncio.wait_for(follow(), 60))
    except asyncio.TimeoutError:
        raise AssertionError(f"no end after 60 s; events: {[e.get('event') for e in events]}\n"
                             f"{api.output()[-3000:]}")
    assert code == 1000
    assert events[0]["event"] == "snapshot"
    assert events[-1]["status"] == "completed" and events[-1]["entries_ingested"] == 60
    assert any(e["event"] == "progress" for e in events), [e["event"] for e in events]
