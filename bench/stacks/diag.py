#!/usr/bin/env python3
"""Diagnose kspan vs truth for some request ids of a bench/stacks run.

usage: diag.py OUTDIR RID [RID…]
Prints the true tree (from the truth logs) and, for each true span, the kspan span on the same
connection end overlapping in time: its trace, parent, thread and threads.
"""
import json, sys, glob, os
from collections import defaultdict

out = sys.argv[1]
truth = os.path.join(out, "truth")
recs = defaultdict(list)
for f in glob.glob(truth + "/*.jsonl"):
    name = os.path.basename(f)[:-6]
    if name in ("loadgen",):
        continue
    for line in open(f):
        if line.strip():
            r = json.loads(line); r["_file"] = name; recs[r["rid"]].append(r)

spans = []
for rs in json.load(open(os.path.join(out, "traces.otlp.json")))["resourceSpans"]:
    svc = rs["resource"]["attributes"][0]["value"]["stringValue"]
    for ss in rs["scopeSpans"]:
        for s in ss["spans"]:
            a = {x["key"]: list(x["value"].values())[0] for x in s["attributes"]}
            s["svc"] = svc; s["a"] = a
            s["start"] = int(s["startTimeUnixNano"]); s["end"] = int(s["endTimeUnixNano"])
            s["local"] = f'{a.get("network.local.address")}:{a.get("network.local.port")}'
            s["peer"] = f'{a.get("network.peer.address")}:{a.get("network.peer.port")}'
            spans.append(s)
by_id = {s["spanId"]: s for s in spans}
import re, subprocess
_m = re.search(rb'"clock_to_unix_ns":(-?[0-9]+)', open(os.path.join(out, "trace.dat"), "rb").read())
OFF = int(_m.group(1)) if _m else 0
def boot(ns):
    return f"{(ns - OFF) / 1e9:.9f}"
by_local = defaultdict(list); by_peer = defaultdict(list)
for s in spans:
    by_local[s["local"]].append(s); by_peer[s["peer"]].append(s)

def find(kind, local, peer, start, end):
    cands = [s for s in by_local.get(local, []) if s["kind"] == kind and s["peer"] == peer]
    cands = [s for s in cands if s["start"] < end + 300_000 and s["end"] > start - 300_000]
    return cands

def show(s, t0):
    par = by_id.get(s.get("parentSpanId", ""), None)
    pdesc = f'{par["name"]} peer {par["peer"]}' if par else "-"
    return (f'@{boot(s["start"])} trace {s["traceId"][:8]} {s["name"]:24} +{(s["start"]-t0)/1e3:9.1f}us {(s["end"]-s["start"])/1e3:8.1f}us '
            f'tid {s["a"].get("thread.id")} threads {s["a"].get("kspan.threads")} parent [{pdesc}]')

for rid in sys.argv[2:]:
    rs = recs.get(rid, [])
    print(f"=== {rid}")
    gw = [r for r in rs if r["_file"] == "gateway"]
    svc = [r for r in rs if r["_file"] != "gateway"]
    t0 = min((r["start_unix_ns"] for r in svc), default=0)
    for r in sorted(svc, key=lambda r: r["start_unix_ns"]):
        print(f'  TRUE @{boot(r["start_unix_ns"])} {r["service"]} SERVER peer {r["peer"]} +{(r["start_unix_ns"]-t0)/1e3:.1f}us {(r["end_unix_ns"]-r["start_unix_ns"])/1e3:.1f}us  {r.get("endpoint")}')
        for s in find(2, r["local"], r["peer"], r["start_unix_ns"], r["end_unix_ns"]):
            print("     kspan", show(s, t0))
        for c in r.get("calls", []):
            print(f'    TRUE @{boot(c["start_unix_ns"])} call local {c["local"]} +{(c["start_unix_ns"]-t0)/1e3:.1f}us {(c["end_unix_ns"]-c["start_unix_ns"])/1e3:.1f}us')
            for s in find(3, c["local"], c["peer"], c["start_unix_ns"], c["end_unix_ns"]):
                print("       kspan", show(s, t0))
