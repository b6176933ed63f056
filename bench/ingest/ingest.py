"""bench/ingest: eh-worker end to end vs psql \\copy, and the worker's peak RSS.

For each size: generate N realistic ~200-byte lines (fixed seed), store the
object, insert the job row, start one release eh-worker (EH_WORKERS=1,
EH_LINE_DELAY_MAX_MS=0), publish the job message and time until the job is
completed. Then load the very same rows with `psql \\copy` into a scratch
copy of log_entries (same keys and defaults) and time that. Prints lines/s
for both, the ratio, and the worker process's peak RSS (VmHWM).

Run through bench/ingest/run.sh, which provides the services.
"""
import base64
import datetime
import email.utils
import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid

import pika
import psycopg2
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WORKER = os.path.join(ROOT, "build", "release", "bin", "eh-worker")

SERVICES = ["checkout", "billing", "auth", "search", "gateway", "inventory"]
LEVELS = ["info"] * 6 + ["debug"] * 2 + ["warn", "error"]
PATHS = ["/api/v1/orders", "/api/v1/users", "/api/v1/cart", "/api/v1/search", "/healthz"]


def generate(path, n, seed=42):
    """Writes n JSON lines to path and the matching COPY rows (minus job_id) to path + '.tsv'."""
    rnd = random.Random(seed)
    base = datetime.datetime(2026, 11, 21, 10, 0, 0, tzinfo=datetime.timezone.utc)
    size = 0
    with open(path, "w") as out, open(path + ".tsv", "w") as tsv:
        for i in range(1, n + 1):
            ts = base + datetime.timedelta(milliseconds=i * 7 + rnd.randrange(7))
            level = rnd.choice(LEVELS)
            service = rnd.choice(SERVICES)
            status = rnd.choice((200, 200, 200, 201, 204, 400, 404, 500))
            dur = rnd.randrange(1, 900)
            message = f"{rnd.choice(('GET', 'POST', 'PUT'))} {rnd.choice(PATHS)}/{rnd.randrange(10**6)} {status} in {dur}ms"
            attrs = {"request_id": uuid.UUID(int=rnd.getrandbits(128)).hex, "user_id": rnd.randrange(10**5),
                     "duration_ms": dur, "region": rnd.choice(("eu-west-1", "us-east-1", "ap-south-1"))}
            ts_text = ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
            line = json.dumps({"timestamp": ts_text, "level": level, "service": service, "message": message,
                               **attrs}, separators=(",", ":"))
            out.write(line + "\n")
            size += len(line) + 1
            ts_pg = ts.strftime("%Y-%m-%d %H:%M:%S.%f+00")
            tsv.write(f"{i}\t{ts_pg}\t{level}\t{service}\t{message}\t{json.dumps(attrs, separators=(',', ':'))}\n")
    return size


def s3_put_file(key, path):
    bucket = os.environ["EH_S3_BUCKET"]
    date = email.utils.formatdate(usegmt=True)
    ctype = "application/octet-stream"
    to_sign = f"PUT\n\n{ctype}\n\nx-amz-date:{date}\n/{bucket}/{key}"
    sig = base64.b64encode(hmac.new(os.environ["EH_S3_SECRET_KEY"].encode(), to_sign.encode(),
                                    hashlib.sha1).digest()).decode()
    headers = {"x-amz-date": date, "Content-Type": ctype,
               "Authorization": f"AWS {os.environ['EH_S3_ACCESS_KEY']}:{sig}"}
    with open(path, "rb") as f:
        r = requests.put(f"http://{os.environ['EH_S3_ENDPOINT']}/{bucket}/{key}", data=f, headers=headers,
                         timeout=3600)
    if r.status_code != 200:
        sys.exit(f"bench: S3 PUT failed: {r.status_code} {r.text[:300]}")


def publish(body):
    conn = pika.BlockingConnection(pika.URLParameters(os.environ["EH_AMQP_URL"]))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("", "eh.jobs", body.encode(), pika.BasicProperties(delivery_mode=2))
    finally:
        conn.close()


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(l.split()[0]) for l in out.splitlines() if l.strip()]


def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_connected(log_path, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path) as f:
            if '"msg":"connected to the broker"' in f.read():
                return
        time.sleep(0.05)
    sys.exit("bench: the worker did not connect")


def run_worker(conn, n, path, size, workdir):
    job_id = str(uuid.uuid4())
    key = f"uploads/{job_id}.jsonl"
    t = time.monotonic()
    s3_put_file(key, path)
    print(f"  stored the object ({size / 1e6:.0f} MB) in {time.monotonic() - t:.1f}s", flush=True)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO jobs (id, file_name, object_key, size_bytes, lines_total) "
                    "VALUES (%s, 'bench.jsonl', %s, %s, %s)", (job_id, key, size, n))
    env = dict(os.environ, EH_WORKERS="1", EH_LINE_DELAY_MAX_MS="0", EH_LOG_LEVEL="info")
    log_path = os.path.join(workdir, f"worker-{n}.log")
    with open(log_path, "w") as log:
        w = subprocess.Popen([WORKER], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_connected(log_path)
        consumers = children(w.pid)
        t0 = time.monotonic()
        publish(json.dumps({"job_id": job_id, "object_key": key}))
        peak = 0
        while True:
            for pid in consumers:
                peak = max(peak, vm_hwm_kib(pid))
            with conn.cursor() as cur:
                cur.execute("SELECT status, entries_ingested, error FROM jobs WHERE id = %s", (job_id,))
                status, entries, error = cur.fetchone()
            if status in ("completed", "failed"):
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - t0
        for pid in consumers:
            peak = max(peak, vm_hwm_kib(pid))
    finally:
        w.terminate()
        w.wait(timeout=60)
    if status != "completed" or entries != n:
        sys.exit(f"bench: job ended {status} with {entries} entries ({error}); see {log_path}")
    return job_id, elapsed, peak


def run_copy(conn, n, path, job_id):
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_log_entries")
        cur.execute("CREATE TABLE bench_log_entries (LIKE log_entries INCLUDING ALL)")
    # The same rows the worker wrote, job id first, loaded by psql's \copy from the client side.
    rows = path + ".rows"
    with open(path + ".tsv") as src, open(rows, "w") as dst:
        for line in src:
            dst.write(job_id + "\t" + line)
    cmd = ["psql", "-q", "-v", "ON_ERROR_STOP=1", os.environ["EH_DATABASE_URL"], "-c",
           "\\copy bench_log_entries (job_id, line_no, ts, level, service, message, attributes) FROM '"
           + rows + "'"]
    t0 = time.monotonic()
    subprocess.run(cmd, check=True)
    elapsed = time.monotonic() - t0
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM bench_log_entries")
        (count,) = cur.fetchone()
        cur.execute("DROP TABLE bench_log_entries")
    os.unlink(rows)
    assert count == n, count
    return elapsed


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [1_000_000, 5_000_000]
    results = []
    with tempfile.TemporaryDirectory(prefix="eh-bench-") as workdir:
        for n in sizes:
            print(f"== {n} lines", flush=True)
            path = os.path.join(workdir, f"bench-{n}.jsonl")
            t = time.monotonic()
            size = generate(path, n)
            print(f"  generated {size / n:.0f} bytes/line in {time.monotonic() - t:.1f}s", flush=True)
            # A fresh connection per size: generating 5M lines takes minutes.
            conn = psycopg2.connect(os.environ["EH_DATABASE_URL"])
            conn.autocommit = True
            job_id, w_elapsed, peak_kib = run_worker(conn, n, path, size, workdir)
            c_elapsed = run_copy(conn, n, path, job_id)
            with conn.cursor() as cur:  # keep the database small for the next size
                cur.execute("DELETE FROM log_entries WHERE job_id = %s", (job_id,))
                cur.execute("VACUUM log_entries")
            w_rate, c_rate = n / w_elapsed, n / c_elapsed
            print(f"  eh-worker end to end: {w_elapsed:7.1f}s  {w_rate:9.0f} lines/s", flush=True)
            print(f"  psql \\copy:           {c_elapsed:7.1f}s  {c_rate:9.0f} lines/s", flush=True)
            print(f"  ratio {w_rate / c_rate:.2f}   worker peak RSS {peak_kib / 1024:.1f} MiB", flush=True)
            results.append((n, w_rate, c_rate, peak_kib))
            conn.close()
            for p in (path, path + ".tsv"):
                os.unlink(p)
    print()
    print("| lines | eh-worker lines/s | psql \\copy lines/s | ratio | worker peak RSS |")
    print("|---:|---:|---:|---:|---:|")
    for n, w_rate, c_rate, peak in results:
        print(f"| {n:,} | {w_rate:,.0f} | {c_rate:,.0f} | {w_rate / c_rate:.2f} | {peak / 1024:.1f} MiB |")


if __name__ == "__main__":
    main()
