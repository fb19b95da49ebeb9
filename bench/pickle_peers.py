#!/usr/bin/env python3
"""Run the pickle scanners that pip installs (picklescan, modelscan, fickling) over the
corpus and print `tool<TAB>file<TAB>verdict` lines: `caught` (the tool reports the file
as unsafe), `clean`, or `error` (the tool failed on the file). Nothing is unpickled by
this script; the tools themselves only disassemble.

    bench/pickle_peers.py VENV_BIN CORPUS_DIR
"""
import json
import os
import subprocess
import sys
import tempfile
import zipfile


def picklescan(bin_dir, path):
    r = subprocess.run([os.path.join(bin_dir, "picklescan"), "--path", path], capture_output=True)
    return {0: "clean", 1: "caught"}.get(r.returncode, "error")


def modelscan(bin_dir, path):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "r.json")
        r = subprocess.run([os.path.join(bin_dir, "modelscan"), "-p", path, "-r", "json", "-o", out], capture_output=True)
        if r.returncode == 1:
            return "caught"
        if r.returncode == 0:
            # modelscan exits 0 when it skipped the file: that is not a scan.
            try:
                with open(out) as f:
                    rep = json.load(f)
                if rep.get("summary", {}).get("scanned", {}).get("total_scanned", 1) == 0:
                    return "error"
            except (OSError, ValueError):
                pass
            return "clean"
        return "error"


FICKLING = r"""
import sys, zipfile, fickling
from fickling.analysis import Severity
p = sys.argv[1]
try:
    if zipfile.is_zipfile(p):
        res = fickling.scan_zip_archive(p, graceful=True)
        items = list(res.values())
        if not items:
            print("error"); sys.exit()
    else:
        items = [fickling.scan_file(p, graceful=True)]
    if any(not r.is_safe for r in items):
        print("caught")
    elif any(r.errors for r in items):
        print("error")
    else:
        print("clean")
except Exception:
    print("error")
"""


def fickling(bin_dir, path):
    r = subprocess.run([os.path.join(bin_dir, "python"), "-c", FICKLING, path], capture_output=True, text=True)
    out = r.stdout.strip().splitlines()
    return out[-1] if out else "error"


def main():
    bin_dir, corpus = sys.argv[1], sys.argv[2]
    files = sorted(f for f in os.listdir(corpus) if f != "manifest.tsv")
    for name, fn in (("picklescan", picklescan), ("modelscan", modelscan), ("fickling", fickling)):
        if name != "fickling" and not os.path.exists(os.path.join(bin_dir, name)):
            continue
        for f in files:
            print(f"{name}\t{f}\t{fn(bin_dir, os.path.join(corpus, f))}", flush=True)


if __name__ == "__main__":
    main()
