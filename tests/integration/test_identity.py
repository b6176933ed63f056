"""Identity, tenants and limits (issue 10): keys, scopes, isolation, revocation, quota, rate limit.

Every test here runs eh-api with EH_AUTH on (the default), against the real services.
"""
import asyncio
import base64
import json
import os
import socket
import subprocess
import threading
import time
import uuid

import pytest
import requests
import websockets
from websockets.exceptions import InvalidStatusCode

from conftest import (ADMIN_TOKEN, BIN_DIR, base_env, leaked_secrets, query, remember_secret, s3_keys, upload,
                      wait_for, wait_job)

QUIET = {"EH_REPUBLISH_AFTER_MS": 600000}
NO_KEY = {"Authorization": None}  # requests drops a header whose value is None


def lines(n):
    return "".join(json.dumps({"timestamp": "2026-11-21T10:00:00Z", "level": "info", "message": f"line {i}"}) + "\n"
                   for i in range(n))


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def assert_error(r, status, code):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/json"
    assert r.json()["error"]["code"] == code, r.text
    if status == 401:
        assert r.headers["WWW-Authenticate"] == "Bearer"


def new_job(api, headers=None, n=3):
    r = upload(api, "app.jsonl", lines(n), headers=headers)
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def ws_status(port, path, headers=None, origin=None):
    """The status of a WebSocket upgrade: 101 when it opened, else the refusal's status."""
    async def go():
        try:
            async with websockets.connect(f"ws://127.0.0.1:{port}{path}", open_timeout=10,
                                          extra_headers=headers or {}, origin=origin) as ws:
                json.loads(await asyncio.wait_for(ws.recv(), 10))  # the snapshot
                return 101
        except InvalidStatusCode as e:
            return e.status_code
    return asyncio.run(go())


def eh_admin(*args, check=True):
    """Runs bin/eh-admin against the test database: (exit code, stdout JSON or None, stderr)."""
    p = subprocess.run([os.path.join(BIN_DIR, "eh-admin"), *args], env=base_env(), capture_output=True, text=True,
                       timeout=60)
    out = json.loads(p.stdout) if p.stdout.strip() else None
    if check:
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    if out and "key" in out:
        remember_secret(out["key"])
    assert not leaked_secrets(p.stderr)
    return p.returncode, out, p.stderr


# ---- bad input: each answered with the right status and a JSON error ------------------------------

def test_every_malformed_or_wrong_credential_is_401(start_api, tenant, db):
    api = start_api(**QUIET)
    job_id = new_job(api)
    url = api.url + f"/api/v1/jobs/{job_id}"
    good = tenant.read_key
    prefix_only = good[:16]
    wrong_secret = good[:16] + ("A" if good[16] != "A" else "B") + good[17:]
    cases = {
        "missing": NO_KEY,
        "basic": {"Authorization": "Basic " + base64.b64encode(b"u:" + good.encode()).decode()},
        "bearer without key": {"Authorization": "Bearer "},
        "bearer with spaces only": {"Authorization": "Bearer     "},
        "other scheme": {"Authorization": "Token " + good},
        "no scheme": {"Authorization": good},
        "overlong": bearer("eh_" + "a" * 8192),
        "non-ASCII": {"Authorization": ("Bearer " + good[:-1] + "é").encode("utf-8")},
        "truncated": bearer(good[:-1]),
        "one character more": bearer(good + "A"),
        "valid prefix, wrong secret": bearer(wrong_secret),
        "prefix only": bearer(prefix_only),
        "unknown key": bearer("eh_0123456789ab_" + "A" * 43),
        "the admin token": bearer(ADMIN_TOKEN),
    }
    for name, headers in cases.items():
        r = requests.get(url, headers=headers, timeout=10)
        assert r.status_code == 401, (name, r.status_code, r.text)
        assert_error(r, 401, "unauthorized")
    # Nothing of the above was a 500 or closed the connection, and the real key still works.
    assert requests.get(url, headers=bearer(good), timeout=10).status_code == 200


def test_revoked_key_is_401_and_read_key_cannot_upload(start_api, tenant, db):
    api = start_api(**QUIET)
    r = upload(api, "app.jsonl", lines(2), headers=tenant.headers("read"))
    assert_error(r, 403, "forbidden")
    assert query(db, "SELECT count(*) FROM jobs")[0][0] == 0  # nothing was stored
    job_id = new_job(api)
    assert requests.get(api.url + f"/api/v1/jobs/{job_id}", headers=tenant.headers("read")).status_code == 200
    r = requests.delete(api.url + f"/api/v1/admin/keys/{tenant.read_key_id}", headers=api.admin_headers)
    assert r.status_code == 204
    wait_for(lambda: requests.get(api.url + f"/api/v1/jobs/{job_id}",
                                  headers=tenant.headers("read")).status_code == 401, timeout=1.0,
             what="the revoked key refused")
    assert_error(requests.get(api.url + f"/api/v1/jobs/{job_id}", headers=tenant.headers("read")), 401,
                 "unauthorized")


def test_access_token_in_a_rest_query_is_refused_and_not_logged(start_api, tenant):
    api = start_api(**QUIET)
    job_id = new_job(api)
    for path in (f"/api/v1/jobs/{job_id}", f"/api/v1/jobs/{job_id}/errors"):
        # Even together with a valid header: the key has leaked into a URL, which proxies log.
        r = requests.get(api.url + path, params={"access_token": tenant.write_key}, headers=api.headers)
        assert_error(r, 401, "unauthorized")
        assert "WebSocket" in r.json()["error"]["message"]
    r = requests.post(api.url + "/api/v1/files/upload", params={"access_token": tenant.write_key},
                      files={"file": ("a.jsonl", lines(1).encode())}, headers=NO_KEY)
    assert_error(r, 401, "unauthorized")
    api.stop()
    assert not leaked_secrets(api.output())
    assert "access_token=" not in api.output()


def test_admin_endpoints_need_the_admin_token(start_api, tenant):
    api = start_api(**QUIET)
    endpoints = [("GET", "/api/v1/admin/tenants", None),
                 ("POST", "/api/v1/admin/tenants", {"name": "x"}),
                 ("POST", f"/api/v1/admin/tenants/{tenant.id}/keys", {"scope": "read"}),
                 ("DELETE", f"/api/v1/admin/keys/{tenant.read_key_id}", None)]
    for method, path, body in endpoints:
        r = requests.request(method, api.url + path, json=body, headers=NO_KEY)
        assert_error(r, 401, "unauthorized")
        r = requests.request(method, api.url + path, json=body, headers=bearer("wrong-" + ADMIN_TOKEN))
        assert_error(r, 401, "unauthorized")
        for key in (tenant.write_key, tenant.read_key):
            r = requests.request(method, api.url + path, json=body, headers=bearer(key))
            assert_error(r, 403, "forbidden")
    # The read key was not revoked by any of the refused calls.
    assert requests.get(api.url + f"/api/v1/jobs/{uuid.uuid4()}", headers=tenant.headers("read")).status_code == 404


def test_admin_endpoints_without_a_configured_token_refuse_everyone(start_api, tenant):
    api = start_api(EH_ADMIN_TOKEN="", **QUIET)
    assert_error(requests.get(api.url + "/api/v1/admin/tenants", headers=bearer("")), 401, "unauthorized")
    assert_error(requests.get(api.url + "/api/v1/admin/tenants", headers=NO_KEY), 401, "unauthorized")


# ---- administration ----------------------------------------------------------------------------

def test_admin_api_creates_tenants_and_keys_that_work_and_revokes_them(start_api, db):
    api = start_api(**QUIET)
    adm = api.admin_headers
    r = requests.post(api.url + "/api/v1/admin/tenants", json={"name": "acme"}, headers=adm)
    assert r.status_code == 201, r.text
    acme = r.json()
    assert set(acme) == {"tenant_id", "name", "created_at"} and acme["name"] == "acme"
    assert_error(requests.post(api.url + "/api/v1/admin/tenants", json={"name": "acme"}, headers=adm), 409,
                 "conflict")
    for bad in ({"name": ""}, {"name": "a b"}, {"name": "x" * 101}, {"name": 3}, {}, [], "acme"):
        r = requests.post(api.url + "/api/v1/admin/tenants", json=bad, headers=adm)
        assert r.status_code == 400, (bad, r.text)
    r = requests.post(api.url + "/api/v1/admin/tenants", data=b"{not json", headers=adm)
    assert r.status_code == 400
    names = [t["name"] for t in requests.get(api.url + "/api/v1/admin/tenants", headers=adm).json()["tenants"]]
    assert "acme" in names and "default" in names

    keys_url = api.url + f"/api/v1/admin/tenants/{acme['tenant_id']}/keys"
    for bad in ({"scope": "admin"}, {}, {"scope": None}):
        assert requests.post(keys_url, json=bad, headers=adm).status_code == 400
    assert_error(requests.post(api.url + f"/api/v1/admin/tenants/{uuid.uuid4()}/keys", json={"scope": "read"},
                               headers=adm), 404, "tenant_not_found")
    r = requests.post(keys_url, json={"scope": "write"}, headers=adm)
    assert r.status_code == 201, r.text
    key = r.json()
    remember_secret(key["key"])
    assert set(key) == {"key_id", "key", "scope", "tenant_id", "created_at"}
    assert key["scope"] == "write" and key["tenant_id"] == acme["tenant_id"]
    # Stored only as a hash, with its public prefix.
    row = query(db, "SELECT prefix, encode(hash, 'hex'), scope FROM api_keys WHERE id = %s", key["key_id"])[0]
    assert row[0] == key["key"][3:15] and key["key"] not in row[1] and row[2] == "write"

    job_id = new_job(api, headers=bearer(key["key"]))
    assert query(db, "SELECT tenant_id::text FROM jobs WHERE id = %s", job_id)[0][0] == acme["tenant_id"]
    assert requests.delete(api.url + f"/api/v1/admin/keys/{key['key_id']}", headers=adm).status_code == 204
    assert requests.delete(api.url + f"/api/v1/admin/keys/{key['key_id']}", headers=adm).status_code == 204
    assert_error(requests.delete(api.url + f"/api/v1/admin/keys/{uuid.uuid4()}", headers=adm), 404, "key_not_found")
    wait_for(lambda: requests.get(api.url + f"/api/v1/jobs/{job_id}", headers=bearer(key["key"])).status_code == 401,
             timeout=1.0, what="revoked key refused")


def test_eh_admin_sets_up_tenants_and_keys_on_the_database(start_api, db):
    api = start_api(**QUIET)
    _, tenant, _ = eh_admin("tenant", "create", "shop")
    assert tenant["name"] == "shop"
    code, _, err = eh_admin("tenant", "create", "shop", check=False)
    assert code == 1 and "exists" in err
    assert eh_admin("tenant", "create", "bad name", check=False)[0] == 2
    assert "shop" in [t["name"] for t in eh_admin("tenant", "list")[1]["tenants"]]
    _, key, _ = eh_admin("key", "create", "shop", "--scope", "write")
    _, by_id, _ = eh_admin("key", "create", tenant["tenant_id"], "--scope", "read")
    assert key["tenant_id"] == by_id["tenant_id"] == tenant["tenant_id"]
    assert eh_admin("key", "create", "nobody", "--scope", "read", check=False)[0] == 1
    assert eh_admin("key", "create", "shop", "--scope", "admin", check=False)[0] == 2
    job_id = new_job(api, headers=bearer(key["key"]))
    assert requests.get(api.url + f"/api/v1/jobs/{job_id}", headers=bearer(by_id["key"])).status_code == 200
    assert upload(api, "a.jsonl", lines(1), headers=bearer(by_id["key"])).status_code == 403
    eh_admin("key", "revoke", key["key_id"])
    assert eh_admin("key", "revoke", str(uuid.uuid4()), check=False)[0] == 1
    wait_for(lambda: requests.get(api.url + f"/api/v1/jobs/{job_id}", headers=bearer(key["key"])).status_code == 401,
             timeout=1.0, what="key revoked by eh-admin refused")


# ---- isolation: another tenant's job does not exist -----------------------------------------------

# Every endpoint that takes a job id. Issues adding job endpoints add their rows here.
JOB_ENDPOINTS = [("GET", "/api/v1/jobs/{id}"), ("GET", "/api/v1/jobs/{id}/errors")]


def test_isolation_matrix_other_tenant_gets_404_everywhere_including_websocket(start_api, start_worker, tenant,
                                                                              make_tenant, db):
    api = start_api(**QUIET)
    start_worker(EH_LINE_DELAY_MAX_MS=0)
    job_a = new_job(api, n=5)
    wait_job(db, job_a)
    b = make_tenant()
    unknown = str(uuid.uuid4())
    for method, pattern in JOB_ENDPOINTS:
        for who in (b.headers("write"), b.headers("read")):
            theirs = requests.request(method, api.url + pattern.format(id=job_a), headers=who)
            nobody = requests.request(method, api.url + pattern.format(id=unknown), headers=who)
            assert theirs.status_code == 404, (pattern, theirs.text)
            # Exactly like an unknown id: same status, same body.
            assert theirs.json() == nobody.json(), pattern
        mine = requests.request(method, api.url + pattern.format(id=job_a), headers=tenant.headers("read"))
        assert mine.status_code == 200, (pattern, mine.text)
    # The WebSocket: by header, by access_token, and a plain GET on the same path.
    assert ws_status(api.port, f"/ws/jobs/{job_a}", headers=b.headers("read")) == 404
    assert ws_status(api.port, f"/ws/jobs/{job_a}?access_token={b.read_key}") == 404
    assert ws_status(api.port, f"/ws/jobs/{job_a}", headers=tenant.headers("read")) == 101
    assert ws_status(api.port, f"/ws/jobs/{job_a}?access_token={tenant.read_key}") == 101
    assert requests.get(api.url + f"/ws/jobs/{job_a}", headers=b.headers("read")).status_code == 404
    assert requests.get(api.url + f"/ws/jobs/{job_a}", headers=tenant.headers("read")).status_code == 426
    # And B's own jobs are B's.
    job_b = new_job(api, headers=b.headers("write"))
    assert requests.get(api.url + f"/api/v1/jobs/{job_b}", headers=tenant.headers("read")).status_code == 404
    assert requests.get(api.url + f"/api/v1/jobs/{job_b}", headers=b.headers("read")).status_code == 200


def test_websocket_needs_a_key_and_an_allowed_origin(start_api, tenant):
    api = start_api(EH_ALLOWED_ORIGINS="https://app.example, https://ops.example", **QUIET)
    job_id = new_job(api)
    path = f"/ws/jobs/{job_id}"
    assert ws_status(api.port, path) == 401
    assert ws_status(api.port, path + "?access_token=") == 401
    assert ws_status(api.port, path + "?access_token=eh_0123456789ab_" + "A" * 43) == 401
    assert ws_status(api.port, path, headers={"Authorization": "Basic eA=="}) == 401
    assert ws_status(api.port, path, headers=tenant.headers("read")) == 101  # not a browser: no Origin
    assert ws_status(api.port, path, headers=tenant.headers("read"), origin="https://app.example") == 101
    assert ws_status(api.port, path + f"?access_token={tenant.read_key}", origin="https://ops.example") == 101
    assert ws_status(api.port, path + f"?access_token={tenant.read_key}", origin="https://evil.example") == 403
    # 401 comes before the Origin check.
    assert ws_status(api.port, path, origin="https://evil.example") == 401
    api.stop()
    assert not leaked_secrets(api.output())


def test_no_browser_origin_is_allowed_by_default(start_api, tenant):
    api = start_api(**QUIET)
    job_id = new_job(api)
    assert ws_status(api.port, f"/ws/jobs/{job_id}?access_token={tenant.read_key}",
                     origin="http://127.0.0.1:8080") == 403


# ---- revocation reaches every API process within a second ---------------------------------------------

def test_revocation_takes_effect_on_every_api_process_within_one_second(start_api, tenant, db):
    apis = [start_api(**QUIET), start_api(**QUIET)]
    job_id = new_job(apis[0])
    key = tenant.read_key
    for a in apis:  # each process has the key in its cache now
        for _ in range(3):
            assert requests.get(a.url + f"/api/v1/jobs/{job_id}", headers=bearer(key)).status_code == 200
    refused_at = {}

    def watch(a):
        while time.monotonic() - start < 3:
            if requests.get(a.url + f"/api/v1/jobs/{job_id}", headers=bearer(key), timeout=5).status_code == 401:
                refused_at[a.port] = time.monotonic() - start
                return
    r = requests.delete(apis[0].url + f"/api/v1/admin/keys/{tenant.read_key_id}", headers=apis[0].admin_headers)
    start = time.monotonic()
    assert r.status_code == 204
    threads = [threading.Thread(target=watch, args=(a,)) for a in apis]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(refused_at) == {a.port for a in apis}, refused_at
    assert max(refused_at.values()) < 1.0, refused_at
    # The write key of the same tenant is untouched.
    assert requests.get(apis[1].url + f"/api/v1/jobs/{job_id}", headers=tenant.headers()).status_code == 200


# ---- limits --------------------------------------------------------------------------------------

def test_rate_limit_gives_429_with_a_retry_after_that_is_honoured(start_api, tenant, make_tenant):
    api = start_api(EH_RATE_LIMIT_RPS=1, EH_RATE_LIMIT_BURST=3, **QUIET)
    url = api.url + f"/api/v1/jobs/{uuid.uuid4()}"
    codes = [requests.get(url, headers=tenant.headers("read")).status_code for _ in range(3)]
    assert codes == [404, 404, 404]
    r = requests.get(url, headers=tenant.headers("read"))
    assert_error(r, 429, "rate_limited")
    retry_after = int(r.headers["Retry-After"])
    assert retry_after >= 1
    # Order of checks: 401 and 403 come before 429; the bucket is per key.
    assert requests.get(url, headers=bearer("eh_0123456789ab_" + "A" * 43)).status_code == 401
    assert requests.get(url, headers=tenant.headers("write")).status_code == 404
    other = make_tenant()
    assert requests.get(url, headers=other.headers("read")).status_code == 404
    time.sleep(retry_after)
    assert requests.get(url, headers=tenant.headers("read")).status_code == 404  # honoured: served again
    # Uploads count too, and a read key on upload is 403 even with its bucket empty.
    for _ in range(3):
        requests.get(url, headers=other.headers("read"))
    assert upload(api, "a.jsonl", lines(1), headers=other.headers("read")).status_code == 403


def test_quota_race_for_the_last_slot_accepts_exactly_one(start_api, tenant, make_tenant, db):
    api = start_api(EH_TENANT_MAX_ACTIVE_JOBS=3, EH_HTTP_THREADS=8, **QUIET)  # no worker: jobs stay queued
    for _ in range(2):
        new_job(api)
    objects_before = len(s3_keys())
    data = lines(50).encode()
    results = []
    barrier = threading.Barrier(8)

    def one():
        barrier.wait()
        results.append(upload(api, "race.jsonl", data, timeout=60))
    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [202] + [429] * 7, codes
    for r in results:
        if r.status_code == 429:
            assert r.json()["error"]["code"] == "quota_exceeded"
    assert query(db, "SELECT count(*) FROM jobs WHERE tenant_id = %s", tenant.id)[0][0] == 3
    assert len(s3_keys()) == objects_before + 1  # the refused uploads left no object behind
    # Another tenant is not affected; a finished job frees a slot.
    other = make_tenant()
    assert upload(api, "b.jsonl", lines(1), headers=other.headers()).status_code == 202
    assert_error(upload(api, "c.jsonl", lines(1)), 429, "quota_exceeded")
    query(db, "UPDATE jobs SET status = 'completed', completed_at = now() WHERE id = "
              "(SELECT id FROM jobs WHERE tenant_id = %s LIMIT 1)", tenant.id)
    assert upload(api, "d.jsonl", lines(1)).status_code == 202
    assert query(db, "SELECT count(*) FROM jobs")[0][0] == 5


# ---- open mode ------------------------------------------------------------------------------------

def test_auth_off_keeps_the_open_mode_with_a_warning(start_api, db):
    api = start_api(EH_AUTH="off", **QUIET)
    r = upload(api, "a.jsonl", lines(2), headers={})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert requests.get(api.url + f"/api/v1/jobs/{job_id}", headers=NO_KEY).status_code == 200
    assert query(db, "SELECT tenant_id::text FROM jobs WHERE id = %s", job_id)[0][0] == \
        "00000000-0000-0000-0000-000000000000"
    assert ws_status(api.port, f"/ws/jobs/{job_id}") == 101
    warnings = [l for l in api.json_lines() if l.get("level") == "warn" and "EH_AUTH=off" in l.get("msg", "")]
    assert warnings
    # The admin endpoints still need the admin token.
    assert requests.get(api.url + "/api/v1/admin/tenants", headers=NO_KEY).status_code == 401


def test_logs_hold_no_key_hash_or_token(start_api, tenant, make_tenant):
    """Drives every path that touches a secret, then greps the whole log (the procs fixture does it for all tests)."""
    api = start_api(EH_LOG_LEVEL="debug", EH_RATE_LIMIT_RPS=1, EH_RATE_LIMIT_BURST=2, **QUIET)
    job_id = new_job(api)
    r = requests.post(api.url + f"/api/v1/admin/tenants/{tenant.id}/keys", json={"scope": "read"},
                      headers=api.admin_headers)
    created = remember_secret(r.json()["key"])
    for key in (tenant.read_key, created, tenant.read_key[:-2] + "xx"):
        for _ in range(3):  # the last one is rate-limited
            requests.get(api.url + f"/api/v1/jobs/{job_id}", headers=bearer(key))
        requests.get(api.url + f"/api/v1/jobs/{job_id}", params={"access_token": key}, headers=bearer(key))
        ws_status(api.port, f"/ws/jobs/{job_id}?access_token={key}")
        ws_status(api.port, f"/ws/jobs/{job_id}", headers=bearer(key), origin="https://evil.example")
    requests.get(api.url + "/api/v1/admin/tenants", headers=bearer("wrong" + ADMIN_TOKEN))
    requests.delete(api.url + f"/api/v1/admin/keys/{r.json()['key_id']}", headers=api.admin_headers)
    api.stop()
    out = api.output()
    assert out.count('"msg":"request"') > 10  # the request lines were written...
    assert not leaked_secrets(out)  # ...without any secret
    assert "access_token=" not in out and "Bearer eh_" not in out
