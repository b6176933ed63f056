"""bench/many_jobs: delay-bound capacity and bulk fairness of eh-worker (issue 16).

Run through bench/many_jobs/run.sh, which provides the services (and the
baseline worker for the fairness run). Prints figures; asserts nothing.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import pika
import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ingest"))
from ingest import generate, s3_put_file, vm_hwm_kib, wait_connected  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WORKER = os.path.join(ROOT, "build", "release", "bin", "eh-worker")


def log_line(i):
    return json.dumps({"timestamp": "2026-11-21T10:00:00Z", "level": "info", "service": "bench",
                       "message": f"line {i}", "i": i})


def db():
    conn = psycopg2.connect(os.environ["EH_DATABASE_URL"])
    conn.autocommit = True
    return conn


def sql(conn, text, *params):
    with conn.cursor() as cur:
        cur.execute(text, params)
        return cur.fetchall() if cur.description else None


def make_jobs(conn, key, size, lines, count):
    """count queued jobs that all read the object key (a shortcut of the bench: one PUT for all)."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO jobs (id, file_name, object_key, size_bytes, lines_total, published_at) "
                        "VALUES (%s, 'bench.jsonl', %s, %s, %s, now())", [(i, key, size, lines) for i in ids])
    return ids


def publish_all(ids, key):
    conn = pika.BlockingConnection(pika.URLParameters(os.environ["EH_AMQP_URL"]))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        for i in ids:
            ch.basic_publish("", "eh.jobs", json.dumps({"job_id": i, "object_key": key}).encode(),
                             pika.BasicProperties(delivery_mode=2))
    finally:
        conn.close()


def start_worker(workdir, name, binary=WORKER, **env):
    """A release eh-worker; returns (process, pids of its consumers) once every consumer is connected.

    EH_WORKER_NICE=0 unless BENCH_WORKER_NICE says otherwise: there is no eh-api here to yield the CPU to,
    and on a shared machine a niced worker waits for a CPU after every PostgreSQL round trip.
    """
    full = dict(os.environ, EH_LOG_LEVEL="info", EH_WORKER_NICE=os.environ.get("BENCH_WORKER_NICE", "0"),
                **{k: str(v) for k, v in env.items()})
    log_path = os.path.join(workdir, f"{name}.log")
    with open(log_path, "w") as log:
        w = subprocess.Popen([binary], env=full, stdout=log, stderr=subprocess.STDOUT)
    wait_connected(log_path)
    want = int(env.get("EH_WORKERS", 1))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(log_path) as f:
            lines = [json.loads(l) for l in f if l.startswith("{")]
        connected = {l["pid"] for l in lines if l.get("component") == "worker" and
                     l.get("msg") == "connected to the broker"}
        if len(connected) >= want:
            return w, sorted(connected)
        time.sleep(0.05)
    sys.exit("bench: the consumers did not connect")


def stop_worker(w):
    w.terminate()
    w.wait(timeout=60)


def worker_connections(conn):
    return sql(conn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                     "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")[0][0]


def wait_done(conn, ids, pids, poll=0.5, timeout=7200):
    """Waits until every job ended. (peak VmHWM per pid, peak worker connections)."""
    peak = {p: 0 for p in pids}
    peak_conns = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in pids:
            peak[p] = max(peak[p], vm_hwm_kib(p))
        peak_conns = max(peak_conns, worker_connections(conn))
        left = sql(conn, "SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) "
                         "AND status NOT IN ('completed', 'failed')", ids)[0][0]
        if left == 0:
            break
        time.sleep(poll)
    for p in pids:
        peak[p] = max(peak[p], vm_hwm_kib(p))
    failed = sql(conn, "SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND status <> 'completed'", ids)[0][0]
    if failed:
        sys.exit(f"bench: {failed} jobs did not complete")
    return peak, peak_conns


def capacity(workdir, jobs, lines):
    print(f"== capacity: {jobs} jobs x {lines} lines, default delay (0-1000 ms), EH_WORKERS=2", flush=True)
    conn = db()
    path = os.path.join(workdir, f"cap-{lines}.jsonl")
    with open(path, "w") as f:
        for i in range(1, lines + 1):
            f.write(log_line(i) + "\n")
    size = os.path.getsize(path)
    key = f"uploads/bench-{uuid.uuid4()}.jsonl"
    s3_put_file(key, path)
    w, consumers = start_worker(workdir, f"capacity-{jobs}x{lines}", EH_WORKERS=2)
    try:
        ids = make_jobs(conn, key, size, lines, jobs)
        t0_db = sql(conn, "SELECT clock_timestamp()")[0][0]
        t0 = time.monotonic()
        publish_all(ids, key)
        peak, peak_conns = wait_done(conn, ids, consumers)
        total = time.monotonic() - t0
    finally:
        stop_worker(w)
    done = sorted((r[0] - t0_db).total_seconds() for r in
                  sql(conn, "SELECT completed_at FROM jobs WHERE id = ANY(%s::uuid[])", ids))
    runs = sorted((r[0] - r[1]).total_seconds() for r in
                  sql(conn, "SELECT completed_at, started_at FROM jobs WHERE id = ANY(%s::uuid[])", ids))
    p50 = statistics.median(done)
    p99 = done[min(len(done) - 1, int(len(done) * 0.99))]
    one_job = lines * 0.5
    print(f"  all complete after {total:.1f}s; completion p50 {p50:.1f}s p99 {p99:.1f}s; "
          f"longest job from its start {runs[-1]:.1f}s (one job alone: about {one_job:.0f}s)", flush=True)
    print(f"  one job per process would take about {jobs * lines * 0.5 / 2:,.0f}s; "
          f"all complete / one job alone (its delays, {one_job:.0f}s): {total / one_job:.2f}", flush=True)
    print("  peak RSS per consumer: " + ", ".join(f"{peak[p] / 1024:.1f} MiB" for p in consumers) +
          f"; PostgreSQL connections of eh-worker (2 consumers + reaper) at most {peak_conns}", flush=True)
    sql(conn, "DELETE FROM log_entries WHERE job_id = ANY(%s::uuid[])", ids)
    conn.close()
    return (jobs, lines, total, p50, p99, runs[-1], [peak[p] for p in consumers], peak_conns)


def bulk_one_after_another(conn, workdir, key, size, lines, count, binary=WORKER, name="bulk"):
    """count jobs, each published when the one before ended (count 4: the rows land in the table as the
    together run's do). Lines/s over them all; the table is emptied and vacuumed afterwards, so that the
    next run starts from the same table, not one full of dead rows."""
    w, pids = start_worker(workdir, name, binary=binary, EH_WORKERS=1, EH_LINE_DELAY_MAX_MS=0)
    ids = []
    try:
        t0 = time.monotonic()
        for _ in range(count):
            one = make_jobs(conn, key, size, lines, 1)
            ids += one
            publish_all(one, key)
            wait_done(conn, one, pids, poll=0.05)
        elapsed = time.monotonic() - t0
    finally:
        stop_worker(w)
    sql(conn, "DELETE FROM log_entries WHERE job_id = ANY(%s::uuid[])", ids)
    sql(conn, "VACUUM log_entries")
    return count * lines / elapsed


def bulk_alone(conn, workdir, key, size, lines, binary, name):
    return bulk_one_after_another(conn, workdir, key, size, lines, 1, binary, name)


def fairness(workdir, lines):
    print(f"== fairness: EH_WORKERS=1, no delay, jobs of {lines:,} lines", flush=True)
    conn = db()
    path = os.path.join(workdir, "big.jsonl")
    size = generate(path, lines)
    os.unlink(path + ".tsv")
    key = f"uploads/bench-{uuid.uuid4()}.jsonl"
    s3_put_file(key, path)
    small_path = os.path.join(workdir, "small.jsonl")
    with open(small_path, "w") as f:
        f.write("".join(log_line(i) + "\n" for i in range(1, 11)))
    small_key = f"uploads/bench-{uuid.uuid4()}.jsonl"
    s3_put_file(small_key, small_path)

    baseline = os.environ.get("BENCH_BASELINE_WORKER")
    # Alternated, three rounds, medians: one run of each moves by ±15 % on this machine.
    befores, afters = [], []
    for _ in range(3):
        if baseline:
            befores.append(bulk_alone(conn, workdir, key, size, lines, baseline, "bulk-before"))
        afters.append(bulk_alone(conn, workdir, key, size, lines, WORKER, "bulk-after"))
    after = statistics.median(afters)
    if befores:
        before = statistics.median(befores)
        print(f"  one job alone, medians of 3 alternated rounds: before ({os.environ.get('BENCH_BASELINE_REF')}) "
              f"{before:,.0f} lines/s, after {after:,.0f} lines/s: ratio {after / before:.2f} "
              f"(rounds before {', '.join(f'{b:,.0f}' for b in befores)}; after {', '.join(f'{a:,.0f}' for a in afters)})",
              flush=True)
    else:
        print(f"  one job alone: {after:,.0f} lines/s (median of 3)", flush=True)

    # The same four jobs one after another: 4M rows into one table cost more per row than 1M (index depth,
    # WAL checkpoints), so this, not one job alone, is the like-for-like baseline of running them together.
    sequence = bulk_one_after_another(conn, workdir, key, size, lines, 4, name="bulk-sequence")
    w, pids = start_worker(workdir, "fairness", EH_WORKERS=1, EH_LINE_DELAY_MAX_MS=0)
    try:
        big = make_jobs(conn, key, size, lines, 4)
        t0 = time.monotonic()
        publish_all(big, key)
        # The small job comes once the big ones are well under way.
        while sql(conn, "SELECT min(lines_processed) FROM jobs WHERE id = ANY(%s::uuid[])", big)[0][0] < 20000:
            time.sleep(0.05)
        small = make_jobs(conn, small_key, os.path.getsize(small_path), 10, 1)
        t_small = time.monotonic()
        publish_all(small, small_key)
        wait_done(conn, small, pids, poll=0.02)
        small_s = time.monotonic() - t_small
        wait_done(conn, big, pids, poll=0.1)
        big_rate = 4 * lines / (time.monotonic() - t0)
    finally:
        stop_worker(w)
    print(f"  10-line job published behind 4 running ones: completed in {small_s:.2f}s", flush=True)
    print(f"  4 jobs together: {big_rate:,.0f} lines/s, {big_rate / after:.2f} of one job alone; "
          f"the same 4 one after another: {sequence:,.0f} lines/s, together / one after another: "
          f"{big_rate / sequence:.2f}", flush=True)
    sql(conn, "DELETE FROM log_entries WHERE job_id = ANY(%s::uuid[])", big + small)
    sql(conn, "VACUUM log_entries")
    conn.close()
    return before, after, small_s, big_rate


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "all"
    args = [int(a) for a in sys.argv[2:]]
    with tempfile.TemporaryDirectory(prefix="eh-bench-") as workdir:
        if mode in ("capacity", "all"):
            pairs = list(zip(args[::2], args[1::2])) if mode == "capacity" and args else [(200, 200), (2000, 20)]
            rows = [capacity(workdir, j, l) for j, l in pairs]
            print()
            print("| jobs x lines | all complete | p50 | p99 | longest job | peak RSS per consumer | PG connections |")
            print("|---|---:|---:|---:|---:|---:|---:|")
            for jobs, lines, total, p50, p99, longest, rss, conns in rows:
                print(f"| {jobs} x {lines} | {total:.0f} s | {p50:.0f} s | {p99:.0f} s | {longest:.0f} s | "
                      f"{' / '.join(f'{r / 1024:.1f} MiB' for r in rss)} | {conns} |")
        if mode in ("fairness", "all"):
            lines = args[0] if mode == "fairness" and args else 1_000_000
            fairness(workdir, lines)


if __name__ == "__main__":
    main()
