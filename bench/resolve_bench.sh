#!/bin/sh
# Issue 3's speed benchmark, in release mode: the real resolve::resolve_all over
# Hubs for 200 calls over 50 Hugging Face repos against the in-process fake hub
# with 50 ms injected latency per request. Each repo's remote code is a chain
# (revision -> config.json -> modeling_x.py -> layers.py -> utils.py = 5 requests).
# Prints the wall time next to the chain bound (5 x 50 ms; target: within 3x) and
# the request count next to distinct files + revision look-ups (asserted).
# The fetch-layer-only variant: hub::bench_fetch_200_calls_over_50_repos.
set -eu
cd "$(dirname "$0")/.."
# The repository's own target/ unless the caller points elsewhere.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo test --release --test it -- --ignored --nocapture --exact e2e::bench_resolve_200_calls_50_repos 2>&1 |
    grep -E '^bench:|panicked|test result'
