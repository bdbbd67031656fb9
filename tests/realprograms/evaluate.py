#!/usr/bin/env python3
"""evaluate.py - one row of the real-program matrix, from the runs in its directory.

`evaluate.py [options] ROW DIR` reads DIR/{bare,strc,hsnp,htrk,mchk}/ (bare, strace, heapsnap,
heaptrack and memcheck runs) as
tests/realprograms/run left them and prints one JSON line: the columns and the
reasons the row fails (none when it passes). `evaluate.py --table RESULTS`
prints the table of those lines, then every reason, and exits 1 when a row failed.
"""
import argparse
import glob
import json
import os
import re
import struct
import subprocess
import sys

ALLOC_TOLERANCE = 0.001  # heaptrack's 'calls to allocation functions' vs heapsnap's allocations


def read(path, default=None):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return default


# ---------------------------------------------------------------- processes made (strace -ff)

def elf_is_dynamic(path, depth=0):
    """True when the kernel would start PATH through a loader (so LD_PRELOAD applies).
    A script counts as its interpreter; what cannot be read counts as dynamic."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head.startswith(b"#!") and depth < 4:
                f.seek(0)
                interp = f.readline()[2:].strip().split()
                return elf_is_dynamic(interp[0].decode(), depth + 1) if interp else True
            if head[:4] != b"\x7fELF" or head[4] != 2:
                return True
            phoff, = struct.unpack_from("<Q", head, 32)
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except (OSError, IndexError, struct.error):
        return True
    return any(struct.unpack_from("<I", table, i * phentsize)[0] == 3 for i in range(phnum))  # PT_INTERP


def strace_census(d):
    """From `strace -f -ff -e trace=process` files: processes made, and the traces heapsnap should
    write for them: one per fork child (its atfork handler opens one) and one per image started by a
    successful execve of a dynamically linked file (the root's own exec included). vfork and
    posix_spawn children exec before they allocate: only their image counts."""
    files = glob.glob(os.path.join(d, "strace", "st.*"))
    if not files:
        return None
    forks = vforks = threads = raw_clones = 0
    images = static_images = 0
    for path in files:
        text = read(path, "")
        # Join "<unfinished ...>" with its "<... resumed>" line.
        text = re.sub(r" <unfinished \.\.\.>\n(?:.*\n)*?<\.\.\. \w+ resumed>", "", text)
        for line in text.splitlines():
            m = re.match(r"(clone3?|fork|vfork)\((.*)\)\s+= (\d+)$", line)
            if m:
                call, args = m.group(1), m.group(2)
                if call == "vfork" or "CLONE_VFORK" in args:
                    vforks += 1
                elif "CLONE_THREAD" in args:
                    threads += 1
                elif "CLONE_VM" in args:
                    raw_clones += 1
                else:
                    forks += 1
                continue
            m = re.match(r'execve\("([^"]*)", .*\) = 0$', line)
            if m:
                if elf_is_dynamic(m.group(1)):
                    images += 1
                else:
                    static_images += 1
    return {"processes": 1 + forks + vforks + raw_clones, "expected_traces": forks + images, "forks": forks,
            "vforks": vforks, "raw_clones": raw_clones, "static_images": static_images}


# ---------------------------------------------------------------- heapsnap traces

def run_json(args):
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        return None, (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    try:
        return json.loads(p.stdout), None
    except ValueError as e:
        return None, "not JSON: %s" % e


def heapsnap_traces(heapsnap, d):
    tdir = os.path.join(d, "traces")
    names = sorted(os.listdir(tdir)) if os.path.isdir(tdir) else []
    traces, problems, others = [], [], [n for n in names if not n.endswith(".trace")]
    for n in names:
        if not n.endswith(".trace"):
            continue
        path = os.path.join(tdir, n)
        rep, err = run_json([heapsnap, "report", "--format", "json", "--top", "1", path])
        if rep is None:
            problems.append("%s: report --format json failed: %s" % (n, err))
            continue
        t = {"name": n, "pid": rep["process"]["pid"], "ppid": rep["process"].get("ppid"),
             "exe": rep["process"].get("exe"), "end": rep.get("end", {}), "totals": rep["totals"]}
        if t["end"].get("how") != "exec":
            lk, err = run_json([heapsnap, "leaks", "--format", "json", path])
            if lk is None:
                t["check"] = err
            else:
                ok = lk.get("check", {}).get("ok")
                t["check"] = True if ok else (lk.get("check", {}).get("error") or "check not ok: %s" % lk.get("check"))
                s = lk.get("summary", {})
                t["lost"] = s.get("definitely_lost", {}).get("bytes", 0) + s.get("indirectly_lost", {}).get("bytes", 0)
                t["def_blocks"] = s.get("definitely_lost", {}).get("blocks", 0)
        traces.append(t)
    return traces, problems, others


# ---------------------------------------------------------------- heaptrack, memcheck

def heaptrack_calls(d):
    files = glob.glob(os.path.join(d, "heaptrack", "ht*"))
    if not files:
        return None, "no heaptrack file"
    p = subprocess.run(["heaptrack_print", "-p", "0", "-a", "0", "-T", "0", "-f", files[0]], capture_output=True,
                       text=True)
    m = re.search(r"calls to allocation functions: (\d+)", p.stdout)
    if not m:
        return None, "heaptrack_print: %s" % (p.stderr.strip()[-200:] or "no 'calls to allocation functions'")
    return int(m.group(1)), None


def loads_libstdcxx(heapsnap, trace, exe):
    """Whether the program itself loads libstdc++, so that its emergency pool is the program's own
    allocation: the executable needs it (postgres does through ICU), or a block allocated in
    libstdc++ is live at the trace's peak (the pool is, from libstdc++'s start until the cleanup at
    exit frees it; a dlopen'd C++ library brings it too). Not at the end: that cleanup has run."""
    if exe:
        p = subprocess.run(["ldd", exe], capture_output=True, text=True)
        if "libstdc++" in p.stdout:
            return True
    p = subprocess.run([heapsnap, "stats", trace + "@peak", "--by", "module", "--cumulative", "--limit", "0"],
                       capture_output=True, text=True)
    return "libstdc++" in p.stdout


def memcheck_processes(d):
    """Per memcheck log (one per image): pid, parent pid, lost bytes and definitely lost blocks (None:
    no leak summary, the image exec'd away or died)."""
    out = []
    for path in glob.glob(os.path.join(d, "memcheck", "vg.*")):
        text = read(path, "")
        m = re.search(r"==(\d+)== Parent PID: (\d+)", text)
        if not m:
            continue
        lost = def_blocks = None
        if "All heap blocks were freed" in text:
            lost = def_blocks = 0
        else:
            dl = re.search(r"definitely lost: ([\d,]+) bytes in ([\d,]+) blocks", text)
            il = re.search(r"indirectly lost: ([\d,]+) bytes", text)
            if dl and il:
                lost = int(dl.group(1).replace(",", "")) + int(il.group(1).replace(",", ""))
                def_blocks = int(dl.group(2).replace(",", ""))
        out.append({"pid": int(m.group(1)), "ppid": int(m.group(2)), "lost": lost, "def_blocks": def_blocks,
                    "log": os.path.basename(path)})
    return out


# ---------------------------------------------------------------- one row

def first_difference(a, b):
    la, lb = a.splitlines(), b.splitlines()
    for i in range(max(len(la), len(lb))):
        x = la[i] if i < len(la) else "<end>"
        y = lb[i] if i < len(lb) else "<end>"
        if x != y:
            return "line %d: bare %r, heapsnap %r" % (i + 1, x[:80], y[:80])
    return "same lines, different bytes"


def evaluate(row, d, kind, heapsnap, memcheck_skipped, leak_noise):
    reasons, notes = [], []
    cols = {"row": row}
    bare, hs = os.path.join(d, "bare"), os.path.join(d, "hsnp")
    for line in (read(os.path.join(d, "notes"), "") or "").splitlines():
        reasons.append(line)

    # Output (programs) or the load tool's verdict (servers).
    if kind == "program":
        diffs = []
        for f in ("stdout", "stderr", "post"):
            a, b = read(os.path.join(bare, f), ""), read(os.path.join(hs, f), "")
            if a != b:
                diffs.append(f)
                reasons.append("%s differs: %s" % (f, first_difference(a, b)))
        cols["output"] = "same" if not diffs else "DIFF " + ",".join(diffs)
    else:
        verdicts = {m: (read(os.path.join(d, m, "load.verdict"), "no verdict").strip()) for m in ("bare", "hsnp")}
        bad = [m for m, v in verdicts.items() if v != "ok"]
        for m in bad:
            reasons.append("load under %s: %s" % ("heapsnap" if m == "hsnp" else m, verdicts[m]))
        cols["output"] = "load ok" if not bad else "LOAD " + ",".join("heapsnap" if m == "hsnp" else m for m in bad)
        if os.path.exists(os.path.join(hs, "wrapper_at_stop")):
            if read(os.path.join(hs, "wrapper_at_stop"), "").strip() != "waiting":
                reasons.append("heapsnap run returned before the daemon it traces was stopped")

    # Exit status.
    sb, sh = (read(os.path.join(x, "status"), "?").strip() for x in (bare, hs))
    cols["exit"] = "%s=%s" % (sb, sh) if sb == sh else "%s!=%s" % (sb, sh)
    if sb != sh:
        reasons.append("exit status %s bare, %s under heapsnap run" % (sb, sh))
    if sh != "0" and sb == sh:
        reasons.append("the program failed (status %s): %s" % (sb, (read(os.path.join(bare, "stderr"), "") or "")[-200:]))

    # Traces: one readable trace per process image, every end checked.
    census = strace_census(os.path.join(d, "strc"))
    traces, problems, others = heapsnap_traces(heapsnap, hs)
    reasons.extend(problems)
    if others:
        reasons.append("files left beside the traces: %s" % " ".join(others[:5]))
    nread = len(traces)
    expected = census["expected_traces"] if census else None
    unchecked = [t for t in traces if "check" in t and t["check"] is not True]
    for t in unchecked[:3]:
        reasons.append("%s (pid %d, %s): end not checked: %s" % (t["name"], t["pid"], t["end"].get("description", "?"),
                                                                 t["check"]))
    if len(unchecked) > 3:
        reasons.append("... and %d more traces whose end was not checked" % (len(unchecked) - 3))
    # What every trace must say of itself: all frees matched (fork children inherit their parent's
    # blocks), nothing lost or cut, times within the process's life.
    for t in traces:
        tot, bad = t["totals"], []
        for k in ("unmatched_frees", "lost_events"):
            if tot.get(k):
                bad.append("%s %d" % (k.replace("_", " "), tot[k]))
        for k in ("truncated", "cut"):
            if tot.get(k):
                bad.append(k)
        if tot.get("peak_time_s", 0) < 0:
            bad.append("peak at %.3f s" % tot["peak_time_s"])
        if t["end"].get("how") in (None, "unknown", "running"):
            bad.append("end %s" % t["end"].get("description", t["end"].get("how")))
        if bad:
            t["insane"] = bad
    insane = [t for t in traces if t.get("insane")]
    for t in insane[:4]:
        reasons.append("%s (pid %d, %s, %s): %s" % (t["name"], t["pid"], os.path.basename(t["exe"] or "?"),
                                                   t["end"].get("description", "?"), ", ".join(t["insane"])))
    if len(insane) > 4:
        reasons.append("... and %d more traces like these" % (len(insane) - 4))
    pids = {t["pid"] for t in traces}
    if census is None:
        reasons.append("no strace census: cannot count the processes made")
        cols["traces"] = "%d/?" % nread
    else:
        cols["traces"] = "%d/%d" % (nread + len(problems), expected)
        if nread + len(problems) != expected:
            reasons.append("%d traces for %d expected (strace: %d processes, %d forks, %d vforks, %d static images)" % (
                nread + len(problems), expected, census["processes"], census["forks"], census["vforks"],
                census["static_images"]))
    if unchecked:
        cols["traces"] += " %d unchecked" % len(unchecked)
    if insane:
        cols["traces"] += " %d bad" % len(insane)
    cols["procs"] = "%d/%s" % (len(pids), census["processes"] if census else "?")

    # Allocation calls of the first process: heapsnap vs heaptrack.
    root = next((t for t in traces if t["name"] == "root.trace"), None)
    ht, err = heaptrack_calls(os.path.join(d, "htrk"))
    if root is None:
        cols["allocs"] = "no root trace"
        reasons.append("no trace of the first process")
    elif ht is None:
        cols["allocs"] = "hs %d, ht ?" % root["totals"]["allocations"]
        reasons.append("heaptrack: %s" % err)
    else:
        a = root["totals"]["allocations"]
        # heaptrack's preload library links libstdc++, whose emergency pool is one allocation at
        # start: in a program that never loads libstdc++ itself, heaptrack counts it as the program's.
        if not loads_libstdcxx(heapsnap, os.path.join(hs, "traces", "root.trace"), root["exe"]):
            ht -= 1
        delta = (a - ht) / ht if ht else float(a != 0)
        cols["allocs"] = "%d/%d %+.3f%%" % (a, ht, 100 * delta)
        if abs(delta) > ALLOC_TOLERANCE:
            reasons.append("allocation calls of the first process: heapsnap %d, heaptrack %d (%+.3f%%, more than %.1f%%)"
                           % (a, ht, 100 * delta, 100 * ALLOC_TOLERANCE))
        ahs = read(os.path.join(d, "htrk", "status"), "?").strip()
        if ahs not in ("0", sb):
            reasons.append("heaptrack run exited %s (bare %s)" % (ahs, sb))

    # Leak verdict: per process, definitely + indirectly lost > 0; memcheck where it ran.
    hs_leaking = sorted(t["pid"] for t in traces if t.get("lost"))
    hs_root = bool(root and root.get("lost"))
    if memcheck_skipped:
        cols["leak"] = "%s (no memcheck)" % ("yes" if hs_root else "no")
        cols["defblocks"] = "-"
    else:
        vg = memcheck_processes(os.path.join(d, "mchk"))
        vpids = {p["pid"] for p in vg}
        vroot = [p for p in vg if p["ppid"] not in vpids]
        vroot_lost = [p["lost"] for p in vroot if p["lost"] is not None]
        vg_root = bool(vroot_lost and vroot_lost[-1])
        vg_leaking = sorted({p["pid"] for p in vg if p["lost"]})
        if not vg:
            cols["leak"] = "%s/?" % ("yes" if hs_root else "no")
            reasons.append("memcheck left no log")
        else:
            cols["leak"] = "%s/%s" % ("yes" if hs_root else "no", "yes" if vg_root else "no")
            if len(hs_leaking) or len(vg_leaking):
                cols["leak"] += " %d/%d procs" % (len(hs_leaking), len(vg_leaking))
            if hs_root != vg_root:
                lost = root.get("lost") if root else None
                reasons.append("leak verdict of the first process: heapsnap %s (%s B definitely+indirectly lost), "
                               "memcheck %s (%s B)" % ("leaks" if hs_root else "no leak", lost,
                                                      "leaks" if vg_root else "no leak", vroot_lost[-1:] or "?"))
            if len(hs_leaking) != len(vg_leaking):
                reasons.append("processes with definitely/indirectly lost blocks: heapsnap %d %s, memcheck %d %s" % (
                    len(hs_leaking), _exes(traces, hs_leaking), len(vg_leaking), _vg_logs(vg, vg_leaking)))
            # Definitely lost blocks, process by process (as sorted lists: pids differ between the runs
            # and memcheck names an image by the path it was started as, heapsnap by the file).
            hs_def = sorted(t["def_blocks"] for t in traces if "def_blocks" in t)
            vg_def = sorted(p["def_blocks"] for p in vg if p["def_blocks"] is not None)
            cols["defblocks"] = "%d/%d" % (sum(hs_def), sum(vg_def))
            if hs_def != vg_def:
                if leak_noise:
                    cols["defblocks"] += " ~"
                    notes.append("definitely lost blocks differ from memcheck's: %s" % leak_noise)
                else:
                    reasons.append("definitely lost blocks per process: heapsnap %s, memcheck %s" % (
                        _short(hs_def), _short(vg_def)))

    # Wall time ratio (servers: the load phase).
    try:
        tb, th = (float(read(os.path.join(x, "seconds"), "nan")) for x in (bare, hs))
        cols["time"] = "%.1fx" % (th / tb) if tb > 0 else "?"
        cols["bare_s"] = "%.2f" % tb
    except ValueError:
        cols["time"] = "?"
    cols["result"] = "FAIL" if reasons else "ok"
    cols["reasons"] = reasons
    if memcheck_skipped and memcheck_skipped != "--no-memcheck":
        notes.append("memcheck skipped: %s" % memcheck_skipped)
    cols["notes"] = notes
    return cols


def _exes(traces, pids):
    names = [os.path.basename(t["exe"] or "?") for t in traces if t["pid"] in pids and t.get("lost")]
    return "(%s)" % ",".join(names[:6]) if names else ""


def _short(counts):
    """[1, 3, 3, 3] as "[1,3x3]": postgres has ten processes."""
    out, i = [], 0
    while i < len(counts):
        j = i
        while j < len(counts) and counts[j] == counts[i]:
            j += 1
        out.append("%dx%d" % (counts[i], j - i) if j - i > 1 else str(counts[i]))
        i = j
    return "[%s]" % ",".join(out)


def _vg_logs(vg, pids):
    return "(%s)" % ",".join([p["log"] for p in vg if p["pid"] in pids][:6]) if pids else ""


# ---------------------------------------------------------------- the table

COLUMNS = [("row", "program"), ("output", "output"), ("exit", "exit"), ("traces", "traces/expected"),
           ("procs", "pids/procs"), ("allocs", "allocs hs/heaptrack"), ("leak", "leak hs/memcheck"),
           ("defblocks", "def blocks hs/mc"),
           ("time", "hs/bare"), ("result", "result")]


def table(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    widths = [max(len(h), *(len(str(r.get(k, ""))) for r in rows)) if rows else len(h) for k, h in COLUMNS]
    line = "  ".join(h.ljust(w) for (k, h), w in zip(COLUMNS, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(r.get(k, "")).ljust(w) for (k, h), w in zip(COLUMNS, widths)))
    failed = [r for r in rows if r["result"] != "ok"]
    notes = [(r["row"], n) for r in rows for n in r.get("notes", [])]
    if notes:
        print()
        print("notes:")
        for row, n in notes:
            print("  %s: %s" % (row, n))
    if failed:
        print()
        print("%d of %d rows failed:" % (len(failed), len(rows)))
        for r in failed:
            for reason in r["reasons"]:
                print("  %s: %s" % (r["row"], reason))
    print()
    print("%d passed, %d failed" % (len(rows) - len(failed), len(failed)))
    return 1 if failed or not rows else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table")
    ap.add_argument("--heapsnap")
    ap.add_argument("--kind", choices=["program", "server"], default="program")
    ap.add_argument("--memcheck-skipped", default="")
    ap.add_argument("--leak-noise", default="",
                    help="why this row's definitely lost blocks may differ from memcheck's (then not a failure)")
    ap.add_argument("row", nargs="?")
    ap.add_argument("dir", nargs="?")
    a = ap.parse_args()
    if a.table:
        sys.exit(table(a.table))
    print(json.dumps(evaluate(a.row, a.dir, a.kind, a.heapsnap, a.memcheck_skipped, a.leak_noise)))


if __name__ == "__main__":
    main()
