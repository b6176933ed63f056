"""eh-api when a dependency goes away: no half-made job, and no job stranded.

These tests stop and start the shared services (services.sh stop-one /
start-one), so each one restores what it stopped, even when it fails.
"""
import json
import os
import signal
import threading
import time
import uuid

import requests

from conftest import job_row, query, queue_get_all, s3_get, s3_keys, upload, wait_for
from test_api import QUIET, assert_error, jobs_depth, line


def readyz_failing(api, check):
    """[response] once /readyz reports check unavailable, else None; every answer must come within 1 s."""
    t0 = time.monotonic()
    r = requests.get(api.url + "/readyz", timeout=30)
    assert time.monotonic() - t0 < 1.0, "/readyz held the request"
    if r.status_code == 503 and r.json().get("checks", {}).get(check) == "unavailable":
        return [r]
    return None


def test_s3_down_gives_503_and_records_nothing(start_api, services, db):
    api = start_api(**QUIET)
    before = s3_keys()
    services.stop("s3")
    try:
        r = upload(api, "app.jsonl", line(1) + "\n")
        assert_error(r, 503, "storage_unavailable")
        assert r.headers["Retry-After"].isdigit()
        assert query(db, "SELECT count(*) FROM jobs") == [(0,)]
        assert jobs_depth() == 0
        # /readyz answers from verdicts refreshed in the background (EH_READYZ_REFRESH_MS).
        r, = wait_for(lambda: readyz_failing(api, "s3"), 10, interval=0.2, what="/readyz reports s3")
        body = assert_error(r, 503, "not_ready")
        assert "s3" in body["error"]["message"] and body["checks"]["s3"] == "unavailable"
        assert body["checks"]["postgres"] == "ok" and body["checks"]["rabbitmq"] == "ok"
    finally:
        services.start("s3")
    assert s3_keys() == before
    assert upload(api, "app.jsonl", line(1) + "\n").status_code == 202


def test_broker_down_before_upload_gives_503_and_stores_nothing(start_api, services, db):
    api = start_api(**QUIET)
    before = s3_keys()
    services.stop("rabbitmq")
    try:
        # The api learns that the broker is gone at its next use of the connection.
        def refused():
            r = upload(api, "app.jsonl", line(1) + "\n")
            return [r] if r.status_code == 503 else None  # a list: a 5xx Response is falsy
        r, = wait_for(refused, 30, interval=0.5, what="503 while the broker is down")
        assert_error(r, 503, "queue_unavailable")
        # Uploads accepted while the api had not noticed yet are kept and queued (outbox); none is half-made.
        for job_id, key in query(db, "SELECT id::text, object_key FROM jobs"):
            assert s3_get(key) is not None, job_id
        rows_before = query(db, "SELECT count(*) FROM jobs")
        assert upload(api, "app.jsonl", line(1) + "\n").status_code == 503
        assert query(db, "SELECT count(*) FROM jobs") == rows_before
        assert len(s3_keys() - before) == rows_before[0][0]
        r, = wait_for(lambda: readyz_failing(api, "rabbitmq"), 30, interval=0.2, what="/readyz reports rabbitmq")
        assert assert_error(r, 503)["checks"]["rabbitmq"] == "unavailable"
    finally:
        services.start("rabbitmq")
    wait_for(lambda: upload(api, "app.jsonl", line(1) + "\n").status_code == 202, 30, interval=0.5,
             what="uploads accepted again")


def test_broker_lost_during_publish_job_is_published_when_it_is_back(start_api, services, db):
    api = start_api(EH_REPUBLISH_AFTER_MS=500)
    # Opens the api's broker connection, so that the upload below finds it open and only fails at the publish.
    assert requests.get(api.url + "/readyz", timeout=30).status_code == 200
    services.stop("rabbitmq")
    try:
        r = upload(api, "late.jsonl", line(1) + "\n")
        assert r.status_code == 202, r.text  # the row is the outbox: the job is kept
        job_id = r.json()["job_id"]
        assert job_row(db, job_id)["status"] == "queued"
        assert query(db, "SELECT published_at FROM jobs WHERE id = %s", job_id) == [(None,)]
        assert s3_get(f"uploads/{job_id}.jsonl") is not None
    finally:
        services.start("rabbitmq")
    msgs = []

    def published():
        msgs.extend(json.loads(b) for b in queue_get_all("eh.jobs"))
        return [m for m in msgs if m["job_id"] == job_id]
    found = wait_for(published, 60, interval=0.5, what="the job's message after the broker came back")
    # Published again from the row, the message still carries the upload's request id.
    assert found[0] == {"job_id": job_id, "object_key": f"uploads/{job_id}.jsonl",
                        "request_id": r.headers["X-Request-Id"]}
    wait_for(lambda: query(db, "SELECT published_at IS NOT NULL FROM jobs WHERE id = %s", job_id) == [(True,)],
             10, what="the publish stamp")


def test_database_down_gives_503_and_leaves_no_object(start_api, services, db):
    api = start_api(**QUIET)
    assert upload(api, "warm.jsonl", line(1) + "\n").status_code == 202
    before = s3_keys()
    services.stop("postgres")
    try:
        r = upload(api, "app.jsonl", line(1) + "\n")
        assert_error(r, 503, "database_unavailable")
        assert s3_keys() == before  # the object stored before the INSERT failed was deleted
        assert_error(requests.get(api.url + f"/api/v1/jobs/{uuid.uuid4()}", timeout=30), 503)
    finally:
        services.start("postgres")
    assert jobs_depth() == 1  # only the warm-up job's message
    wait_for(lambda: upload(api, "app.jsonl", line(1) + "\n").status_code == 202, 30, interval=0.5,
             what="uploads accepted again")


def test_a_stalled_s3_put_holds_no_other_request(start_api, db):
    """With one HTTP thread, an upload whose S3 PUT hangs (s3rver paused) still lets status and health answer."""
    api = start_api(EH_HTTP_THREADS="1", **QUIET)
    r = upload(api, "first.jsonl", line(1) + "\n")
    assert r.status_code == 202
    first = r.json()["job_id"]
    s3_pid = int(open(os.path.join(os.environ["EH_RUN_DIR"], "pids", "s3.pid")).read())
    result = {}
    os.kill(s3_pid, signal.SIGSTOP)
    try:
        t = threading.Thread(target=lambda: result.update(r=upload(api, "second.jsonl", line(2) + "\n")))
        t.start()
        # The body is tiny and the broker is up: after a second, the PUT to the paused server is what waits.
        time.sleep(1.0)
        assert t.is_alive(), "the upload finished while the object store was paused"
        for _ in range(5):
            t0 = time.monotonic()
            assert requests.get(api.url + "/healthz", timeout=5).status_code == 200
            assert requests.get(api.url + "/api/v1/jobs/" + first, timeout=5).json()["job_id"] == first
            assert time.monotonic() - t0 < 1.0
        assert t.is_alive()
        assert query(db, "SELECT count(*) FROM jobs") == [(1,)]
    finally:
        os.kill(s3_pid, signal.SIGCONT)
    t.join(30)
    assert not t.is_alive()
    # The paused server's keep-alive timer fires on resume and closes the connection libs3 reuses:
    # the PUT is sent again, whole, from the spool file.
    assert result["r"].status_code == 202, result["r"].text
    assert query(db, "SELECT count(*) FROM jobs") == [(2,)]
    assert s3_get("uploads/%s.jsonl" % result["r"].json()["job_id"]) == (line(2) + "\n").encode()
