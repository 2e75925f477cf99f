#!/usr/bin/env python3
"""Classify every wrong front call of a bench/stacks run.

usage: classify.py OUTDIR [OTLP] [--by-evidence]
For each true call of the front service, finds kspan's CLIENT span on the same local end with
the nearest start, and says whether it is in the trace of the request's front SERVER span, a
root of its own (no parent), or under another request's span; with the thread that sent it
compared with the thread kspan gives the front SERVER span. OTLP defaults to
OUTDIR/traces.otlp.json. --by-evidence classes the wrong calls by their `kspan.link` evidence
instead of by endpoint and call index, and says whether the writing thread read the request
kspan chose (in an M:N runtime: did the thread run a task of the request it read, or one
another thread read).
"""
import json, sys, glob, os
from collections import Counter, defaultdict

args = [a for a in sys.argv[1:] if not a.startswith("--")]
by_evidence = "--by-evidence" in sys.argv
out = args[0]
otlp = args[1] if len(args) > 1 else os.path.join(out, "traces.otlp.json")
recs = []
for line in open(os.path.join(out, "truth", "front.jsonl")):
    if line.strip():
        recs.append(json.loads(line))
spans = []
for rs in json.load(open(otlp))["resourceSpans"]:
    for ss in rs["scopeSpans"]:
        for s in ss["spans"]:
            a = {x["key"]: list(x["value"].values())[0] for x in s["attributes"]}
            s["a"] = a
            s["start"] = int(s["startTimeUnixNano"]); s["end"] = int(s["endTimeUnixNano"])
            s["local"] = f'{a.get("network.local.address")}:{a.get("network.local.port")}'
            s["peer"] = f'{a.get("network.peer.address")}:{a.get("network.peer.port")}'
            spans.append(s)
by_id = {s["spanId"]: s for s in spans}
idx = defaultdict(list)
for s in spans:
    idx[(s["kind"], s["local"], s["peer"])].append(s)

def nearest(kind, local, peer, start):
    c = idx.get((kind, local, peer), [])
    return min(c, key=lambda s: abs(s["start"] - start)) if c else None

server_of = {}  # kspan server span id -> rid
for r in recs:
    s = nearest(2, r["local"], r["peer"], r["start_unix_ns"])
    if s:
        server_of[s["spanId"]] = r["rid"]
cls = Counter(); examples = defaultdict(list)
total = 0
for r in recs:
    srv = nearest(2, r["local"], r["peer"], r["start_unix_ns"])
    for i, c in enumerate(r["calls"]):
        total += 1
        cs = nearest(3, c["local"], c["peer"], c["start_unix_ns"])
        if not cs or not srv:
            cls["missing"] += 1; continue
        if cs["traceId"] == srv["traceId"]:
            cls["right"] += 1; continue
        par = by_id.get(cs.get("parentSpanId", ""))
        same_tid = "same-thread" if cs["a"].get("thread.id") == srv["a"].get("thread.id") else "other-thread"
        if par is None:
            k = f"root ({same_tid})"
        else:
            other = server_of.get(par["spanId"], "?")
            k = f"under another request's span ({same_tid}; other started {'before' if par['start'] < srv['start'] else 'after'})"
        if by_evidence:
            chose = "root" if par is None else (
                "writer read it" if cs["a"].get("thread.id") == par["a"].get("thread.id") else "writer did not read it")
            k = f"{cs['a'].get('kspan.link', 'no link')}: {same_tid}; chosen: {chose}"
        else:
            k = f"{r['endpoint']} call#{i+1}: {k}"
        cls[k] += 1
        examples[k].append(r["rid"])
print(f"front calls: {total}")
for k, v in cls.most_common():
    print(f"  {v:5d}  {k}   e.g. {' '.join(examples[k][:4])}")
