import pytest
"""Many jobs in flight in one eh-worker process (issue 16) and the worker-side limits of issue 11.

Every test checks exact outcomes: each job's log_entries and job_errors are
exactly its valid and invalid lines, once.
"""
import os
import signal
import time

from conftest import (create_job, entries_of, errors_of, job_row, lease_pid, log_line, query, wait_for, wait_job,
                      wait_worker_ready)
from test_worker_faults import FAST, assert_exactly_once, mixed_file


def wait_all(db, job_ids, timeout):
    deadline = time.monotonic() + timeout
    for job_id in job_ids:
        wait_job(db, job_id, timeout=max(1.0, deadline - time.monotonic()))


def owners(db, job_ids):
    rows = query(db, "SELECT lease_owner FROM jobs WHERE id = ANY(%s::uuid[]) AND status = 'processing'", job_ids)
    return [r[0] for r in rows]


def test_many_jobs_in_flight_in_one_process_each_exact(start_worker, db):
    """40 delay-bound jobs run at once in ONE process; each ends with exactly its own rows."""
    n = 60
    w = start_worker(EH_WORKERS=1, EH_LINE_DELAY_MAX_MS=40, EH_BATCH_MS=200)
    wait_worker_ready(w, 1)
    files = [mixed_file(n) for _ in range(40)]
    jobs = [create_job(db, data) for data, _, _ in files]
    # All of them at once, held by the one process (one job at a time would take 40 x 60 x 20 ms = 48 s).
    wait_for(lambda: len(owners(db, jobs)) >= 30, 30, interval=0.05, what="30 jobs processing at once")
    assert len(set(owners(db, jobs))) == 1
    wait_all(db, jobs, 60)
    for job_id, (_, valid, invalid) in zip(jobs, files):
        row = assert_exactly_once(db, job_id, n, valid, invalid)
        assert row["attempts"] == 1
    claimed = [l for l in w.json_lines() if l.get("msg") == "job claimed"]
    assert max(l["in_flight"] for l in claimed) >= 30
    # One PostgreSQL connection per consumer process, whatever the jobs in flight (the reaper has its own).
    assert not w.sanitizer_reports(), w.output()[-4000:]


def test_postgres_connections_per_process_stay_bounded(start_worker, db):
    """With 60+ jobs in flight one process uses at most 4 PostgreSQL connections (in fact one)."""
    w = start_worker(EH_WORKERS=1, EH_LINE_DELAY_MAX_MS=1000)
    wait_worker_ready(w, 1)
    data = "".join(log_line(i) + "\n" for i in range(1, 31)).encode()
    jobs = [create_job(db, data) for _ in range(100)]
    wait_for(lambda: len(owners(db, jobs)) >= 60, 120, what="60 jobs in flight")
    pid = lease_pid(owners(db, jobs)[0])
    # pg_stat_activity knows the client's port; map it to the worker's pid through its sockets.
    ports = set()
    for line in os.popen(f"ss -tnpH 2>/dev/null | grep 'pid={pid},'").read().splitlines():
        ports.add(int(line.split()[3].rsplit(":", 1)[1]))
    pg = query(db, "SELECT client_port FROM pg_stat_activity WHERE datname = current_database() "
                   "AND client_port = ANY(%s)", list(ports))
    assert 1 <= len(pg) <= 4, (pg, ports)
    wait_all(db, jobs, 180)
    for job_id in jobs:
        row = job_row(db, job_id)
        assert row["status"] == "completed" and row["entries_ingested"] == 30


def test_slice_hand_over_mid_job_exactly_once(start_worker, db):
    """One slot, two jobs: the first gives its slot back after its slice, resumes later, exactly once."""
    n = 400
    w = start_worker(EH_WORKERS=1, EH_JOBS_PER_WORKER=1, EH_JOB_SLICE_S=1, EH_LINE_DELAY_MAX_MS=12,
                     EH_BATCH_MS=100, EH_REAPER_INTERVAL_MS=200)
    wait_worker_ready(w, 1)
    (d1, v1, i1), (d2, v2, i2) = mixed_file(n), mixed_file(n)
    first = create_job(db, d1)
    wait_for(lambda: job_row(db, first)["status"] == "processing", 10, what="first job running")
    second = create_job(db, d2)
    wait_all(db, [first, second], 90)
    for job_id, valid, invalid in ((first, v1, i1), (second, v2, i2)):
        row = assert_exactly_once(db, job_id, n, valid, invalid)
        assert row["attempts"] == 1, row  # a slice gives its attempt back
    given = [l for l in w.json_lines() if l.get("msg") == "batch committed, job given back to the queue"
             and l.get("reason") == "slice"]
    assert any(l["job_id"] == first and 0 < l["lines_processed"] < n for l in given), given
    # The second job ran while the first waited for its turn again.
    second_claimed = [l for l in w.json_lines() if l.get("msg") == "job claimed" and l.get("job_id") == second]
    assert second_claimed and second_claimed[0]["ts"] < [l for l in given if l["job_id"] == first][-1]["ts"] \
        or len([l for l in w.json_lines() if l.get("msg") == "job claimed" and l.get("job_id") == first]) >= 2


def test_kill_9_of_a_process_holding_50_jobs(start_worker, db):
    """kill -9 of the one process holding 50 jobs: every job resumes from its checkpoint, exactly once."""
    n = 200
    # Leases a little longer than FAST's: 50 jobs' commits share one connection (and run under ASan here).
    # About 10 s a job, so that all 50 are in flight together even when claims are slowed by a busy machine.
    w = start_worker(EH_WORKERS=1, EH_LINE_DELAY_MAX_MS=100, **dict(FAST, EH_LEASE_MS=5000, EH_BATCH_MS=1000))
    wait_worker_ready(w, 1)
    files = [mixed_file(n) for _ in range(50)]
    jobs = [create_job(db, data) for data, _, _ in files]
    wait_for(lambda: len(owners(db, jobs)) == 50, 90, interval=0.05, what="50 jobs in flight")
    wait_for(lambda: sum(job_row(db, j)["lines_processed"] > 0 for j in jobs) >= 40, 60, what="checkpoints")
    assert all(job_row(db, j)["attempts"] == 1 for j in jobs)
    owner = owners(db, jobs)[0]
    assert len(set(owners(db, jobs))) == 1
    os.kill(lease_pid(owner), signal.SIGKILL)
    wait_all(db, jobs, 240)
    for job_id, (_, valid, invalid) in zip(jobs, files):
        row = assert_exactly_once(db, job_id, n, valid, invalid)
        assert row["attempts"] == 2, row
    assert any(l.get("msg") == "child killed by signal 9" for l in w.json_lines())


def test_interleaved_jobs_progress_events_keep_per_job_order_and_seq(start_worker, db, events):
    n = 150
    start_worker(EH_WORKERS=1, EH_LINE_DELAY_MAX_MS=15, EH_BATCH_MS=100)
    jobs = [create_job(db, "".join(log_line(i) + "\n" for i in range(1, n + 1))) for _ in range(12)]
    wait_all(db, jobs, 60)
    for job_id in jobs:
        evs = wait_for(lambda: (lambda e: e if e and e[-1]["event"] == "completed" else None)(events.of(job_id)),
                       10, what="completed event")
        kinds = [e["event"] for e in evs]
        assert kinds[0] == "started" and kinds[-1] == "completed", kinds
        assert set(kinds[1:-1]) <= {"progress"}, kinds
        assert len(kinds) >= 3, kinds
        seqs = [e["seq"] for e in evs]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
        done = [e["lines_processed"] for e in evs]
        assert done == sorted(done) and done[-1] == n, done
    # They really were interleaved: every job started before the first one completed.
    all_events = [(key[4:], e) for key, e in events.drain()]
    first_completed = next(i for i, (_, e) in enumerate(all_events) if e["event"] == "completed")
    started_before = {j for j, e in all_events[:first_completed] if e["event"] == "started"}
    assert started_before >= set(jobs)


def test_blank_lines_are_never_delayed(start_worker, db):
    """20,000 blank lines at the default 0-1000 ms per line would take hours; they take no delay at all."""
    data = "\n" * 10000 + log_line(1) + "\n" + "  \n" * 10000 + log_line(2) + "\n"
    start_worker(EH_WORKERS=1, EH_LINE_DELAY_MAX_MS=1000)
    job_id = create_job(db, data)
    row = wait_job(db, job_id, timeout=30)
    assert row["status"] == "completed" and row["lines_processed"] == 20002 and row["entries_ingested"] == 2


def test_job_errors_are_bounded_and_the_rest_counted(start_worker, db):
    lines = ["{bad" if i % 2 else log_line(i) for i in range(1, 101)]
    start_worker(EH_WORKERS=1, EH_LINE_DELAY_MAX_MS=0, EH_MAX_ERRORS_STORED=7, EH_BATCH_LINES=10)
    job_id = create_job(db, "\n".join(lines) + "\n")
    row = wait_job(db, job_id, timeout=30)
    assert row["status"] == "completed" and row["lines_invalid"] == 50 and row["entries_ingested"] == 50
    assert sorted(errors_of(db, job_id)) == [1, 3, 5, 7, 9, 11, 13]


def cancel_status(db):
    """'cancelled' once migration 0004 allows it; before that another status set from outside does the same."""
    rows = query(db, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'jobs'::regclass "
                     "AND pg_get_constraintdef(oid) LIKE '%%cancelled%%'")
    return "cancelled" if rows[0][0] > 0 else "failed"


def test_a_job_cancelled_mid_run_is_dropped_at_the_next_batch(start_worker, db):
    n = 600
    w = start_worker(EH_WORKERS=1, EH_LINE_DELAY_MAX_MS=10, EH_BATCH_MS=100)
    job_id = create_job(db, "".join(log_line(i) + "\n" for i in range(1, n + 1)))
    wait_for(lambda: job_row(db, job_id)["lines_processed"] >= 50, 30, what="some progress")
    status = cancel_status(db)
    query(db, "UPDATE jobs SET status = %s, lease_owner = NULL, lease_until = NULL WHERE id = %s", status, job_id)
    wait_for(lambda: any(l.get("msg", "").startswith("lost the lease") and l.get("job_id") == job_id
                         for l in w.json_lines()), 15, what="the worker dropping the cancelled job")
    kept = job_row(db, job_id)["lines_processed"]
    time.sleep(0.5)
    row = job_row(db, job_id)
    assert row["status"] == status and row["lines_processed"] == kept
    assert query(db, "SELECT count(*) FROM log_entries WHERE job_id = %s", job_id) == [(kept,)]


def test_sigterm_gives_back_every_job_in_flight(start_worker, db):
    """SIGTERM with 20 jobs in flight: each commits its batch and is queued again, nothing half-written."""
    n = 400
    w = start_worker(EH_WORKERS=1, EH_LINE_DELAY_MAX_MS=20, EH_BATCH_MS=100, EH_SHUTDOWN_TIMEOUT_S=8)
    wait_worker_ready(w, 1)
    jobs = [create_job(db, "".join(log_line(i) + "\n" for i in range(1, n + 1))) for _ in range(20)]
    wait_for(lambda: all(job_row(db, j)["lines_processed"] > 0 for j in jobs), 30, what="every job under way")
    t0 = time.monotonic()
    assert w.stop(signal.SIGTERM, timeout=15) == 0
    assert time.monotonic() - t0 < 8.0
    assert not w.sanitizer_reports(), w.output()[-4000:]
    for job_id in jobs:
        row = job_row(db, job_id)
        assert row["status"] == "queued" and row["attempts"] == 0 and row["lease_owner"] is None, row
        kept = row["lines_processed"]
        assert 0 < kept < n
        assert query(db, "SELECT count(*) FROM log_entries WHERE job_id = %s", job_id) == [(kept,)]
    # A new worker (its reaper re-publishes them) finishes every one exactly once.
    start_worker(EH_WORKERS=1, EH_LINE_DELAY_MAX_MS=2, EH_REAPER_INTERVAL_MS=200, EH_REPUBLISH_AFTER_MS=200)
    wait_all(db, jobs, 90)
    for job_id in jobs:
        row = job_row(db, job_id)
        assert row["status"] == "completed" and row["entries_ingested"] == n and row["attempts"] == 1
        assert sorted(entries_of(db, job_id)) == list(range(1, n + 1))
