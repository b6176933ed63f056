"""Admission under abuse (issue 11): one client cannot stall the others.

The listener holds each connection until its request head is complete,
at most EH_HTTP_PENDING_PER_IP per client address, each for at most
EH_HTTP_HEAD_TIMEOUT_MS; accept() out of descriptors backs off instead of
spinning; /readyz answers from verdicts kept fresh in the background.
Other clients speak from other loopback addresses (127.0.0.2, ...), which
Linux routes to the same host.
"""
import os
import resource
import signal
import socket
import threading
import time
import uuid

import requests

from conftest import BIN_DIR, Proc, base_env, free_port, upload, wait_for
from test_api import QUIET, line


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connect_from(source, port, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def http_get_from(source, port, path, key=None, timeout=5.0):
    """(status, seconds) of one GET sent from the source address (with the API key, if any), on a fresh connection."""
    t0 = time.monotonic()
    s = connect_from(source, port, timeout)
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, time.monotonic() - t0


def peer_closed(s):
    """True when the server closed (or reset) the connection."""
    s.settimeout(0.05)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def test_idle_connections_from_one_address_do_not_block_others(start_api):
    assert raise_nofile(4096) >= 2200, "the test needs 2,000 sockets"
    api = start_api(**QUIET)
    idle = []
    try:
        for _ in range(2000):
            try:
                idle.append(connect_from("127.0.0.1", api.port))
            except OSError:
                break  # the listen backlog is full: the flood is as big as it gets
        assert len(idle) >= 1000, len(idle)
        job = str(uuid.uuid4())
        for _ in range(5):
            status, took = http_get_from("127.0.0.2", api.port, f"/api/v1/jobs/{job}", api.key)
            assert status == 404 and took < 1.0, (status, took)
        # Beyond EH_HTTP_PENDING_PER_IP (256) the flooding address's connections were closed at accept.
        time.sleep(0.5)
        closed = sum(1 for s in idle if peer_closed(s))
        assert closed >= len(idle) - 256, (closed, len(idle))
    finally:
        for s in idle:
            s.close()
    assert api.alive()
    assert "too many from one address" in api.output()


def test_slowloris_changes_nothing_for_others(start_api):
    """500 connections from 20 addresses (within the per-address cap) send one header byte every 5 s."""
    assert raise_nofile(4096) >= 1000
    api = start_api(**QUIET)
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 64
    slow = []
    for i in range(500):
        s = connect_from(f"127.0.0.{10 + i % 20}", api.port)
        slow.append(s)
    stop = threading.Event()

    def drip():
        pos = 0
        while not stop.is_set() and pos < len(head):
            for s in slow:
                try:
                    s.send(head[pos:pos + 1])
                except OSError:
                    pass
            pos += 1
            stop.wait(5.0)
    t = threading.Thread(target=drip)
    t.start()
    worst = 0.0
    try:
        t0 = time.monotonic()
        job = str(uuid.uuid4())
        while time.monotonic() - t0 < 12.0:  # past EH_HTTP_HEAD_TIMEOUT_MS (10 s)
            status, took = http_get_from("127.0.0.2", api.port, f"/api/v1/jobs/{job}", api.key)
            assert status == 404, status
            worst = max(worst, took)
            status, took = http_get_from("127.0.0.3", api.port, "/healthz")
            assert status == 200, status
            worst = max(worst, took)
            time.sleep(0.1)
        assert worst < 1.0, worst
        # The head deadline ended every slow connection; a byte every 5 s did not extend it.
        closed = wait_for(lambda: sum(1 for s in slow if peer_closed(s)) == len(slow) or None, 5,
                          interval=0.2, what="the slow connections closed")
        assert closed
    finally:
        stop.set()
        t.join()
        for s in slow:
            s.close()
    assert api.alive()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_backs_off_instead_of_spinning(procs, tmp_path):
    port = free_port()
    env = base_env(EH_HTTP_PORT=port, EH_SPOOL_DIR=str(tmp_path), **QUIET)
    # A hard limit of 256 descriptors: eh-api raises its soft limit to it, and no further.
    api = Proc("eh-api", ["prlimit", "--nofile=256:256", os.path.join(BIN_DIR, "eh-api")], env, tmp_path)
    procs.append(api)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _up(url), 30, what="eh-api up")
    held = []
    try:
        # Keep-alive connections with a complete request: each is served, then idles in the HTTP daemon.
        for i in range(300):
            try:
                s = connect_from(f"127.0.0.{10 + i % 50}", port, timeout=2)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                held.append(s)
            except OSError:
                break
        time.sleep(1.0)
        before = cpu_seconds(api.pid)
        time.sleep(3.0)
        spent = cpu_seconds(api.pid) - before
        assert spent < 1.0, f"eh-api used {spent:.2f} s of CPU in 3 s while out of descriptors"
        assert "out of descriptors" in api.output()
        assert api.output().count("out of descriptors") < 5  # one warning per outage, not one per accept
    finally:
        for s in held:
            s.close()
    # Descriptors free again: new connections are accepted (after at most one back-off delay).
    wait_for(lambda: _up(url), 10, interval=0.2, what="accepting again")
    assert api.alive()


def _up(url):
    try:
        return requests.get(url + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def process_tree(pid):
    """pid and all its descendants (the broker's pid file names its start-up shell, not the Erlang VM)."""
    out = [pid]
    for p in out:
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                out.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def test_readyz_answers_at_once_while_the_broker_hangs(start_api, db):
    """A paused broker holds an upload's publish (and the publisher's lock); /readyz still answers in < 1 s."""
    api = start_api(**QUIET)
    assert requests.get(api.url + "/readyz", timeout=5).status_code == 200
    pids = process_tree(int(open(os.path.join(os.environ["EH_RUN_DIR"], "pids", "rabbitmq.pid")).read()))
    result = {}
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        t = threading.Thread(target=lambda: result.update(r=upload(api, "held.jsonl", line(1) + "\n")))
        t.start()
        time.sleep(1.0)
        worst = 0.0
        seen = set()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 8.0:
            s = time.monotonic()
            r = requests.get(api.url + "/readyz", timeout=5)
            worst = max(worst, time.monotonic() - s)
            seen.add(r.status_code)
            time.sleep(0.2)
        assert worst < 1.0, worst
        # The publisher's check cannot finish while the broker hangs: its verdict goes stale, reported as such.
        assert 503 in seen, seen
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        t.join(60)
    assert "r" in result


def ws_upgrade_from(source, port, job_id, key):
    """(status line, socket) of a WebSocket upgrade sent from the source address; the socket stays open."""
    s = connect_from(source, port, timeout=10)
    s.sendall((f"GET /ws/jobs/{job_id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        byte = s.recv(1)
        if not byte:
            break
        head += byte
    return head.split(b"\r\n", 1)[0].decode(), s


def test_websocket_sessions_are_limited_per_address(start_api):
    api = start_api(EH_WS_MAX_PER_IP=2, **QUIET)
    r = upload(api, "app.jsonl", line(1) + "\n")
    assert r.status_code == 202
    job_id = r.json()["job_id"]
    held = []
    try:
        for _ in range(2):
            status, s = ws_upgrade_from("127.0.0.1", api.port, job_id, api.key)
            held.append(s)
            assert status.startswith("HTTP/1.1 101"), status
        status, s = ws_upgrade_from("127.0.0.1", api.port, job_id, api.key)
        held.append(s)
        assert status.startswith("HTTP/1.1 503"), status
        # Another address is not affected.
        status, s = ws_upgrade_from("127.0.0.2", api.port, job_id, api.key)
        held.append(s)
        assert status.startswith("HTTP/1.1 101"), status
    finally:
        for s in held:
            s.close()
