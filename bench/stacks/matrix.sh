#!/usr/bin/env bash
# Runs bench/stacks/run.sh over a list of (stack, load) cells and tabulates the exact trees.
#
#   bench/stacks/matrix.sh [STACK:LOAD …]
#
# Default cells: every stack (bench/stacks/*/stack.sh, or env STACKS="node go …") × LOADS
# (default "c1 c4 c16") and two open-loop rates: env RATES ("50 200") for every stack, else the
# stack's STACK_RATES, else 50 200. Each cell's OUT is kept under OUTDIR
# (default bench/stacks/out/matrix-<time>/<stack>-<load>/); OUTDIR/matrix.md gets the table
# (stack | load | exact/requests | %) and OUTDIR/results.txt the RESULT lines.
# Env: SECS (per cell, default 3), KSPAN_BIN_DIR, LOCK_WAIT (default 600: waits for other runs),
#      DRY=1 (list the cells only), and run.sh's (MIX, CONNS, WARMUP, QUIET). A failing cell is tabulated as failed; the rest go on.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SECS=${SECS:-3}
OUTDIR=${OUTDIR:-$HERE/out/matrix-$(date +%Y%m%d-%H%M%S)}
export LOCK_WAIT=${LOCK_WAIT:-600}
mkdir -p "$OUTDIR"

CELLS=("$@")
if [[ ${#CELLS[@]} -eq 0 ]]; then
  if [[ -n ${STACKS:-} ]]; then
    read -r -a stacks <<<"$STACKS"
  else
    stacks=()
    for f in "$HERE"/*/stack.sh; do stacks+=("$(basename "$(dirname "$f")")"); done
  fi
  for s in "${stacks[@]}"; do
    rates=${RATES:-$(bash -c 'source "$1" >/dev/null 2>&1; echo "${STACK_RATES:-}"' _ "$HERE/$s/stack.sh")}
    for l in ${LOADS:-c1 c4 c16} ${rates:-50 200}; do CELLS+=("$s:$l"); done
  done
fi

echo "== ${#CELLS[@]} cells, ${SECS}s each -> $OUTDIR"
if [[ -n ${DRY:-} ]]; then printf '%s\n' "${CELLS[@]}"; rmdir "$OUTDIR"; exit 0; fi
{
  echo "# bench/stacks matrix $(date -u +%Y-%m-%dT%H:%MZ), ${SECS} s per cell"
  echo
  echo "engine: ${KSPAN_BIN_DIR:-/work/targets/stacks/release} (git $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null))"
  echo
  echo "| stack | load | exact/requests | % |"
  echo "|---|---|---|---|"
} >"$OUTDIR/matrix.md"
: >"$OUTDIR/results.txt"
for cell in "${CELLS[@]}"; do
  stack=${cell%%:*}
  load=${cell#*:}
  out=$OUTDIR/$stack-$load
  # A cell listed twice keeps both runs: the second goes to <stack>-<load>-2, and so on.
  if [[ -e $out ]]; then
    n=2
    while [[ -e $out-$n ]]; do n=$((n + 1)); done
    out=$out-$n
  fi
  echo "-- $stack $load"
  OUT=$out bash "$HERE/run.sh" "$stack" "$load" "$SECS" >"$out.log" 2>&1
  rc=$?
  result=$(grep -m1 '^RESULT ' "$out.log")
  if [[ $rc -eq 0 && -n $result ]]; then
    echo "$result" | tee -a "$OUTDIR/results.txt"
    exact=$(sed -E 's/.* exact=([0-9]+\/[0-9]+) .*/\1/' <<<"$result")
    pct=$(sed -E 's/.*\(([0-9.]+%)\).*/\1/' <<<"$result")
    echo "| $stack | $load | $exact | $pct |" >>"$OUTDIR/matrix.md"
  else
    echo "FAILED $stack $load (rc $rc): $(tail -2 "$out.log" | tr '\n' ' ')" | tee -a "$OUTDIR/results.txt"
    echo "| $stack | $load | failed (rc $rc, see $stack-$load.log) | |" >>"$OUTDIR/matrix.md"
  fi
done
echo
cat "$OUTDIR/matrix.md"
