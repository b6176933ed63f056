"""Live progress over WebSocket (/ws/jobs/<id>) against the real eh-api and eh-worker.

The client is Debian's python3-websockets (asyncio). Jobs are uploaded
through the api; a worker with a small per-line delay makes progress events
flow. Some tests publish events on eh.progress themselves, to drive the relay
harder than a worker may (the contract caps a job at one event per 100 ms).
"""
import asyncio
import base64
import http.client
import json
import os
import signal
import socket
import time
import uuid
from datetime import datetime

import pika
import pytest
import requests
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatusCode

from conftest import BIN_DIR, amqp_params, auth_headers, declare_topology, query, upload, wait_for, wait_job, wait_worker_ready

QUIET = {"EH_REPUBLISH_AFTER_MS": 600000}
FLOOD = 3000  # events of 16 KiB
TERMINAL = ("completed", "failed")
JOB_KEYS = {"job_id", "file_name", "size_bytes", "status", "progress", "lines_total", "lines_processed",
            "entries_ingested", "lines_invalid", "created_at", "started_at", "completed_at", "error"}


def lines(n):
    return "".join(json.dumps({"timestamp": f"2026-11-21T10:00:{i % 60:02d}Z", "level": "info",
                               "message": f"line {i}"}) + "\n" for i in range(n))


def ws_url(api, job_id):
    """The job's WebSocket URL with the test tenant's key as access_token (what a browser would use)."""
    return f"ws://127.0.0.1:{api.port}/ws/jobs/{job_id}?access_token={api.key}"


def new_job(api, n=10):
    r = upload(api, "app.jsonl", lines(n))
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def parse_time(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


async def listen(url, opened=None, timeout=60.0):
    """Connects, collects every event until the server closes; returns (events, close code, reason)."""
    async def run():
        events = []
        async with websockets.connect(url, open_timeout=20, close_timeout=10) as ws:
            if opened is not None and not opened.done():
                opened.set_result(None)
            async for msg in ws:  # ends on a 1000/1001 close, raises on any other
                e = json.loads(msg)
                e["_received"] = time.time()
                events.append(e)
        return events, ws.close_code, ws.close_reason
    return await asyncio.wait_for(run(), timeout)


def run(coro):
    return asyncio.run(coro)


def assert_event_shape(e):
    assert set(e) >= JOB_KEYS | {"event", "seq", "emitted_at"}, e
    assert isinstance(e["seq"], int)
    parse_time(e["emitted_at"])


def assert_ordered_stream(events, final="completed"):
    """Snapshot first, seq strictly growing, lines_processed never going back, one terminal event at the end."""
    assert events, "no event at all"
    assert events[0]["event"] == "snapshot", events[0]
    for e in events:
        assert_event_shape(e)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), seqs
    done = [e["lines_processed"] for e in events]
    assert done == sorted(done), done
    assert events[-1]["event"] in (final, "snapshot"), events[-1]
    assert events[-1]["status"] == final
    assert [e for e in events[:-1] if e["event"] in TERMINAL] == []


def raw_request(port, path, upgrade=True):
    """Sends a request on a fresh socket and reads until the server closes: (status, headers, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in auth_headers(port).items())
        if upgrade:
            key = base64.b64encode(os.urandom(16)).decode()
            head += (f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                     "Sec-WebSocket-Version: 13\r\n")
        s.sendall((head + "\r\n").encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break  # refused requests are answered with Connection: close
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
    return int(status_line.split()[1]), headers, body


def raw_subscriber(port, job_id, rcvbuf=None):
    """A client that completes the handshake and then reads nothing (unless the test says so)."""
    s = socket.socket()
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    try:
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        auth = "".join(f"{k}: {v}\r\n" for k, v in auth_headers(port).items())
        s.sendall((f"GET /ws/jobs/{job_id} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{auth}\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            byte = s.recv(1)  # byte by byte: nothing past the handshake is taken off the socket
            assert byte, head
            head += byte
        assert head.startswith(b"HTTP/1.1 101"), head
    except BaseException:
        s.close()
        raise
    return s


def read_until_closed(s, timeout):
    """Reads everything until the server closes the connection; returns the bytes (None if it never did)."""
    s.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data
    except socket.timeout:
        return None
    return None


def frame_opcodes(data):
    """Opcodes of the (unmasked, server-to-client) frames in data."""
    ops, i = [], 0
    while i + 2 <= len(data):
        op, n = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if n == 126:
            n, i = int.from_bytes(data[i:i + 2], "big"), i + 2
        elif n == 127:
            n, i = int.from_bytes(data[i:i + 8], "big"), i + 8
        ops.append(op)
        i += n
    return ops


class Publisher:
    """Publishes job events on eh.progress as a worker does (to push more events than a worker would)."""

    def __init__(self):
        self.conn = pika.BlockingConnection(amqp_params())
        self.ch = self.conn.channel()
        declare_topology(self.ch)

    def event(self, job_id, event, seq, lines_processed=0, status="processing", pad=0):
        body = {"job_id": job_id, "file_name": "app.jsonl", "size_bytes": 1, "status": status, "progress": 0.0,
                "lines_total": 10, "lines_processed": lines_processed, "entries_ingested": lines_processed,
                "lines_invalid": 0, "created_at": "2026-11-21T10:00:00.000Z", "started_at": None,
                "completed_at": None, "error": None, "event": event, "seq": seq,
                "emitted_at": datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
        if pad:
            body["pad"] = "x" * pad
        self.ch.basic_publish("eh.progress", f"job.{job_id}", json.dumps(body).encode())

    def close(self):
        self.conn.close()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


# ---- refusals ------------------------------------------------------------------------------------

def test_upgrade_refusals_carry_status_and_json(start_api):
    api = start_api(**QUIET)
    job_id = new_job(api)

    async def status_of(path):
        with pytest.raises(InvalidStatusCode) as e:
            async with websockets.connect(f"ws://127.0.0.1:{api.port}{path}", open_timeout=10,
                                          extra_headers=api.headers):
                pass
        return e.value.status_code
    assert run(status_of("/ws/jobs/not-a-uuid")) == 400
    assert run(status_of(f"/ws/jobs/{uuid.uuid4()}")) == 404
    assert run(status_of("/ws/elsewhere")) == 404

    for path, status, code in (("/ws/jobs/123", 400, "invalid_job_id"),
                               (f"/ws/jobs/{uuid.uuid4()}", 404, "job_not_found"),
                               (f"/ws/jobs/{job_id}/x", 404, "not_found")):
        got, headers, body = raw_request(api.port, path)
        assert got == status, (path, got, body)
        assert headers["content-type"] == "application/json"
        assert headers["connection"].lower() == "close"
        assert json.loads(body)["error"]["code"] == code
        # A plain GET (no upgrade) gets the same answer...
        got, _, body = raw_request(api.port, path, upgrade=False)
        assert got == status and json.loads(body)["error"]["code"] == code
    # ...and on a real job, a clear "use WebSocket".
    got, headers, body = raw_request(api.port, f"/ws/jobs/{job_id}", upgrade=False)
    assert got == 426 and headers["upgrade"] == "websocket"
    assert json.loads(body)["error"]["code"] == "upgrade_required"


def test_connection_limits_are_enforced_with_503(start_api):
    api = start_api(EH_WS_MAX_CONNECTIONS=3, EH_WS_MAX_PER_JOB=2, **QUIET)
    a, b = new_job(api), new_job(api)
    held = [raw_subscriber(api.port, a), raw_subscriber(api.port, a)]
    try:
        status, headers, body = raw_request(api.port, f"/ws/jobs/{a}")  # third on job a
        assert status == 503 and headers.get("retry-after") == "5"
        assert json.loads(body)["error"]["code"] == "too_many_connections"
        held.append(raw_subscriber(api.port, b))  # third in total, first on job b
        status, _, body = raw_request(api.port, f"/ws/jobs/{b}")  # fourth in total
        assert status == 503 and json.loads(body)["error"]["code"] == "too_many_connections"
        held.pop(0).close()
        # Once the server has seen the connection go, its slot is free again.
        s = wait_for(lambda: _try_subscribe(api.port, a), 10, what="a free slot")
        held.append(s)
    finally:
        for s in held:
            s.close()


def _try_subscribe(port, job_id):
    try:
        return raw_subscriber(port, job_id)
    except AssertionError:
        return None


# ---- the stream --------------------------------------------------------------------------------

def test_snapshot_then_every_ten_percent_then_completed_and_close_1000(start_api, start_worker, db):
    api = start_api(**QUIET)
    job_id = new_job(api, 100)

    async def scenario():
        opened = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(listen(ws_url(api, job_id), opened))
        await asyncio.wait_for(opened, 20)
        # The worker starts only once the client is subscribed: the whole job is seen live.
        # Ten lines a step at 0-100 ms a line: steps about 500 ms apart, clear of the 100 ms floor
        # between events (a job faster than that cannot have an event at every step by contract) and
        # of a batch commit slowed by a busy machine.
        worker = start_worker(EH_LINE_DELAY_MAX_MS=100)
        wait_worker_ready(worker, 1)
        return await task
    events, code, reason = run(scenario())
    assert code == 1000, (code, reason)
    assert_ordered_stream(events)
    assert events[0]["status"] == "queued" and events[0]["lines_processed"] == 0
    assert events[0]["job_id"] == job_id
    names = [e["event"] for e in events]
    assert "started" in names
    steps = {e["lines_processed"] * 10 // e["lines_total"] for e in events if e["event"] == "progress"}
    assert steps >= set(range(1, 10)), (steps, [(e["event"], e["lines_processed"]) for e in events])
    last = events[-1]
    assert last["event"] == "completed" and last["progress"] == 100.0 and last["lines_processed"] == 100
    assert last["entries_ingested"] == 100 and last["completed_at"] is not None
    # The final event matches what PostgreSQL holds.
    row = query(db, "SELECT event_seq, status FROM jobs WHERE id = %s", job_id)[0]
    assert (last["seq"], last["status"]) == row


def test_connect_after_completion_gets_final_snapshot_then_close(start_api, start_worker, db):
    api = start_api(**QUIET)
    start_worker(EH_LINE_DELAY_MAX_MS=0)
    job_id = new_job(api, 5)
    wait_job(db, job_id)
    events, code, _ = run(listen(ws_url(api, job_id)))
    assert code == 1000
    assert len(events) == 1
    e = events[0]
    assert e["event"] == "snapshot" and e["status"] == "completed" and e["progress"] == 100.0
    assert e["seq"] == query(db, "SELECT event_seq FROM jobs WHERE id = %s", job_id)[0][0]


def test_two_hundred_clients_on_one_job_all_get_the_final_event(start_api, start_worker):
    api = start_api(**QUIET)
    job_id = new_job(api, 50)

    async def scenario():
        loop = asyncio.get_running_loop()
        opened = [loop.create_future() for _ in range(200)]
        tasks = [asyncio.create_task(listen(ws_url(api, job_id), f, timeout=90)) for f in opened]
        await asyncio.wait_for(asyncio.gather(*opened), 60)
        worker = start_worker(EH_LINE_DELAY_MAX_MS=10)
        wait_worker_ready(worker, 1)
        return await asyncio.gather(*tasks)
    results = run(scenario())
    assert len(results) == 200
    for events, code, reason in results:
        assert code == 1000, (code, reason)
        assert_ordered_stream(events)
        assert events[-1]["event"] == "completed"
    assert len({events[-1]["seq"] for events, _, _ in results}) == 1


def test_a_client_that_never_reads_does_not_hold_up_the_others(start_api, start_worker):
    """A flood of large events to a job: the reader keeps up (coalesced), the silent client costs bounded memory."""
    api = start_api(EH_WS_QUEUE_LEN=8, EH_WS_PING_S=2,
                    ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=66:quarantine_size_mb=4", **QUIET)
    job_id = new_job(api, 3)
    silent = raw_subscriber(api.port, job_id, rcvbuf=4096)
    pub = Publisher()
    try:
        async def scenario():
            opened = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(listen(ws_url(api, job_id), opened, timeout=90))
            await asyncio.wait_for(opened, 20)
            before = rss_kib(api.pid)

            def flood():
                # ~50 MB of events through the relay: far more than the silent client's socket buffers take.
                for seq in range(1, FLOOD + 1):
                    pub.event(job_id, "progress", seq, lines_processed=min(seq * 10 // FLOOD, 9), pad=16384)
                pub.event(job_id, "completed", FLOOD + 1, lines_processed=10, status="completed")
                return time.time()
            sent_final = await asyncio.get_running_loop().run_in_executor(None, flood)
            events, code, _ = await task
            return before, events, code, sent_final
        before, events, code, sent_final = run(scenario())
        after = rss_kib(api.pid)
        assert code == 1000
        assert_ordered_stream(events)
        assert events[-1]["event"] == "completed" and events[-1]["seq"] == FLOOD + 1
        # Not delayed behind the silent client: it arrives as soon as the relay has it.
        assert events[-1]["_received"] - sent_final < 10, events[-1]["_received"] - sent_final
        # The silent client's backlog is bounded: coalesced in the relay, not buffered without end.
        if "tsan" not in BIN_DIR:  # ThreadSanitizer's shadow memory grows with every byte touched
            assert after - before < 64 * 1024, (before, after)
        # It never answers pings nor our close: the server drops it.
        assert read_until_closed(silent, 20) is not None, "the silent client was never dropped"
    finally:
        pub.close()
        silent.close()


def test_dead_peer_is_pinged_then_dropped_while_a_live_one_stays(start_api):
    api = start_api(EH_WS_PING_S=1, **QUIET)
    job_id = new_job(api)  # stays queued: no worker, so no event but pings
    dead = raw_subscriber(api.port, job_id)

    async def live():
        async with websockets.connect(ws_url(api, job_id), open_timeout=10) as ws:
            first = json.loads(await ws.recv())
            data = await asyncio.get_running_loop().run_in_executor(None, read_until_closed, dead, 15)
            await asyncio.sleep(1.5)  # past another ping period for the live client
            assert ws.open  # it answers pings (websockets does), so it stays
            return first, data
    first, data = run(live())
    assert first["event"] == "snapshot"
    assert data is not None, "the peer that never answers was not dropped"
    ops = frame_opcodes(data)
    assert ops[0] == 0x1 and 0x9 in ops, ops  # the snapshot (text), then at least one ping
    dead.close()


def test_client_messages_are_ignored_and_oversized_ones_close_1009(start_api):
    api = start_api(**QUIET)
    job_id = new_job(api)

    async def scenario():
        async with websockets.connect(ws_url(api, job_id), open_timeout=10) as ws:
            assert json.loads(await ws.recv())["event"] == "snapshot"
            await ws.send("hello")
            await ws.send(b"\x00" * 4096)
            await ws.ping()  # still alive after both
            await ws.send("x" * 10000)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            return ws.close_code
    assert run(scenario()) == 1009


def test_broker_restart_mid_job_clients_still_get_the_final_event(start_api, start_worker, services, db):
    api = start_api(**QUIET)
    job_id = new_job(api, 120)

    async def scenario():
        loop = asyncio.get_running_loop()
        opened = [loop.create_future() for _ in range(3)]
        tasks = [asyncio.create_task(listen(ws_url(api, job_id), f, timeout=120)) for f in opened]
        await asyncio.wait_for(asyncio.gather(*opened), 20)
        worker = start_worker(EH_LINE_DELAY_MAX_MS=100)
        wait_worker_ready(worker, 1)
        await loop.run_in_executor(None, lambda: wait_for(
            lambda: (query(db, "SELECT lines_processed FROM jobs WHERE id = %s", job_id)[0][0] or 0) > 0, 30,
            what="the job under way"))
        await loop.run_in_executor(None, services.stop, "rabbitmq")
        await loop.run_in_executor(None, services.start, "rabbitmq")
        return await asyncio.gather(*tasks)
    for events, code, reason in run(scenario()):
        assert code == 1000, (code, reason)
        assert_ordered_stream(events)
        assert events[-1]["event"] == "completed" and events[-1]["lines_processed"] == 120
    assert wait_job(db, job_id)["status"] == "completed"


def test_rest_keeps_working_on_the_same_port_with_keep_alive(start_api, start_worker, db):
    api = start_api(**QUIET)
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read()) == {"status": "ok"}
        sock = conn.sock
        start_worker(EH_LINE_DELAY_MAX_MS=0)
        job_id = new_job(api, 5)
        wait_job(db, job_id)
        events, code, _ = run(listen(ws_url(api, job_id)))
        assert code == 1000 and events[-1]["status"] == "completed"
        conn.request("GET", f"/api/v1/jobs/{job_id}", headers=api.headers)
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["status"] == "completed"
        assert conn.sock is sock  # the same keep-alive connection, before and after the WebSocket session
    finally:
        conn.close()
    assert requests.get(api.url + f"/api/v1/jobs/{job_id}").status_code == 200


def test_sigterm_closes_sessions_with_1001_and_exits_cleanly(start_api):
    api = start_api(**QUIET)
    job_id = new_job(api)

    async def scenario():
        async with websockets.connect(ws_url(api, job_id), open_timeout=10) as ws:
            assert json.loads(await ws.recv())["event"] == "snapshot"
            api.signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            return ws.close_code
    assert run(scenario()) == 1001
    assert api.stop(timeout=30) == 0
