"""/metrics of eh-api and of the worker supervisor (CONTRACT.md, Metrics), request ids, the client
address behind a trusted proxy, and the PostgreSQL tuning the local server runs with."""
import json
import os
import re
import signal

import psycopg2
import requests

from conftest import REPO, job_row, upload, wait_for, wait_job, wait_worker_ready
from metrics_support import example, metrics_port, parse, promtool_check_metrics, scrape, value

UPLOAD = "/api/v1/files/upload"
JOB = "/api/v1/jobs/{id}"


def start_stack(start_api, start_worker, workers=2, **env):
    api = start_api(**env)
    worker = start_worker(EH_WORKERS=workers, **env)
    wait_worker_ready(worker, workers)
    return api, worker, metrics_port(api, "ready"), metrics_port(worker, "supervisor ready")


def test_both_endpoints_pass_promtool_and_name_the_contract_metrics(start_api, start_worker, db):
    api, worker, api_port, worker_port = start_stack(start_api, start_worker)
    r = upload(api, "mixed.jsonl", example("mixed.jsonl"))
    assert r.status_code == 202, r.text
    wait_job(db, r.json()["job_id"])
    api_text, worker_text = scrape(api_port), scrape(worker_port)
    for text in (api_text, worker_text):
        rc, out = promtool_check_metrics(text)
        assert rc == 0 and out.strip() == "", out
    for name in ("eh_http_requests_total", "eh_http_request_duration_seconds", "eh_upload_bytes_total",
                 "eh_ws_clients", "process_resident_memory_bytes", "process_cpu_seconds_total",
                 "process_open_fds", "process_start_time_seconds", "process_virtual_memory_bytes",
                 "process_max_fds", "eh_ready"):
        assert f"# TYPE {name} " in api_text, name
    for name in ("eh_jobs_total", "eh_ingest_lines_total", "eh_job_duration_seconds", "eh_worker_processes",
                 "eh_queue_messages", "eh_queue_consumers", "eh_worker_jobs_in_flight",
                 "process_resident_memory_bytes", "eh_worker_children_resident_memory_bytes"):
        assert f"# TYPE {name} " in worker_text, name
    assert "# TYPE eh_http_request_duration_seconds histogram" in api_text
    assert "# TYPE eh_job_duration_seconds histogram" in worker_text
    # Routes are labelled by their pattern, never by the raw path.
    assert r.json()["job_id"] not in api_text


def test_counters_move_by_exactly_what_happened(start_api, start_worker, db):
    api, worker, api_port, worker_port = start_stack(start_api, start_worker)
    a0, w0 = parse(scrape(api_port)), parse(scrape(worker_port))
    files = {"mixed.jsonl": example("mixed.jsonl"), "sample.jsonl": example("sample.jsonl")}
    ids = []
    for name, data in files.items():
        r = upload(api, name, data)
        assert r.status_code == 202, r.text
        ids.append(r.json()["job_id"])
    for job_id in ids:
        wait_job(db, job_id, statuses=("completed",))
    statuses = 0
    for job_id in ids:
        assert requests.get(f"{api.url}/api/v1/jobs/{job_id}", timeout=10).status_code == 200
        statuses += 1
    assert requests.get(f"{api.url}/api/v1/jobs/not-a-uuid", timeout=10).status_code == 400
    assert requests.get(f"{api.url}/no/such/path/{ids[0]}", timeout=10).status_code == 404

    def settled():
        a, w = parse(scrape(api_port)), parse(scrape(worker_port))
        # a request is counted when libmicrohttpd completes it, just after the client has its answer
        done = value(a, "eh_http_request_duration_seconds_count", route=JOB) - \
            value(a0, "eh_http_request_duration_seconds_count", route=JOB)
        if value(a, "eh_http_requests_total", route="unmatched", method="GET", code="404") < 1 or \
                done < statuses + 1:
            return None
        return a, w
    a1, w1 = wait_for(settled, 10, what="the last request counted")

    def delta(before, after, name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)
    # mixed.jsonl: 7 valid, 8 invalid, 1 blank (examples/README.md); sample.jsonl: 50 valid
    assert delta(w0, w1, "eh_ingest_lines_total", result="valid") == 57
    assert delta(w0, w1, "eh_ingest_lines_total", result="invalid") == 8
    assert delta(w0, w1, "eh_ingest_lines_total", result="blank") == 1
    assert delta(w0, w1, "eh_jobs_total", status="completed") == 2
    assert delta(w0, w1, "eh_jobs_total", status="failed") == 0
    assert delta(w0, w1, "eh_job_duration_seconds_count") == 2
    assert value(w1, "eh_worker_processes") == 2
    assert value(w1, "eh_worker_jobs_in_flight") == 0
    assert delta(a0, a1, "eh_upload_bytes_total") == sum(len(d) for d in files.values())
    assert delta(a0, a1, "eh_uploads_total") == 2
    assert delta(a0, a1, "eh_http_requests_total", route=UPLOAD, method="POST", code="202") == 2
    assert delta(a0, a1, "eh_http_requests_total", route=JOB, method="GET", code="200") == statuses
    assert delta(a0, a1, "eh_http_requests_total", route=JOB, method="GET", code="400") == 1
    assert delta(a0, a1, "eh_http_request_duration_seconds_count", route=JOB) == statuses + 1
    assert delta(a0, a1, "eh_http_request_duration_seconds_count", route=UPLOAD) == 2
    assert value(a1, "eh_http_requests_in_flight") == 0
    assert value(a1, "eh_ready") == 1
    for dep in ("postgres", "rabbitmq", "s3"):
        assert value(a1, "eh_ready_dependency", dependency=dep) == 1


def test_worker_endpoint_sums_children_and_survives_a_restart(start_api, start_worker, db):
    api, worker, api_port, worker_port = start_stack(start_api, start_worker, workers=2)
    r = upload(api, "sample.jsonl", example("sample.jsonl"))
    wait_job(db, r.json()["job_id"], statuses=("completed",))
    before = parse(scrape(worker_port))
    assert value(before, "eh_ingest_lines_total", result="valid") == 50
    # Kill one consumer: its counts stay in the sum, the supervisor counts the restart.
    children = [l["child_pid"] for l in worker.json_lines()
                if l.get("msg") == "child started" and l.get("kind") == "worker"]
    os.kill(children[0], signal.SIGKILL)
    wait_for(lambda: value(parse(scrape(worker_port)), "eh_worker_restarts_total") == 1, 30,
             what="the restart counted")
    wait_for(lambda: value(parse(scrape(worker_port)), "eh_worker_processes") == 2, 30, what="2 workers again")
    after = parse(scrape(worker_port))
    assert value(after, "eh_ingest_lines_total", result="valid") == 50
    r = upload(api, "mixed.jsonl", example("mixed.jsonl"))
    wait_job(db, r.json()["job_id"], statuses=("completed",))
    wait_for(lambda: value(parse(scrape(worker_port)), "eh_ingest_lines_total", result="valid") == 57, 10,
             what="57 valid lines")


def test_queue_depth_and_consumers_come_from_the_broker(start_api, start_worker, db):
    api = start_api()
    worker = start_worker(EH_WORKERS=2, EH_REAPER_INTERVAL_MS=200)
    wait_worker_ready(worker, 2)
    port = metrics_port(worker, "supervisor ready")
    wait_for(lambda: value(parse(scrape(port)), "eh_queue_consumers", queue="eh.jobs") == 2, 20,
             what="2 consumers seen by the reaper")
    samples = parse(scrape(port))
    assert value(samples, "eh_queue_messages", queue="eh.jobs") == 0
    assert value(samples, "eh_jobs_current", status="queued") == 0


def test_metrics_off_serves_nothing_and_changes_nothing_else(start_api, start_worker, db):
    api = start_api(EH_METRICS="off")
    worker = start_worker(EH_WORKERS=1, EH_METRICS="off")
    wait_worker_ready(worker, 1)
    assert metrics_port(api, "ready") == 0
    assert metrics_port(worker, "supervisor ready") == 0
    r = upload(api, "mixed.jsonl", example("mixed.jsonl"))
    assert r.status_code == 202
    row = wait_job(db, r.json()["job_id"], statuses=("completed",))
    assert row["entries_ingested"] == 7


def test_metrics_listener_answers_only_metrics(start_api):
    api = start_api()
    port = metrics_port(api, "ready")
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 404
    assert requests.post(f"http://127.0.0.1:{port}/metrics", data=b"x", timeout=5).status_code == 405
    assert requests.get(f"http://127.0.0.1:{port}/metrics?x=1", timeout=5).status_code == 200


def test_request_id_is_kept_returned_logged_and_reaches_the_worker(start_api, start_worker, db):
    api = start_api()
    worker = start_worker(EH_WORKERS=1)
    wait_worker_ready(worker, 1)
    r = requests.post(api.url + UPLOAD, files={"file": ("m.jsonl", example("mixed.jsonl"))},
                      headers={"X-Request-Id": "trace-77.a:b_c"}, timeout=30)
    assert r.status_code == 202
    assert r.headers["X-Request-Id"] == "trace-77.a:b_c"
    job_id = r.json()["job_id"]
    try:
        wait_job(db, job_id, statuses=("completed",))
    except AssertionError as e:
        raise AssertionError(f"{e}\njob: {job_row(db, job_id)}\nworker:\n{worker.output()[-3000:]}\n"
                             f"api:\n{api.output()[-2000:]}") from None
    with db.cursor() as cur:
        cur.execute("SELECT request_id FROM jobs WHERE id = %s", (job_id,))
        assert cur.fetchone()[0] == "trace-77.a:b_c"
    # the api's request line and upload line
    api_lines = [l for l in api.json_lines() if l.get("request_id") == "trace-77.a:b_c"]
    assert {l["msg"] for l in api_lines} >= {"request", "upload accepted"}
    # every worker line about the job names the request
    def worker_lines():
        got = [l for l in worker.json_lines() if l.get("job_id") == job_id]
        return got if any(l.get("msg") == "job completed" for l in got) else None
    job_lines = wait_for(worker_lines, 30, what="the worker's lines about the job")
    assert len(job_lines) >= 2
    assert all(l.get("request_id") == "trace-77.a:b_c" for l in job_lines), job_lines
    # a missing or insane id is replaced by a new one
    for sent in (None, "has space", "x" * 65, "é"):
        headers = {} if sent is None else {"X-Request-Id": sent.encode()}
        got = requests.get(api.url + "/healthz", headers=headers, timeout=5).headers["X-Request-Id"]
        assert re.fullmatch(r"[0-9a-f]{32}", got), got
    ids = {requests.get(api.url + "/healthz", timeout=5).headers["X-Request-Id"] for _ in range(20)}
    assert len(ids) == 20


def test_client_address_from_forwarded_for_only_behind_a_trusted_proxy(start_api):
    trusting = start_api(EH_TRUSTED_PROXIES="127.0.0.1")
    distrusting = start_api()
    for api in (trusting, distrusting):
        requests.get(api.url + "/healthz", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9",
                                                    "X-Request-Id": "xff-test"}, timeout=5)

    def client(api):
        lines = [l for l in api.json_lines() if l.get("msg") == "request" and l.get("request_id") == "xff-test"]
        return lines[0]["client"] if lines else None
    assert wait_for(lambda: client(trusting), 5) == "203.0.113.9"
    assert wait_for(lambda: client(distrusting), 5) == "127.0.0.1"


def test_bad_trusted_proxies_stop_the_api(start_api):
    api = start_api(wait=False, EH_TRUSTED_PROXIES="10.0.0.0/40")
    api.expected_exit = 1
    wait_for(lambda: not api.alive(), 20, what="eh-api to refuse the setting")
    assert "EH_TRUSTED_PROXIES" in api.output()


def test_local_postgres_runs_with_the_deployed_tuning():
    """deploy/postgres/tuning.conf is the one source: scripts/services.sh's server took every value from it."""
    path = os.path.join(REPO, "deploy", "postgres", "tuning.conf")
    names = [m.group(1) for m in (re.match(r"^\s*([a-z_]+)\s*=", l) for l in open(path)) if m]
    assert len(names) >= 10
    dsn = os.environ["EH_DATABASE_URL"].replace("postgresql://eh@", "postgresql://postgres@")
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT name, sourcefile FROM pg_settings WHERE name = ANY(%s)", (names,))
            sources = dict(cur.fetchall())
    finally:
        conn.close()
    assert set(sources) == set(names)
    for name in names:
        if name == "max_connections":  # raised by services.sh for the test suite, after the include
            assert sources[name].endswith("postgresql.conf")
            continue
        assert os.path.realpath(sources[name] or "") == os.path.realpath(path), (name, sources[name])


def test_dashboard_structure():
    """No Grafana here: the provisioned dashboard's JSON is checked instead."""
    with open(os.path.join(REPO, "deploy", "grafana", "dashboards", "event-horizon.json")) as f:
        dash = json.load(f)
    assert dash["schemaVersion"] >= 36
    assert dash["uid"] and dash["title"]
    with open(os.path.join(REPO, "deploy", "grafana", "provisioning", "datasources", "prometheus.yml")) as f:
        ds_uid = re.search(r"uid:\s*(\S+)", f.read()).group(1)
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), ids
    for p in dash["panels"]:
        assert p["datasource"] == {"type": "prometheus", "uid": ds_uid}, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["expr"].strip(), p["title"]
            assert t.get("datasource", p["datasource"])["uid"] == ds_uid
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        assert {"h", "w", "x", "y"} <= set(p["gridPos"])
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for topic in ("upload", "latency", "jobs by state", "ingested lines", "job duration", "queue", "worker",
                  "websocket", "memory"):
        assert topic in titles, topic
