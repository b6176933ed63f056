"""bench/entries: pages/s through GET /api/v1/jobs/<id>/entries of one job.

The job's rows are written by PostgreSQL itself (generate_series: realistic
sizes, ~200-byte messages and attributes, a level mix of 60 % info), which
takes seconds where an ingest would take minutes; the endpoint reads rows,
not how they came. Each scenario follows next_cursor from the first page to
the last over one keep-alive connection and reports pages/s, rows/s and the
slowest page. Run through bench/entries/run.sh.
"""
import os
import sys
import time
import uuid

import psycopg2
import requests

FILL_SQL = """
INSERT INTO log_entries (job_id, line_no, ts, level, service, message, attributes)
SELECT %(job)s, g, timestamptz '2026-11-21 10:00:00+00' + g * interval '7 milliseconds',
       (ARRAY['info','info','info','info','info','info','debug','debug','warn','error'])[1 + g %% 10],
       (ARRAY['checkout','billing','auth','search','gateway','inventory'])[1 + g %% 6],
       'GET /api/v1/orders/' || (g * 7919 %% 1000000) || ' 200 in ' || (g %% 900) || 'ms',
       jsonb_build_object('request_id', md5(g::text), 'user_id', g %% 100000, 'duration_ms', g %% 900,
                          'region', 'eu-west-1')
FROM generate_series(1::bigint, %(n)s::bigint) g
"""


def make_job(conn, n):
    job = str(uuid.uuid4())
    with conn.cursor() as cur:
        cur.execute("INSERT INTO jobs (id, file_name, object_key, size_bytes, lines_total, status, lines_processed, "
                    "entries_ingested, completed_at) VALUES (%s, 'bench.jsonl', %s, %s, %s, 'completed', %s, %s, now())",
                    (job, "uploads/" + job, n * 200, n, n, n))
        t = time.monotonic()
        cur.execute(FILL_SQL, {"job": job, "n": n})
        cur.execute("VACUUM ANALYZE log_entries")
        print(f"  wrote {n:,} rows in {time.monotonic() - t:.1f}s", flush=True)
    return job


def page_through(session, base, job, params, max_pages=None):
    pages = rows = 0
    slowest = 0.0
    cursor = None
    t0 = time.monotonic()
    while True:
        p = dict(params)
        if cursor:
            p["cursor"] = cursor
        t = time.monotonic()
        r = session.get(f"{base}/api/v1/jobs/{job}/entries", params=p, timeout=120)
        slowest = max(slowest, time.monotonic() - t)
        if r.status_code != 200:
            sys.exit(f"bench: {r.status_code} {r.text[:200]}")
        body = r.json()
        pages += 1
        rows += len(body["entries"])
        cursor = body["next_cursor"]
        if cursor is None or (max_pages and pages >= max_pages):
            break
    return pages, rows, time.monotonic() - t0, slowest


def main():
    base = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    conn = psycopg2.connect(os.environ["EH_DATABASE_URL"])
    conn.autocommit = True
    print(f"== entries of a {n:,}-line job", flush=True)
    job = make_job(conn, n)
    session = requests.Session()
    scenarios = [
        ("no filter, limit=1000", {"limit": 1000}),
        ("no filter, limit=100", {"limit": 100}),
        ("level=error,warn, limit=1000", {"limit": 1000, "level": "error,warn"}),
        ("q matching every line, limit=1000", {"limit": 1000, "q": "orders"}),
        ("q matching nothing, limit=100", {"limit": 100, "q": "no such text"}),
    ]
    results = []
    try:
        for name, params in scenarios:
            pages, rows, elapsed, slowest = page_through(session, base, job, params)
            print(f"  {name:36s} {pages:6d} pages {rows:9,d} rows  {pages / elapsed:8.1f} pages/s "
                  f"{rows / elapsed:10,.0f} rows/s  slowest page {slowest * 1000:6.1f} ms", flush=True)
            results.append((name, pages, rows, elapsed, slowest))
    finally:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM log_entries WHERE job_id = %s", (job,))
            cur.execute("DELETE FROM jobs WHERE id = %s", (job,))
        conn.close()
    print()
    print(f"| scenario ({n:,} lines) | pages | rows | pages/s | rows/s | slowest page |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, pages, rows, elapsed, slowest in results:
        print(f"| {name} | {pages:,} | {rows:,} | {pages / elapsed:,.1f} | {rows / elapsed:,.0f} | "
              f"{slowest * 1000:.1f} ms |")


if __name__ == "__main__":
    main()
