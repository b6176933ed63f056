"""Debian's prometheus with the repository's scrape configuration and rules (deploy/prometheus/), its
targets pointed at the local stack: every target is scraped, and every expression of every dashboard
panel and every rule parses and returns data through Prometheus's HTTP API."""
import json
import os
import re
import subprocess

import requests
import yaml

from conftest import REPO, Proc, base_env, free_port, upload, wait_for, wait_job, wait_worker_ready
from metrics_support import PROMTOOL, example, metrics_port

PROM_DIR = os.path.join(REPO, "deploy", "prometheus")
DASHBOARD = os.path.join(REPO, "deploy", "grafana", "dashboards", "event-horizon.json")
RECORDED = re.compile(r"\beh:[a-z0-9_:]+")


def local_config(targets, tmp_path):
    """The repository's prometheus.yml, job names and rule files kept, each job's targets replaced by the
    local address of the same service, and scraped every second."""
    with open(os.path.join(PROM_DIR, "prometheus.yml")) as f:
        cfg = yaml.safe_load(f)
    jobs = [j["job_name"] for j in cfg["scrape_configs"]]
    assert sorted(jobs) == sorted(targets), f"a scrape job without a local stand-in: {jobs}"
    cfg["global"].update({"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"})
    cfg["rule_files"] = [os.path.join(PROM_DIR, r) for r in cfg["rule_files"]]
    for job in cfg["scrape_configs"]:
        for key in [k for k in job if k.endswith("_sd_configs") or k == "static_configs"]:
            del job[key]
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def api_query(base, expr):
    r = requests.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10)
    body = r.json()
    assert r.status_code == 200 and body["status"] == "success", f"{expr}: {r.status_code} {body}"
    return body["data"]["result"]


def returns_data(base, expr, what, timeout=60):
    """Waits until expr returns at least one sample (a rate needs two scrapes in its window)."""
    return wait_for(lambda: api_query(base, expr), timeout, interval=0.5, what=f"data for {what}: {expr}")


def dashboard_exprs():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]]


def rules():
    with open(os.path.join(PROM_DIR, "rules.yml")) as f:
        doc = yaml.safe_load(f)
    return [r for g in doc["groups"] for r in g["rules"]]


def test_promtool_checks_the_rules_and_the_config():
    for args in (["check", "rules", os.path.join(PROM_DIR, "rules.yml")],
                 ["check", "config", "--syntax-only", os.path.join(PROM_DIR, "prometheus.yml")]):
        p = subprocess.run([PROMTOOL, *args], capture_output=True, timeout=60)
        assert p.returncode == 0, (p.stdout + p.stderr).decode()


def test_every_dashboard_and_rule_expression_returns_data(start_api, start_worker, procs, tmp_path, db):
    api = start_api()
    worker = start_worker(EH_WORKERS=2, EH_REAPER_INTERVAL_MS=500)
    wait_worker_ready(worker, 2)
    exporter_port, prom_port = free_port(), free_port()
    dsn = os.environ["EH_DATABASE_URL"].replace("postgresql://eh@", "postgresql://postgres@") + "?sslmode=disable"
    exporter = Proc("postgres-exporter", ["/usr/bin/prometheus-postgres-exporter",
                                          f"--web.listen-address=127.0.0.1:{exporter_port}"],
                    base_env(DATA_SOURCE_NAME=dsn), tmp_path)
    procs.append(exporter)
    try:
        scrape_and_check(api, worker, db, exporter_port, prom_port, procs, tmp_path)
    finally:
        exporter.stop()  # Go's default on SIGTERM is to die by it (-15): expected, not a failure


def scrape_and_check(api, worker, db, exporter_port, prom_port, procs, tmp_path):
    targets = {
        "eh-api": f"127.0.0.1:{metrics_port(api, 'ready')}",
        "eh-worker": f"127.0.0.1:{metrics_port(worker, 'supervisor ready')}",
        "rabbitmq": f"127.0.0.1:{os.environ['EH_RABBITMQ_PROMETHEUS_PORT']}",
        "postgres": f"127.0.0.1:{exporter_port}",
        "prometheus": f"127.0.0.1:{prom_port}",
    }
    config = local_config(targets, tmp_path)
    prom = Proc("prometheus", ["/usr/bin/prometheus", f"--config.file={config}",
                               f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}",
                               "--log.level=warn"], base_env(), tmp_path)
    procs.append(prom)
    base = f"http://127.0.0.1:{prom_port}"

    def all_up():
        if not prom.alive():
            raise AssertionError(f"prometheus exited:\n{prom.output()[-3000:]}")
        try:
            active = requests.get(f"{base}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        except (requests.RequestException, ValueError):
            return False
        return len(active) == len(targets) and all(t["health"] == "up" for t in active) and active
    wait_for(all_up, 60, interval=0.5, what="every target scraped")

    # Traffic for the panels: uploads, finished jobs, status reads, a 404.
    for name in ("mixed.jsonl", "sample.jsonl"):
        r = upload(api, name, example(name))
        assert r.status_code == 202, r.text
        wait_job(db, r.json()["job_id"], statuses=("completed",))
        assert requests.get(f"{api.url}/api/v1/jobs/{r.json()['job_id']}", timeout=5).status_code == 200
    requests.get(f"{api.url}/nowhere", timeout=5)
    returns_data(base, 'sum(rate(eh_ingest_lines_total{result="valid"}[5m])) > 0', "lines ingested, as a rate")

    checked = 0
    for title, expr in dashboard_exprs():
        returns_data(base, expr, f"panel {title!r}")
        checked += 1
    assert checked >= 20
    recorded = set()
    for rule in rules():
        if "record" in rule:
            returns_data(base, rule["expr"], f"rule {rule['record']}")
            returns_data(base, rule["record"], f"recorded series {rule['record']}")
            recorded.add(rule["record"])
            continue
        # An alert returns samples only while it fires: its expression must evaluate, and the measure
        # it compares must be a recorded series that returns data.
        api_query(base, rule["expr"])
        names = set(RECORDED.findall(rule["expr"]))
        assert names and names <= recorded, (rule["alert"], names)
    alerts = {r["alert"] for r in rules() if "alert" in r}
    assert alerts >= {"EhWorkersDown", "EhQueueBacklogGrowing", "EhJobFailureRatioHigh", "EhApi5xxRatioHigh",
                      "EhApiNotReady"}
    # The measures agree with what happened: one supervisor with 2 workers, nothing failed, all ready.
    assert float(api_query(base, "eh:worker_processes:sum")[0]["value"][1]) == 2
    assert float(api_query(base, "eh:api_ready:min")[0]["value"][1]) == 1
    assert float(api_query(base, "eh:job_failure_ratio:rate15m")[0]["value"][1]) == 0
    firing = api_query(base, 'ALERTS{alertstate="firing"}')
    assert firing == [], firing
