"""A password in the database URL, as user:password@ or in the query string, never reaches a log line."""
import os
import subprocess
import urllib.parse

import requests

from conftest import BIN_DIR, base_env, wait_for

SECRET_USERINFO = "UserinfoS3cret"
SECRET_QUERY = "QueryS3cret"


def url_with_secrets(port=None):
    u = urllib.parse.urlsplit(os.environ["EH_DATABASE_URL"])
    host = u.hostname
    netloc = f"{u.username}:{SECRET_USERINFO}@{host}:{port or u.port}"
    return urllib.parse.urlunsplit((u.scheme, netloc, u.path, f"sslmode=disable&password={SECRET_QUERY}", ""))


def assert_no_secret(text):
    assert SECRET_USERINFO not in text and SECRET_QUERY not in text, text[-3000:]


def test_database_password_never_logged_when_it_works(start_api):
    # The local server trusts local connections: the passwords are accepted and ignored.
    api = start_api(EH_DATABASE_URL=url_with_secrets(), EH_LOG_LEVEL="debug")
    assert requests.get(api.url + "/readyz", timeout=10).status_code == 200
    assert requests.get(api.url + "/api/v1/jobs/00000000-0000-4000-8000-000000000000", timeout=10).status_code == 404
    out = api.output()
    assert "password=***" in out and ":***@" in out  # the effective configuration is logged, masked
    assert_no_secret(out)


def test_database_password_never_logged_when_it_fails(start_api):
    # Nothing listens on port 1: every connection attempt fails and is logged.
    api = start_api(EH_DATABASE_URL=url_with_secrets(port=1), EH_LOG_LEVEL="debug")
    r = requests.get(api.url + "/readyz", timeout=10)
    assert r.status_code == 503 and r.json()["checks"]["postgres"] == "unavailable"
    assert requests.get(api.url + "/api/v1/jobs/00000000-0000-4000-8000-000000000000", timeout=10).status_code == 503
    wait_for(lambda: "database connection failed" in api.output(), 10, what="a logged connection failure")
    assert_no_secret(api.output())


def test_migrate_never_logs_the_password():
    env = base_env(EH_DATABASE_URL=url_with_secrets(port=1), EH_LOG_LEVEL="debug")
    # Bounded: migrate waits for the database (60 s) before giving up; the first failures are enough here.
    try:
        p = subprocess.run([os.path.join(BIN_DIR, "eh-api"), "migrate"], env=env, capture_output=True, timeout=3)
        out = p.stdout.decode() + p.stderr.decode()
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() + (e.stderr or b"").decode()
    assert "database connection failed" in out
    assert_no_secret(out)
