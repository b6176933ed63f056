"""eh-api against the real services: upload, status, errors, health, HTTP behaviour.

No worker runs here, so every message the api publishes stays on eh.jobs and
can be counted. The re-publisher is pushed far out (EH_REPUBLISH_AFTER_MS)
unless a test is about it, so that it adds no message of its own.
"""
import concurrent.futures
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid

import pika
import pytest
import requests

from conftest import (BIN_DIR, amqp_params, auth_headers, base_env, job_row, query, queue_get_all, s3_get, s3_keys,
                      upload, wait_for)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
QUIET = {"EH_REPUBLISH_AFTER_MS": 600000}


def line(i, **extra):
    entry = {"timestamp": f"2026-11-21T10:00:{i % 60:02d}Z", "level": "info", "message": f"line {i}"}
    entry.update(extra)
    return json.dumps(entry)


def jobs_depth():
    """Messages on eh.jobs; 0 while the queue has not been declared yet."""
    conn = pika.BlockingConnection(amqp_params())
    try:
        return conn.channel().queue_declare(queue="eh.jobs", passive=True).method.message_count
    except pika.exceptions.ChannelClosedByBroker:
        return 0
    finally:
        if conn.is_open:
            conn.close()


def job_messages():
    return [json.loads(b) for b in queue_get_all("eh.jobs")]


def assert_error(resp, status, code=None):
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert set(body) >= {"error"}
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body


@pytest.fixture
def spool(tmp_path):
    d = tmp_path / "spool"
    d.mkdir()
    return d


@pytest.fixture
def api(start_api, spool):
    return start_api(EH_SPOOL_DIR=str(spool), **QUIET)


# ---- upload: the happy path --------------------------------------------------------------------------

def test_small_upload_is_accepted_stored_recorded_and_queued(api, db):
    data = (line(1) + "\n\n" + line(2) + "\r\n" + line(3)).encode()  # a blank line, CRLF, no final newline
    r = upload(api, "app.jsonl", data)
    assert r.status_code == 202, r.text
    body = r.json()
    job_id = body["job_id"]
    assert UUID_RE.match(job_id)
    assert r.headers["Location"] == f"/api/v1/jobs/{job_id}"
    assert r.headers["Server"] == "event-horizon"
    assert set(body) == {"job_id", "status", "file_name", "size_bytes", "lines_total", "created_at", "links"}
    assert body["status"] == "queued"
    assert body["file_name"] == "app.jsonl"
    assert body["size_bytes"] == len(data)
    assert body["lines_total"] == 4
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", body["created_at"])
    assert body["links"] == {"self": f"/api/v1/jobs/{job_id}", "ws": f"/ws/jobs/{job_id}"}

    assert s3_get(f"uploads/{job_id}.jsonl") == data
    row = job_row(db, job_id)
    assert row["status"] == "queued" and row["lines_total"] == 4
    (file_name, key, size, published), = query(
        db, "SELECT file_name, object_key, size_bytes, published_at IS NOT NULL FROM jobs WHERE id = %s", job_id)
    assert (file_name, key, size, published) == ("app.jsonl", f"uploads/{job_id}.jsonl", len(data), True)
    # The upload's request id rides along to the worker.
    assert job_messages() == [{"job_id": job_id, "object_key": f"uploads/{job_id}.jsonl",
                               "request_id": r.headers["X-Request-Id"]}]


@pytest.mark.parametrize("name,data,lines", [
    ("a.NDJSON", line(1) + "\n", 1),
    ("b.JsonL", "\ufeff" + line(1) + "\n" + line(2) + "\n", 2),  # a UTF-8 BOM is accepted
    ("c.jsonl", "\n  \n" + line(1), 3),                          # blank lines before the first object
])
def test_accepted_variants_count_lines(api, db, name, data, lines):
    r = upload(api, name, data)
    assert r.status_code == 202, r.text
    assert r.json()["lines_total"] == lines
    assert r.json()["file_name"] == name
    assert job_row(db, r.json()["job_id"])["lines_total"] == lines


def test_file_name_is_sanitised_and_never_used_for_the_key(api, db):
    before = s3_keys()
    r = upload(api, "../../etc/passwd.jsonl", line(1))
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert r.json()["file_name"] == "passwd.jsonl"
    assert s3_keys() - before == {f"uploads/{job_id}.jsonl"}

    long_name = "x" * 1000 + ".jsonl"
    r = upload(api, long_name, line(1))
    assert r.status_code == 202, r.text
    stored = r.json()["file_name"]
    assert len(stored.encode()) <= 255 and stored.endswith(".jsonl") and stored.startswith("xxx")
    job2 = r.json()["job_id"]
    assert query(db, "SELECT file_name FROM jobs WHERE id = %s", job2) == [(stored,)]
    assert s3_keys() - before == {f"uploads/{job_id}.jsonl", f"uploads/{job2}.jsonl"}

    r = upload(api, "..\\..\\windows\\évé.jsonl", line(1))
    assert r.status_code == 202, r.text
    assert r.json()["file_name"] == "évé.jsonl"


def test_fifty_concurrent_uploads_get_distinct_jobs(api, db):
    before = s3_keys()
    def one(i):
        return upload(api, f"f{i}.jsonl", line(i) + "\n")
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    assert [r.status_code for r in results] == [202] * 50, [r.text for r in results if r.status_code != 202]
    ids = {r.json()["job_id"] for r in results}
    assert len(ids) == 50
    assert query(db, "SELECT count(*) FROM jobs WHERE status = 'queued'") == [(50,)]
    assert {m["job_id"] for m in job_messages()} == ids
    assert s3_keys() - before == {f"uploads/{i}.jsonl" for i in ids}


# ---- upload: refused inputs leave nothing behind --------------------------------------------------------

def multipart(parts, boundary="XbOuNdArY"):
    out = b""
    for headers, payload in parts:
        out += f"--{boundary}\r\n".encode() + headers.encode() + b"\r\n\r\n" + payload + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def file_part(name, payload, field="file"):
    return (f'Content-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream", payload)


def post_raw(api, body, content_type):
    return requests.post(api.url + "/api/v1/files/upload", data=body, headers={"Content-Type": content_type},
                         timeout=30)


def bad_cases():
    ok = (line(1) + "\n").encode()
    yield "wrong extension", 415, lambda a: upload(a, "app.log", ok)
    yield "no extension", 415, lambda a: upload(a, "jsonl", ok)
    yield "binary content", 415, lambda a: upload(a, "bin.jsonl", b'{"a":1}\n\x00\x01\x02')
    yield "first line not an object", 415, lambda a: upload(a, "x.jsonl", b"[1,2]\n" + ok)
    yield "first line not json", 415, lambda a: upload(a, "x.jsonl", b"hello world\n" + ok)
    yield "only blank lines", 415, lambda a: upload(a, "x.jsonl", b"\n\n  \n")
    yield "empty file", 400, lambda a: upload(a, "empty.jsonl", b"")
    yield "missing field", 400, lambda a: upload(a, "app.jsonl", ok, field="document")
    yield "field without file name", 400, lambda a: post_raw(a, *multipart(
        [('Content-Disposition: form-data; name="file"', ok)]))
    yield "two files", 400, lambda a: post_raw(a, *multipart([file_part("a.jsonl", ok), file_part("b.jsonl", ok)]))
    yield "truncated multipart", 400, lambda a: post_raw(
        a, multipart([file_part("a.jsonl", ok)])[0][:-30], multipart([])[1])
    yield "no boundary", 400, lambda a: post_raw(a, b"whatever", "multipart/form-data")
    yield "not multipart", 415, lambda a: requests.post(a.url + "/api/v1/files/upload", data=ok,
                                                        headers={"Content-Type": "application/x-ndjson"})
    yield "no content type", 415, lambda a: requests.post(a.url + "/api/v1/files/upload", data=ok)


@pytest.mark.parametrize("what,status,send", list(bad_cases()), ids=[c[0] for c in bad_cases()])
def test_bad_input_is_refused_and_leaves_nothing(api, db, spool, what, status, send):
    before = s3_keys()
    r = send(api)
    assert_error(r, status)
    assert query(db, "SELECT count(*) FROM jobs") == [(0,)]
    assert s3_keys() == before
    assert jobs_depth() == 0
    assert os.listdir(spool) == []


def test_oversized_by_declared_length_is_refused_before_the_body(start_api, db, spool):
    api = start_api(EH_SPOOL_DIR=str(spool), EH_MAX_UPLOAD_BYTES=100000, **QUIET)
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as s:
        s.sendall(b"POST /api/v1/files/upload HTTP/1.1\r\nHost: x\r\n" + f"Authorization: Bearer {api.key}\r\n".encode() +
                  b"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 10000000\r\n\r\n")
        # Not one byte of the body is sent: the answer must come anyway.
        s.settimeout(10)
        head = s.recv(4096).decode()
    assert head.startswith("HTTP/1.1 413 "), head
    body = json.loads(head.split("\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "payload_too_large"
    assert query(db, "SELECT count(*) FROM jobs") == [(0,)]


def test_oversized_chunked_body_is_cut_short(start_api, db, spool):
    api = start_api(EH_SPOOL_DIR=str(spool), EH_MAX_UPLOAD_BYTES=100000, **QUIET)
    before = s3_keys()
    sent = [0]
    total = 5000 * 1000

    def body():
        head = file_part("big.jsonl", b"")[0].encode()
        yield b"--BoUnDaRy\r\n" + head + b"\r\n\r\n"
        row = (line(1, pad="x" * 900) + "\n").encode()
        while sent[0] < total:
            sent[0] += len(row)
            yield row
        yield b"\r\n--BoUnDaRy--\r\n"
    r = requests.post(api.url + "/api/v1/files/upload", data=body(),
                      headers={"Content-Type": "multipart/form-data; boundary=BoUnDaRy"}, timeout=30)
    assert_error(r, 413, "payload_too_large")
    assert query(db, "SELECT count(*) FROM jobs") == [(0,)]
    assert s3_keys() == before and jobs_depth() == 0
    refused = [l for l in api.json_lines() if l.get("code") == "payload_too_large"]
    assert refused and refused[0]["body_bytes"] < 1000000, refused  # it stopped reading near the limit


def test_file_exactly_at_the_limit_is_accepted(start_api, spool):
    data = (line(1, pad="y" * 200) + "\n").encode()
    api = start_api(EH_SPOOL_DIR=str(spool), EH_MAX_UPLOAD_BYTES=len(data), **QUIET)
    assert upload(api, "a.jsonl", data).status_code == 202
    assert_error(upload(api, "a.jsonl", data + b"\n"), 413, "payload_too_large")


# ---- status and errors --------------------------------------------------------------------------------

def test_job_status(api, db):
    r = requests.get(api.url + "/api/v1/jobs/not-a-uuid")
    assert_error(r, 400)
    assert_error(requests.get(api.url + f"/api/v1/jobs/{uuid.uuid4()}"), 404, "job_not_found")
    job_id = upload(api, "app.jsonl", line(1) + "\n" + line(2) + "\n").json()["job_id"]
    r = requests.get(api.url + f"/api/v1/jobs/{job_id}")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"job_id", "file_name", "size_bytes", "status", "progress", "lines_total", "lines_processed",
                         "entries_ingested", "lines_invalid", "created_at", "started_at", "completed_at", "error"}
    assert body["job_id"] == job_id and body["status"] == "queued" and body["progress"] == 0.0
    assert body["lines_total"] == 2 and body["started_at"] is None and body["error"] is None
    # progress follows lines_processed / lines_total
    query(db, "UPDATE jobs SET status = 'processing', lines_processed = 1, started_at = now() WHERE id = %s", job_id)
    body = requests.get(api.url + f"/api/v1/jobs/{job_id.upper()}").json()
    assert body["status"] == "processing" and body["progress"] == 50.0 and body["started_at"] is not None


def test_job_errors_paging(api, db):
    job_id = upload(api, "app.jsonl", line(1) + "\n").json()["job_id"]
    for n in (9, 3, 7, 1, 5):
        query(db, "INSERT INTO job_errors (job_id, line_no, reason) VALUES (%s, %s, %s)", job_id, n, f"bad {n}")
    query(db, "UPDATE jobs SET lines_invalid = 5 WHERE id = %s", job_id)
    url = api.url + f"/api/v1/jobs/{job_id}/errors"
    body = requests.get(url).json()
    assert body == {"job_id": job_id, "total": 5, "limit": 100, "offset": 0, "truncated": False,
                    "errors": [{"line_no": n, "reason": f"bad {n}"} for n in (1, 3, 5, 7, 9)]}
    body = requests.get(url, params={"limit": 2, "offset": 1}).json()
    assert body["total"] == 5 and body["limit"] == 2 and body["offset"] == 1
    assert [e["line_no"] for e in body["errors"]] == [3, 5]
    assert requests.get(url, params={"offset": 10}).json()["errors"] == []
    for params in ({"limit": 0}, {"limit": 1001}, {"limit": "abc"}, {"limit": ""}, {"limit": -1},
                   {"offset": -1}, {"offset": "1e3"}, {"offset": "99999999999999999999"}):
        assert_error(requests.get(url, params=params), 400)
    assert_error(requests.get(api.url + "/api/v1/jobs/xyz/errors"), 400)
    assert_error(requests.get(api.url + f"/api/v1/jobs/{uuid.uuid4()}/errors"), 404)


# ---- HTTP behaviour ----------------------------------------------------------------------------------

def test_routes_methods_and_health(api):
    assert_error(requests.get(api.url + "/nope"), 404, "not_found")
    assert_error(requests.get(api.url + "/api/v1/jobs/"), 404)
    r = requests.put(api.url + f"/api/v1/jobs/{uuid.uuid4()}")
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers["Allow"] and "DELETE" in r.headers["Allow"]
    r = requests.get(api.url + "/api/v1/files/upload")
    assert_error(r, 405)
    assert r.headers["Allow"] == "POST"
    assert requests.get(api.url + "/healthz").json() == {"status": "ok"}
    r = requests.get(api.url + "/readyz")
    assert r.status_code == 200 and r.json()["checks"] == {"postgres": "ok", "rabbitmq": "ok", "s3": "ok"}
    # /ws/ without the relay: the contract's refusals
    assert_error(requests.get(api.url + "/ws/jobs/123"), 400)
    assert_error(requests.get(api.url + f"/ws/jobs/{uuid.uuid4()}"), 404)


def test_keep_alive_serves_several_requests_on_one_connection(api):
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        r1 = conn.getresponse()
        assert r1.status == 200 and json.loads(r1.read()) == {"status": "ok"}
        sock = conn.sock
        conn.request("GET", f"/api/v1/jobs/{uuid.uuid4()}", headers=api.headers)
        r2 = conn.getresponse()
        assert r2.status == 404 and json.loads(r2.read())["error"]["code"] == "job_not_found"
        assert conn.sock is sock and sock is not None  # the same connection served both
        assert r2.getheader("Connection", "").lower() != "close"
    finally:
        conn.close()


def test_silent_client_does_not_block_others(start_api):
    api = start_api(EH_HTTP_TIMEOUT_S=2, **QUIET)
    silent = [socket.create_connection(("127.0.0.1", api.port)) for _ in range(5)]
    partial = socket.create_connection(("127.0.0.1", api.port))
    partial.sendall(b"GET /w")
    try:
        assert requests.get(api.url + "/healthz", timeout=5).status_code == 200
        # Past the deadline the silent connections are closed by the server.
        silent[0].settimeout(10)
        assert silent[0].recv(1) == b""
        partial.settimeout(10)
        assert partial.recv(1) == b""
    finally:
        for s in silent + [partial]:
            s.close()


def test_dripping_upload_body_is_cut_off(start_api, db):
    api = start_api(EH_HTTP_TIMEOUT_S=1, **QUIET)
    s = socket.create_connection(("127.0.0.1", api.port), timeout=0.2)
    s.sendall(b"POST /api/v1/files/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" +
              f"Authorization: Bearer {api.key}\r\n".encode() +
              b"Content-Type: multipart/form-data; boundary=BoUnDaRy\r\n\r\n")
    answer = b""
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline and b"\r\n\r\n" not in answer:
            try:
                s.sendall(b"1\r\na\r\n")  # one byte of body every 0.3 s: never idle, never done
            except OSError:
                pass
            try:
                answer += s.recv(4096)
            except socket.timeout:
                pass
            time.sleep(0.3)
    finally:
        s.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert query(db, "SELECT count(*) FROM jobs") == [(0,)]


def test_request_log_lines_escape_client_values(api):
    requests.get(api.url + "/nope%22%0a%7B?x=1")
    def logged():
        return [l for l in api.json_lines() if l.get("msg") == "request" and l.get("status") == 404]
    lines = wait_for(logged, 5, what="request log line")
    assert lines[0]["method"] == "GET" and lines[0]["path"].startswith('/nope"')  # control characters dropped
    assert isinstance(lines[0]["duration_ms"], int) and lines[0]["bytes"] > 0


# ---- the binary ---------------------------------------------------------------------------------------

def test_bad_config_exits_2_naming_the_variable(tmp_path):
    env = base_env(EH_HTTP_PORT="not-a-port")
    p = subprocess.run([os.path.join(BIN_DIR, "eh-api")], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert "EH_HTTP_PORT" in p.stderr


def test_unusable_spool_dir_stops_the_start(tmp_path):
    env = base_env(EH_HTTP_PORT=0, EH_SPOOL_DIR=str(tmp_path / "missing"))
    p = subprocess.run([os.path.join(BIN_DIR, "eh-api")], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert "EH_SPOOL_DIR" in p.stderr


def test_healthcheck_subcommand(start_api):
    api = start_api(**QUIET)
    env = base_env(EH_HTTP_PORT=api.port)
    cmd = [os.path.join(BIN_DIR, "eh-api"), "healthcheck"]
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=30).returncode == 0
    assert api.stop() == 0
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=30).returncode == 1


def test_sigterm_lets_an_upload_in_flight_finish(start_api):
    api = start_api(**QUIET)
    row = (line(1) + "\n").encode()

    def body():
        yield b"--BoUnDaRy\r\n" + file_part("a.jsonl", b"")[0].encode() + b"\r\n\r\n"
        for _ in range(2000):
            yield row
        api.signal(signal.SIGTERM)  # mid-body: the request is in flight
        time.sleep(0.5)
        for _ in range(2000):
            yield row
        yield b"\r\n--BoUnDaRy--\r\n"
    r = requests.post(api.url + "/api/v1/files/upload", data=body(),
                      headers={"Content-Type": "multipart/form-data; boundary=BoUnDaRy"}, timeout=60)
    assert r.status_code == 202, r.text
    assert api.proc.wait(timeout=30) == 0
    assert s3_get(f"uploads/{r.json()['job_id']}.jsonl") == row * 4000
    with pytest.raises(requests.ConnectionError):
        requests.get(api.url + "/healthz", timeout=2)


def test_sigterm_drains_for_at_most_the_shutdown_timeout(start_api):
    """An upload that stalls mid-body never finishes: SIGTERM waits EH_SHUTDOWN_TIMEOUT_S for it, then stops."""
    api = start_api(EH_SHUTDOWN_TIMEOUT_S=1, **QUIET)
    head = "".join(f"{k}: {v}\r\n" for k, v in auth_headers(api).items())
    part = (b"--BoUnDaRy\r\n" + file_part("a.jsonl", b"")[0].encode() + b"\r\n\r\n"
            + (line(1) + "\n").encode() * 100)
    s = socket.create_connection(("127.0.0.1", api.port), timeout=10)
    try:
        s.sendall(("POST /api/v1/files/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n" + head +
                   "Content-Type: multipart/form-data; boundary=BoUnDaRy\r\n"
                   "Content-Length: 10000000\r\n\r\n").encode() + part)
        time.sleep(0.3)  # the request is in flight: its head and part of its body are in
        t0 = time.monotonic()
        api.signal(signal.SIGTERM)
        assert api.proc.wait(timeout=20) == 0
        took = time.monotonic() - t0
    finally:
        s.close()
    # It waited for the upload (about 1 s), and no longer than the bound allows (slack for the sanitizers).
    assert 0.9 <= took < 4.0, took
    assert any(l.get("msg", "").startswith("1 request(s) still running") for l in api.json_lines()), \
        api.output()[-3000:]
    assert not any("EH_SHUTDOWN_GRACE_MS is deprecated" in l.get("msg", "") for l in api.json_lines())


def _accepted_line(api, job_id):
    return wait_for(lambda: next((l for l in api.json_lines() if l.get("msg") == "upload accepted"
                                  and l.get("job_id") == job_id), None), 10, what="the upload accepted line")


def test_large_upload_is_streamed_to_s3_while_it_arrives(start_api, db):
    api = start_api(**QUIET)
    before = s3_keys()
    data = "".join(line(i) + "\n" for i in range(1, 120001)).encode()  # ~ 10 MiB: above the streaming threshold
    assert len(data) > 8 * 1024 * 1024
    r = upload(api, "big.jsonl", data)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert _accepted_line(api, job_id)["streamed"] is True
    assert s3_get("uploads/%s.jsonl" % job_id) == data
    assert s3_keys() - before == {"uploads/%s.jsonl" % job_id}
    assert job_row(db, job_id)["lines_total"] == 120000


def test_large_upload_framed_unexpectedly_is_stored_after_it_arrives(start_api, db):
    """A field after the file makes the length told from Content-Length wrong: the streamed PUT is dropped."""
    api = start_api(**QUIET)
    before = s3_keys()
    data = "".join(line(i) + "\n" for i in range(1, 120001)).encode()
    r = requests.post(api.url + "/api/v1/files/upload", timeout=60,
                      files=[("file", ("big.jsonl", data, "application/x-ndjson")), ("note", (None, "x" * 100))])
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert _accepted_line(api, job_id)["streamed"] is False
    assert s3_get("uploads/%s.jsonl" % job_id) == data
    # Only the job's object: what the dropped PUT may have left under its own key was deleted.
    wait_for(lambda: s3_keys() - before == {"uploads/%s.jsonl" % job_id}, 10, what="no object but the job's")
