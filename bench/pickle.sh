#!/usr/bin/env bash
# Pickle scanner benchmark on the corpus tests/fixtures/pickles (manifest.tsv says which
# files are malicious, their class and advisory). Prints, for hubwarden and for the
# peers that pip installs (picklescan, modelscan, fickling; in a venv under /tmp):
#   - malicious caught at error (hubwarden: an error finding or an unverified target,
#     which is reported at error; peers: the file reported unsafe);
#   - benign flagged at any level (or the tool failing on the file).
# Targets: >= 95 % malicious caught, 0 benign flagged.
#
#   bench/pickle.sh            corpus scores (and peers when they install)
#   bench/pickle.sh --fuzz [N] [SEED]
#                              N generated inputs (default 1,000,000, seed 1) through
#                              the zip/legacy/tar readers and the walker; prints the
#                              tally, wall time and peak RSS (needs /usr/bin/time)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# The dev profile by default: a release build of the test binary takes long on a
# shared 2-core machine, and the figures asked for are counts, not speed.
PROFILE="${BENCH_PROFILE:-dev}"
PDIR=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
CORPUS=tests/fixtures/pickles
OUT="${BENCH_OUT:-/tmp/hubwarden-pickle-bench}"
mkdir -p "$OUT"

if [ "${1:-}" = "--fuzz" ]; then
  CASES="${2:-1000000}"
  SEED="${3:-1}"
  echo "fuzz: HUBWARDEN_FUZZ_CASES=$CASES HUBWARDEN_FUZZ_SEED=$SEED cargo test --profile $PROFILE --test it pickle_fuzz::generated_inputs_bench -- --ignored --nocapture"
  cargo test --profile "$PROFILE" --test it --no-run >/dev/null 2>&1
  HUBWARDEN_FUZZ_CASES="$CASES" HUBWARDEN_FUZZ_SEED="$SEED" /usr/bin/time -v -o "$OUT/fuzz.time" \
    cargo test --profile "$PROFILE" --test it pickle_fuzz::generated_inputs_bench -- --ignored --nocapture 2>&1 \
    | grep -E '^fuzz:|test result|panicked|seed [0-9]+ case'
  awk -F': ' '/Maximum resident set size/ {printf "peak RSS: %.1f MB\n", $2/1024}' "$OUT/fuzz.time"
  exit 0
fi

cargo build --profile "$PROFILE" --example scan_pickles >/dev/null 2>&1
"$CARGO_TARGET_DIR/$PDIR/examples/scan_pickles" $(ls "$CORPUS"/* | grep -v manifest.tsv) \
  | awk -F'\t' '{n=split($1,a,"/"); print "hubwarden\t" a[n] "\t" $2 "\t" $3}' >"$OUT/hubwarden.tsv"

PEERS=/tmp/hubwarden-pickle-peers
: >"$OUT/peers.tsv"
if [ ! -x "$PEERS/bin/python" ]; then
  python3 -m venv "$PEERS" && "$PEERS/bin/pip" install -q picklescan modelscan fickling typing_extensions >/dev/null 2>&1 || true
fi
if [ -x "$PEERS/bin/python" ]; then
  python3 bench/pickle_peers.py "$PEERS/bin" "$CORPUS" >"$OUT/peers.tsv" 2>/dev/null || true
  for t in picklescan modelscan fickling; do
    v=$("$PEERS/bin/pip" show "$t" 2>/dev/null | awk '/^Version/ {print $2}')
    [ -n "$v" ] && echo "$t $v" >>"$OUT/versions"
  done
fi

python3 - "$CORPUS/manifest.tsv" "$OUT/hubwarden.tsv" "$OUT/peers.tsv" <<'PY'
import sys, collections
manifest = {}
for line in open(sys.argv[1]).read().splitlines()[1:]:
    f, expect, klass, advisory, what = line.split("\t")
    manifest[f] = (expect, klass, advisory)
res = collections.defaultdict(dict)
for path in sys.argv[2:]:
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) >= 3:
            res[parts[0]][parts[1]] = parts[2]
mal = [f for f, m in manifest.items() if m[0] == "malicious"]
ben = [f for f, m in manifest.items() if m[0] == "benign"]
print(f"corpus: {len(mal)} malicious, {len(ben)} benign ({sys.argv[1]})")
print(f"{'tool':<11} {'malicious caught at error':>27} {'benign flagged':>16} {'tool errors':>12}")
for tool in ["hubwarden", "picklescan", "modelscan", "fickling"]:
    r = res.get(tool)
    if not r:
        continue
    if tool == "hubwarden":
        caught = [f for f in mal if r.get(f) in ("error", "unverified")]
        flagged = [f for f in ben if r.get(f) != "clean"]
        errors = []
    else:
        caught = [f for f in mal if r.get(f) == "caught"]
        flagged = [f for f in ben if r.get(f) != "clean"]
        errors = [f for f in manifest if r.get(f) == "error"]
    print(f"{tool:<11} {len(caught):>4}/{len(mal)} = {100*len(caught)/len(mal):5.1f} %        {len(flagged):>3}/{len(ben)}      {len(errors):>4}")
    missed = [f for f in mal if f not in caught]
    if missed:
        by = collections.Counter(manifest[f][1] for f in missed)
        print(f"            missed by class: {dict(by)}")
    if tool == "hubwarden":
        for f in missed:
            print(f"            MISSED {f} ({manifest[f][1]}, {manifest[f][2]})")
        for f in flagged:
            print(f"            FLAGGED {f}: {r.get(f)}")
PY
[ -f "$OUT/versions" ] && echo "peers: $(sort -u "$OUT/versions" | tr '\n' ' ')"
rm -f "$OUT/versions"
