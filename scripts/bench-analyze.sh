#!/usr/bin/env bash
# Whole-analysis throughput on a real recording: `kspan analyze --format summary` (read the
# trace.dat, decode, run the engine, count traces). CPU time from perf stat (ROUNDS rounds of
# 5 runs each; the median round is the figure), peak memory from /usr/bin/time. Makes the
# recording with `kspan demo` at a high rate unless one is given.
#   scripts/bench-analyze.sh [RECORDING.dat]        ROUNDS=7 by default
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins >/dev/null 2>&1
target=${CARGO_TARGET_DIR:-target}
kspan=$target/release/kspan
rounds=${ROUNDS:-7}
recording=${1:-}
if [ -z "$recording" ]; then
  out=$(mktemp -d /tmp/kspan-bench-analyze.XXXXXX)
  "$kspan" demo --prefix kbn --duration 8s --rate 500 --out "$out" >/dev/null
  recording=$out/demo.dat
fi
events=$("$kspan" info "$recording" | awk '/^events:/ {print $2}')
echo "recording: $recording ($events events, $(du -h "$recording" | cut -f1))"
perf_out=$(mktemp /tmp/kspan-bench-analyze.perf.XXXXXX)
trap 'rm -f "$perf_out"' EXIT
for _ in $(seq "$rounds"); do
  perf stat -r 5 -e task-clock -x, -o "$perf_out" \
    "$kspan" analyze "$recording" --format summary >/dev/null 2>&1
  awk -F, '/task-clock/ {print $1}' "$perf_out"
done | sort -n | awk -v e="$events" -v n="$rounds" '
  { ms[NR] = $1 }
  END {
    median = ms[int((n + 1) / 2)]
    printf "CPU time per analysis: median %.1f ms of %d rounds (%.1f–%.1f) = %.2f M events/s\n",
      median, n, ms[1], ms[n], e / median / 1000
  }'
rss=$(/usr/bin/time -f %M "$kspan" analyze "$recording" --format summary 2>&1 >/dev/null | tail -1)
echo "peak memory (max RSS): $((rss / 1024)) MiB"
