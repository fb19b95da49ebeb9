#!/usr/bin/env bash
# Remote-code verdicts against the adversarial corpus tests/fixtures/adversarial (made by
# tests/fixtures/gen/adversarial_corpus.py; manifest.tsv says which targets are malicious,
# their technique class and what they do). hubwarden scans the corpus project as a user
# would (`hubwarden scan --offline --mirror`), one call per target, and this prints:
#   - malicious targets caught at error (the call has an error-level finding: what fails
#     a pull request at the default fail-on), per technique class, and those missed;
#   - malicious targets caught at any level (a finding in the target's remote files, or
#     an error on the call);
#   - benign targets with an error-level finding, and which ones.
# Targets (issue 10): >= 95 % of malicious at error, 0 benign at error.
#
#   bench/adversarial.sh            corpus scores
#   bench/adversarial.sh --peers    also bandit and semgrep (bench/semgrep.yml) on the same
#                                   files (pip installs them in a venv under /tmp)
#   bench/adversarial.sh --list     also every finding per target
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# The dev profile: the figures are counts, not speed (bench/scan.sh measures speed).
PROFILE="${BENCH_PROFILE:-dev}"
PDIR=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
CORPUS=tests/fixtures/adversarial
OUT="${BENCH_OUT:-/tmp/hubwarden-adversarial-bench}"
mkdir -p "$OUT"
PEERS=0
LIST=0
for a in "$@"; do
  case "$a" in
    --peers) PEERS=1 ;;
    --list) LIST=1 ;;
    *) echo "usage: bench/adversarial.sh [--peers] [--list]" >&2; exit 2 ;;
  esac
done

cargo build --profile "$PROFILE" --bin hubwarden >/dev/null 2>&1
rm -rf "$OUT/cache"
# Exit 1 (findings at or above fail-on) is the expected outcome here.
"$CARGO_TARGET_DIR/$PDIR/hubwarden" scan --offline --format json --mirror "$CORPUS/mirror" \
  --cache-dir "$OUT/cache" "$CORPUS/project" >"$OUT/hubwarden.json" 2>"$OUT/hubwarden.err" || true

# Peer reports of an earlier run are never read again (a run without --peers prints none).
rm -f "$OUT/peers.tsv" "$OUT/bandit.json" "$OUT/semgrep.json" "$OUT/versions"
if [ "$PEERS" = 1 ]; then
  # semgrep skips paths under tests/ (and bandit's defaults may too): the peers scan a copy
  # of the corpus outside the repository, with the same hubcorpus/<target> layout.
  PEER_DIR=$(mktemp -d /tmp/hubwarden-adversarial-corpus.XXXXXX)
  trap 'rm -rf "$PEER_DIR"' EXIT
  cp -a "$CORPUS/mirror" "$PEER_DIR/mirror"
  VENV=/tmp/hubwarden-adversarial-peers
  if [ ! -x "$VENV/bin/bandit" ] || [ ! -x "$VENV/bin/semgrep" ]; then
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q bandit semgrep >/dev/null 2>&1 || true
  fi
  if [ -x "$VENV/bin/bandit" ]; then
    "$VENV/bin/bandit" -q -r "$PEER_DIR/mirror" -f json -o "$OUT/bandit.json" >/dev/null 2>&1 || true
    echo "bandit $("$VENV/bin/bandit" --version 2>/dev/null | head -1 | awk '{print $2}')" >"$OUT/versions"
  fi
  if [ -x "$VENV/bin/semgrep" ]; then
    "$VENV/bin/semgrep" --metrics=off --quiet --config bench/semgrep.yml --json \
      "$PEER_DIR/mirror" >"$OUT/semgrep.json" 2>/dev/null || true
    echo "semgrep $("$VENV/bin/semgrep" --version 2>/dev/null)" >>"$OUT/versions"
  fi
fi

python3 - "$CORPUS" "$OUT" "$LIST" "$PEERS" <<'PY'
import collections, json, os, sys
corpus, out, show, peers = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"
manifest = {}
for line in open(os.path.join(corpus, "manifest.tsv")).read().splitlines()[1:]:
    repo, expect, klass, tech, load, what = line.split("\t")
    manifest[repo] = (expect, klass, tech)
try:
    report = json.load(open(os.path.join(out, "hubwarden.json")))
except ValueError:
    sys.exit("hubwarden produced no JSON report: see " + os.path.join(out, "hubwarden.err"))
rank = {"note": 1, "warning": 2, "error": 3}
# Each project file loads one target: the finding's call site names it.
by_path = {c["path"]: c.get("repo_id") for c in report.get("calls", [])}
def target_of(path):
    return by_path.get(path)
worst_call = collections.defaultdict(int)   # any finding on the call
worst_code = collections.defaultdict(int)   # findings in the target's remote files
errors = collections.defaultdict(list)
listing = collections.defaultdict(list)
for f in report.get("findings", []):
    repo = target_of(f["path"])
    if repo is None:
        continue
    lvl = rank.get(f["level"], 0)
    worst_call[repo] = max(worst_call[repo], lvl)
    ev = f.get("evidence")
    if ev:
        worst_code[repo] = max(worst_code[repo], lvl)
    where = f"{ev['file']}:{ev['line']}" if ev else "call"
    listing[repo].append(f"{f['level']:<7} {f['rule_id']:<30} {where}")
    if lvl == 3:
        errors[repo].append(f"{f['rule_id']} ({where})")
calls = {c.get("repo_id") for c in report.get("calls", [])}
unresolved = [c.get("repo_id") for c in report.get("calls", []) if (c.get("target") or {}).get("status") != "resolved"]
if unresolved:
    print(f"note: {len(unresolved)} targets not resolved (reported unverified): {unresolved}")
mal = [r for r, m in manifest.items() if m[0] == "malicious"]
ben = [r for r, m in manifest.items() if m[0] == "benign"]
missing = [r for r in manifest if r not in calls]
if missing:
    print(f"WARNING: {len(missing)} targets have no call in the report: {missing[:5]}")
at_error = [r for r in mal if worst_call[r] >= 3]
at_any = [r for r in mal if worst_code[r] >= 1 or worst_call[r] >= 3]
ben_error = [r for r in ben if worst_call[r] >= 3]
print(f"corpus: {len(mal)} malicious, {len(ben)} benign ({corpus}/manifest.tsv)")
print(f"hubwarden   malicious caught at error   {len(at_error):>3}/{len(mal)} = {100*len(at_error)/len(mal):5.1f} %")
print(f"hubwarden   malicious caught at any level {len(at_any):>3}/{len(mal)} = {100*len(at_any)/len(mal):5.1f} %")
print(f"hubwarden   benign with an error finding {len(ben_error):>3}/{len(ben)}")
by = collections.defaultdict(lambda: [0, 0])
for r in mal:
    by[manifest[r][1]][1] += 1
    if r in at_error:
        by[manifest[r][1]][0] += 1
print("  at error by class: " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(by.items())))
for r in mal:
    if r not in at_error:
        lvl = {0: "nothing", 1: "note", 2: "warning"}[worst_code[r]]
        print(f"  NOT AT ERROR {r} [{manifest[r][1]}: {manifest[r][2]}] best in its files: {lvl}")
for r in ben_error:
    print(f"  BENIGN AT ERROR {r} [{manifest[r][2]}]: {', '.join(errors[r])}")
if show:
    for r in manifest:
        print(f"== {r} ({manifest[r][0]}, {manifest[r][1]})")
        for l in listing[r]:
            print("   " + l)

# Peers: a target is caught when a finding is in one of its files.
def peer(name, hits):
    if hits is None:
        return
    def repo_of(path):
        parts = os.path.normpath(path).split(os.sep)
        if "hubcorpus" in parts:
            i = parts.index("hubcorpus")
            return "hubcorpus/" + parts[i + 1]
        return None
    high, anyl = set(), set()
    for path, severe in hits:
        r = repo_of(path)
        if r:
            anyl.add(r)
            if severe:
                high.add(r)
    m_high = [r for r in mal if r in high]
    m_any = [r for r in mal if r in anyl]
    b_high = [r for r in ben if r in high]
    b_any = [r for r in ben if r in anyl]
    print(f"{name:<11} malicious at its top severity {len(m_high):>3}/{len(mal)} = {100*len(m_high)/len(mal):5.1f} %, any {len(m_any):>3}/{len(mal)}; benign at top severity {len(b_high)}/{len(ben)}, any {len(b_any)}/{len(ben)}")
def load(name):
    p = os.path.join(out, name)
    if not peers or not os.path.exists(p) or os.path.getsize(p) == 0:
        return None
    try:
        return json.load(open(p))
    except ValueError:
        return None
b = load("bandit.json")
if b is not None:
    peer("bandit", [(r["filename"], r["issue_severity"] == "HIGH") for r in b.get("results", [])])
s = load("semgrep.json")
if s is not None:
    peer("semgrep", [(r["path"], r["extra"].get("severity") == "ERROR") for r in s.get("results", [])])
PY
[ -f "$OUT/versions" ] && echo "peers: $(tr '\n' ' ' <"$OUT/versions")" && rm -f "$OUT/versions"
exit 0
