"""bench/ws: WebSocket fan-out of eh-api under many concurrent clients.

Starts a release eh-api, uploads JOBS small jobs, opens CLIENTS WebSockets
(CLIENTS / JOBS per job) from build/release/bench/ws_clients (bench/ws/ws_clients.c:
one C process, one thread, so that the clients add little to the latency they
measure), then starts a release eh-worker pool with a small per-line delay so
that every job streams started / progress / completed events. For every event
but the snapshot, the latency is the client's receipt time minus the event's
"emitted_at" (stamped by the worker just before it publishes; same machine,
same clock). Prints p50 / p99 / max latency, the
terminal events lost (clients that never saw completed/failed: must be 0),
the close codes, and eh-api's RSS (idle, all connected, peak VmHWM).

Run through bench/ws/run.sh, which provides the services. BENCH_WS_CLIENT=python
uses the former asyncio clients instead (BENCH_WS_CLIENT_PROCS processes, default
2; they need the websockets module), for comparison: on 2 cores they add most of
the p99 themselves.
"""
import asyncio
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

import pika
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "build", "release", "bin")
# BENCH_WS_CLIENTS_BIN: another build of it (e.g. build/asan/bench/ws_clients).
WS_CLIENTS = os.environ.get("BENCH_WS_CLIENTS_BIN", os.path.join(ROOT, "build", "release", "bench", "ws_clients"))
CLIENT_KIND = os.environ.get("BENCH_WS_CLIENT", "c")
LINES_PER_JOB = 100
LINE_DELAY_MAX_MS = 40
WORKERS = 25
CLIENT_PROCS = int(os.environ.get("BENCH_WS_CLIENT_PROCS", "2"))
CONNECT_CONCURRENCY = 100
RUN_TIMEOUT_S = 300


def say(msg):
    print(f"bench-ws: {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0  # MiB
    return float("nan")


def emitted(e):
    return datetime.strptime(e["emitted_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


async def one_client(url, sem, connected, all_connected, total):
    import websockets  # only for BENCH_WS_CLIENT=python
    from websockets.exceptions import ConnectionClosed
    lat, final, code = [], False, None
    async with sem:
        ws = await websockets.connect(url, open_timeout=120, close_timeout=10, max_size=1 << 20)
    connected[0] += 1
    if connected[0] == total:
        all_connected.set()
    try:
        async for msg in ws:
            now = time.time()
            e = json.loads(msg)
            if e["event"] != "snapshot":
                lat.append(now - emitted(e))
            if e["event"] in ("completed", "failed") or (e["event"] == "snapshot" and e["status"] in
                                                         ("completed", "failed")):
                final = True
    except ConnectionClosed:
        pass
    code = ws.close_code
    return lat, final, code


async def clients_main(port, job_ids, per_job, ready_q):
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
    connected, all_connected = [0], asyncio.Event()
    total = len(job_ids) * per_job
    tasks = [asyncio.create_task(one_client(f"ws://127.0.0.1:{port}/ws/jobs/{j}", sem, connected, all_connected,
                                            total))
             for j in job_ids for _ in range(per_job)]
    await asyncio.wait_for(all_connected.wait(), 120)
    ready_q.put("ready")
    return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), RUN_TIMEOUT_S)


def client_proc(port, job_ids, per_job, ready_q, result_q):
    try:
        results = asyncio.run(clients_main(port, job_ids, per_job, ready_q))
    except Exception as exc:  # reported by the parent
        ready_q.put(f"error: {exc!r}")
        result_q.put({"error": repr(exc)})
        return
    lat, lost, codes, errors = [], 0, {}, 0
    for r in results:
        if isinstance(r, BaseException):
            errors += 1
            lost += 1
            continue
        l, final, code = r
        lat.extend(l)
        lost += 0 if final else 1
        codes[code] = codes.get(code, 0) + 1
    result_q.put({"lat": lat, "lost": lost, "codes": codes, "errors": errors})


class PyClients:
    """The asyncio clients in CLIENT_PROCS forked processes (BENCH_WS_CLIENT=python)."""

    def __init__(self, port, job_ids, per_job, logdir):
        ctx = multiprocessing.get_context("fork")
        self.ready_q, self.result_q = ctx.Queue(), ctx.Queue()
        shares = [job_ids[i::CLIENT_PROCS] for i in range(CLIENT_PROCS)]
        self.procs = [ctx.Process(target=client_proc, args=(port, share, per_job, self.ready_q, self.result_q))
                      for share in shares]
        for p in self.procs:
            p.start()

    def wait_connected(self):
        for _ in self.procs:
            msg = self.ready_q.get(timeout=180)
            if msg != "ready":
                sys.exit(f"bench-ws: clients failed to connect: {msg}")
        return 0

    def results(self):
        results = [self.result_q.get(timeout=RUN_TIMEOUT_S + 60) for _ in self.procs]
        for p in self.procs:
            p.join(30)
        if any("error" in r for r in results):
            sys.exit(f"bench-ws: a client process failed: {[r.get('error') for r in results]}")
        codes = {}
        for r in results:
            for k, v in r["codes"].items():
                codes[k] = codes.get(k, 0) + v
        return {"lat_ms": [x * 1000.0 for r in results for x in r["lat"]], "lost": sum(r["lost"] for r in results),
                "errors": sum(r["errors"] for r in results), "codes": codes, "note": ""}

    def stop(self):
        for p in self.procs:
            if p.is_alive():
                p.terminate()


class CClients:
    """bench/ws/ws_clients.c: one process, one thread; see its header for the protocol."""

    def __init__(self, port, job_ids, per_job, logdir):
        if not os.access(WS_CLIENTS, os.X_OK):
            sys.exit(f"bench-ws: {WS_CLIENTS} is missing: make MODE=release build/release/bench/ws_clients")
        self.log = os.path.join(logdir, "ws_clients.log")
        self.samples = os.path.join(logdir, "ws_samples.tsv")
        self.proc = subprocess.Popen([WS_CLIENTS, "-p", str(port), "-n", str(per_job), "-i", str(CONNECT_CONCURRENCY),
                                      "-T", "120", "-t", str(RUN_TIMEOUT_S), "-o", self.samples] + job_ids,
                                     stdout=subprocess.PIPE, stderr=open(self.log, "wb"), text=True)

    def wait_connected(self):
        # ws_clients bounds the wait itself (-T) and prints this line either way.
        line = self.proc.stdout.readline()
        if not line:
            sys.exit(f"bench-ws: ws_clients exited (rc {self.proc.wait()}) before connecting; log in {self.log}")
        r = json.loads(line)
        if r["failed"] or r["connected"] != r["clients"]:
            say(f"WARNING: only {r['connected']} of {r['clients']} clients connected ({r['failed']} failed); "
                f"see {self.log}")
        return r["failed"]

    def results(self):
        out, _ = self.proc.communicate(timeout=RUN_TIMEOUT_S + 60)
        if self.proc.returncode != 0 or not out.strip():
            sys.exit(f"bench-ws: ws_clients failed (rc {self.proc.returncode}); log in {self.log}")
        r = json.loads(out.strip().splitlines()[-1])
        lat = []
        with open(self.samples) as f:
            for line in f:
                _, _, event, _, ms, _ = line.rstrip("\n").split("\t")
                if event != "snapshot" and ms != "-":
                    lat.append(float(ms))
        note = (f"frames {r['frames']} (unparsable {r['bad_frames']}), still open at the end {r['still_open']}, "
                f"ws_clients CPU {r['cpu_s']:.2f} s"
                f"{', TIMED OUT' if r['timed_out'] else ''}")
        return {"lat_ms": lat, "lost": r["lost"], "errors": r["errors"],
                "codes": {int(k): v for k, v in r["codes"].items()}, "note": note}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class BrokerProbe(threading.Thread):
    """A plain AMQP subscriber to eh.progress: the same latency without the relay, for comparison."""

    def __init__(self):
        super().__init__(daemon=True)
        self.lat, self.stop = [], threading.Event()
        self.conn = pika.BlockingConnection(pika.URLParameters(os.environ["EH_AMQP_URL"]))
        self.ch = self.conn.channel()
        self.ch.exchange_declare("eh.progress", exchange_type="topic", durable=True)
        self.queue = self.ch.queue_declare("", exclusive=True, auto_delete=True).method.queue
        self.ch.queue_bind(self.queue, "eh.progress", routing_key="job.*")

    def run(self):
        for method, _, body in self.ch.consume(self.queue, auto_ack=True, inactivity_timeout=0.2):
            if self.stop.is_set():
                break
            if method is not None:
                self.lat.append(time.time() - emitted(json.loads(body)))
        self.ch.cancel()
        self.conn.close()


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * (len(values) - 1)))))
    return values[k]


def main():
    clients = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    per_job = max(1, clients // jobs)
    logdir = tempfile.mkdtemp(prefix="bench-ws-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EH_") or k in (
        "EH_DATABASE_URL", "EH_AMQP_URL", "EH_S3_ENDPOINT", "EH_S3_BUCKET", "EH_S3_ACCESS_KEY", "EH_S3_SECRET_KEY")}
    # EH_AUTH=off: this measures the relay; the key check is measured by bench/status.
    api_env = dict(env, EH_HTTP_PORT=str(port), EH_LOG_LEVEL="warn", EH_SPOOL_DIR=logdir,
                   EH_HTTP_MAX_CONNECTIONS="4096", EH_AUTH="off")
    api = subprocess.Popen([os.path.join(BIN, "eh-api")], env=api_env, stdout=open(os.path.join(logdir, "api.log"),
                           "wb"), stderr=subprocess.STDOUT)
    worker = clients_run = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or api.poll() is not None:
                sys.exit(f"bench-ws: eh-api did not start (log in {logdir})")
            time.sleep(0.1)
        body = "".join(json.dumps({"timestamp": "2026-11-21T10:00:00.000Z", "level": "info", "service": "bench",
                                   "message": f"line {i}"}) + "\n" for i in range(LINES_PER_JOB))
        job_ids = []
        for _ in range(jobs):
            r = requests.post(f"http://127.0.0.1:{port}/api/v1/files/upload",
                              files={"file": ("bench.jsonl", body)}, timeout=60)
            if r.status_code != 202:
                sys.exit(f"bench-ws: upload failed: {r.status_code} {r.text[:200]}")
            job_ids.append(r.json()["job_id"])
        rss_idle = proc_status(api.pid, "VmRSS")

        t_connect = time.time()
        clients_run = (PyClients if CLIENT_KIND == "python" else CClients)(port, job_ids, per_job, logdir)
        clients_run.wait_connected()
        connect_s = time.time() - t_connect
        rss_connected = proc_status(api.pid, "VmRSS")

        probe = BrokerProbe()
        probe.start()
        t0 = time.time()
        worker = subprocess.Popen([os.path.join(BIN, "eh-worker")],
                                  env=dict(env, EH_WORKERS=str(WORKERS), EH_LINE_DELAY_MAX_MS=str(LINE_DELAY_MAX_MS),
                                           EH_BATCH_MS="200", EH_LOG_LEVEL="warn"),
                                  stdout=open(os.path.join(logdir, "worker.log"), "wb"), stderr=subprocess.STDOUT)
        res = clients_run.results()
        run_s = time.time() - t0
        rss_peak = proc_status(api.pid, "VmHWM")
        probe.stop.set()
        probe.join(10)
    finally:
        if clients_run is not None:
            clients_run.stop()
        for p in (worker, api):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()

    ms, lost, errors, codes = res["lat_ms"], res["lost"], res["errors"], res["codes"]
    kind = "Python" if CLIENT_KIND == "python" else "C"
    say(f"{per_job * jobs} {kind} clients on {jobs} jobs ({LINES_PER_JOB} lines each, EH_LINE_DELAY_MAX_MS="
        f"{LINE_DELAY_MAX_MS}, {WORKERS} workers); all connected in {connect_s:.1f}s; jobs done in {run_s:.1f}s")
    say(f"events received (snapshots excluded): {len(ms)}" + (f"; {res['note']}" if res["note"] else ""))
    say(f"latency emitted_at -> client receipt: p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms, "
        f"max {max(ms) if ms else float('nan'):.1f} ms")
    pm = [x * 1000.0 for x in probe.lat]
    say(f"for comparison, a plain AMQP subscriber (no relay): p50 {percentile(pm, 50):.1f} ms, "
        f"p99 {percentile(pm, 99):.1f} ms over {len(pm)} events")
    not_1000 = sum(v for k, v in codes.items() if k != 1000)
    say(f"terminal events lost: {lost} (client errors: {errors}); closes not 1000: {not_1000}; close codes: {codes}")
    say(f"eh-api RSS: idle {rss_idle:.1f} MiB, {per_job * jobs} connected {rss_connected:.1f} MiB, "
        f"peak (VmHWM) {rss_peak:.1f} MiB")
    say(f"logs in {logdir}")


if __name__ == "__main__":
    main()
