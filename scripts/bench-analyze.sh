#!/usr/bin/env bash
# Whole-analysis throughput on a real recording: `kspan analyze --format summary` (read the
# trace.dat, decode, run the engine, count traces), CPU time measured with perf stat over 5
# runs. Makes the recording with `kspan demo` at a high rate unless one is given.
#   scripts/bench-analyze.sh [RECORDING.dat]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins >/dev/null 2>&1
kspan=target/release/kspan
recording=${1:-}
if [ -z "$recording" ]; then
  out=$(mktemp -d /tmp/kspan-bench-analyze.XXXXXX)
  "$kspan" demo --prefix kbn --duration 8s --rate 500 --out "$out" >/dev/null
  recording=$out/demo.dat
fi
events=$("$kspan" info "$recording" | awk '/^events:/ {print $2}')
echo "recording: $recording ($events events, $(du -h "$recording" | cut -f1))"
perf stat -r 5 -e task-clock -x, -o /tmp/kspan-bench-analyze.perf \
  "$kspan" analyze "$recording" --format summary >/dev/null 2>&1
msec=$(awk -F, '/task-clock/ {print $1}' /tmp/kspan-bench-analyze.perf)
awk -v e="$events" -v ms="$msec" 'BEGIN { printf "CPU time %.1f ms (mean of 5) = %.2f M events/s\n", ms, e / ms / 1000 }'
