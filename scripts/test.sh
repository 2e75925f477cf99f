#!/usr/bin/env bash
# Sets up the machine (packages, tracefs) and runs every kspan test: unit and rule tests,
# live kernel tests, trace-cmd parity, per-design accuracy on the demo application, and a
# short fuzz run of the trace.dat reader.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings
cargo build --release --workspace --bins
cargo test --release --workspace --no-fail-fast -- --test-threads=2
bash fuzz/run.sh 30
