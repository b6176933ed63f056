"""bench/metrics: ingest and status throughput with EH_METRICS on vs off, alternated in one run.

Run through bench/metrics/run.sh, which provides the services and a release build.
"""
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid

import psycopg2
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench", "ingest"))
import ingest  # noqa: E402  (generate, s3_put_file, publish, wait_connected)

API = os.path.join(ROOT, "build", "release", "bin", "eh-api")
WORKER = os.path.join(ROOT, "build", "release", "bin", "eh-worker")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics_port(log_path, msg):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(log_path) as f:
            for line in f:
                if f'"msg":"{msg}"' in line:
                    return json.loads(line).get("metrics_port", 0)
        time.sleep(0.05)
    sys.exit(f"bench: no '{msg}' line in {log_path}")


class Scraper:
    """Scrapes /metrics every second while it runs, as Prometheus would (nothing when the port is 0)."""

    def __init__(self, port):
        self.port, self.stop, self.count = port, threading.Event(), 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while self.port and not self.stop.wait(1.0):
            requests.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5)
            self.count += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU of pid and of its live children (the supervisor's forked workers)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state; ppid is fields[1], utime and stime are fields[11] and fields[12].
        if int(entry) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total * TICK_S


def ingest_once(conn, work, key, n, size, mode):
    job_id = str(uuid.uuid4())
    with conn.cursor() as cur:
        cur.execute("INSERT INTO jobs (id, file_name, object_key, size_bytes, lines_total) "
                    "VALUES (%s, 'bench.jsonl', %s, %s, %s)", (job_id, key, size, n))
    env = dict(os.environ, EH_WORKERS="1", EH_LINE_DELAY_MAX_MS="0", EH_METRICS=mode,
               EH_WORKER_METRICS_ADDR="127.0.0.1:0")
    log_path = os.path.join(work, f"worker-{mode}-{job_id[:8]}.log")
    with open(log_path, "w") as log:
        w = subprocess.Popen([WORKER], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        ingest.wait_connected(log_path)
        with Scraper(metrics_port(log_path, "supervisor ready")):
            t0 = time.monotonic()
            ingest.publish(json.dumps({"job_id": job_id, "object_key": key}))
            while True:
                with conn.cursor() as cur:
                    cur.execute("SELECT status, entries_ingested FROM jobs WHERE id = %s", (job_id,))
                    status, entries = cur.fetchone()
                if status in ("completed", "failed"):
                    break
                time.sleep(0.02)
            elapsed = time.monotonic() - t0
            cpu = cpu_seconds(w.pid)
    finally:
        w.terminate()
        w.wait(timeout=60)
    if status != "completed" or entries != n:
        sys.exit(f"bench: job ended {status} with {entries} entries; see {log_path}")
    with conn.cursor() as cur:
        cur.execute("DELETE FROM log_entries WHERE job_id = %s", (job_id,))
    return n / elapsed, cpu / n * 1e6


def status_once(work, duration, mode):
    port = free_port()
    env = dict(os.environ, EH_HTTP_PORT=str(port), EH_SPOOL_DIR=work, EH_METRICS=mode, EH_AUTH="off",
               EH_API_METRICS_ADDR="127.0.0.1:0")
    log_path = os.path.join(work, f"api-{mode}-{port}.log")
    with open(log_path, "w") as log:
        api = subprocess.Popen([API], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                sys.exit(f"bench: eh-api did not start; see {log_path}")
            time.sleep(0.1)
        r = requests.post(base + "/api/v1/files/upload", timeout=30, files={
            "file": ("one.jsonl", b'{"timestamp":"2026-11-21T10:00:00Z","level":"info","message":"hello"}\n')})
        url = f"{base}/api/v1/jobs/{r.json()['job_id']}"
        with Scraper(metrics_port(log_path, "ready")):
            cpu0 = cpu_seconds(api.pid)
            out = subprocess.run(["wrk", "-t2", "-c64", f"-d{duration}", url], capture_output=True, text=True,
                                 check=True).stdout
            cpu = cpu_seconds(api.pid) - cpu0
    finally:
        api.terminate()
        api.wait(timeout=60)
    if "Non-2xx" in out:
        sys.exit(f"bench: non-2xx answers:\n{out}")
    done = int(re.search(r"(\d+) requests in", out).group(1))
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), cpu / done * 1e6


def main():
    work = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    duration = sys.argv[4] if len(sys.argv) > 4 else "5s"
    path = os.path.join(work, "bench.jsonl")
    size = ingest.generate(path, n)
    key = f"uploads/{uuid.uuid4()}.jsonl"
    ingest.s3_put_file(key, path)
    conn = psycopg2.connect(os.environ["EH_DATABASE_URL"])
    conn.autocommit = True
    results = {(what, m): [] for what in ("ingest", "status", "ingest_cpu", "status_cpu") for m in ("on", "off")}
    for r in range(rounds):
        # Alternate which mode goes first, so that a drift of the machine hits both alike.
        for mode in (("on", "off") if r % 2 == 0 else ("off", "on")):
            rate, cpu = ingest_once(conn, work, key, n, size, mode)
            results[("ingest", mode)].append(rate)
            results[("ingest_cpu", mode)].append(cpu)
            print(f"  round {r + 1} ingest  metrics {mode:3}: {rate:10.0f} lines/s     "
                  f"{cpu:8.2f} us CPU/line (eh-worker)", flush=True)
            rps, cpu = status_once(work, duration, mode)
            results[("status", mode)].append(rps)
            results[("status_cpu", mode)].append(cpu)
            print(f"  round {r + 1} status  metrics {mode:3}: {rps:10.0f} requests/s  "
                  f"{cpu:8.2f} us CPU/request (eh-api)", flush=True)
    conn.close()
    print()
    print(f"| medians of {rounds} rounds | metrics off | metrics on | cost |")
    print("|---|---:|---:|---:|")
    for what, unit in (("ingest", "lines/s"), ("status", "requests/s")):
        off = statistics.median(results[(what, "off")])
        on = statistics.median(results[(what, "on")])
        print(f"| {what} ({unit}) | {off:,.0f} | {on:,.0f} | {(off - on) / off * 100:+.1f} % |")
    # CPU per unit of work: what counting adds to the process's own work, far less sensitive to the other
    # processes sharing the cores than a rate is (a rate also moves with PostgreSQL, wrk and the scheduler).
    for what, unit in (("ingest_cpu", "us CPU per line, eh-worker"), ("status_cpu", "us CPU per request, eh-api")):
        off = statistics.median(results[(what, "off")])
        on = statistics.median(results[(what, "on")])
        print(f"| {what.split('_')[0]} ({unit}) | {off:.2f} | {on:.2f} | {(on - off) / off * 100:+.1f} % |")


if __name__ == "__main__":
    main()
