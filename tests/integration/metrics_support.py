"""Helpers of the observability tests: /metrics ports, parsing the text format, promtool."""
import os
import re
import subprocess

import requests

from conftest import REPO, wait_for

PROMTOOL = "/usr/bin/promtool"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metrics_port(proc, msg):
    """The port of a process's /metrics listener, from its log line `msg` ("ready" / "supervisor ready")."""
    def port():
        for line in proc.json_lines():
            if line.get("msg") == msg and "metrics_port" in line:
                return (line["metrics_port"],)  # 0 (no listener) must end the wait too
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited:\n{proc.output()[-4000:]}")
        return None
    return wait_for(port, 30, what=f"{proc.name} metrics port")[0]


def scrape(port):
    r = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
    return r.text


def parse(text):
    """{(name, frozenset(labels)): value} of every sample."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(samples, name, **labels):
    """One sample's value; 0 when the series is absent (a sparse family not counted yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def promtool_check_metrics(text):
    """promtool's lint of an exposition: its output, which must be empty, and the exit code."""
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).decode()


def example(name):
    with open(os.path.join(REPO, "examples", name), "rb") as f:
        return f.read()
