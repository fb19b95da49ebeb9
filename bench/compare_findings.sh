#!/usr/bin/env bash
# Do two builds report the same? Runs both over the corpora of bench/scan.sh (the
# scan engines, through the scan_files example) and bench/inventory.sh (discovery,
# through `hubwarden inventory --format json`), normalises what they print (sorted,
# keyed by place; timings and stats dropped) and reports every difference by rule id
# (scan) or by field and API (discovery). Exit 0 when identical, 1 when they differ.
#
#   bench/compare_findings.sh A_BIN B_BIN
#
# A_BIN/B_BIN are `hubwarden` binaries; the scan driver is looked for next to each, at
# `examples/scan_files` (cargo build --release --bin hubwarden --example scan_files).
# SCAN_CORPUS (default /tmp/hubwarden-scan-corpus, made from this Python's stdlib when
# missing, as bench/scan.sh does) and INVENTORY_CORPUS (default
# ${BENCH_DIR:-/tmp/hubwarden-bench}/corpus, made by bench/inventory.sh) are the inputs;
# OUT (default /tmp/hubwarden-compare) keeps the normalised outputs and the report.
set -euo pipefail
[ $# -eq 2 ] || { sed -n 2,16p "$0" >&2; exit 2; }
A=$(realpath "$1")
B=$(realpath "$2")
SCAN_CORPUS=${SCAN_CORPUS:-/tmp/hubwarden-scan-corpus}
INVENTORY_CORPUS=${INVENTORY_CORPUS:-${BENCH_DIR:-/tmp/hubwarden-bench}/corpus}
OUT=${OUT:-/tmp/hubwarden-compare}
mkdir -p "$OUT"

if [ ! -d "$SCAN_CORPUS" ]; then
  SRC=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
  mkdir -p "$SCAN_CORPUS"
  (cd "$SRC" && find . -name '*.py' -type f -print0 | tar --null -T - -cf -) | tar -C "$SCAN_CORPUS" -xf -
fi
[ -d "$INVENTORY_CORPUS" ] || {
  echo "no $INVENTORY_CORPUS: run bench/inventory.sh once (it builds the corpus), or set INVENTORY_CORPUS" >&2
  exit 2
}

status=0
for side in a b; do
  bin=$A; [ "$side" = b ] && bin=$B
  driver="$(dirname "$bin")/examples/scan_files"
  [ -x "$driver" ] || { echo "no scan driver at $driver" >&2; exit 2; }
  "$driver" --list "$SCAN_CORPUS" >"$OUT/scan.$side.raw"
  # Exit codes are not compared: inventory exits 0 whatever it finds.
  "$bin" inventory "$INVENTORY_CORPUS" --format json >"$OUT/inventory.$side.json" || true
done

python3 - "$OUT" "$SCAN_CORPUS" "$INVENTORY_CORPUS" <<'PY' || status=$?
import collections, json, re, sys

out, scan_corpus, inv_corpus = sys.argv[1:4]
report = []
def say(*a):
    report.append(" ".join(str(x) for x in a))

# Scan: `path:line:col rule level context message`, keyed by place and rule.
HIT = re.compile(r"(.*?):(\d+):(\d+) (\S+) (\S+) (\S+) (.*)")
def hits(side):
    d = {}
    for line in open(f"{out}/scan.{side}.raw", encoding="utf-8", errors="replace"):
        m = HIT.match(line.rstrip("\n"))
        if not m:
            sys.exit(f"scan {side}: unexpected line {line!r}")
        path, ln, col, rule, level, context, message = m.groups()
        path = path.removeprefix(scan_corpus).lstrip("/")
        d.setdefault((path, int(ln), int(col), rule), []).append((level, context, message))
    for k in d:
        d[k].sort()
    return d

a, b = hits("a"), hits("b")
with open(f"{out}/scan.a.sorted", "w") as fa, open(f"{out}/scan.b.sorted", "w") as fb:
    for d, f in ((a, fa), (b, fb)):
        for k in sorted(d):
            for v in d[k]:
                print(*k, *v, file=f)
say(f"scan ({scan_corpus}): A {sum(map(len, a.values()))} hits, B {sum(map(len, b.values()))}")
per_rule = collections.defaultdict(lambda: [0, 0, 0, collections.Counter()])
for k in a.keys() | b.keys():
    ra, rb = a.get(k, []), b.get(k, [])
    if ra == rb:
        continue
    r = per_rule[k[3]]
    if not rb:
        r[0] += len(ra)
    elif not ra:
        r[1] += len(rb)
    else:
        r[2] += 1
        for (la, ca, ma), (lb, cb, mb) in zip(ra, rb):
            r[3].update(f for f, x, y in (("level", la, lb), ("context", ca, cb), ("message", ma, mb)) if x != y)
        if len(ra) != len(rb):
            r[3]["count"] += 1
if per_rule:
    say("  rule                          only-A  only-B  changed  (fields)")
    for rule in sorted(per_rule):
        oa, ob, ch, fields = per_rule[rule]
        say(f"  {rule:<28} {oa:>7} {ob:>7} {ch:>8}  {dict(fields) or ''}")
else:
    say("  identical")

# Discovery: calls keyed by place and API; errors as sorted lines; stats dropped.
def calls(side):
    try:
        doc = json.load(open(f"{out}/inventory.{side}.json"))
    except ValueError as e:
        sys.exit(f"inventory {side}: not JSON ({e})")
    d = {}
    for c in doc.get("calls", []):
        k = (c["path"], c["line"], c["column"], c["api"])
        d.setdefault(k, []).append(c)
    errs = sorted(json.dumps(e, sort_keys=True) for e in doc.get("errors", []))
    return d, errs

(ca, ea), (cb, eb) = calls("a"), calls("b")
for side, d, errs in (("a", ca, ea), ("b", cb, eb)):
    with open(f"{out}/inventory.{side}.sorted", "w") as f:
        for k in sorted(d):
            for c in d[k]:
                print(json.dumps(c, sort_keys=True), file=f)
        for e in errs:
            print("error", e, file=f)
say(f"inventory ({inv_corpus}): A {sum(map(len, ca.values()))} calls, {len(ea)} errors;"
    f" B {sum(map(len, cb.values()))} calls, {len(eb)} errors")
only = collections.Counter()
fields = collections.Counter()
for k in ca.keys() | cb.keys():
    xa, xb = ca.get(k, []), cb.get(k, [])
    if xa == xb:
        continue
    if not xb or not xa:
        only[("only-A" if xa else "only-B", k[3])] += len(xa or xb)
        continue
    for p, q in zip(xa, xb):
        for f in sorted(p.keys() | q.keys()):
            if p.get(f) != q.get(f):
                fields[(f, k[3])] += 1
    if len(xa) != len(xb):
        fields[("count", k[3])] += 1
for (side, api), n in sorted(only.items()):
    say(f"  {side:<7} {n:>6}  {api}")
for (f, api), n in sorted(fields.items()):
    say(f"  field {f!r} differs on {n} calls of {api}")
if ea != eb:
    say(f"  errors differ: {len(set(ea) - set(eb))} only in A, {len(set(eb) - set(ea))} only in B")
if not (only or fields or ea != eb):
    say("  identical")

text = "\n".join(report)
print(text)
open(f"{out}/report.txt", "w").write(text + "\n")
same = not per_rule and not only and not fields and ea == eb
sys.exit(0 if same else 1)
PY
echo "normalised outputs: $OUT/{scan,inventory}.{a,b}.sorted; diff them for details"
exit $status
