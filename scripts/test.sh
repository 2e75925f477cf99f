#!/usr/bin/env bash
# Sets up the machine (packages, tracefs) and runs every kspan test: unit, engine, live kernel
# tests, trace-cmd parity, the demo's accuracy gate, and a short fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --workspace --bins
cargo test --release --workspace --no-fail-fast -- --test-threads=2
if [ -x fuzz/run.sh ]; then fuzz/run.sh 60; fi
