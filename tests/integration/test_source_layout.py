"""The source's arrows (issue 11): api/ -> common/ and worker/ -> common/ only, and no include cycles.

Reads every #include "..." of the C sources the way the compiler resolves them (the including file's own
folder, then common/, which every binary has on its include path) and checks three things:
- common/ includes nothing from api/, worker/ or cli/; api/ and worker/ never include each other;
- no header includes itself through other headers;
- no two modules (a .c file and its header) depend on each other, directly or around a longer loop, counting
  only headers that belong to a module (umbrella headers such as api/api.h have no .c of their own and only
  gather declarations).
"""
import os
import re

from conftest import REPO

DIRS = ["common", "api", "api/graphql", "worker", "cli"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources():
    files = {}
    for d in DIRS:
        path = os.path.join(REPO, d)
        if os.path.isdir(path):
            for name in os.listdir(path):
                if name.endswith((".c", ".h")):
                    with open(os.path.join(path, name), encoding="utf-8") as f:
                        files[f"{d}/{name}"] = f.read()
    return files


def include_graph(files):
    def resolve(src, name):
        for cand in (os.path.normpath(os.path.join(os.path.dirname(src), name)), os.path.normpath("common/" + name)):
            if cand in files:
                return cand
        return None  # a system or third-party header
    return {f: [r for r in (resolve(f, n) for n in INCLUDE.findall(text)) if r] for f, text in files.items()}


def cycles(edges):
    found, state, stack = [], {}, []

    def visit(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(edges.get(u, ())):
            if state.get(v) == 1:
                found.append(stack[stack.index(v):] + [v])
            elif v not in state:
                visit(v)
        stack.pop()
        state[u] = 2

    for u in sorted(edges):
        if u not in state:
            visit(u)
    return found


def top(path):
    return path.split("/")[0]


def test_arrows_point_to_common_only():
    graph = include_graph(sources())
    assert len(graph) > 100
    wrong = [f"{f} -> {t}" for f, tos in graph.items() for t in tos
             if (top(f) == "common" and top(t) != "common")
             or {top(f), top(t)} == {"api", "worker"}]
    assert wrong == []


def test_no_header_includes_itself():
    graph = include_graph(sources())
    headers = {f: [t for t in tos if t.endswith(".h")] for f, tos in graph.items() if f.endswith(".h")}
    assert cycles(headers) == []


def test_no_two_modules_depend_on_each_other():
    files = sources()
    graph = include_graph(files)
    module = lambda p: p.rsplit(".", 1)[0]  # noqa: E731
    modules = {module(f) for f in files if f.endswith(".c")}
    edges = {}
    for f, tos in graph.items():
        for t in tos:
            if module(f) in modules and module(t) in modules and module(t) != module(f):
                edges.setdefault(module(f), set()).add(module(t))
    assert len(edges) > 50
    assert cycles(edges) == []
