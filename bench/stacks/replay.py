#!/usr/bin/env python3
"""Offline replay: what first-in-first-out assignment would make of kspan's own links.

usage: replay.py OUT [OTLP] [SERVICE]

OUT is a bench/stacks run (truth/ with the services' logs); OTLP defaults to
OUT/traces.otlp.json; SERVICE (default front) is the service whose calls are replayed.
kspan's SERVER spans are paired with the true requests (client end, nearest start) and its
CLIENT spans with the true calls (caller's end, nearest end: a connection carries one call at
a time and both sides know when the answer came). Then, per process, the calls whose link is
in a set of evidence kinds are re-decided first in, first out: oldest written first, each to
the oldest request read before it that still has room for a call of its name (the truth's
most common count per endpoint) and whose response ended after the call's answer. Prints the
share of calls and of requests (all their calls right) for kspan as it is and for each set:
a quick way to see which links a queue order would fix, and which it would break, before
changing the engine (BENCHMARKS.md, "queued calls paired in order").
"""
import collections
import json
import sys

SETS = {
    "count-placed": {"pattern", "split", "queue-order"},
    "+wakeup": {"pattern", "split", "queue-order", "wakeup"},
    "+event-loop": {"pattern", "split", "queue-order", "wakeup", "event-loop"},
}


def attrs(span):
    return {x["key"]: list(x["value"].values())[0] for x in span.get("attributes", [])}


def load(out, otlp, svc):
    offset = json.load(open(otlp.replace("traces.otlp.json", "check.json")))["clock"]["offset_ns"] \
        if otlp.endswith("traces.otlp.json") else 0
    truth = [json.loads(line) for line in open(f"{out}/truth/{svc}.jsonl") if line.strip()]
    spans = []
    for rs in json.load(open(otlp))["resourceSpans"]:
        if rs["resource"]["attributes"][0]["value"]["stringValue"] != f"kst-{svc}":
            continue
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                a = attrs(s)
                spans.append(dict(
                    id=s["spanId"], parent=s.get("parentSpanId") or None, kind=s["kind"],
                    name=s["name"], start=int(s["startTimeUnixNano"]) - offset,
                    end=int(s["endTimeUnixNano"]) - offset, pid=a.get("process.pid"),
                    local=f'{a.get("network.local.address")}:{a.get("network.local.port")}',
                    peer=f'{a.get("network.peer.address")}:{a.get("network.peer.port")}',
                    link=a.get("kspan.link")))
    requests_by_peer = collections.defaultdict(list)
    calls_by_local = collections.defaultdict(list)
    for r in truth:
        requests_by_peer[r["peer"]].append(r)
        for c in r["calls"]:
            if c.get("local"):
                calls_by_local[c["local"]].append((c["end_unix_ns"], r["rid"]))
    requests = [s for s in spans if s["kind"] == 2]
    calls = [s for s in spans if s["kind"] == 3]
    for s in requests:
        near = min(requests_by_peer.get(s["peer"], []), default=None,
                   key=lambda r: abs(r["start_unix_ns"] - s["start"]))
        ok = near and abs(near["start_unix_ns"] - s["start"]) < 2_000_000
        s["rid"], s["endpoint"] = (near["rid"], near["endpoint"]) if ok else (None, None)
    for s in calls:
        near = min(calls_by_local.get(s["local"], []), default=None, key=lambda c: abs(c[0] - s["end"]))
        s["rid"] = near[1] if near and abs(near[0] - s["end"]) < 2_000_000 else None
    by_id = {s["id"]: s for s in spans}
    for s in calls:
        p = by_id.get(s["parent"]) if s["parent"] else None
        s["kspan"] = p["rid"] if p and p["kind"] == 2 else None
    return [r for r in requests if r["rid"]], [c for c in calls if c["rid"]]


def main():
    out = sys.argv[1]
    otlp = sys.argv[2] if len(sys.argv) > 2 else f"{out}/traces.otlp.json"
    svc = sys.argv[3] if len(sys.argv) > 3 else "front"
    requests, calls = load(out, otlp, svc)
    made = collections.Counter((c["rid"], c["name"]) for c in calls)
    seen = collections.defaultdict(collections.Counter)
    for r in requests:
        seen[r["endpoint"]][tuple(sorted((n, k) for (rid, n), k in made.items() if rid == r["rid"]))] += 1
    pattern = {e: dict(c.most_common(1)[0][0]) for e, c in seen.items()}
    own = collections.defaultdict(list)
    for c in calls:
        own[c["rid"]].append(c["id"])

    def score(assign, label):
        right = sum(assign.get(c["id"]) == c["rid"] for c in calls)
        given = collections.Counter(assign.values())
        exact = sum(all(assign.get(i) == r["rid"] for i in own[r["rid"]])
                    and given[r["rid"]] == len(own[r["rid"]]) for r in requests)
        print(f"{label:<14} calls {right}/{len(calls)} {100 * right / max(len(calls), 1):5.1f}%   "
              f"requests {exact}/{len(requests)} {100 * exact / max(len(requests), 1):5.1f}%")

    def replay(redecide):
        room = {r["rid"]: dict(pattern.get(r["endpoint"], {})) for r in requests}
        assign = {}
        for c in calls:
            if c["kspan"] in room and c["link"] not in redecide:
                assign[c["id"]] = c["kspan"]
                room[c["kspan"]][c["name"]] = room[c["kspan"]].get(c["name"], 0) - 1
        for pid in {r["pid"] for r in requests}:
            order = sorted((r for r in requests if r["pid"] == pid), key=lambda r: r["start"])
            for c in sorted((c for c in calls if c["pid"] == pid and c["id"] not in assign),
                            key=lambda c: c["start"]):
                for r in order:
                    if r["start"] >= c["start"]:
                        break
                    if room[r["rid"]].get(c["name"], 0) > 0 and r["end"] >= c["end"]:
                        assign[c["id"]] = r["rid"]
                        room[r["rid"]][c["name"]] -= 1
                        break
        return assign

    print(f"{svc}: {len(requests)} requests, {len(calls)} calls; counts per endpoint {pattern}")
    score({c["id"]: c["kspan"] for c in calls}, "kspan")
    for label, kinds in SETS.items():
        score(replay(kinds), label)


if __name__ == "__main__":
    main()
