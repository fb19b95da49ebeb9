"""Summarise one corpus of bench/inventory.sh: python3 inventory_report.py WORK CORPUS DIR.

Reads WORK/CORPUS.<run>.{time,out,err} as the script left them and prints wall
time, peak RSS and output per tool, hubwarden's work counters, its slowest files
and whether sliced and whole-file discovery report the same calls.
"""

import difflib
import json
import os
import re
import sys

SLOW_MS = 50  # issue 12's bound for any single file

work, corpus, root = sys.argv[1:4]


def path(run, ext):
    return os.path.join(work, f"{corpus}.{run}.{ext}")


def timing(run):
    """(wall seconds, peak RSS MB) from /usr/bin/time -v, or None if it did not run."""
    try:
        t = open(path(run, "time")).read()
    except FileNotFoundError:
        return None
    wall = re.search(r"Elapsed \(wall clock\) time.*: (.*)", t).group(1).strip()
    parts = [float(p) for p in wall.split(":")]
    secs = sum(p * 60**i for i, p in enumerate(reversed(parts)))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
    return secs, rss


def load(run):
    try:
        return json.load(open(path(run, "out")))
    except (OSError, ValueError):
        return None


def output(run):
    d = load(run)
    if d is None:
        return "no JSON output (see " + path(run, "err") + ")"
    if run.startswith("hubwarden"):
        return f"{len(d['calls'])} calls, {len(d['errors'])} input problems"
    return f"{len(d.get('results', []))} results"


files = sum(
    1 for _, _, fs in os.walk(root) for f in fs if f.endswith(".py") or f.endswith(".ipynb")
)
size = sum(
    os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs
)
print(f"\n### corpus {corpus}: {files} .py/.ipynb files, {size / 2**20:.0f} MB ({root})")
hw = timing("hubwarden")
runs = [
    ("hubwarden", "hubwarden (whole files)"),
    ("hubwarden-sliced", "hubwarden, sliced"),
    ("hubwarden-sliced-always", "hubwarden, sliced always"),
    ("hubwarden-1thread", "hubwarden, 1 thread+log"),
    ("semgrep", "semgrep (1 rule)"),
    ("bandit", "bandit -t B615"),
]
print(f"{'run':<26} {'wall s':>8} {'peak RSS MB':>12} {'vs hubwarden':>13}  output")
for run, label in runs:
    s = timing(run)
    if s is None:
        continue
    ratio = f"{s[0] / hw[0]:.1f}x" if hw and run != "hubwarden" else ""
    print(f"{label:<26} {s[0]:>8.2f} {s[1]:>12.1f} {ratio:>13}  {output(run)}")

for run, label in runs[:3]:
    d = load(run)
    if d is None or not d.get("stats"):
        continue
    st = d["stats"]
    print(
        f"{label}: files parsed {st['files_parsed']}, bytes parsed "
        f"{st['bytes_parsed']:,}, resolution steps {st['resolution_steps']:,}"
    )

# `hubwarden: debug: discovered path=P micros=N cpu_micros=C steps=S bytes=B`, one
# per file walked (bytes: parsed, 0 if the prefilter ruled the file out). cpu_micros is the thread's CPU time (Linux): unlike wall time it does not
# grow while other processes hold the cores, so files are ranked by it when present.
per_file = []
has_cpu = False
try:
    for line in open(path("hubwarden-1thread", "err")):
        # Escape codes: older binaries coloured their log fields even in a file.
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)
        m = re.search(
            r"discovered path=(.*) micros=(\d+)(?: cpu_micros=(\d+))? steps=(\d+)"
            r"(?: bytes=(\d+))?",
            line,
        )
        if m:
            wall = int(m.group(2))
            cpu = int(m.group(3)) if m.group(3) is not None else None
            has_cpu = has_cpu or cpu is not None
            size = int(m.group(5)) if m.group(5) is not None else None
            per_file.append(
                (wall if cpu is None else cpu, wall, int(m.group(4)), m.group(1), size)
            )
except FileNotFoundError:
    pass
if per_file:
    per_file.sort(reverse=True)
    clock = "CPU" if has_cpu else "wall"
    slow = sum(1 for us, *_ in per_file if us > SLOW_MS * 1000)
    total = sum(us for us, *_ in per_file) / 1e6
    wall_slow = sum(1 for _, us, *_ in per_file if us > SLOW_MS * 1000)
    print(
        f"per file (1 thread, ranked by {clock} time): {len(per_file)} files, "
        f"{total:.2f} s {clock} in total, {slow} above {SLOW_MS} ms {clock}"
        + (f" ({wall_slow} by wall time)" if has_cpu else "")
        + "; slowest 5:"
    )
    for us, wall, steps, p, size in per_file[:5]:
        extra = f"  {wall / 1000:>7.1f} ms wall" if has_cpu else ""
        parsed = f"  {size / 1000:>6.0f} KB parsed" if size is not None else ""
        print(f"  {us / 1000:>8.1f} ms {clock}{extra}{parsed}  {steps:>8} steps  {p}")

# Sliced discovery must report exactly the whole-file (default) calls.
whole = load("hubwarden")
for run in ("hubwarden-sliced", "hubwarden-sliced-always"):
    d = load(run)
    if whole is None or d is None:
        print(f"sliced == whole ({run}): not compared, a run gave no JSON")
        continue
    if d["calls"] == whole["calls"]:
        print(f"sliced == whole ({run}): identical, {len(d['calls'])} calls")
        continue
    a = json.dumps(whole["calls"], indent=1, sort_keys=True).splitlines()
    b = json.dumps(d["calls"], indent=1, sort_keys=True).splitlines()
    diff = list(difflib.unified_diff(a, b, "whole", run, lineterm=""))
    out = path(run, "slice.diff")
    open(out, "w").write("\n".join(diff) + "\n")
    print(f"sliced == whole ({run}): DIFFERENT, {len(diff)} diff lines in {out}")
