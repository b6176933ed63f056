"""The `eh` command line against the real services and binaries.

Each test runs bin/eh as a user would: through a pipe (plain lines, --json)
or under a pseudo-terminal (progress bars). Exit codes are the contract of
README "eh, the command line": 0 completed, 1 failed or cancelled, 2 usage,
3 authentication, 4 unavailable (after retries), 5 rejected.
"""
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
import uuid

import requests

from conftest import BIN_DIR, REPO, create_job, free_port, log_line, query, wait_for, wait_job

EH = os.path.join(BIN_DIR, "eh")
MIXED = os.path.join(REPO, "examples", "mixed.jsonl")
SAMPLE = os.path.join(REPO, "examples", "sample.jsonl")


def cli_env(api=None, **extra):
    """The environment of an eh run: no config file of the machine's user, the API's URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EH_") and k not in ("NO_COLOR", "COLUMNS")}
    env["XDG_CONFIG_HOME"] = "/nonexistent-eh-test"
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=66"
    env["LSAN_OPTIONS"] = "suppressions=" + os.path.join(REPO, "tests", "lsan.supp")
    if api is not None:
        env["EH_URL"] = api.url
        if getattr(api, "key", None):  # the test tenant's write key, where eh-api identifies callers
            env["EH_API_KEY"] = api.key
    env.update({k: str(v) for k, v in extra.items()})
    return env


def eh(*args, env=None, timeout=120):
    p = subprocess.run([EH, *args], env=env or cli_env(), capture_output=True, text=True, timeout=timeout)
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr
    return p


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def rest_job(api, job_id):
    r = requests.get(f"{api.url}/api/v1/jobs/{job_id}", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def assert_counts_match(event, job):
    for k in ("lines_total", "lines_processed", "entries_ingested", "lines_invalid", "status"):
        assert event[k] == job[k], (k, event, job)


# ---- help, version, usage (exit 2)

def test_help_version_and_usage_errors():
    p = eh("--help")
    assert p.returncode == 0
    for cmd in ("upload", "follow", "status", "jobs", "errors", "entries", "cancel", "delete", "exit codes"):
        assert cmd in p.stdout
    p = eh("upload", "--help")
    assert p.returncode == 0 and "--idempotency-key" in p.stdout and "--dry-run" in p.stdout
    p = eh("--version")
    assert p.returncode == 0 and re.match(r"eh \d+\.\d+\.\d+ \(libcurl", p.stdout)
    for args, said in ((["frobnicate"], "unknown command"), (["status"], "needs a job ID"),
                       (["jobs", "--status", "done"], "--status"), (["status", "x", "--follow"], "not an option"),
                       (["upload", "a.jsonl", "--follow", "--dry-run"], "do not go together"), ([], "no command")):
        p = eh(*args)
        assert p.returncode == 2, (args, p.stderr)
        assert said in p.stderr and p.stderr.startswith("eh: ")
        assert p.stdout == ""


def test_bad_url_and_config_file_are_usage_errors(tmp_path):
    p = eh("--url", "ftp://x", "status", str(uuid.uuid4()))
    assert p.returncode == 2 and "http://" in p.stderr
    (tmp_path / "eh").mkdir()
    (tmp_path / "eh" / "config").write_text("url=http://127.0.0.1:1\ntoken=abc\n")
    p = eh("status", str(uuid.uuid4()), env=cli_env(XDG_CONFIG_HOME=tmp_path))
    assert p.returncode == 2 and "unknown setting \"token\"" in p.stderr


# ---- upload and follow: plain, JSON, terminal

def test_upload_follow_plain_lines(start_api, start_worker):
    api = start_api()
    start_worker(EH_LINE_DELAY_MAX_MS=20)
    p = eh("upload", MIXED, "--follow", env=cli_env(api))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    m = re.match(r"job ([0-9a-f-]{36}) queued: .*mixed\.jsonl \(16 lines, ", lines[0])
    assert m, lines[0]
    job = rest_job(api, m.group(1))
    assert job["status"] == "completed"
    events = lines[1:]
    assert events and all(re.match(r"\S+Z (snapshot|started|progress|completed) job=" + job["job_id"], e)
                          for e in events), events
    assert "\r" not in p.stdout and "\033" not in p.stdout
    assert events[-1].split()[1] in ("completed", "snapshot")  # a job done before we connected: its final snapshot
    assert "status=completed" in events[-1]
    assert (f"lines={job['lines_processed']}/{job['lines_total']} valid={job['entries_ingested']} "
            f"invalid={job['lines_invalid']} progress=100.0%") in events[-1]


def test_upload_follow_json_matches_the_api(start_api, start_worker):
    api = start_api()
    start_worker(EH_LINE_DELAY_MAX_MS=20)
    p = eh("--json", "upload", MIXED, "--follow", env=cli_env(api))
    assert p.returncode == 0, p.stderr
    objs = json_lines(p.stdout)
    accepted, events = objs[0], objs[1:]
    assert accepted["status"] == "queued" and accepted["lines_total"] == 16 and accepted["file_name"] == "mixed.jsonl"
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), seqs
    assert events[0]["event"] == "snapshot" and events[-1]["status"] == "completed"
    job = rest_job(api, accepted["job_id"])
    assert_counts_match(events[-1], job)
    assert job["entries_ingested"] + job["lines_invalid"] == 15  # 16 lines, one blank


def run_in_pty(args, env, cols=80, timeout=60, on_output=None):
    """Runs eh under a pseudo-terminal of cols columns; returns (exit code, everything it wrote)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(EH, [EH, *args], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
            if on_output is not None:
                on_output(pid, out)
    else:
        os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"eh did not finish in {timeout}s under the pty:\n{out[-2000:]!r}")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


def visible(s):
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", s)


def test_terminal_progress_bars_fit_the_width_and_colour(start_api, start_worker):
    api = start_api()
    start_worker(EH_LINE_DELAY_MAX_MS=40)
    code, out = run_in_pty(["upload", SAMPLE, "--follow"], cli_env(api, TERM="xterm"), cols=72)
    assert code == 0, out
    assert "\033[32m" in out  # the bar's filled part in colour
    frames = [visible(f) for f in re.split(r"[\r\n]", out) if f.strip()]
    uploads = [f for f in frames if f.startswith("upload [")]
    ingests = [f for f in frames if f.startswith("ingest [")]
    assert uploads and "100%" in uploads[-1] and "KiB" in uploads[-1]
    assert ingests and re.search(r"100%\s+50/50 lines\s+50 valid\s+0 invalid", ingests[-1]), ingests[-3:]
    assert all(len(f) <= 71 for f in uploads + ingests), max(uploads + ingests, key=len)
    assert re.search(r"job [0-9a-f-]{36} \x1b\[1;32mcompleted\x1b\[0m: 50 lines, 50 valid, 0 invalid", out)


def test_no_color_turns_colour_off(start_api, start_worker):
    api = start_api()
    start_worker()
    code, out = run_in_pty(["upload", MIXED, "--follow"], cli_env(api, TERM="xterm", NO_COLOR="1"), cols=120)
    assert code == 0, out
    assert "ingest [" in out
    assert not re.search(r"\x1b\[[0-9;]*m", out), repr(out[-500:])


def test_ctrl_c_stops_following_without_cancelling(start_api, start_worker):
    api = start_api()
    start_worker(EH_LINE_DELAY_MAX_MS=300)  # ~7 s for 50 lines: still running when eh follow starts
    up = eh("--json", "upload", SAMPLE, env=cli_env(api))
    assert up.returncode == 0, up.stderr
    job_id = json_lines(up.stdout)[0]["job_id"]
    sent = []

    def interrupt(pid, out):
        if not sent and b"ingest [" in out:
            os.kill(pid, signal.SIGINT)
            sent.append(True)
    code, out = run_in_pty(["follow", job_id], cli_env(api, TERM="xterm"), on_output=interrupt)
    assert sent and code == 130, repr(out[:1500])
    assert f"To cancel it: eh cancel {job_id}" in out
    job = wait_for(lambda: (j := rest_job(api, job_id))["status"] == "completed" and j, 60, what="job goes on")
    assert job["lines_processed"] == 50


# ---- follow: a job that ends while we connect, a server restart, a failed job (exit 1)

def test_follow_a_job_that_already_completed(start_api, start_worker):
    api = start_api()
    start_worker()
    up = eh("--json", "upload", MIXED, env=cli_env(api))
    job_id = json_lines(up.stdout)[0]["job_id"]
    wait_for(lambda: rest_job(api, job_id)["status"] == "completed", 30, what="completed")
    p = eh("--json", "follow", job_id, env=cli_env(api))
    assert p.returncode == 0, p.stderr
    events = json_lines(p.stdout)
    assert len(events) == 1 and events[0]["event"] == "snapshot" and events[0]["status"] == "completed"
    assert_counts_match(events[0], rest_job(api, job_id))


def test_follow_a_job_that_completes_while_connecting(start_api, start_worker):
    api = start_api()
    start_worker()  # no delay: the job ends within milliseconds of its upload
    for _ in range(3):
        p = eh("--json", "upload", MIXED, "--follow", env=cli_env(api))
        assert p.returncode == 0, p.stderr
        events = json_lines(p.stdout)[1:]
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(set(seqs))
        assert events[-1]["status"] == "completed"
        assert_counts_match(events[-1], rest_job(api, events[-1]["job_id"]))


def test_server_restart_during_follow_resumes_from_seq(start_api, start_worker, tmp_path):
    port = free_port()
    api = start_api(EH_HTTP_PORT=port)
    start_worker(EH_LINE_DELAY_MAX_MS=120, EH_BATCH_MS=100)
    up = eh("--json", "upload", SAMPLE, env=cli_env(api))
    job_id = json_lines(up.stdout)[0]["job_id"]
    out_path = tmp_path / "follow.out"
    with open(out_path, "w") as out, open(tmp_path / "follow.err", "w") as err:
        follower = subprocess.Popen([EH, "--json", "follow", job_id], env=cli_env(api), stdout=out, stderr=err)
        try:
            wait_for(lambda: any(e["event"] == "progress" for e in json_lines(out_path.read_text())), 30,
                     what="a progress event before the restart")
            assert api.stop() == 0
            time.sleep(1.0)  # events the client misses while the server is away
            api2 = start_api(EH_HTTP_PORT=port)
            code = follower.wait(timeout=120)
        finally:
            if follower.poll() is None:
                follower.kill()
    assert code == 0, (tmp_path / "follow.err").read_text()
    events = json_lines(out_path.read_text())
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), seqs  # nothing printed twice
    assert sum(1 for e in events if e["event"] == "snapshot") == 2  # the first connection's and the resumed one's
    assert events[-1]["status"] == "completed"
    assert_counts_match(events[-1], rest_job(api2, job_id))


def test_follow_a_failed_job_exits_1(start_api, start_worker, db):
    api = start_api()
    start_worker()
    job_id = create_job(db, log_line(1) + "\n", store=False)  # no stored object: the job fails
    if getattr(api, "tenant", None) is not None:  # where callers are identified: the job of the test's tenant
        query(db, "UPDATE jobs SET tenant_id = %s WHERE id = %s", api.tenant.id, job_id)
    assert wait_job(db, job_id)["status"] == "failed"
    p = eh("follow", job_id, env=cli_env(api))
    assert p.returncode == 1, p.stderr
    assert "failed" in p.stdout and "object missing from storage" in p.stdout


# ---- status and errors

def test_status_and_errors(start_api, start_worker):
    api = start_api()
    start_worker()
    p = eh("--json", "upload", MIXED, "--follow", env=cli_env(api))
    job_id = json_lines(p.stdout)[0]["job_id"]
    st = eh("status", job_id, env=cli_env(api))
    assert st.returncode == 0
    assert re.search(r"^status\s+completed$", st.stdout, re.M) and re.search(r"^lines_total\s+16$", st.stdout, re.M)
    st = eh("--json", "status", job_id, env=cli_env(api))
    assert json.loads(st.stdout) == rest_job(api, job_id)
    errs = eh("--json", "errors", job_id, env=cli_env(api))
    assert errs.returncode == 0
    want = requests.get(f"{api.url}/api/v1/jobs/{job_id}/errors?limit=1000", timeout=10).json()["errors"]
    assert json_lines(errs.stdout) == want and len(want) == rest_job(api, job_id)["lines_invalid"]
    plain = eh("errors", job_id, env=cli_env(api))
    assert plain.stdout.splitlines() == [f"line {e['line_no']}: {e['reason']}" for e in want]
    two = eh("--json", "errors", job_id, "--limit", "2", env=cli_env(api))
    assert json_lines(two.stdout) == want[:2]


# ---- exit 4 and 5

def test_no_server_exits_4_after_retries():
    url = f"http://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    p = eh("--url", url, "--retries", "2", "status", str(uuid.uuid4()))
    assert p.returncode == 4
    assert time.monotonic() - t0 >= 1.5  # 0.5 s then 1 s of back-off
    assert p.stderr.count("retrying in") == 2 and "Couldn't connect" in p.stderr


def test_503_is_retried_after_retry_after_then_exit_4(start_api, services):
    api = start_api()
    services.stop("s3")
    try:
        p = eh("upload", MIXED, "--retries", "0", env=cli_env(api))
        assert p.returncode == 4
        assert "(storage_unavailable, HTTP 503)" in p.stderr
        t0 = time.monotonic()
        p = eh("upload", MIXED, "--retries", "1", env=cli_env(api))
        assert p.returncode == 4
        assert "service unavailable (503); retrying in 5.0 s (1 of 1)" in p.stderr  # Retry-After: 5
        assert time.monotonic() - t0 >= 5
        # the service comes back while eh waits: the retry succeeds
        proc = subprocess.Popen([EH, "--json", "upload", MIXED, "--retries", "3"], env=cli_env(api),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
    finally:
        services.start("s3")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "retrying in 5.0 s" in err
    assert json_lines(out)[0]["status"] == "queued"


def test_rejected_input_exits_5_with_the_servers_code(start_api, tmp_path):
    api = start_api()
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    p = eh("upload", str(bad), env=cli_env(api))
    assert p.returncode == 5, p.stderr
    assert re.search(r"^eh: upload .*notes\.txt: .+ \([a-z_]+, HTTP 4\d\d\)$", p.stderr, re.M), p.stderr
    p = eh("status", "not-a-uuid", env=cli_env(api))
    assert p.returncode == 5 and "HTTP 400" in p.stderr
    p = eh("status", str(uuid.uuid4()), env=cli_env(api))
    assert p.returncode == 5 and re.search(r"\([a-z_]*not_found, HTTP 404\)", p.stderr), p.stderr
    p = eh("follow", str(uuid.uuid4()), env=cli_env(api))
    assert p.returncode == 5 and re.search(r"\([a-z_]*not_found, HTTP 404\)", p.stderr), p.stderr
    p = eh("upload", str(tmp_path / "missing.jsonl"), env=cli_env(api))
    assert p.returncode == 2 and "cannot read" in p.stderr


# ---- configuration

def test_config_file_then_environment_then_flag(start_api, tmp_path):
    api = start_api()
    (tmp_path / "eh").mkdir()
    key = f"key={api.key}\n" if getattr(api, "key", None) else ""
    (tmp_path / "eh" / "config").write_text(f"# written by make run\nurl={api.url}\n{key}")
    job = str(uuid.uuid4())
    # the file's URL reaches the API (a 404 from it, not a connection error)
    p = eh("status", job, env=cli_env(XDG_CONFIG_HOME=tmp_path))
    assert p.returncode == 5 and "not_found" in p.stderr
    dead = f"http://127.0.0.1:{free_port()}"
    p = eh("--retries", "0", "status", job, env=cli_env(XDG_CONFIG_HOME=tmp_path, EH_URL=dead))
    assert p.returncode == 4
    p = eh("--retries", "0", "--url", api.url, "status", job, env=cli_env(XDG_CONFIG_HOME=tmp_path, EH_URL=dead))
    assert p.returncode == 5



# ---- exit 3: keys (identity, issue 10)

def test_wrong_or_read_only_key_exits_3(start_api):
    api = start_api()
    job = str(uuid.uuid4())
    for args in (["status", job], ["follow", job], ["upload", MIXED]):
        p = eh(*args, env=cli_env(api, EH_API_KEY="eh_000000000000_" + "A" * 43))
        assert p.returncode == 3, (args, p.stderr)
        assert "(unauthorized, HTTP 401)" in p.stderr
    p = eh("upload", MIXED, env=cli_env(api, EH_API_KEY=api.read_key))
    assert p.returncode == 3 and "(forbidden, HTTP 403)" in p.stderr
    p = eh("status", job, env=cli_env(api, EH_API_KEY=api.read_key))  # a read key reads
    assert p.returncode == 5 and "HTTP 404" in p.stderr


# ---- jobs, entries, cancel, delete (the job API of issue 12)

def completed_job(api):
    p = eh("--json", "upload", MIXED, "--follow", env=cli_env(api))
    assert p.returncode == 0, p.stderr
    return json_lines(p.stdout)[0]["job_id"]


def test_jobs_and_entries(start_api, start_worker):
    api = start_api()
    start_worker()
    job_id = completed_job(api)
    p = eh("jobs", env=cli_env(api))
    assert p.returncode == 0
    assert re.search(rf"^{job_id}\s+completed\s+100\.0%\s+16/16 \(8\)\s+\S+\s+mixed\.jsonl$", p.stdout, re.M), p.stdout
    assert [j["job_id"] for j in json_lines(eh("--json", "jobs", "--status", "completed", env=cli_env(api)).stdout)] \
        == [job_id]
    assert eh("--json", "jobs", "--status", "failed", env=cli_env(api)).stdout == ""
    want = requests.get(f"{api.url}/api/v1/jobs/{job_id}/entries?limit=1000", timeout=10).json()["entries"]
    assert json_lines(eh("--json", "entries", job_id, env=cli_env(api)).stdout) == want
    errs = [e for e in want if e["level"] == "error"]
    assert errs and json_lines(eh("--json", "entries", job_id, "--level", "error", env=cli_env(api)).stdout) == errs
    word = want[0]["message"].split()[0].upper()
    got = json_lines(eh("--json", "entries", job_id, "--q", word, env=cli_env(api)).stdout)
    assert got and all(word.lower() in e["message"].lower() for e in got)
    plain = eh("entries", job_id, "--limit", "2", env=cli_env(api)).stdout.splitlines()
    assert len(plain) == 2 and plain[0].split()[0] == str(want[0]["line_no"]) and plain[0].endswith(want[0]["message"])
    p = eh("entries", job_id, "--since", "yesterday", env=cli_env(api))
    assert p.returncode == 5 and "HTTP 400" in p.stderr


def test_cancel_ends_a_follow_with_exit_1_then_delete(start_api, start_worker, tmp_path):
    api = start_api()
    start_worker(EH_LINE_DELAY_MAX_MS=300)
    up = eh("--json", "upload", SAMPLE, env=cli_env(api))
    job_id = json_lines(up.stdout)[0]["job_id"]
    p = eh("delete", job_id, env=cli_env(api))
    assert p.returncode == 5 and "(conflict, HTTP 409)" in p.stderr  # still running
    with open(tmp_path / "out", "w") as out:
        follower = subprocess.Popen([EH, "--json", "follow", job_id], env=cli_env(api), stdout=out,
                                    stderr=subprocess.PIPE, text=True)
        wait_for(lambda: json_lines((tmp_path / "out").read_text()), 30, what="the first event")
        p = eh("cancel", job_id, env=cli_env(api))
        assert p.returncode == 0, p.stderr
        assert follower.wait(timeout=60) == 1
    events = json_lines((tmp_path / "out").read_text())
    assert events[-1]["status"] == "cancelled"
    assert rest_job(api, job_id)["status"] == "cancelled"
    p = eh("cancel", job_id, env=cli_env(api))
    assert p.returncode == 5 and "(conflict, HTTP 409)" in p.stderr
    p = eh("delete", job_id, env=cli_env(api))
    assert p.returncode == 0 and p.stdout == f"job {job_id} deleted\n"
    p = eh("status", job_id, env=cli_env(api))
    assert p.returncode == 5 and "HTTP 404" in p.stderr


def test_entries_print_control_characters_escaped(start_api, start_worker, tmp_path):
    api = start_api()
    start_worker()
    f = tmp_path / "odd.jsonl"
    f.write_text(json.dumps({"ts": "2026-11-21T10:00:00Z", "level": "warn", "msg": "two\nlines \x1b[31mred\x1b[0m"}) + "\n")
    p = eh("--json", "upload", str(f), "--follow", env=cli_env(api))
    job_id = json_lines(p.stdout)[0]["job_id"]
    p = eh("entries", job_id, env=cli_env(api))
    assert p.returncode == 0
    assert p.stdout.splitlines()[0].endswith("warn    two\\nlines \\x1b[31mred\\x1b[0m")
    assert "\x1b" not in p.stdout


# ---- dry run and Idempotency-Key (issue 12, part b)

def test_dry_run_and_idempotent_upload(start_api):
    api = start_api()
    p = eh("upload", MIXED, "--dry-run", env=cli_env(api))
    assert p.returncode == 1  # invalid lines found
    assert re.search(r"mixed\.jsonl: 16 lines, 7 valid, 8 invalid, 1 blank", p.stdout), p.stdout
    assert re.search(r"^  line 3: ", p.stdout, re.M)
    p = eh("--json", "upload", SAMPLE, "--dry-run", env=cli_env(api))
    assert p.returncode == 0
    assert json_lines(p.stdout)[0]["lines_valid"] == 50
    first = eh("--json", "upload", SAMPLE, "--idempotency-key", "deploy-42", env=cli_env(api))
    again = eh("upload", SAMPLE, "--idempotency-key", "deploy-42", env=cli_env(api))
    assert first.returncode == 0 and again.returncode == 0
    job_id = json_lines(first.stdout)[0]["job_id"]
    assert again.stdout.startswith(f"job {job_id} ") and "earlier upload with this idempotency key" in again.stdout
    p = eh("upload", MIXED, "--idempotency-key", "deploy-42", env=cli_env(api))
    assert p.returncode == 5 and "(idempotency_conflict, HTTP 409)" in p.stderr
