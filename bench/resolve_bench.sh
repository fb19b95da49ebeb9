#!/bin/sh
# Fetch-layer benchmark: 200 calls over 50 repos against the in-process fake hub
# with 50 ms injected latency per request. Prints wall time vs. the dependency
# chain bound (4 requests x 50 ms) and the request count.
set -eu
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target}"
cargo test --test it hub::bench_fetch_200_calls_over_50_repos -- --ignored --nocapture 2>&1 | grep '^bench:'
