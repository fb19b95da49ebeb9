#!/usr/bin/env bash
# Benchmark `hubwarden inventory` against semgrep (one equivalent rule) and
# bandit (-t B615) on the same files in the same run, over two corpora:
#   site: this machine's Python standard library and site-packages, plus the
#         transformers and diffusers wheels (few files mention a loader);
#   ml:   ML application code, where most files import a hub library: the wheels
#         of fschat, trl, mteb, modelscope, ms-swift, lm-eval, opencompass,
#         paddlehub, peft, sentence-transformers, diffusers and transformers
#         (wheels, not sdists: an sdist is built to read its metadata, which runs
#         its setup code; transformers' sdist has no examples/ anyway).
# No model is downloaded; pip reaches only the package registry.
# Per corpus it prints wall time and peak RSS per tool, hubwarden's files parsed,
# bytes parsed and resolution steps, its 5 slowest files (CPU time per file on
# one thread, from the `discovered` debug events), the same run with sliced
# parsing (where it pays, and always), and whether sliced and whole-file (the
# default) discovery report the same calls (a diff if not).
#
#   bench/inventory.sh                 # both corpora, all tools (bandit takes minutes)
#   SKIP_BANDIT=1 bench/inventory.sh
#   CORPORA=ml bench/inventory.sh      # one corpus (site, ml)
#   BENCH_DIR=/tmp/x bench/inventory.sh
#   HUBWARDEN_BIN=target/release/hubwarden bench/inventory.sh   # skip the build
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_DIR:-/tmp/hubwarden-bench}
CORPORA=${CORPORA:-site ml}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN="$TARGET/release/hubwarden"
ML_PACKAGES="fschat trl mteb modelscope ms-swift lm-eval opencompass paddlehub peft
  sentence-transformers diffusers transformers"
mkdir -p "$WORK"

command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
# The peers live in their own venv: installing semgrep into the system Python
# downgrades packages that other tools there pin (click, jsonschema).
VENV="$WORK/venv"
if [ ! -x "$VENV/bin/semgrep" ] || [ ! -x "$VENV/bin/bandit" ]; then
  echo "== installing semgrep and bandit into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check semgrep bandit
fi

if [ -n "${HUBWARDEN_BIN:-}" ]; then
  BIN=$HUBWARDEN_BIN  # an already built release binary
else
  echo "== building hubwarden (release)"
  (cd "$ROOT" && cargo build --release --locked --quiet --bin hubwarden)
  # Copy the binary so a concurrent build in a shared target dir cannot swap it mid-run.
  cp "$BIN" "$WORK/hubwarden"
  BIN="$WORK/hubwarden"
fi

copy_py() { # copy_py SRC DEST: every .py under SRC, skipping nested site-packages
  mkdir -p "$2"
  (cd "$1" && find . -path ./site-packages -prune -o -name '*.py' -print0 | tar --null -cf - -T -) \
    | (cd "$2" && tar -xf -)
}

add_wheels() { # add_wheels DEST PACKAGE...: each package's wheel, its .py files
  local dest=$1; shift
  local dl="$WORK/dl"
  mkdir -p "$dl"
  python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: -d "$dl" "$@"
  local pkg whl name
  for pkg in "$@"; do
    # Wheel names use underscores and any case: ms-swift -> ms_swift-4.6.0-py3-none-any.whl.
    whl=$(find "$dl" -maxdepth 1 -iname "$(echo "$pkg" | tr - _)-*.whl" | sort -V | tail -1)
    [ -n "$whl" ] || { echo "no wheel of $pkg in $dl" >&2; exit 2; }
    name=$(basename "$whl" .whl)
    rm -rf "$WORK/unzipped/$name"
    python3 -m zipfile -e "$whl" "$WORK/unzipped/$name"
    copy_py "$WORK/unzipped/$name" "$dest/$name"
  done
}

build_corpus() { # build_corpus NAME DIR
  local name=$1 dir=$2
  [ -f "$dir/.done" ] && return 0
  echo "== building the $name corpus in $dir"
  rm -rf "$dir"
  mkdir -p "$dir"
  case $name in
    site)
      copy_py "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')" "$dir/stdlib"
      # Renamed: hubwarden skips folders called site-packages by design.
      copy_py "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" "$dir/packages"
      add_wheels "$dir/ml" transformers diffusers
      ;;
    ml)
      # shellcheck disable=SC2086 # one word per package
      add_wheels "$dir" $ML_PACKAGES
      ;;
  esac
  # An empty .semgrepignore turns off semgrep's default exclusions (tests/...),
  # so all three tools read the same files.
  : > "$dir/.semgrepignore"
  touch "$dir/.done"
}

measure() { # measure NAME CMD...: run with /usr/bin/time -v
  local name=$1; shift
  echo "== $name"
  /usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || true
}

for c in $CORPORA; do
  case $c in
    site) dir="$WORK/corpus" ;;  # the path of earlier runs: their corpus is reused
    ml) dir="$WORK/corpus-ml" ;;
    *) echo "unknown corpus $c (site, ml)" >&2; exit 2 ;;
  esac
  build_corpus "$c" "$dir"
  rm -f "$WORK/$c".*
  # Warm the page cache so every tool reads from memory.
  "$BIN" inventory "$dir" --format json >/dev/null 2>&1 || true
  measure "$c.hubwarden" "$BIN" inventory "$dir" --format json
  HUBWARDEN_DISCOVER_PARSING=sliced measure "$c.hubwarden-sliced" "$BIN" inventory "$dir" --format json
  HUBWARDEN_DISCOVER_PARSING=sliced-always measure "$c.hubwarden-sliced-always" \
    "$BIN" inventory "$dir" --format json
  # Per-file times on one thread, so no file's time includes waiting for a core.
  RAYON_NUM_THREADS=1 RUST_LOG=hubwarden::discover=debug measure "$c.hubwarden-1thread" \
    "$BIN" inventory "$dir" --format json
  (cd "$dir" && SEMGREP_ENABLE_VERSION_CHECK=0 measure "$c.semgrep" \
    "$VENV/bin/semgrep" scan --config "$ROOT/bench/semgrep-rule.yml" --metrics off \
    --no-git-ignore --json --quiet .)
  if [ -z "${SKIP_BANDIT:-}" ]; then
    measure "$c.bandit" "$VENV/bin/bandit" -q -t B615 -r "$dir" -f json
  fi
  python3 "$ROOT/bench/inventory_report.py" "$WORK" "$c" "$dir"
done
