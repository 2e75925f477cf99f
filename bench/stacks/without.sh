#!/usr/bin/env bash
# Checks a run.sh recording without one callee: its calls dropped from the truth and kspan's
# spans on its port dropped from the traces (what the rest of each tree scores when that part
# is broken).
#
#   bench/stacks/without.sh OUT TARGET PORT      e.g. without.sh out/erlang-c4-4-… redis 6379
#
# Writes OUT/without-TARGET/ (truth/, traces.otlp.json, check.txt) and prints the exact trees.
# KSPAN_BIN_DIR (default /work/targets/stacks/release): the kspan whose `check` scores it.
set -euo pipefail
OUT=$(cd "${1:?usage: without.sh OUT TARGET PORT}" && pwd)
TARGET=${2:?usage: without.sh OUT TARGET PORT}
PORT=${3:?usage: without.sh OUT TARGET PORT}
KSPAN=${KSPAN_BIN_DIR:-/work/targets/stacks/release}/kspan
D=$OUT/without-$TARGET
mkdir -p "$D/truth"
python3 - "$OUT" "$D" "$TARGET" "$PORT" <<'PY'
import glob, json, os, sys
out, d, target, port = sys.argv[1:5]
for f in glob.glob(os.path.join(out, "truth", "*.jsonl")):
    with open(os.path.join(d, "truth", os.path.basename(f)), "w") as w:
        for line in open(f):
            if line.strip():
                r = json.loads(line)
                if "calls" in r:
                    r["calls"] = [c for c in r["calls"] if c.get("target") != target]
                w.write(json.dumps(r) + "\n")
t = json.load(open(os.path.join(out, "traces.otlp.json")))
for rs in t["resourceSpans"]:
    for ss in rs["scopeSpans"]:
        def keep(s):
            a = {x["key"]: list(x["value"].values())[0] for x in s["attributes"]}
            return port not in (str(a.get("network.peer.port")), str(a.get("network.local.port")))
        ss["spans"] = [s for s in ss["spans"] if keep(s)]
json.dump(t, open(os.path.join(d, "traces.otlp.json"), "w"))
PY
ALIASES=()
for a in $(sed -n 's/^aliases=//p' "$OUT/run.meta"); do ALIASES+=(--alias "$a"); done
"$KSPAN" check --otlp "$D/traces.otlp.json" --truth "$D/truth" "${ALIASES[@]}" --failures 20 >"$D/check.txt" || true
sed -n 's/^exact-tree accuracy: /without '"$TARGET"': /p' "$D/check.txt"
