#!/usr/bin/env bash
# Analyse and check a kept bench/stacks recording with a given engine; prints the RESULT line.
#
#   bench/stacks/reanalyze.sh OUT KSPAN_BIN_DIR [DEST]
#
# OUT is a run.sh output directory (trace.dat, truth/, run.meta). The OTLP traces and the
# checker's reports go to DEST (default OUT/reanalyze-<time>; run.sh itself passes OUT), so two
# engines can be compared on the same trace.dat:
#   bash bench/stacks/reanalyze.sh bench/stacks/out/go-500-5-… /work/targets/old/release
#   bash bench/stacks/reanalyze.sh bench/stacks/out/go-500-5-… /work/targets/main/release
# CHECK_BIN (env, default KSPAN_BIN_DIR): the kspan whose `check` scores the traces, so that two
# engines are scored by the same checker.
set -euo pipefail
USAGE="usage: reanalyze.sh OUT KSPAN_BIN_DIR [DEST]"
OUT=$(cd "${1:?$USAGE}" && pwd)
BIN=${2:?$USAGE}
DEST=${3:-$OUT/reanalyze-$(date +%Y%m%d-%H%M%S)}
KSPAN=$BIN/kspan
CHECK=${CHECK_BIN:-$BIN}/kspan
[[ -x $KSPAN ]] || { echo "missing $KSPAN" >&2; exit 2; }
[[ -f $OUT/trace.dat && -d $OUT/truth ]] || { echo "$OUT has no trace.dat or truth/" >&2; exit 2; }
mkdir -p "$DEST"

meta() { # KEY [DEFAULT]: a value of OUT/run.meta
  local v
  v=$(sed -n "s/^$1=//p" "$OUT/run.meta" 2>/dev/null | head -1)
  echo "${v:-${2:-}}"
}
STACK=$(meta stack "$(basename "$OUT" | cut -d- -f1)")
LOAD=$(meta load "$(basename "$OUT" | cut -d- -f2)")
SECS=$(meta secs "$(basename "$OUT" | cut -d- -f3)")
ALIASES=()
for a in $(meta aliases "kst-gateway=gateway kst-front=front kst-back=back"); do ALIASES+=(--alias "$a"); done

TRUTH=$OUT/truth
"$KSPAN" info "$OUT/trace.dat" >"$DEST/info.txt" 2>&1 || true
"$KSPAN" analyze "$OUT/trace.dat" --format otlp-json -o "$DEST/traces.otlp.json" 2>"$DEST/analyze.log"
"$CHECK" check --otlp "$DEST/traces.otlp.json" --truth "$TRUTH" "${ALIASES[@]}" --failures 20 >"$DEST/check.txt" || true
"$CHECK" check --otlp "$DEST/traces.otlp.json" --truth "$TRUTH" "${ALIASES[@]}" --json >"$DEST/check.json" || true
grep -i "lost" "$DEST/analyze.log" || true
head -40 "$DEST/check.txt"
[[ $DEST == "$OUT" ]] || echo "engine: $BIN -> $DEST"
python3 - "$DEST/check.json" "$STACK" "$LOAD" "$SECS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("RESULT stack=%s rate=%s secs=%s exact=%s/%s (%.1f%%)" % (sys.argv[2], sys.argv[3], sys.argv[4],
      r["requests_exact"], r["requests_in_truth"], r["exact_tree_accuracy_pct"]))
e = r.get("by_endpoint", {})
print("  per endpoint:", {k: v for k, v in e.items()})
print("  spans:", r["spans"])
PY
