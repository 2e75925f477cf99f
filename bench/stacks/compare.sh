#!/usr/bin/env bash
# Two engines on the same kept recordings, scored by the same checker: one table row per
# recording (previous engine vs new engine, exact trees / requests).
#
#   bench/stacks/compare.sh OLD_BIN_DIR NEW_BIN_DIR OUT_DIR...
#
# OUT_DIR: run.sh output directories (a matrix directory's cells too). CHECK_BIN (env, default
# OLD_BIN_DIR) is the kspan whose `check` scores both. Analyses go to OUT_DIR/compare-{old,new}.
set -euo pipefail
USAGE="usage: compare.sh OLD_BIN_DIR NEW_BIN_DIR OUT_DIR..."
OLD=${1:?$USAGE}; NEW=${2:?$USAGE}; shift 2
[[ $# -gt 0 ]] || { echo "$USAGE" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
export CHECK_BIN=${CHECK_BIN:-$OLD}
result() { # BIN OUT DEST -> "N/M (P%)"
  bash "$HERE/reanalyze.sh" "$2" "$1" "$3" | sed -n 's/^RESULT .*exact=\([^ ]*\) (\(.*\))$/\1 (\2)/p'
}
echo "| recording | previous engine | new engine |"
echo "|---|---|---|"
for out in "$@"; do
  [[ -f $out/trace.dat ]] || continue
  echo "| $(basename "$out") | $(result "$OLD" "$out" "$out/compare-old") | $(result "$NEW" "$out" "$out/compare-new") |"
done
