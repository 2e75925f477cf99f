#!/usr/bin/env bash
# Whole-analysis throughput on a real recording: `kspan analyze --format summary` (read the
# trace.dat, decode, run the engine, count traces). CPU time of all threads from perf stat
# (ROUNDS rounds of 5 runs each; the median round is the figure), wall time (the median of
# ROUNDS runs: reading, decompression and the engine run on threads of their own, so wall time
# is below CPU time when a second core is free), peak memory from /usr/bin/time, the machine's
# load average around the runs, and with INSTRUCTIONS=1 the instructions of one run counted by
# callgrind (all threads; independent of the machine's load). Makes the recording with
# `kspan demo` at a high rate unless one is given.
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
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
perf_out=$(mktemp /tmp/kspan-bench-analyze.perf.XXXXXX)
trap 'rm -f "$perf_out"' EXIT
median() { # label: milliseconds on stdin, one a line
  sort -n | awk -v e="$events" -v n="$rounds" -v what="$1" '
    { ms[NR] = $1 }
    END {
      median = ms[int((n + 1) / 2)]
      printf "%s: median %.1f ms of %d (%.1f–%.1f) = %.2f M events/s\n",
        what, median, n, ms[1], ms[n], e / median / 1000
    }'
}
for _ in $(seq "$rounds"); do
  perf stat -r 5 -e task-clock -x, -o "$perf_out" \
    "$kspan" analyze "$recording" --format summary >/dev/null 2>&1
  awk -F, '/task-clock/ {print $1}' "$perf_out"
done | median "CPU time per analysis (all threads, rounds of 5)"
for _ in $(seq "$rounds"); do
  start=$(date +%s%N)
  "$kspan" analyze "$recording" --format summary >/dev/null 2>&1
  echo "$(( ($(date +%s%N) - start) / 1000 ))" | awk '{ print $1 / 1000 }'
done | median "wall time per analysis"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
rss=$(/usr/bin/time -f %M "$kspan" analyze "$recording" --format summary 2>&1 >/dev/null | tail -1)
echo "peak memory (max RSS): $((rss / 1024)) MiB"
if [ "${INSTRUCTIONS:-0}" = 1 ]; then
  valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$kspan" analyze "$recording" --format summary 2>&1 >/dev/null |
    awk -v e="$events" '/Collected/ { printf "instructions (callgrind, all threads): %.3f G = %.0f per event\n", $4 / 1e9, $4 / e }'
fi
