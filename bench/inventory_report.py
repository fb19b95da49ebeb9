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
    ("hubwarden", "hubwarden"),
    ("hubwarden-whole", "hubwarden, whole files"),
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

# `hubwarden: debug: discovered path=P micros=N steps=S`, one per file walked.
per_file = []
try:
    for line in open(path("hubwarden-1thread", "err")):
        # Escape codes: older binaries coloured their log fields even in a file.
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)
        m = re.search(r"discovered path=(.*) micros=(\d+) steps=(\d+)", line)
        if m:
            per_file.append((int(m.group(2)), int(m.group(3)), m.group(1)))
except FileNotFoundError:
    pass
if per_file:
    per_file.sort(reverse=True)
    slow = sum(1 for us, _, _ in per_file if us > SLOW_MS * 1000)
    total = sum(us for us, _, _ in per_file) / 1e6
    print(
        f"per file (1 thread): {len(per_file)} files, {total:.2f} s in total, "
        f"{slow} above {SLOW_MS} ms; slowest 5:"
    )
    for us, steps, p in per_file[:5]:
        print(f"  {us / 1000:>8.1f} ms  {steps:>8} steps  {p}")

# Sliced discovery must report exactly the whole-file calls.
whole = load("hubwarden-whole")
for run in ("hubwarden", "hubwarden-sliced-always"):
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
