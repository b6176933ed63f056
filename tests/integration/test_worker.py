import pytest
"""eh-worker against real services: ingestion results, failures, events, shutdown.

Jobs are made by the tests themselves (row, object, message), as eh-api would.
"""
import datetime
import os
import json
import signal
import time

from conftest import (count_lines, create_job, entries_of, errors_of, job_row, log_line, publish_job_message,
                      query, queue_depth, queue_get_all, wait_for, wait_job, wait_worker_ready, worker_children)

UTC = datetime.timezone.utc


def known_file():
    """A file whose every line's fate is known: (bytes, {line_no: expected entry}, {line_no: reason prefix})."""
    lines = [
        # 1: plain
        json.dumps({"timestamp": "2026-11-21T10:00:00.123Z", "level": "INFO", "service": "api",
                    "message": "hello", "user": "ann", "n": 3}),
        # 2: blank
        "",
        # 3: pino-style aliases: epoch ms, numeric level, msg, name
        json.dumps({"time": 1795255200456, "level": 50, "msg": "pino says", "name": "billing", "pid": 7}),
        # 4: not JSON
        "this is not json",
        # 5: missing timestamp
        json.dumps({"level": "info", "message": "no time"}),
        # 6: whitespace only (blank)
        "   \t",
        # 7: PostgreSQL jsonlog style, space for T and a UTC zone; no service
        json.dumps({"timestamp": "2026-11-21 10:00:01.5 UTC", "error_severity": "LOG", "message": "checkpoint"}),
        # 8: bad level
        json.dumps({"ts": "2026-11-21T10:00:02Z", "level": "loud", "message": "x"}),
        # 9: too long (EH_MAX_LINE_BYTES is 256 in the test)
        json.dumps({"timestamp": "2026-11-21T10:00:03Z", "level": "info", "message": "y" * 400}),
        # 10: JSON array, not an object
        "[1, 2, 3]",
        # 11: CRLF line end, @timestamp and severity (ECS-ish)
        json.dumps({"@timestamp": "2026-11-21T10:00:04+02:00", "severity": "warning", "message": "crlf",
                    "app": "edge"}) + "\r",
    ]
    data = "\n".join(lines) + "\n"
    # 12: a final line without newline
    data += json.dumps({"timestamp": 1795255205, "level": "debug", "message": "last"})
    entries = {
        1: (datetime.datetime(2026, 11, 21, 10, 0, 0, 123000, UTC), "info", "api", "hello", {"user": "ann", "n": 3}),
        3: (datetime.datetime.fromtimestamp(1795255200.456, UTC), "error", "billing", "pino says", {"pid": 7}),
        7: (datetime.datetime(2026, 11, 21, 10, 0, 1, 500000, UTC), "info", None, "checkpoint", {}),
        11: (datetime.datetime(2026, 11, 21, 8, 0, 4, 0, UTC), "warn", "edge", "crlf", {}),
        12: (datetime.datetime.fromtimestamp(1795255205, UTC), "debug", None, "last", {}),
    }
    errors = {4: "invalid JSON at column 1", 5: "missing field: timestamp", 8: "field level: unknown level",
              9: "line longer than 256 bytes", 10: "not a JSON object (found an array)"}
    return data.encode(), entries, errors


def test_known_file_completes_with_exact_rows(start_worker, db, events):
    data, want_entries, want_errors = known_file()
    assert count_lines(data) == 12
    w = start_worker(EH_MAX_LINE_BYTES=256)
    job_id = create_job(db, data)
    row = wait_job(db, job_id)
    assert row["status"] == "completed", row
    assert row["lines_total"] == 12
    assert row["lines_processed"] == 12
    assert row["entries_ingested"] == len(want_entries)
    assert row["lines_invalid"] == len(want_errors)
    assert row["attempts"] == 1
    assert row["lease_owner"] is None
    assert row["error"] is None
    (started, completed), = query(db, "SELECT started_at, completed_at FROM jobs WHERE id = %s", job_id)
    assert started is not None and completed is not None and started <= completed

    got = entries_of(db, job_id)
    assert sorted(got) == sorted(want_entries)
    for line_no, (ts, level, service, message, attrs) in want_entries.items():
        g = got[line_no]
        assert g[0] == ts, (line_no, g[0], ts)
        assert (g[1], g[2], g[3], g[4]) == (level, service, message, attrs), (line_no, g)

    errs = errors_of(db, job_id)
    assert sorted(errs) == sorted(want_errors)
    for line_no, prefix in want_errors.items():
        assert errs[line_no].startswith(prefix), (line_no, errs[line_no])

    # Events: started first, completed last (with the final counts), seq growing.
    evs = wait_for(lambda: (lambda e: e if e and e[-1]["event"] == "completed" else None)(events.of(job_id)),
                   10, what="completed event")
    assert evs[0]["event"] == "started"
    assert evs[0]["status"] == "processing"
    assert evs[-1]["status"] == "completed"
    assert evs[-1]["entries_ingested"] == len(want_entries)
    assert evs[-1]["lines_invalid"] == len(want_errors)
    assert evs[-1]["progress"] == 100.0
    seqs = [e["seq"] for e in evs]
    assert seqs == sorted(set(seqs)), seqs
    assert not w.sanitizer_reports()


def test_missing_object_fails(start_worker, db, events):
    start_worker()
    job_id = create_job(db, log_line(1) + "\n", store=False)
    row = wait_job(db, job_id)
    assert row["status"] == "failed"
    assert row["error"] == "object missing from storage"
    assert row["lease_owner"] is None
    assert query(db, "SELECT count(*) FROM log_entries WHERE job_id = %s", job_id) == [(0,)]
    evs = wait_for(lambda: [e for e in events.of(job_id) if e["event"] == "failed"], 10, what="failed event")
    assert evs[-1]["error"] == "object missing from storage"


def test_unparseable_message_goes_to_dead_letter_queue(start_worker, db):
    w = start_worker()
    wait_worker_ready(w, 1)
    publish_job_message(b"this is not a job message")
    publish_job_message(json.dumps({"job_id": "not-a-uuid", "object_key": "uploads/x.jsonl"}))
    dead = wait_for(lambda: queue_depth("eh.jobs.dead") >= 2 or None, 15, what="dead-lettered messages")
    assert dead
    bodies = queue_get_all("eh.jobs.dead")
    assert b"this is not a job message" in bodies
    assert queue_depth("eh.jobs") == 0
    # The worker is still serving.
    job_id = create_job(db, log_line(1) + "\n")
    assert wait_job(db, job_id)["status"] == "completed"


def test_duplicate_message_for_finished_job_is_dropped(start_worker, db):
    w = start_worker()
    data = "".join(log_line(i) + "\n" for i in range(1, 21))
    job_id = create_job(db, data)
    assert wait_job(db, job_id)["status"] == "completed"
    key = f"uploads/{job_id}.jsonl"
    publish_job_message(json.dumps({"job_id": job_id, "object_key": key}))
    wait_for(lambda: any(l.get("msg", "").startswith("job not claimable") for l in w.json_lines()), 15,
             what="duplicate dropped")
    row = job_row(db, job_id)
    assert row["status"] == "completed" and row["attempts"] == 1 and row["entries_ingested"] == 20
    assert query(db, "SELECT count(*) FROM log_entries WHERE job_id = %s", job_id) == [(20,)]
    assert queue_depth("eh.jobs") == 0


def test_progress_events_cover_every_step(start_worker, db, events):
    total = 300
    start_worker(EH_LINE_DELAY_MAX_MS=12, EH_BATCH_MS=5000, EH_BATCH_LINES=100000)
    data = "".join(log_line(i) + "\n" for i in range(1, total + 1))
    job_id = create_job(db, data)
    assert wait_job(db, job_id, timeout=60)["status"] == "completed"
    evs = wait_for(lambda: (lambda e: e if e and e[-1]["event"] == "completed" else None)(events.of(job_id)),
                   10, what="completed event")
    kinds = [e["event"] for e in evs]
    assert kinds[0] == "started" and kinds[-1] == "completed", kinds
    assert set(kinds[1:-1]) == {"progress"}, kinds
    done = [e["lines_processed"] for e in evs]
    assert done == sorted(done), done
    # At least one event per 10 % step: no gap between consecutive events exceeds a step.
    step = -(-total // 10)
    gaps = [b - a for a, b in zip(done, done[1:])]
    assert max(gaps) <= step, (done, step)
    # No two progress events closer than 100 ms (emitted_at has millisecond precision).
    times = [datetime.datetime.fromisoformat(e["emitted_at"].replace("Z", "+00:00")) for e in evs
             if e["event"] == "progress"]
    assert all((b - a).total_seconds() >= 0.099 for a, b in zip(times, times[1:])), times


def test_sigterm_mid_job_commits_and_gives_the_job_back(start_worker, db):
    total = 400
    w = start_worker(EH_LINE_DELAY_MAX_MS=10, EH_BATCH_MS=100, EH_SHUTDOWN_TIMEOUT_S=5)
    data = "".join(log_line(i) + "\n" for i in range(1, total + 1))
    job_id = create_job(db, data)
    wait_for(lambda: (job_row(db, job_id)["lines_processed"] or 0) >= 50, 30, what="some progress")
    t0 = time.monotonic()
    assert w.stop(signal.SIGTERM, timeout=10) == 0
    assert time.monotonic() - t0 < 5.0
    assert not w.sanitizer_reports(), w.output()[-4000:]
    row = job_row(db, job_id)
    # Given back: queued again, the attempt returned, the committed lines kept.
    assert row["status"] == "queued", row
    assert row["attempts"] == 0 and row["lease_owner"] is None
    kept = row["lines_processed"]
    assert 0 < kept < total
    assert query(db, "SELECT count(*) FROM log_entries WHERE job_id = %s", job_id) == [(kept,)]
    # A new worker (its reaper re-publishes the job) resumes after the checkpoint.
    start_worker(EH_REAPER_INTERVAL_MS=200, EH_REPUBLISH_AFTER_MS=200)
    row = wait_job(db, job_id, timeout=60)
    assert row["status"] == "completed" and row["entries_ingested"] == total and row["attempts"] == 1
    assert sorted(entries_of(db, job_id)) == list(range(1, total + 1))


def test_sigterm_stops_within_the_shutdown_timeout(start_worker):
    """A child that cannot drain (stopped) is killed once EH_SHUTDOWN_TIMEOUT_S is over, and the supervisor ends."""
    w = start_worker(EH_WORKERS=1, EH_SHUTDOWN_TIMEOUT_S=1)
    wait_worker_ready(w, 1)
    children = worker_children(w)
    assert len(children) == 2  # the consumer and the reaper
    for pid in children:
        os.kill(pid, signal.SIGSTOP)
    t0 = time.monotonic()
    code = w.stop(signal.SIGTERM, timeout=20)
    took = time.monotonic() - t0
    assert 0.9 <= took < 4.0, took
    assert any(l.get("msg", "").startswith("grace period over") for l in w.json_lines()), w.output()[-3000:]
    assert code == 0, w.output()[-3000:]


def test_supervisor_respawns_a_dead_child(start_worker, db):
    w = start_worker(EH_WORKERS=2)
    wait_worker_ready(w, 2)
    before = set(worker_children(w))
    assert len(before) == 3  # two consumers and the reaper
    victim = sorted(before)[-1]
    import os
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(set(worker_children(w)) - before) == 1 and len(worker_children(w)) == 3, 15,
             what="respawned child")
    assert any(l.get("msg") == "child killed by signal 9" for l in w.json_lines())
    job_id = create_job(db, log_line(1) + "\n")
    assert wait_job(db, job_id)["status"] == "completed"


def _niceness(pid):
    # /proc/<pid>/stat: the 19th field, counted after the parenthesised command name.
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])


def test_workers_run_at_the_configured_niceness(start_worker, db):
    w = start_worker(EH_WORKERS=2)
    wait_worker_ready(w, 2)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert [_niceness(p) for p in [w.pid] + worker_children(w)] == [min(base + 10, 19)] * 4
    job_id = create_job(db, log_line(1) + "\n")
    assert wait_job(db, job_id)["status"] == "completed"
    w.stop()
    w = start_worker(EH_WORKERS=1, EH_WORKER_NICE=0)
    wait_worker_ready(w, 1)
    assert [_niceness(p) for p in [w.pid] + worker_children(w)] == [base] * 3
