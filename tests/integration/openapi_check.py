"""Every HTTP response eh-api gives the integration tests is checked against api/openapi.json.

conftest.py patches requests.Session.send for the whole session: a response from a port that an Api of the
tests listens on (see conftest.API_PORTS) is looked up in the document by path template, method and status,
and its JSON body is validated (JSON Schema draft 2020-12, as OpenAPI 3.1 uses) against the schema of that
response. An undocumented path+method (other than the 404/405 the document's x-no-such-path /
x-method-not-allowed describe), an undocumented status, a content type the response does not list, or a body
that does not match (an undocumented field included: the schemas say additionalProperties: false) raises
AssertionError in the test that made the request.

Opting out, for a test that sends malformed requests on purpose: mark it with
@pytest.mark.no_response_validation, or wrap the calls in `with response_validation_off():`. Raw sockets and
http.client are never checked (only requests is patched).
"""
import contextlib
import json
import os
import re
import threading

import jsonschema

_state = threading.local()
_doc = None
_routes = None


def load(path):
    global _doc, _routes
    with open(path, encoding="utf-8") as f:
        _doc = json.load(f)
    _routes = []
    for template, item in _doc["paths"].items():
        rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        _routes.append((re.compile(rx), template, item))
    # More literal segments first, so that /api/v1/jobs/{job_id}/errors is not read as another template.
    _routes.sort(key=lambda r: -r[1].count("/") * 100 + r[1].count("{"))
    return _doc


def enabled():
    return getattr(_state, "off", 0) == 0


@contextlib.contextmanager
def response_validation_off():
    _state.off = getattr(_state, "off", 0) + 1
    try:
        yield
    finally:
        _state.off -= 1


def _resolve(obj):
    while isinstance(obj, dict) and "$ref" in obj:
        ref = obj["$ref"]
        assert ref.startswith("#/"), ref
        node = _doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        obj = node
    return obj


def _validator(schema):
    resolver = jsonschema.RefResolver.from_schema(_doc)
    return jsonschema.Draft202012Validator(schema, resolver=resolver,
                                           format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _expected_response(method, path, status):
    """The OpenAPI response object for (method, path, status), or raises AssertionError."""
    for rx, template, item in _routes:
        if not rx.match(path):
            continue
        op = item.get(method.lower()) or (item.get("get") if method == "HEAD" else None)
        if op is None:
            assert status == 405, f"{method} {path} ({template}) is not in the OpenAPI document, yet answered {status}"
            return _resolve(_doc["x-method-not-allowed"]["response"]), template
        responses = op["responses"]
        resp = responses.get(str(status)) or responses.get(f"{status // 100}XX") or responses.get("default")
        assert resp is not None, (f"{method} {template} answered {status}, which the OpenAPI document does not list "
                                  f"(it lists {sorted(responses)})")
        return _resolve(resp), template
    assert status == 404, f"{method} {path} matches no path of the OpenAPI document, yet answered {status}"
    return _resolve(_doc["x-no-such-path"]["response"]), "(no such path)"


def check(method, url_path, status, headers, body_bytes, body_read):
    """Validates one response; body_read False (a streamed response) checks the status and type only."""
    resp, template = _expected_response(method, url_path, status)
    where = f"{method} {template} -> {status}"
    for name, h in (resp.get("headers") or {}).items():
        h = _resolve(h)
        if h.get("required"):
            assert name in headers, f"{where}: header {name} missing"
    content = resp.get("content")
    if not content:
        assert not body_read or not body_bytes or method == "HEAD", \
            f"{where}: the document lists no body, yet one came: {body_bytes[:200]!r}"
        return
    ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    assert ctype in content, f"{where}: Content-Type {ctype!r} not in the document's {sorted(content)}"
    if method == "HEAD" or not body_read or not ctype.endswith("json"):
        return
    schema = content[ctype].get("schema")
    if schema is None:
        return
    try:
        body = json.loads(body_bytes)
    except ValueError as e:
        raise AssertionError(f"{where}: body is not JSON ({e}): {body_bytes[:200]!r}")
    errors = sorted(_validator(schema).iter_errors(body), key=lambda e: list(e.path))
    if errors:
        detail = "; ".join(f"at {'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors[:5])
        raise AssertionError(f"{where}: the body does not match the OpenAPI document: {detail}\n"
                             f"body: {json.dumps(body)[:1000]}")


def default_document():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "api", "openapi.json")
