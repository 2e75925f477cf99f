#!/usr/bin/env bash
# Recorder benchmark (not a test): events per second recorded and lost, and the recorder's
# own CPU time per million events, for syscall-heavy workloads on this machine.
#
# Usage (as root, from the workspace root, after `cargo build --release -p kspan`):
#   crates/capture/bench/recorder-bench.sh [path/to/kspan] [syscalls per writer]
# Each `dd bs=1` iteration is one read and one write syscall: 4 events (enter + exit)
# plus scheduler events. The summary lines of `kspan record` carry all figures.
set -euo pipefail
KSPAN=${1:-target/release/kspan}
N=${2:-1000000}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
DD="dd if=/dev/zero of=/dev/null bs=1 count=$N status=none"

run() {
    local label=$1
    shift
    echo "== $label"
    "$KSPAN" record -o "$OUT/bench.dat" "$@" 2>&1 |
        grep -E "recorded|buffer|CPU time|WARNING|wrote" | sed 's/^/   /'
}

run "1 writer ($N iterations), default 8 MiB/CPU buffer" -- $DD
run "2 writers in parallel (both CPUs busy), default buffer" -- sh -c "$DD & $DD & wait"
run "2 writers, 256 KiB/CPU buffer (growth rule at work)" --buffer-kb 256 -- sh -c "$DD & $DD & wait"
run "2 writers, 64 KiB/CPU buffer" --buffer-kb 64 -- sh -c "$DD & $DD & wait"
