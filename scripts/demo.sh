#!/usr/bin/env bash
# Sets up the machine (packages, tracefs), builds kspan and runs `kspan demo`: the bundled
# microservice application traced end to end under load, with accuracy against ground truth.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --workspace --bins
exec "${CARGO_TARGET_DIR:-target}/release/kspan" demo "$@"
