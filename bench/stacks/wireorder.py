#!/usr/bin/env python3
"""A lock-serialised shared connection's exchanges, paired with the truth's calls in wire order.

usage: wireorder.py OUTDIR LOCAL [SERVICE]
LOCAL is the caller's end (ip:port) of a connection that SERVICE (default front) shares between
its requests under a lock (or through one owner process): each call's logged start includes the
wait for the lock, so start order is not wire order, but the reply is read under the lock, so
the calls sorted by end are. Pairs kspan's CLIENT spans on LOCAL (by start) with those calls and
counts how many kspan put in the trace of the call's own request (found through the request's
SERVER span, by connection and nearest start).
"""
import json, os, sys
from collections import Counter, defaultdict

out, local = sys.argv[1], sys.argv[2]
service = sys.argv[3] if len(sys.argv) > 3 else "front"
spans = []
for rs in json.load(open(os.path.join(out, "traces.otlp.json")))["resourceSpans"]:
    for ss in rs["scopeSpans"]:
        for s in ss["spans"]:
            a = {x["key"]: list(x["value"].values())[0] for x in s["attributes"]}
            s["l"] = f'{a.get("network.local.address")}:{a.get("network.local.port")}'
            s["p"] = f'{a.get("network.peer.address")}:{a.get("network.peer.port")}'
            spans.append(s)
reqs = [r for r in (json.loads(l) for l in open(os.path.join(out, "truth", service + ".jsonl")) if l.strip())
        if not r["rid"].startswith("warmup")]
servers = defaultdict(list)
for s in spans:
    if s["kind"] == 2:
        servers[(s["l"], s["p"])].append(s)
rids_of_trace = defaultdict(set)
for r in reqs:
    c = servers.get((r["local"], r["peer"]), [])
    if c:
        s = min(c, key=lambda s: abs(int(s["startTimeUnixNano"]) - r["start_unix_ns"]))
        rids_of_trace[s["traceId"]].add(r["rid"])
calls = sorted((c["end_unix_ns"], r["rid"]) for r in reqs for c in r.get("calls", []) if c.get("local") == local)
ks = sorted((s for s in spans if s["kind"] == 3 and s["l"] == local), key=lambda s: int(s["startTimeUnixNano"]))
print(f"{local}: {len(calls)} calls in the truth, {len(ks)} kspan CLIENT spans")
n = Counter()
for (_, rid), s in zip(calls, ks):
    if rid in rids_of_trace.get(s["traceId"], ()):
        n["in its request's trace"] += 1
    elif not s.get("parentSpanId"):
        n["a root"] += 1
    else:
        n["in another request's trace"] += 1
for k, v in n.most_common():
    print(f"  {v:6d}  {k}")
