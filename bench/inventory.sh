#!/usr/bin/env bash
# Benchmark `hubwarden inventory` against semgrep (one equivalent rule) and
# bandit (-t B615) on the same large corpus: this machine's Python standard
# library and site-packages, plus the transformers wheel (ML-heavy code).
# No model is downloaded. Prints wall time, ratios and peak RSS per tool.
#
#   bench/inventory.sh             # everything (bandit takes minutes)
#   SKIP_BANDIT=1 bench/inventory.sh
#   BENCH_DIR=/tmp/x bench/inventory.sh
#   HUBWARDEN_BIN=target/release/hubwarden bench/inventory.sh   # skip the build
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_DIR:-/tmp/hubwarden-bench}
CORPUS="$WORK/corpus"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN="$TARGET/release/hubwarden"
mkdir -p "$WORK"

command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
command -v semgrep >/dev/null || python3 -m pip install -q semgrep
command -v bandit >/dev/null || python3 -m pip install -q bandit

if [ -n "${HUBWARDEN_BIN:-}" ]; then
  BIN=$HUBWARDEN_BIN  # an already built release binary
else
  echo "== building hubwarden (release)"
  (cd "$ROOT" && cargo build --release --quiet --bin hubwarden)
  # Copy the binary so a concurrent build in a shared target dir cannot swap it mid-run.
  cp "$BIN" "$WORK/hubwarden"
  BIN="$WORK/hubwarden"
fi

copy_py() { # copy_py SRC DEST: every .py under SRC, skipping nested site-packages
  mkdir -p "$2"
  (cd "$1" && find . -path ./site-packages -prune -o -name '*.py' -print0 | tar --null -cf - -T -) \
    | (cd "$2" && tar -xf -)
}

if [ ! -f "$CORPUS/.done" ]; then
  echo "== building the corpus in $CORPUS"
  rm -rf "$CORPUS"
  STDLIB=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
  PURELIB=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  copy_py "$STDLIB" "$CORPUS/stdlib"
  # Renamed: hubwarden skips folders called site-packages by design.
  copy_py "$PURELIB" "$CORPUS/packages"
  mkdir -p "$WORK/dl"
  python3 -m pip download -q --no-deps --only-binary :all: -d "$WORK/dl" transformers diffusers
  for whl in "$WORK/dl"/*.whl; do
    name=$(basename "$whl" .whl)
    python3 -m zipfile -e "$whl" "$WORK/unzipped/$name"
    copy_py "$WORK/unzipped/$name" "$CORPUS/ml/$name"
  done
  # An empty .semgrepignore turns off semgrep's default exclusions (tests/...),
  # so all three tools read the same files.
  : > "$CORPUS/.semgrepignore"
  touch "$CORPUS/.done"
fi
FILES=$(find "$CORPUS" -name '*.py' | wc -l)
BYTES=$(du -sb "$CORPUS" | cut -f1)
echo "== corpus: $FILES .py files, $((BYTES / 1024 / 1024)) MB"

# Warm the page cache so every tool reads from memory.
"$BIN" inventory "$CORPUS" --format json >/dev/null 2>&1 || true

measure() { # measure NAME CMD...: run with /usr/bin/time -v
  local name=$1; shift
  echo "== $name"
  /usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || true
}

measure hubwarden "$BIN" inventory "$CORPUS" --format json
(cd "$CORPUS" && SEMGREP_ENABLE_VERSION_CHECK=0 measure semgrep \
  semgrep scan --config "$ROOT/bench/semgrep-rule.yml" --metrics off --no-git-ignore --json --quiet .)
if [ -z "${SKIP_BANDIT:-}" ]; then
  measure bandit bandit -q -t B615 -r "$CORPUS" -f json
fi

python3 - "$WORK" "$FILES" <<'PY'
import json, re, sys
work, files = sys.argv[1], sys.argv[2]

def stats(name):
    try:
        t = open(f"{work}/{name}.time").read()
    except FileNotFoundError:
        return None
    wall = re.search(r"Elapsed \(wall clock\) time.*: (.*)", t).group(1).strip()
    parts = [float(p) for p in wall.split(":")]
    secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
    return secs, rss

def count(name):
    try:
        d = json.load(open(f"{work}/{name}.out"))
    except Exception:
        return "?"
    if name == "hubwarden":
        return f"{len(d['calls'])} calls, {len(d['errors'])} input problems"
    return f"{len(d.get('results', []))} results"

hw = stats("hubwarden")
print(f"\ncorpus: {files} .py files")
print(f"{'tool':<10} {'wall s':>8} {'peak RSS MB':>12} {'hubwarden is':>14}  output")
for name in ("hubwarden", "semgrep", "bandit"):
    s = stats(name)
    if s is None:
        continue
    ratio = "" if name == "hubwarden" else f"{s[0] / hw[0]:.0f}x faster"
    print(f"{name:<10} {s[0]:>8.2f} {s[1]:>12.1f} {ratio:>14}  {count(name)}")
PY
