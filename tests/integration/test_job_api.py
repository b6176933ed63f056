"""The job API of version 2 (issue 12, part a): job list, entries, cancel,
delete + retention, the bounded error report, and bad input on each.

Jobs the listing tests need in numbers are inserted as rows (the list reads
rows only); jobs whose entries, cancellation or deletion matter are uploaded
and ingested by the real eh-worker.
"""
import asyncio
import json
import threading
import time
import uuid

import pytest
import requests
import websockets

from conftest import query, s3_get, upload, wait_for, wait_job, wait_worker_ready

TERMINAL = ("completed", "failed", "cancelled")
_TEST_TENANT = {}


@pytest.fixture(autouse=True)
def _test_tenant(tenant):
    """The tenant whose write key every started eh-api sends by default: rows inserted here belong to it."""
    _TEST_TENANT["id"] = tenant.id
    yield
    _TEST_TENANT.clear()


def insert_job(db, status="completed", created_at=None, tenant=None, **cols):
    tenant = tenant or _TEST_TENANT["id"]
    job_id = str(uuid.uuid4())
    query(db, "INSERT INTO jobs (id, file_name, object_key, size_bytes, lines_total, status, created_at, tenant_id, "
              "completed_at) VALUES (%s, 'x.jsonl', %s, 10, 1, %s, COALESCE(%s::timestamptz, now()), %s, "
              "CASE WHEN %s IN ('completed', 'failed', 'cancelled') THEN now() END)",
          job_id, "uploads/" + job_id, status, created_at, tenant, status)
    for k, v in cols.items():
        query(db, f"UPDATE jobs SET {k} = %s WHERE id = %s", v, job_id)
    return job_id


def other_tenant(db):
    """A tenant that is not the caller's (no key needed: its jobs must stay invisible)."""
    tid = str(uuid.uuid4())
    query(db, "INSERT INTO tenants (id, name) VALUES (%s, %s)", tid, "t-" + tid[:8])
    return tid


def get(api, path, **params):
    return requests.get(api.url + path, params=params, timeout=30)


def lines(n, every=None):
    out = []
    for i in range(1, n + 1):
        e = {"timestamp": f"2026-11-21T10:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
             "level": ("info", "error", "warn", "debug")[i % 4], "message": f"line {i}", "service": "svc", "k": i}
        if every is not None and i % every == 0:
            e["message"] += " NeedLe"
        out.append(json.dumps(e))
    return "\n".join(out) + "\n"


def ingested(api, db, n, every=None):
    r = upload(api, "app.jsonl", lines(n, every))
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    wait_job(db, job_id, timeout=120)
    return job_id


def all_entries(api, job_id, **params):
    """Follows next_cursor to the end; returns (entries, pages)."""
    entries, pages, cursor = [], 0, None
    while True:
        p = dict(params)
        if cursor:
            p["cursor"] = cursor
        r = get(api, f"/api/v1/jobs/{job_id}/entries", **p)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"job_id", "entries", "next_cursor"}
        entries += body["entries"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return entries, pages


# ---- GET /api/v1/jobs ----------------------------------------------------------------------------------------


def test_list_is_newest_first_in_keyset_pages_of_the_callers_jobs(start_api, db):
    api = start_api()
    mine = [insert_job(db, created_at=f"2026-11-21T10:00:{i:02d}Z") for i in range(7)]
    twin_time = "2026-11-21T10:00:03Z"  # equal created_at: the id breaks the tie
    mine.append(insert_job(db, created_at=twin_time))
    stranger = other_tenant(db)
    insert_job(db, tenant=stranger)

    seen, cursor = [], None
    while True:
        r = get(api, "/api/v1/jobs", limit=3, **({"cursor": cursor} if cursor else {}))
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"jobs", "next_cursor"}
        assert len(body["jobs"]) <= 3
        seen += body["jobs"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(j["job_id"] for j in seen) == sorted(mine)
    keys = [(j["created_at"], j["job_id"]) for j in seen]
    assert keys == sorted(keys, reverse=True)
    assert set(seen[0]) >= {"job_id", "file_name", "status", "progress", "lines_total", "created_at", "error"}


def test_list_cursor_is_stable_under_concurrent_inserts(start_api, db):
    api = start_api()
    old = [insert_job(db, created_at=f"2026-11-21T10:00:{i:02d}Z") for i in range(6)]
    r = get(api, "/api/v1/jobs", limit=2)
    first = [j["job_id"] for j in r.json()["jobs"]]
    for _ in range(5):  # newer jobs arrive between two pages
        insert_job(db)
    seen = list(first)
    cursor = r.json()["next_cursor"]
    while cursor:
        body = get(api, "/api/v1/jobs", limit=2, cursor=cursor).json()
        seen += [j["job_id"] for j in body["jobs"]]
        cursor = body["next_cursor"]
    assert seen == list(reversed(old))


def test_list_status_filter_and_default_limit(start_api, db):
    api = start_api()
    for _ in range(3):
        insert_job(db, status="failed")
    for _ in range(55):
        insert_job(db, status="completed")
    insert_job(db, status="cancelled")
    body = get(api, "/api/v1/jobs", status="failed").json()
    assert len(body["jobs"]) == 3 and {j["status"] for j in body["jobs"]} == {"failed"}
    assert body["next_cursor"] is None
    body = get(api, "/api/v1/jobs", status="cancelled").json()
    assert [j["status"] for j in body["jobs"]] == ["cancelled"]
    body = get(api, "/api/v1/jobs").json()
    assert len(body["jobs"]) == 50 and body["next_cursor"] is not None
    body = get(api, "/api/v1/jobs", limit=200).json()
    assert len(body["jobs"]) == 59 and body["next_cursor"] is None


@pytest.mark.parametrize("qs,param", [
    ("limit=0", "limit"), ("limit=201", "limit"), ("limit=abc", "limit"), ("limit=-1", "limit"), ("limit=", "limit"),
    ("limit=1&limit=2", "limit"), ("limit=1.5", "limit"), ("limit=%2B5", "limit"),
    ("status=", "status"), ("status=done", "status"), ("status=QUEUED", "status"), ("status=queued&status=failed", "status"),
    ("cursor=", "cursor"), ("cursor=abc", "cursor"), ("cursor=" + "A" * 55, "cursor"), ("cursor=%00", "cursor"),
])
def test_list_bad_input_is_400_naming_the_parameter(start_api, qs, param):
    api = start_api()
    r = requests.get(f"{api.url}/api/v1/jobs?{qs}", timeout=10)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == f"invalid_{param}"
    assert r.json()["error"]["message"].startswith(param + ":")


def test_list_cursor_forged_truncated_or_of_another_kind_is_400(start_api, db):
    api = start_api()
    for i in range(3):
        insert_job(db, created_at=f"2026-11-21T10:00:{i:02d}Z")
    cursor = get(api, "/api/v1/jobs", limit=1).json()["next_cursor"]
    assert get(api, "/api/v1/jobs", limit=1, cursor=cursor).status_code == 200
    flipped = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    for bad in (cursor[:-1], cursor + "A", flipped, cursor.upper()):
        r = get(api, "/api/v1/jobs", cursor=bad)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor", (bad, r.text)
    # a cursor of the entries listing is no job-list cursor
    job_id = insert_job(db)
    query(db, "UPDATE jobs SET lines_processed = 3 WHERE id = %s", job_id)
    query(db, "INSERT INTO log_entries (job_id, line_no, ts, level, message) SELECT %s, g, now(), 'info', 'm' "
              "FROM generate_series(1, 3) g", job_id)
    ecursor = get(api, f"/api/v1/jobs/{job_id}/entries", limit=1).json()["next_cursor"]
    assert ecursor
    assert get(api, "/api/v1/jobs", cursor=ecursor).status_code == 400


def test_cursor_of_another_tenant_is_400(start_api, db, make_tenant):
    """The same server, the same listing, the same position: made for one tenant, refused for another."""
    api = start_api()
    other = make_tenant()
    for i in range(3):
        insert_job(db, created_at=f"2026-11-21T10:00:{i:02d}Z")
        insert_job(db, created_at=f"2026-11-21T10:00:{i:02d}Z", tenant=other.id)
    mine = get(api, "/api/v1/jobs", limit=1).json()["next_cursor"]
    theirs = requests.get(api.url + "/api/v1/jobs", params={"limit": 1}, headers=other.headers(), timeout=10)
    assert theirs.status_code == 200 and len(theirs.json()["jobs"]) == 1
    r = requests.get(api.url + "/api/v1/jobs", params={"limit": 1, "cursor": mine}, headers=other.headers(),
                     timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
    assert get(api, "/api/v1/jobs", limit=1, cursor=mine).status_code == 200
    # and the other tenant's jobs never show in my list
    ids = {j["job_id"] for j in get(api, "/api/v1/jobs", limit=200).json()["jobs"]}
    assert len(ids) == 3 and not ids & {r[0] for r in query(db, "SELECT id::text FROM jobs WHERE tenant_id = %s",
                                                               other.id)}


def test_read_key_may_list_but_not_cancel_or_delete(start_api, db, tenant):
    api = start_api()
    job_id = insert_job(db, status="queued")
    done_id = insert_job(db, status="completed")
    read = tenant.headers("read")
    assert requests.get(api.url + "/api/v1/jobs", headers=read, timeout=10).status_code == 200
    assert requests.get(f"{api.url}/api/v1/jobs/{done_id}/entries", headers=read, timeout=10).status_code == 200
    r = requests.post(f"{api.url}/api/v1/jobs/{job_id}/cancel", headers=read, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = requests.delete(f"{api.url}/api/v1/jobs/{done_id}", headers=read, timeout=10)
    assert r.status_code == 403
    assert requests.get(api.url + "/api/v1/jobs", headers={"Authorization": None}, timeout=10).status_code == 401
    assert query(db, "SELECT status FROM jobs WHERE id = %s", job_id)[0][0] == "queued"


def test_cursor_of_another_deployment_secret_is_400(start_api, db):
    """A cursor signed with another key (another deployment, or a restart with EH_CURSOR_SECRET=random)."""
    for i in range(3):
        insert_job(db, created_at=f"2026-11-21T10:00:{i:02d}Z")
    a = start_api(EH_CURSOR_SECRET="a" * 32)
    b = start_api(EH_CURSOR_SECRET="b" * 32)
    c = start_api(EH_CURSOR_SECRET="a" * 32)
    cursor = get(a, "/api/v1/jobs", limit=1).json()["next_cursor"]
    assert get(c, "/api/v1/jobs", limit=1, cursor=cursor).status_code == 200  # same secret: another replica
    r = get(b, "/api/v1/jobs", limit=1, cursor=cursor)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"


def test_cursor_secret_too_short_stops_the_api(start_api):
    api = start_api(wait=False, EH_CURSOR_SECRET="short")
    wait_for(lambda: not api.alive(), 30, what="eh-api to refuse a short EH_CURSOR_SECRET")
    api.exit_checked = True
    assert "EH_CURSOR_SECRET" in api.output()


# ---- GET /api/v1/jobs/<id>/entries ---------------------------------------------------------------------------


def test_entries_in_line_order_with_every_field(start_api, start_worker, db):
    api = start_api()
    start_worker()
    job_id = ingested(api, db, 250)
    entries, pages = all_entries(api, job_id, limit=100)
    assert pages == 3
    assert [e["line_no"] for e in entries] == list(range(1, 251))
    e = entries[6]
    assert e == {"line_no": 7, "timestamp": "2026-11-21T10:00:07.007Z", "level": "debug", "message": "line 7",
                 "service": "svc", "attributes": {"k": 7}}
    r = get(api, f"/api/v1/jobs/{job_id}/entries")
    assert len(r.json()["entries"]) == 100  # default limit


def test_entries_filters_level_since_until_q(start_api, start_worker, db):
    api = start_api()
    start_worker()
    job_id = ingested(api, db, 400, every=50)
    got, _ = all_entries(api, job_id, level="error,fatal")
    assert [e["line_no"] for e in got] == [i for i in range(1, 401) if i % 4 == 1]
    got, _ = all_entries(api, job_id, since="2026-11-21T10:00:10.010Z", until="2026-11-21T10:00:13Z")
    assert [e["line_no"] for e in got] == [10, 11, 12]  # since inclusive, until exclusive
    got, _ = all_entries(api, job_id, since="2026-11-21T12:00:10.010+02:00", until="2026-11-21T10:00:12Z")
    assert [e["line_no"] for e in got] == [10, 11]  # an offset is a zone, not a typo
    got, _ = all_entries(api, job_id, q="needle")
    assert [e["line_no"] for e in got] == [50, 100, 150, 200, 250, 300, 350, 400]
    got, _ = all_entries(api, job_id, q="NEEDLE", level="warn")  # 50 % 4 == 2: warn
    assert [e["line_no"] for e in got] == [50, 150, 250, 350]
    got, _ = all_entries(api, job_id, q="%")  # no pattern language: a literal character
    assert got == []


def test_entries_scan_is_bounded_and_resumes(start_api, start_worker, db):
    """A q matching nothing: each page looks at EH_ENTRIES_SCAN_LINES lines and hands a cursor that resumes."""
    api = start_api(EH_ENTRIES_SCAN_LINES=1000)
    start_worker()
    job_id = ingested(api, db, 4500, every=1700)
    got, pages = all_entries(api, job_id, q="no such text")
    assert got == [] and pages == 5
    got, pages = all_entries(api, job_id, q="needle", limit=1000)
    assert [e["line_no"] for e in got] == [1700, 3400] and pages == 5
    # without a filter the primary key range stops at limit rows: no window
    got, pages = all_entries(api, job_id, limit=1000)
    assert len(got) == 4500 and pages == 5


def test_entries_of_a_running_job_are_what_is_committed(start_api, start_worker, db):
    api = start_api()
    start_worker(EH_LINE_DELAY_MAX_MS=2, EH_BATCH_MS=100)
    r = upload(api, "app.jsonl", lines(3000))
    job_id = r.json()["job_id"]
    wait_for(lambda: query(db, "SELECT lines_processed FROM jobs WHERE id = %s", job_id)[0][0] > 0, 60,
             what="a first batch")
    body = get(api, f"/api/v1/jobs/{job_id}/entries", limit=1000).json()
    n = len(body["entries"])
    assert n > 0
    assert [e["line_no"] for e in body["entries"]] == list(range(1, n + 1))
    wait_job(db, job_id, timeout=120)


def test_entries_unknown_job_and_bad_id(start_api, db):
    api = start_api()
    assert get(api, f"/api/v1/jobs/{uuid.uuid4()}/entries").status_code == 404
    r = get(api, "/api/v1/jobs/nope/entries")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_job_id"
    stranger_job = insert_job(db, tenant=other_tenant(db))
    assert get(api, f"/api/v1/jobs/{stranger_job}/entries").status_code == 404


@pytest.mark.parametrize("qs,param", [
    ("level=", "level"), ("level=loud", "level"), ("level=info,", "level"), ("level=,info", "level"),
    ("level=INFO", "level"), ("level=info&level=warn", "level"),
    ("since=", "since"), ("since=yesterday", "since"), ("since=2026-02-30T00:00:00Z", "since"),
    ("since=2026-11-21T10:00:00", "since"), ("since=2026-11-21T25:00:00Z", "since"), ("until=1700000000", "until"),
    ("until=2026-11-21T10:00:00Z&until=2026-11-21T11:00:00Z", "until"),
    ("q=", "q"), ("q=a&q=b", "q"), ("q=" + "x" * 1025, "q"),
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=ten", "limit"),
    ("cursor=", "cursor"), ("cursor=zzz", "cursor"),
])
def test_entries_bad_input_is_400_naming_the_parameter(start_api, db, qs, param):
    api = start_api()
    job_id = insert_job(db)
    r = requests.get(f"{api.url}/api/v1/jobs/{job_id}/entries?{qs}", timeout=10)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == f"invalid_{param}"


def test_entries_cursor_of_another_job_is_400(start_api, db):
    api = start_api()
    a, b = insert_job(db), insert_job(db)
    for j in (a, b):
        query(db, "UPDATE jobs SET lines_processed = 3 WHERE id = %s", j)
        query(db, "INSERT INTO log_entries (job_id, line_no, ts, level, message) SELECT %s, g, now(), 'info', 'm' "
                  "FROM generate_series(1, 3) g", j)
    cursor = get(api, f"/api/v1/jobs/{a}/entries", limit=1).json()["next_cursor"]
    assert get(api, f"/api/v1/jobs/{a}/entries", limit=1, cursor=cursor).status_code == 200
    r = get(api, f"/api/v1/jobs/{b}/entries", limit=1, cursor=cursor)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
    jcursor = get(api, "/api/v1/jobs", limit=1).json()["next_cursor"]
    assert get(api, f"/api/v1/jobs/{a}/entries", cursor=jcursor).status_code == 400


# ---- errors: truncated and bounded offset ---------------------------------------------------------------------


def test_errors_truncated_and_offset_bounds(start_api, start_worker, db):
    api = start_api()
    start_worker()
    r = upload(api, "app.jsonl", lines(1) + "not json\n" * 5 + lines(5))
    job_id = r.json()["job_id"]
    wait_job(db, job_id)
    body = get(api, f"/api/v1/jobs/{job_id}/errors").json()
    assert body["total"] == 5 and body["truncated"] is False and len(body["errors"]) == 5
    assert [e["line_no"] for e in body["errors"]] == [2, 3, 4, 5, 6]
    # The worker stores at most EH_MAX_ERRORS_STORED reasons and counts the rest: the API says so.
    query(db, "UPDATE jobs SET lines_invalid = 12 WHERE id = %s", job_id)
    body = get(api, f"/api/v1/jobs/{job_id}/errors", limit=2, offset=4).json()
    assert body["total"] == 12 and body["truncated"] is True
    assert [e["line_no"] for e in body["errors"]] == [6]
    body = get(api, f"/api/v1/jobs/{job_id}/errors", offset=1000000000).json()
    assert body["errors"] == [] and body["offset"] == 1000000000
    r = get(api, f"/api/v1/jobs/{job_id}/errors", offset=1000000001)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_offset"
    for qs in ("offset=1&offset=2", "offset=", "limit=", "limit=1001"):
        assert requests.get(f"{api.url}/api/v1/jobs/{job_id}/errors?{qs}", timeout=10).status_code == 400, qs
    stranger_job = insert_job(db, tenant=other_tenant(db))
    assert get(api, f"/api/v1/jobs/{stranger_job}/errors").status_code == 404


# ---- cancel -----------------------------------------------------------------------------------------------------


def cancel(api, job_id):
    return requests.post(f"{api.url}/api/v1/jobs/{job_id}/cancel", timeout=30)


def delete(api, job_id):
    return requests.delete(f"{api.url}/api/v1/jobs/{job_id}", timeout=30)


def test_cancel_queued_job_at_once_and_the_reaper_never_revives_it(start_api, start_worker, db):
    api = start_api()
    r = upload(api, "app.jsonl", lines(50))
    job_id = r.json()["job_id"]
    r = cancel(api, job_id)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["job_id"] == job_id and body["status"] == "cancelled" and body["completed_at"] is not None
    r = cancel(api, job_id)
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    # A worker gets the job's message and a reaper runs several rounds: the job stays cancelled, nothing ingested.
    w = start_worker(EH_REAPER_INTERVAL_MS=200, EH_LEASE_MS=1000)
    wait_worker_ready(w, 1)
    time.sleep(2.5)
    row = query(db, "SELECT status, entries_ingested, lease_owner FROM jobs WHERE id = %s", job_id)[0]
    assert row == ("cancelled", 0, None)
    assert query(db, "SELECT count(*) FROM log_entries WHERE job_id = %s", job_id)[0][0] == 0
    assert get(api, f"/api/v1/jobs/{job_id}").json()["status"] == "cancelled"
    assert [j["job_id"] for j in get(api, "/api/v1/jobs", status="cancelled").json()["jobs"]] == [job_id]


def test_cancel_processing_job_stops_at_a_batch_boundary(start_api, start_worker, db):
    api = start_api()
    w = start_worker(EH_LINE_DELAY_MAX_MS=4, EH_BATCH_MS=100, EH_REAPER_INTERVAL_MS=200)
    r = upload(api, "app.jsonl", lines(4000))
    job_id = r.json()["job_id"]
    wait_for(lambda: query(db, "SELECT lines_processed FROM jobs WHERE id = %s", job_id)[0][0] > 0, 60,
             what="a first batch")
    r = cancel(api, job_id)
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    time.sleep(2)  # longer than several batches: nothing more is written
    status, processed, ingested_n = query(db, "SELECT status, lines_processed, entries_ingested FROM jobs "
                                              "WHERE id = %s", job_id)[0]
    assert status == "cancelled" and 0 < processed < 4000
    assert query(db, "SELECT count(*) FROM log_entries WHERE job_id = %s", job_id)[0][0] == ingested_n
    assert query(db, "SELECT coalesce(max(line_no), 0) FROM log_entries WHERE job_id = %s", job_id)[0][0] <= processed
    assert w.alive()


def test_cancel_finished_job_is_409_and_unknown_404(start_api, db):
    api = start_api()
    for status in ("completed", "failed", "cancelled"):
        job_id = insert_job(db, status=status)
        r = cancel(api, job_id)
        assert r.status_code == 409 and r.json()["error"]["code"] == "conflict", status
    assert cancel(api, str(uuid.uuid4())).status_code == 404
    assert cancel(api, "not-a-uuid").status_code == 400
    assert cancel(api, insert_job(db, status="queued", tenant=other_tenant(db))).status_code == 404


def test_cancel_while_the_last_batch_commits_ends_exactly_once(start_api, start_worker, db):
    """Cancels at every moment around the end: the job ends once, completed or cancelled, counts match rows."""
    api = start_api()
    w = start_worker(EH_BATCH_MS=50)
    wait_worker_ready(w, 1)
    outcomes = set()
    for i in range(12):
        r = upload(api, "app.jsonl", lines(300 + 50 * i))
        job_id = r.json()["job_id"]
        time.sleep(0.02 * i)
        c = cancel(api, job_id)
        assert c.status_code in (202, 409), c.text
        row = wait_job(db, job_id, statuses=TERMINAL, timeout=60)
        time.sleep(0.3)
        status, processed, n, invalid = query(db, "SELECT status, lines_processed, entries_ingested, lines_invalid "
                                                  "FROM jobs WHERE id = %s", job_id)[0]
        assert status == row["status"]  # it ended once and stayed so
        assert (c.status_code == 202) == (status == "cancelled"), (c.status_code, status)
        assert query(db, "SELECT count(*) FROM log_entries WHERE job_id = %s", job_id)[0][0] == n
        if status == "completed":
            assert n == 300 + 50 * i and processed == n
        outcomes.add(status)
    assert "cancelled" in outcomes


def ws_events(api, job_id, timeout=30):
    async def run():
        events = []
        url = f"ws://127.0.0.1:{api.port}/ws/jobs/{job_id}?access_token={api.key}"
        async with websockets.connect(url, open_timeout=20) as ws:
            async for msg in ws:
                events.append(json.loads(msg))
        return events, ws.close_code
    return asyncio.run(asyncio.wait_for(run(), timeout))


def test_cancel_sends_cancelled_event_and_closes_1000(start_api, db):
    api = start_api()
    job_id = upload(api, "app.jsonl", lines(10)).json()["job_id"]  # no worker: it stays queued
    result = {}
    t = threading.Thread(target=lambda: result.update(r=ws_events(api, job_id)))
    t.start()
    time.sleep(1.0)  # the client is connected and has its snapshot
    assert cancel(api, job_id).status_code == 202
    t.join(30)
    events, code = result["r"]
    assert code == 1000
    assert [e["event"] for e in events] == ["snapshot", "cancelled"]
    assert events[-1]["status"] == "cancelled" and events[-1]["seq"] > events[0]["seq"]


# ---- delete and retention -------------------------------------------------------------------------------------


def test_delete_removes_job_entries_errors_and_object(start_api, start_worker, db):
    api = start_api()
    start_worker(EH_REAPER_INTERVAL_MS=200)
    r = upload(api, "app.jsonl", lines(1) + "oops\n" + lines(30000))
    job_id = r.json()["job_id"]
    wait_job(db, job_id, timeout=120)
    key = query(db, "SELECT object_key FROM jobs WHERE id = %s", job_id)[0][0]
    assert s3_get(key) is not None
    r = delete(api, job_id)
    assert r.status_code == 204 and r.content == b""
    assert get(api, f"/api/v1/jobs/{job_id}").status_code == 404  # at once
    assert get(api, f"/api/v1/jobs/{job_id}/entries").status_code == 404
    assert delete(api, job_id).status_code == 404

    def purged():
        return (query(db, "SELECT count(*) FROM log_entries WHERE job_id = %s", job_id)[0][0] == 0 and
                query(db, "SELECT count(*) FROM job_errors WHERE job_id = %s", job_id)[0][0] == 0 and
                query(db, "SELECT count(*) FROM job_purges")[0][0] == 0)
    wait_for(purged, 60, interval=0.2, what="the purge")
    assert s3_get(key) is None


def test_delete_active_job_is_409_other_tenant_404(start_api, db):
    api = start_api()
    for status in ("queued", "processing"):
        job_id = insert_job(db, status=status)
        r = delete(api, job_id)
        assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
        assert get(api, f"/api/v1/jobs/{job_id}").status_code == 200
    assert delete(api, insert_job(db, tenant=other_tenant(db))).status_code == 404
    assert delete(api, "bad").status_code == 400


def test_two_concurrent_deletes_one_204_one_404(start_api, db):
    api = start_api()
    for _ in range(5):
        job_id = insert_job(db)
        barrier = threading.Barrier(2)
        codes = []

        def go():
            barrier.wait()
            codes.append(delete(api, job_id).status_code)
        threads = [threading.Thread(target=go) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(codes) == [204, 404]
        assert query(db, "SELECT count(*) FROM job_purges WHERE job_id = %s", job_id)[0][0] in (0, 1)


def test_websocket_connected_during_cancel_and_delete_gets_a_final_event_and_close(start_api, start_worker, db):
    api = start_api()
    start_worker(EH_LINE_DELAY_MAX_MS=3, EH_BATCH_MS=100)
    job_id = upload(api, "app.jsonl", lines(3000)).json()["job_id"]
    wait_for(lambda: query(db, "SELECT status FROM jobs WHERE id = %s", job_id)[0][0] == "processing", 60)
    result = {}
    t = threading.Thread(target=lambda: result.update(r=ws_events(api, job_id)))
    t.start()
    time.sleep(1.0)
    assert cancel(api, job_id).status_code == 202
    assert delete(api, job_id).status_code == 204
    t.join(30)
    events, code = result["r"]
    assert code == 1000
    assert events[0]["event"] == "snapshot"
    assert events[-1]["event"] in ("cancelled", "deleted")
    assert [e for e in events[:-1] if e["event"] in ("completed", "failed", "cancelled", "deleted")] == []
    # After the delete the job is gone for WebSocket clients too.
    with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
        ws_events(api, job_id)
    assert e.value.status_code == 404


def test_websocket_of_a_job_gone_without_its_event_is_ended_by_the_safety_poll(start_api, db):
    """The "deleted" event was lost (here: the row removed behind the API's back): the relay's re-read ends it."""
    api = start_api()
    job_id = upload(api, "app.jsonl", lines(10)).json()["job_id"]  # no worker: it stays queued
    result = {}
    t = threading.Thread(target=lambda: result.update(r=ws_events(api, job_id, timeout=40)))
    t.start()
    time.sleep(1.0)
    query(db, "DELETE FROM jobs WHERE id = %s", job_id)
    t.join(40)
    events, code = result["r"]
    assert code == 1000
    assert [e["event"] for e in events] == ["snapshot", "deleted"]
    assert events[1]["job_id"] == job_id and events[1]["seq"] > events[0]["seq"]


def test_retention_deletes_old_terminal_jobs_in_the_background(start_api, start_worker, db):
    api = start_api()
    old = insert_job(db, status="completed")
    old_failed = insert_job(db, status="failed")
    recent = insert_job(db, status="completed")
    active = insert_job(db, status="queued")
    query(db, "UPDATE jobs SET completed_at = now() - interval '3 days', created_at = now() - interval '3 days' "
              "WHERE id IN (%s, %s)", old, old_failed)
    query(db, "UPDATE jobs SET created_at = now() - interval '30 days' WHERE id = %s", active)
    query(db, "INSERT INTO log_entries (job_id, line_no, ts, level, message) SELECT %s, g, now(), 'info', 'm' "
              "FROM generate_series(1, 25000) g", old)
    query(db, "UPDATE jobs SET lines_total = 25000 WHERE id = %s", old)
    start_worker(EH_RETENTION_DAYS=2, EH_REAPER_INTERVAL_MS=200)
    wait_for(lambda: get(api, f"/api/v1/jobs/{old}").status_code == 404 and
             get(api, f"/api/v1/jobs/{old_failed}").status_code == 404, 30, interval=0.2, what="retention")
    wait_for(lambda: query(db, "SELECT count(*) FROM log_entries WHERE job_id = %s", old)[0][0] == 0, 30,
             interval=0.2, what="the purge")
    assert get(api, f"/api/v1/jobs/{recent}").status_code == 200
    assert get(api, f"/api/v1/jobs/{active}").status_code == 200
