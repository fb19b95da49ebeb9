#!/usr/bin/env bash
# Scan throughput: hubwarden's scan engines vs bandit (matching checks) and semgrep
# (bench/semgrep.yml) over the same .py corpus (this machine's Python stdlib and
# site-packages by default). Reports wall time, ratios and peak RSS (/usr/bin/time -v).
#
#   bench/scan.sh [CORPUS_DIR]
#   SKIP_BANDIT=1 bench/scan.sh        # without bandit (it takes minutes)
#   SCAN_DRIVER=path/to/scan_files bench/scan.sh   # skip the release build
# Needs bandit and semgrep on PATH (pip install bandit semgrep) and /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
# The repository's own target/ unless the caller points elsewhere.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
SRC="${1:-$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')}"
CORPUS="${BENCH_CORPUS:-/tmp/hubwarden-scan-corpus}"
OUT="${BENCH_OUT:-/tmp/hubwarden-scan-bench}"
mkdir -p "$OUT"

# A private copy with only the .py files, so that all three tools see the same input.
if [ ! -d "$CORPUS" ]; then
  mkdir -p "$CORPUS"
  (cd "$SRC" && find . -name '*.py' -type f -print0 | tar --null -T - -cf -) | tar -C "$CORPUS" -xf -
fi
FILES=$(find "$CORPUS" -name '*.py' -type f | wc -l)
BYTES=$(find "$CORPUS" -name '*.py' -type f -print0 | du -cb --files0-from=- | tail -1 | cut -f1)
echo "corpus: $CORPUS ($FILES files, $BYTES bytes)"

DRIVER="${SCAN_DRIVER:-}"
if [ -z "$DRIVER" ]; then
  cargo build --release --example scan_files >/dev/null 2>&1
  DRIVER="$CARGO_TARGET_DIR/release/examples/scan_files"
fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

measure() { # name, command...
  local name=$1; shift
  /usr/bin/time -v -o "$OUT/$name.time" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || true
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$OUT/$name.time")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/$name.time")
  # h:mm:ss or m:ss.cc -> seconds
  local secs
  secs=$(echo "$wall" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  echo "$name $secs $rss" >>"$OUT/results"
  printf '%-10s wall %8.2f s   peak RSS %7.1f MB\n' "$name" "$secs" "$(echo "$rss/1024" | bc -l)"
}

# Every tool reads the corpus from the page cache, not only those that run later.
find "$CORPUS" -name '*.py' -type f -print0 | xargs -0 cat >/dev/null

rm -f "$OUT/results"
measure hubwarden "$DRIVER" "$CORPUS"
head -1 "$OUT/hubwarden.out"
# The same scan parsing every file whole: what statement slicing saves, and proof
# that it changes no finding.
measure whole "$DRIVER" --whole-files "$CORPUS"
"$DRIVER" --list "$CORPUS" | sort >"$OUT/sliced.list"
"$DRIVER" --list --whole-files "$CORPUS" | sort >"$OUT/whole.list"
if cmp -s "$OUT/sliced.list" "$OUT/whole.list"; then
  echo "findings identical with and without slicing ($(wc -l <"$OUT/sliced.list") hits)"
else
  echo "FINDINGS DIFFER with and without slicing: diff $OUT/whole.list $OUT/sliced.list" >&2
  exit 1
fi
if [ -z "${SKIP_BANDIT:-}" ]; then
  measure bandit bandit -q -r "$CORPUS" -f json -o "$OUT/bandit.json" \
    -t B102,B307,B301,B302,B403,B602,B605,B614,B501,B506,B108,B310,B323,B306
fi
measure semgrep semgrep scan --config bench/semgrep.yml --metrics=off --disable-version-check \
  --no-git-ignore --quiet --json --output "$OUT/semgrep.json" --max-target-bytes 0 "$CORPUS"

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '{t[$1]=$2; r[$1]=$3} END {
  printf "slicing speed-up:    %.1fx\n", t["whole"]/t["hubwarden"];
  if ("bandit" in t) printf "speed-up vs bandit:  %.1fx\n", t["bandit"]/t["hubwarden"];
  printf "speed-up vs semgrep: %.1fx\n", t["semgrep"]/t["hubwarden"];
  printf "hubwarden peak RSS:  %.1f MB (target < 300)\n", r["hubwarden"]/1024 }' "$OUT/results"
