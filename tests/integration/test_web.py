import pytest
"""The web page served at /: its headers, and the page itself driven in Debian's
Chromium (tests/browser/web_scenarios.mjs through playwright-core) against the
real services. Screenshots of each screen go to build/screenshots (or
EH_SCREENSHOT_DIR)."""
import json
import os
import re
import subprocess

import requests

from conftest import REPO

NODE_SCRIPT = os.path.join(REPO, "tests", "browser", "web_scenarios.mjs")
SHOTS = os.environ.get("EH_SCREENSHOT_DIR", os.path.join(REPO, "build", "screenshots"))


def browse(api, scenario, key=None, timeout=180):
    if key is None:
        key = getattr(api, "key", None) or ""  # the test tenant's write key, where eh-api identifies callers
    env = dict(os.environ, EH_URL=api.url, EH_API_KEY=key, EH_SCREENSHOT_DIR=SHOTS, EH_REPO_ROOT=REPO)
    p = subprocess.run(["node", NODE_SCRIPT, scenario], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, f"{scenario}: {p.stderr}\n{p.stdout}"
    found = json.loads(p.stdout.strip().splitlines()[-1])
    assert found["shots"]
    for name in found["shots"]:
        assert os.path.getsize(os.path.join(SHOTS, f"{name}.png")) > 1000, name
    return found


def test_static_files_headers_and_revalidation(start_api):
    api = start_api()
    r = requests.get(api.url + "/", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["Cache-Control"] == "no-cache" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert re.fullmatch(r'"[0-9a-f]{16}"', r.headers["ETag"])
    assert '<script type="module" src="/web/app.js">' in r.text and "<script>" not in r.text
    with open(os.path.join(REPO, "api", "web", "index.html"), "rb") as f:
        assert r.content == f.read()  # the bytes of api/web, compiled in
    again = requests.get(api.url + "/", headers={"If-None-Match": r.headers["ETag"]}, timeout=10)
    assert again.status_code == 304 and again.content == b""
    for name, ctype in (("app.js", "text/javascript; charset=utf-8"), ("api.js", "text/javascript; charset=utf-8"),
                        ("style.css", "text/css; charset=utf-8")):
        r = requests.get(f"{api.url}/web/{name}", timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"] == ctype, name
        assert "Content-Security-Policy" in r.headers
    r = requests.get(api.url + "/web/nope.js", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert requests.post(api.url + "/", timeout=10).status_code == 405


def test_browser_upload_progress_counts_and_error_report(start_api, start_worker):
    api = start_api()
    start_worker(EH_LINE_DELAY_MAX_MS=30)
    found = browse(api, "upload")
    assert found["upload_bar"] == 100 and found["ingest_bar"] == 100
    assert found["error_rows"] == 8  # examples/mixed.jsonl has 8 invalid lines


def test_browser_narrow_screen_and_keyboard_upload(start_api, start_worker):
    api = start_api()
    start_worker()
    found = browse(api, "narrow")
    assert found["scroll_width"] <= 375



def test_browser_wrong_key_is_refused_in_words(start_api):
    api = start_api()
    found = browse(api, "wrongkey")
    assert "API key was not accepted" in found["alert"]


def test_browser_entries_filtered_by_level(start_api, start_worker):
    api = start_api()
    start_worker()
    found = browse(api, "entries")
    assert found["level_rows"] > 0


def test_browser_cancel_a_slow_job(start_api, start_worker):
    api = start_api()
    start_worker(EH_LINE_DELAY_MAX_MS=2000)
    found = browse(api, "cancel")
    assert found["api_status"] == "cancelled"
