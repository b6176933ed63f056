#!/usr/bin/env python3
"""Follows a job's live progress over the WebSocket and prints each event.

    scripts/ws-follow.py http://localhost:8080 <job_id>

The API key is taken from EH_API_KEY, else from .run/local/api-key (what
`make run` made), else from the eh CLI's config ($XDG_CONFIG_HOME/eh/config,
line key=...), and sent as Authorization: Bearer (never on the command line,
where other users could see it). Standard library only, so it runs wherever python3 does. Prints one JSON
event per line; exits 0 when the job completed, 1 when it failed, 2 on a
refused or broken connection.
"""
import base64
import json
import os
import socket
import struct
import sys
import urllib.parse


def api_key():
    """The key to send, or None (a service run with EH_AUTH=off needs none)."""
    if os.environ.get("EH_API_KEY"):
        return os.environ["EH_API_KEY"].strip()
    local = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".run", "local", "api-key")
    config = os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "eh", "config")
    for path, prefix in ((local, ""), (config, "key=")):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(prefix) and line.strip() != prefix:
                        return line[len(prefix):].strip()
        except OSError:
            pass
    return None


def handshake(sock, host, path, key=None):
    nonce = base64.b64encode(os.urandom(16)).decode()
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n{auth}\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("connection closed during the handshake")
        head += chunk
    head, rest = head.split(b"\r\n\r\n", 1)
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    if " 101 " not in status + " ":
        raise ConnectionError(f"upgrade refused: {status}")
    return rest


class Reader:
    def __init__(self, sock, buffered):
        self.sock, self.buf = sock, buffered

    def take(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self):
        b0, b1 = self.take(2)
        opcode, length = b0 & 0x0F, b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", self.take(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self.take(8))[0]
        mask = self.take(4) if b1 & 0x80 else None
        data = self.take(length)
        if mask:
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
        return opcode, data


def send_frame(sock, opcode, payload=b""):
    mask = os.urandom(4)
    masked = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    base = urllib.parse.urlsplit(sys.argv[1])
    host, port = base.hostname or "localhost", base.port or 80
    try:
        sock = socket.create_connection((host, port), timeout=120)
        reader = Reader(sock, handshake(sock, f"{host}:{port}", f"/ws/jobs/{sys.argv[2]}", api_key()))
        final = None
        while True:
            opcode, data = reader.frame()
            if opcode == 0x1:
                event = json.loads(data)
                print(json.dumps(event), flush=True)
                if event.get("event") in ("completed", "failed"):
                    final = event["event"]
            elif opcode == 0x9:
                send_frame(sock, 0xA, data)
            elif opcode == 0x8:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                send_frame(sock, 0x8, data[:2])
                print(f"closed with code {code}", file=sys.stderr)
                return 0 if final == "completed" else 1
    except (OSError, ConnectionError, ValueError) as e:
        print(f"ws-follow: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
