#!/usr/bin/env python3
"""Writes the JSON documents (version 1) that the HTML report is developed and
tested against, in the shape heapsnap html produces from real traces.

  make_fixtures.py DIR            report.json and diff.json: a few stacks,
                                  markers and leaks, numbers chosen by hand
  make_fixtures.py --big DIR      big.json: 50,000 stacks and 200,000 temporal
                                  rows, for the page's load time

The small documents are committed in fixtures/; this script is how they were
made, and why their numbers agree: the timeline, the peak and end views are
computed from the temporal rows exactly as the page computes them, so a test
may compare any two of them.
"""
import json
import os
import random
import sys

# ---------------------------------------------------------------- small report

FRAMES = [
    {"fn": "main", "file": "samples/phases.c", "line": 120, "module": "phases", "lib": False},  # 0
    {"fn": "build_cache", "file": "samples/phases.c", "line": 42, "module": "phases", "lib": False},  # 1
    {"fn": "parse_line", "file": "samples/phases.c", "line": 30, "module": "phases", "lib": False},  # 2
    {"fn": "load_config", "file": "samples/phases.c", "line": 60, "module": "phases", "lib": False},  # 3
    {"fn": "xstrdup", "file": "samples/util.c", "line": 12, "module": "phases", "lib": False},  # 4
    {"fn": "strdup", "file": "", "line": 0, "module": "libc.so.6", "lib": True},  # 5
    {"fn": "leak_some", "file": "samples/phases.c", "line": 80, "module": "phases", "lib": False},  # 6
    {"fn": "make_node", "file": "samples/tree.cc", "line": 15, "module": "phases", "lib": False},  # 7
    {"fn": "operator new(unsigned long)", "file": "", "line": 0, "module": "libstdc++.so.6", "lib": True},  # 8
    {"fn": "0x7f12a3b4c5d6", "file": "", "line": 0, "module": "", "lib": False},  # 9
    {"fn": "_dl_allocate_tls", "file": "", "line": 0, "module": "ld-linux-x86-64.so.2", "lib": True},  # 10
    {"fn": "build_cache", "file": "samples/phases.c", "line": 47, "module": "phases", "lib": False},  # 11
    {"fn": "recurse", "file": "samples/phases.c", "line": 90, "module": "phases", "lib": False},  # 12
    {"fn": "__libc_start_call_main", "file": "", "line": 0, "module": "libc.so.6", "lib": True},  # 13
    {"fn": "start_thread", "file": "", "line": 0, "module": "libc.so.6", "lib": True},  # 14
    {"fn": "worker", "file": "samples/phases.c", "line": 100, "module": "phases", "lib": False},  # 15
    {"fn": "std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>", "file": "/usr/include/c++/12/bits/vector.tcc",
     "line": 439, "module": "phases", "lib": True},  # 16
]

STACKS = [
    [13, 0, 1, 2, 4, 5],  # 0 main > build_cache > parse_line > xstrdup > strdup
    [13, 0, 11],  # 1 main > build_cache (line 47)
    [13, 0, 3, 4, 5],  # 2 main > load_config > xstrdup > strdup
    [13, 0, 6],  # 3 main > leak_some
    [13, 0, 6, 7, 8],  # 4 main > leak_some > make_node > operator new
    [13, 0, 12, 12, 12, 7, 8],  # 5 main > recurse > recurse > recurse > make_node > operator new
    [14, 15, 9],  # 6 start_thread > worker > 0x7f12a3b4c5d6
    [10],  # 7 _dl_allocate_tls, a stack of library frames only
    [13, 0, 1, 2],  # 8 main > build_cache > parse_line
    [13, 0, 1, 16],  # 9 main > build_cache > std::vector<...>::_M_realloc_insert
]

POINTS = 41  # timeline t[k] = k * 0.0125 s

# (stack, allocated at point a, freed at point f or -1, bytes, blocks)
ROWS = (
    [(7, 0, -1, 4096, 1), (2, 1, -1, 2000, 20)]
    + [(0, a, 22, 5000, 5) for a in range(2, 11)]
    + [(6, 5, 12, 640, 10), (1, 12, 25, 40000, 1), (8, 15, -1, 3000, 3), (9, 16, 21, 16000, 4), (3, 18, -1, 1000, 1),
       (4, 19, -1, 480, 6), (5, 20, 30, 8000, 4), (5, 26, -1, 1200, 2), (9, 23, 33, 2400, 3)]
)

MARKERS = [
    {"label": "warm", "kind": "snapshot", "point": 10},
    {"label": "SIGUSR1", "kind": "signal", "point": 16},
    {"label": "growth +50%", "kind": "growth", "point": 19},
    {"label": "interval 1", "kind": "interval", "point": 24},
    {"label": "leak check", "kind": "leak-check", "point": 40},
]

# Allocations freed with no other allocation in between on their thread.
TEMPORARY = {0: (30, 3000), 2: (5, 200)}

LEAKED = {"definite": [(3, 1000, 1)], "indirect": [(4, 480, 6)], "possible": [(5, 1200, 2)],
          "reachable": [(7, 4096, 1), (2, 2000, 20), (8, 3000, 3)]}


def live_at(rows, k):
    out = {}
    for s, a, f, b, n in rows:
        if a <= k and (f == -1 or f > k):
            ob, on = out.get(s, (0, 0))
            out[s] = (ob + b, on + n)
    return out


def view_rows(by_stack):
    return [[s, v, c] for s, (v, c) in sorted(by_stack.items())]


def totals(by_stack):
    return sum(v for v, _ in by_stack.values()), sum(c for _, c in by_stack.values())


def timeline_of(rows, t, rss_base=None):
    """Live bytes and blocks at each point, from the rows: a difference array per point."""
    n = len(t)
    db, dn = [0] * (n + 1), [0] * (n + 1)
    for _, a, f, b, c in rows:
        db[a] += b
        dn[a] += c
        if f != -1:
            db[f] -= b
            dn[f] -= c
    by, bl = [], []
    cb = cn = 0
    for k in range(n):
        cb += db[k]
        cn += dn[k]
        by.append(cb)
        bl.append(cn)
    rss = None if rss_base is None else [rss_base + 4096 * ((by[k] + 4095) // 4096) + 512 * k for k in range(n)]
    return {"t": t, "bytes": by, "blocks": bl, "high": list(by), "rss": rss}


def header(command, timeline, peak_point, calls, frees, temporary, leaks, duration):
    end = len(timeline["t"]) - 1
    return {
        "command": command, "exe": command.split()[0].split("/")[-1], "pid": 4242, "duration_s": duration,
        "ended": "exited with status 0", "calls": calls, "frees": frees, "reallocs": 0, "temporary": temporary,
        "peak": {"bytes": timeline["bytes"][peak_point], "blocks": timeline["blocks"][peak_point],
                 "time_s": timeline["t"][peak_point]},
        "end": {"bytes": timeline["bytes"][end], "blocks": timeline["blocks"][end]},
        "leaks": leaks,
    }


def report_document():
    t = [round(k * 0.0125, 4) for k in range(POINTS)]
    timeline = timeline_of(ROWS, t, rss_base=1200000)
    peak_point = max(range(POINTS), key=lambda k: (timeline["bytes"][k], -k))
    allocated = {}
    for s, _, _, b, c in ROWS:
        ob, oc = allocated.get(s, (0, 0))
        allocated[s] = (ob + b, oc + c)
    for s, (calls, b) in TEMPORARY.items():
        ob, oc = allocated.get(s, (0, 0))
        allocated[s] = (ob + b, oc + calls)
    calls = sum(c for _, c in allocated.values())
    live_end = sum(c for _, _, f, _, c in ROWS if f == -1)
    leaks = {kind: {"bytes": sum(r[1] for r in rows), "blocks": sum(r[2] for r in rows)} for kind, rows in LEAKED.items()}
    doc = {
        "version": 1,
        "kind": "report",
        "header": header("./phases more", timeline, peak_point, calls, calls - live_end,
                         sum(c for c, _ in TEMPORARY.values()), leaks, 0.52),
        "frames": FRAMES,
        "stacks": STACKS,
        "timeline": timeline,
        "peak_point": peak_point,
        "markers": [dict(m, t=t[m["point"]]) for m in MARKERS],
        "views": {
            "peak": view_rows(live_at(ROWS, peak_point)),
            "end": view_rows(live_at(ROWS, POINTS - 1)),
            "allocated": view_rows(allocated),
            "calls": [[s, c, b] for s, (b, c) in sorted(allocated.items())],
            "temporary": [[s, c, b] for s, (c, b) in sorted(TEMPORARY.items())],
            "leaked": {kind: [list(r) for r in rows] for kind, rows in LEAKED.items()},
        },
        "temporal": [list(r) for r in ROWS],
        "leak_records": [{"kind": kind, "bytes": b, "blocks": n, "stack": s}
                         for kind, rows in LEAKED.items() for s, b, n in rows],
    }
    return doc


def diff_document(report):
    old_live = live_at(ROWS, 10)  # at marker "warm"
    new_live = live_at(ROWS, POINTS - 1)
    rows = []
    for s in sorted(set(old_live) | set(new_live)):
        ob, on = old_live.get(s, (0, 0))
        nb, nn = new_live.get(s, (0, 0))
        rows.append([s, ob, nb, on, nn])
    tl = report["timeline"]

    def side(point, source):
        h = dict(report["header"])
        h["end"] = {"bytes": tl["bytes"][point], "blocks": tl["blocks"][point]}
        return {"source": source, "header": h}

    return {
        "version": 1, "kind": "diff",
        "old": side(10, "heapsnap.phases.4242.trace@warm"),
        "new": side(POINTS - 1, "heapsnap.phases.4242.trace@exit"),
        "frames": FRAMES, "stacks": STACKS, "diff": rows,
    }


# ---------------------------------------------------------------- big report

def big_document(n_stacks=50000, n_rows=200000, n_points=2000, n_functions=6000, seed=7):
    rnd = random.Random(seed)
    files = [f"src/module{m}.c" for m in range(60)]
    frames = [{"fn": "main", "file": "src/main.c", "line": 10, "module": "bigprog", "lib": False}]
    for i in range(1, n_functions):
        lib = i % 7 == 0
        frames.append({
            "fn": (f"lib_helper_{i}" if lib else f"function_{i}_{'xy' * (i % 5)}"),
            "file": "" if lib else rnd.choice(files), "line": 0 if lib else rnd.randint(1, 3000),
            "module": "libhelper.so.1" if lib else "bigprog", "lib": lib,
        })
    # Stacks share prefixes as real ones do: each new stack continues a
    # random earlier one from a random depth.
    stacks, seen = [], set()
    while len(stacks) < n_stacks:
        if stacks and rnd.random() < 0.97:
            base = rnd.choice(stacks)
            stack = base[:rnd.randint(1, len(base))]
        else:
            stack = [0]
        for _ in range(rnd.randint(1, 8)):
            stack.append(rnd.randrange(1, n_functions))
        stack = stack[:40]
        key = tuple(stack)
        if key not in seen:
            seen.add(key)
            stacks.append(stack)
    rows = []
    for _ in range(n_rows):
        s = rnd.randrange(n_stacks)
        a = rnd.randrange(n_points)
        f = -1 if rnd.random() < 0.3 else min(n_points - 1, a + 1 + int(rnd.expovariate(1 / 200)))
        if f == a:
            f = -1
        blocks = rnd.randint(1, 4)
        rows.append([s, a, f, blocks * rnd.choice([16, 32, 64, 128, 1024, 4096]), blocks])
    t = [round(k * 0.01, 4) for k in range(n_points)]
    timeline = timeline_of(rows, t, rss_base=8 << 20)
    peak_point = max(range(n_points), key=lambda k: (timeline["bytes"][k], -k))
    allocated = {}
    for s, _, _, b, c in rows:
        ob, oc = allocated.get(s, (0, 0))
        allocated[s] = (ob + b, oc + c)
    calls = sum(c for _, c in allocated.values())
    end_live = live_at(rows, n_points - 1)
    definite = {s: v for s, v in list(end_live.items())[:2000]}
    return {
        "version": 1, "kind": "report",
        "header": header("./bigprog --many --stacks", timeline, peak_point, calls,
                         calls - totals(end_live)[1], 0,
                         {"definite": dict(zip(("bytes", "blocks"), totals(definite))),
                          "indirect": {"bytes": 0, "blocks": 0}, "possible": {"bytes": 0, "blocks": 0},
                          "reachable": {"bytes": 0, "blocks": 0}}, n_points * 0.01),
        "frames": frames, "stacks": stacks, "timeline": timeline, "peak_point": peak_point,
        "markers": [{"label": f"m{i}", "kind": "interval", "t": t[p], "point": p}
                    for i, p in enumerate(range(100, n_points, 400))],
        "views": {
            "peak": view_rows(live_at(rows, peak_point)),
            "end": view_rows(end_live),
            "allocated": view_rows(allocated),
            "calls": [[s, c, b] for s, (b, c) in sorted(allocated.items())],
            "temporary": [],
            "leaked": {"definite": view_rows(definite), "indirect": [], "possible": [], "reachable": []},
        },
        "temporal": rows,
        "leak_records": [{"kind": "definite", "bytes": v, "blocks": c, "stack": s} for s, (v, c) in definite.items()],
    }


def as_tree(doc):
    """Stacks as the document writes them: a tree of shared prefixes
    (stack_nodes: parent, frame pairs) and each stack's leaf node."""
    nodes, index, leaves = [], {}, []
    for stack in doc["stacks"]:
        node = -1
        for frame in stack:
            key = (node, frame)
            if key not in index:
                index[key] = len(nodes) // 2
                nodes += [node, frame]
            node = index[key]
        leaves.append(node)
    out = dict(doc)
    out["stack_nodes"], out["stacks"] = nodes, leaves
    return out


def write(path, doc):
    doc = as_tree(doc)
    with open(path, "w") as f:
        if "big" in path:
            json.dump(doc, f, separators=(",", ":"))
        else:
            json.dump(doc, f, indent=1)
        f.write("\n")


def main():
    args = sys.argv[1:]
    if args[:1] == ["--big"] and len(args) == 2:
        write(os.path.join(args[1], "big.json"), big_document())
    elif len(args) == 1:
        report = report_document()
        write(os.path.join(args[0], "report.json"), report)
        write(os.path.join(args[0], "diff.json"), diff_document(report))
    else:
        print("usage: make_fixtures.py DIR | --big DIR", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
