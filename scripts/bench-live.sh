#!/usr/bin/env bash
# Live mode under load (not a CI test): runs `kspan demo --live` at RATE requests/s for
# MINUTES minutes and reports
#   - each trace's delay from its last span's end to its output (p50/p99/max, from the
#     summary of `kspan live`),
#   - the live recorder's resident memory (VmRSS) at minute 2 and at the end, and its peak,
#   - accuracy of the live traces against the services' ground truth (`kspan check`), next to
#     the offline analysis of the trace.dat saved by the same run, and whether both analyses
#     produced the same spans (trace and span ids, parents, names).
# Needs root and a release build (`cargo build --release --workspace --bins`).
# Usage: scripts/bench-live.sh [MINUTES (default 10)] [RATE (default 300)] [OUT (default bench-live-out)]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
rate=${2:-300}
out=$(realpath -m "${3:-bench-live-out}")
kspan="${CARGO_TARGET_DIR:-target}/release/kspan"
mkdir -p "$out"
log="$out/demo.log"

"$kspan" demo --live --rate "$rate" --duration "${minutes}m" --out "$out" --slowest 0 --prefix ksl \
    >"$out/demo.stdout" 2>"$log" &
demo=$!
trap 'kill -INT $demo 2>/dev/null || true' INT TERM

# The `kspan live` child of the demo, once it runs.
live=
for _ in $(seq 600); do
    live=$(pgrep -P "$demo" -f 'kspan live' || true)
    [ -n "$live" ] && break
    sleep 0.5
done
[ -n "$live" ] || { echo "kspan live did not start; see $log" >&2; exit 1; }
started=$(date +%s)
rss() { awk '/^VmRSS/ {print $2}' "/proc/$live/status" 2>/dev/null || echo 0; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$live/status" 2>/dev/null || echo 0; }
rss2=
rss_end=0
hwm_end=0
while kill -0 "$live" 2>/dev/null; do
    now=$(( $(date +%s) - started ))
    r=$(rss); h=$(hwm)
    [ "$r" != 0 ] && rss_end=$r && hwm_end=$h
    if [ -z "$rss2" ] && [ "$now" -ge 120 ]; then rss2=$r; fi
    echo "$now $r" >>"$out/rss.txt"
    sleep 5
done
wait "$demo" || echo "kspan demo exited with status $? (see $log)" >&2

echo "== kspan live: ${minutes} min at ${rate} req/s (demo, $(nproc) CPUs)"
grep -E '^ *kspan: live:|^  kspan: WARNING|lost events' "$log" | sed 's/^ *//' || true
echo "resident memory of kspan live: minute 2 ${rss2:-n/a} KiB, end ${rss_end} KiB, peak ${hwm_end} KiB"
echo "== accuracy, live traces:"
"$kspan" check --otlp "$out/demo.live.otlp.json" --truth "$out/truth" | grep -iE 'accuracy|traces' | head -5
echo "== accuracy, offline analysis of the same run's demo.dat:"
grep -iE 'accuracy|traces' "$out/demo.stdout" | head -5
echo "== live vs offline spans:"
# Byte-identical exports need no parsing (a 10-minute run writes 3.7 GB each: loading both
# whole was killed for memory).
if cmp -s "$out/demo.live.otlp.json" "$out/demo.otlp.json"; then
    echo "identical: the live and offline OTLP JSON are byte for byte the same"
    exit 0
fi
python3 - "$out/demo.live.otlp.json" "$out/demo.otlp.json" <<'PY'
import json, sys
def spans(path):
    # One resource per line (kspan's OTLP JSON writer): parsed line by line.
    out = set()
    for line in open(path):
        line = line.strip().rstrip(",")
        if not line.startswith('{"resource"'):
            continue
        for s in json.loads(line)["scopeSpans"][0]["spans"]:
            out.add((s["traceId"], s["spanId"], s.get("parentSpanId", "-"), s["name"]))
    return out
live, offline = spans(sys.argv[1]), spans(sys.argv[2])
traces = lambda s: len({t for t, *_ in s})
print(f"live: {traces(live)} traces, {len(live)} spans; offline: {traces(offline)} traces, "
      f"{len(offline)} spans; identical: {live == offline} "
      f"(only live: {len(live - offline)}, only offline: {len(offline - live)})")
PY
