"""bench/ingest/indexes.sh: the ingest rate without and with the indexes of
migration 0004 (job list and retention, on jobs), side by side in one run.

The same generated file is ingested end to end by one release eh-worker
(ingest.py's run_worker) in alternating rounds: without the indexes
(dropped), with them (created again, exactly as 0004 writes them), and so on;
the median of each is compared. log_entries has no index of ours: entries
pages scan the primary key (see NOTES.md).
"""
import os
import statistics
import sys
import tempfile
import time

import psycopg2

sys.path.insert(0, os.path.dirname(__file__))
import ingest  # noqa: E402  (bench/ingest/ingest.py)

INDEXES = {
    "jobs_tenant_created_idx": "CREATE INDEX jobs_tenant_created_idx ON jobs (tenant_id, created_at, id)",
    "jobs_tenant_status_created_idx":
        "CREATE INDEX jobs_tenant_status_created_idx ON jobs (tenant_id, status, created_at, id)",
    "jobs_terminal_completed_idx": "CREATE INDEX jobs_terminal_completed_idx ON jobs (completed_at) "
                                   "WHERE status IN ('completed', 'failed', 'cancelled')",
}


def set_indexes(conn, present):
    with conn.cursor() as cur:
        for name, ddl in INDEXES.items():
            cur.execute(f"DROP INDEX IF EXISTS {name}")
            if present:
                cur.execute(ddl)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    rates = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="eh-bench-") as workdir:
        path = os.path.join(workdir, f"bench-{n}.jsonl")
        size = ingest.generate(path, n)
        conn = psycopg2.connect(os.environ["EH_DATABASE_URL"])
        conn.autocommit = True
        try:
            # Some jobs in the table, as a deployment has: index maintenance then touches a real tree.
            with conn.cursor() as cur:
                cur.execute("INSERT INTO jobs (id, file_name, object_key, size_bytes, lines_total, status, "
                            "completed_at) SELECT gen_random_uuid(), 'old.jsonl', 'uploads/old', 1, 1, 'completed', "
                            "now() FROM generate_series(1, 20000)")
            for r in range(rounds):
                for present in (False, True):
                    set_indexes(conn, present)
                    label = "with 0004 indexes" if present else "without        "
                    job_id, elapsed, _ = ingest.run_worker(conn, n, path, size, workdir)
                    with conn.cursor() as cur:
                        cur.execute("DELETE FROM log_entries WHERE job_id = %s", (job_id,))
                        cur.execute("DELETE FROM jobs WHERE id = %s", (job_id,))
                        cur.execute("VACUUM log_entries")
                    rates[present].append(n / elapsed)
                    print(f"  round {r + 1} {label}: {elapsed:6.1f}s  {n / elapsed:9.0f} lines/s", flush=True)
        finally:
            set_indexes(conn, True)
            with conn.cursor() as cur:
                cur.execute("DELETE FROM jobs WHERE file_name = 'old.jsonl'")
            conn.close()
    without, with_ = statistics.median(rates[False]), statistics.median(rates[True])
    print()
    print(f"| {n:,} lines, {rounds} rounds each | median lines/s |")
    print("|---|---:|")
    print(f"| without the 0004 indexes | {without:,.0f} |")
    print(f"| with the 0004 indexes | {with_:,.0f} |")
    print(f"| cost | {100 * (without - with_) / without:+.1f} % |")


if __name__ == "__main__":
    main()
