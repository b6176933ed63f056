"""The OpenAPI document served by eh-api, Swagger UI under /docs, and the response validation itself."""
import json
import os
import subprocess

import pytest
import requests

import openapi_check
from conftest import REPO, response_validation_off

QUIET = {"EH_REPUBLISH_AFTER_MS": 600000}
DOC = os.path.join(REPO, "api", "openapi.json")


@pytest.fixture
def api(start_api):
    return start_api(**QUIET)


def test_served_document_is_the_repository_document(api):
    r = requests.get(api.url + "/api/v1/openapi.json")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.content == open(DOC, "rb").read()  # embedded at build time, byte for byte
    doc = r.json()
    assert doc["openapi"].startswith("3.1.")
    # No authentication needed, even with a wrong key.
    assert requests.get(api.url + "/api/v1/openapi.json", headers={"Authorization": "Bearer nope"}).status_code == 200


def test_document_describes_every_endpoint_of_the_contract():
    doc = json.load(open(DOC))
    ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item if m in ("get", "post", "delete")}
    contract = {
        ("POST", "/api/v1/files/upload"), ("GET", "/api/v1/jobs"), ("GET", "/api/v1/jobs/{job_id}"),
        ("DELETE", "/api/v1/jobs/{job_id}"), ("GET", "/api/v1/jobs/{job_id}/errors"),
        ("GET", "/api/v1/jobs/{job_id}/entries"), ("POST", "/api/v1/jobs/{job_id}/cancel"),
        ("POST", "/api/v1/admin/tenants"), ("GET", "/api/v1/admin/tenants"),
        ("POST", "/api/v1/admin/tenants/{tenant_id}/keys"), ("DELETE", "/api/v1/admin/keys/{key_id}"),
        ("GET", "/api/v1/openapi.json"), ("GET", "/docs"), ("GET", "/graphql"), ("POST", "/graphql"),
        ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/ws/jobs/{job_id}"),
    }
    assert contract <= ops, contract - ops
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"]}
    assert set(doc["components"]["schemas"]["Error"]["properties"]["error"]["required"]) == {"code", "message"}


def test_redocly_lint_with_recommended_rules_passes():
    r = subprocess.run([os.path.join(REPO, "node_modules", ".bin", "redocly"), "lint", "--extends=recommended", DOC],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "valid" in (r.stdout + r.stderr)


def test_swagger_ui_page_and_assets_load_with_their_types(api):
    page = requests.get(api.url + "/docs")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "no-cache"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "cdn" not in page.text.lower() and "http" not in page.text.replace("http-equiv", "")
    init = requests.get(api.url + "/docs/init.js")
    assert init.status_code == 200 and "/api/v1/openapi.json" in init.text
    want = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "application/javascript",
            "swagger-ui-standalone-preset.js": "application/javascript", "favicon-32x32.png": "image/png"}
    for name, ctype in want.items():
        assert f"/docs/{name}" in page.text
        r = requests.get(api.url + "/docs/" + name)
        assert r.status_code == 200, name
        assert r.headers["Content-Type"].split(";")[0] == ctype, (name, r.headers["Content-Type"])
        assert r.headers["Cache-Control"] == "public, max-age=86400"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.content == open(os.path.join(REPO, "node_modules", "swagger-ui-dist", name), "rb").read()
    # Only the listed assets, never a path given by the client.
    assert requests.get(api.url + "/docs/package.json").status_code == 404
    assert requests.get(api.url + "/docs/..%2F..%2Fapi%2Fopenapi.json").status_code == 404


def test_validation_catches_an_undocumented_field_and_status():
    openapi_check.load(DOC)
    good = json.dumps({"status": "ok"}).encode()
    openapi_check.check("GET", "/healthz", 200, {"Content-Type": "application/json"}, good, True)
    with pytest.raises(AssertionError, match="does not match"):
        openapi_check.check("GET", "/healthz", 200, {"Content-Type": "application/json"},
                            json.dumps({"status": "ok", "extra": 1}).encode(), True)
    with pytest.raises(AssertionError, match="does not list"):
        openapi_check.check("GET", "/healthz", 418, {"Content-Type": "application/json"}, good, True)
    with pytest.raises(AssertionError, match="not in the OpenAPI document"):
        openapi_check.check("PATCH", "/healthz", 200, {"Content-Type": "application/json"}, good, True)
    with pytest.raises(AssertionError, match="matches no path"):
        openapi_check.check("GET", "/nowhere", 200, {"Content-Type": "application/json"}, good, True)
    with pytest.raises(AssertionError, match="Content-Type"):
        openapi_check.check("GET", "/healthz", 200, {"Content-Type": "text/plain"}, good, True)


def test_validation_is_on_for_every_request_of_the_tests(api):
    """The session hook is active: a request eh-api answers outside the document fails the calling test."""
    assert requests.Session.send.__name__ == "_validating_send"
    with response_validation_off():
        r = requests.get(api.url + "/docs/nope.js")
    assert r.status_code == 404
    # The same answer is documented (404 of /docs/{asset}), so it passes with the check on as well.
    assert requests.get(api.url + "/docs/nope.js").status_code == 404
