#!/usr/bin/env python3
"""Every call kspan linked, right or wrong, by the evidence that linked it.

usage: links.py OUT [OTLP] [--wrong N]

OUT is a bench/stacks run (truth/ with the services' logs); OTLP defaults to
OUT/traces.otlp.json. Each kspan CLIENT span is paired with the true call on the same
connection end (the caller's local address) that overlaps it most in time; its kspan parent
(a SERVER span) with the true request on the same client end overlapping it most. The link
is right when that request is the call's own. Prints, per `kspan.link` evidence and number of
candidates, how many links were right: the measured confidence (docs/engine.md, Confidence),
and how many links reported with confidence >= 0.99 were wrong.
Calls kspan left without a parent are counted as orphans, per true caller service. Also
prints, per band of reported confidence, the share of links that were right (calibration).
"""
import collections
import json
import sys

# Lower bounds of the confidence bands the calibration table is printed by.
BANDS = (0.0, 0.5, 0.7, 0.9, 0.95, 0.99, 1.0)


def attrs(span):
    out = {}
    for a in span.get("attributes", []):
        v = a["value"]
        out[a["key"]] = next(iter(v.values()))
    return out


def load_truth(truth_dir):
    import glob
    import os

    requests = []  # (service, peer, local, start, end, rid)
    calls = []  # (local, start, end, rid, service, tid)
    for path in glob.glob(os.path.join(truth_dir, "*.jsonl")):
        name = os.path.basename(path)
        if name in ("gateway.jsonl", "loadgen.jsonl"):
            continue
        for line in open(path):
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            requests.append((r["peer"], r["start_unix_ns"], r["end_unix_ns"], r["rid"], r["service"]))
            for c in r.get("calls", []):
                if c.get("local"):
                    calls.append((c["local"], c["start_unix_ns"], c["end_unix_ns"], r["rid"], r["service"], c.get("tid")))
    return requests, calls


def index(items):
    by = collections.defaultdict(list)
    for it in items:
        by[it[0]].append(it)
    return by


def best(candidates, start, end, slack=2_000_000):
    """The candidate overlapping [start, end] most (with slack), or None."""
    top, top_score = None, None
    for c in candidates:
        lo, hi = max(start, c[1] - slack), min(end, c[2] + slack)
        if hi < lo:
            continue
        score = abs(c[1] - start) + abs(c[2] - end)
        if top_score is None or score < top_score:
            top, top_score = c, score
    return top


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    show_wrong = 0
    if "--wrong" in sys.argv:
        show_wrong = int(sys.argv[sys.argv.index("--wrong") + 1])
        args = [a for a in args if a != str(show_wrong)]
    out = args[0]
    otlp = args[1] if len(args) > 1 else f"{out}/traces.otlp.json"
    requests, calls = load_truth(f"{out}/truth")
    req_by_peer, call_by_local = index(requests), index(calls)
    spans = {}
    for rs in json.load(open(otlp))["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                spans[s["spanId"]] = s

    def addr(a, side):
        host, port = a.get(f"network.{side}.address"), a.get(f"network.{side}.port")
        return f"{host}:{port}" if host and port else None

    def true_request(server):
        a = attrs(server)
        peer = addr(a, "peer")
        r = best(req_by_peer.get(peer, []), int(server["startTimeUnixNano"]), int(server["endTimeUnixNano"]))
        return r[3] if r else None

    stats = collections.Counter()
    right = collections.Counter()
    # Per confidence band (its lower bound): links, right ones, sum of reported confidences.
    bands = collections.defaultdict(lambda: [0, 0, 0.0])
    sure, sure_wrong = 0, 0
    orphans = collections.Counter()
    wrong_examples = []
    for s in spans.values():
        if s["kind"] != 3:
            continue
        a = attrs(s)
        local = addr(a, "local")
        call = best(call_by_local.get(local, []), int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"]))
        if call is None:
            continue  # not a call of a service that logs truth (nginx, loadgen)
        parent = spans.get(s.get("parentSpanId", ""))
        if parent is None:
            orphans[call[4]] += 1
            continue
        key = (a.get("kspan.link", "?"), min(int(a.get("kspan.link.candidates", 0)), 5))
        stats[key] += 1
        got = true_request(parent)
        confidence = float(a.get("kspan.link.confidence", 0))
        band = bands[max(b for b in BANDS if confidence >= b)]
        band[0] += 1
        band[1] += got == call[3]
        band[2] += confidence
        if confidence >= 0.99:
            sure += 1
            sure_wrong += got != call[3]
        if got == call[3]:
            right[key] += 1
        elif len(wrong_examples) < show_wrong:
            wrong_examples.append((call, got, a, s))
    print(f"{'evidence':<14} {'cand':>4} {'links':>7} {'right':>7} {'rate':>8}")
    total = sum(stats.values())
    for key in sorted(stats, key=lambda k: (-stats[k], k)):
        n, ok = stats[key], right[key]
        cand = f"{key[1]}" if key[1] < 5 else "5+"
        print(f"{key[0]:<14} {cand:>4} {n:>7} {ok:>7} {100.0 * ok / n:>7.2f}%")
    ok = sum(right.values())
    print(f"{'all':<14} {'':>4} {total:>7} {ok:>7} {100.0 * ok / max(total, 1):>7.2f}%")
    print("confidence band   links   right  measured  reported (mean)")
    for b in sorted(bands):
        n, ok, conf = bands[b]
        print(f"  >= {b:<10} {n:>7} {ok:>7} {100.0 * ok / n:>8.2f}% {100.0 * conf / n:>8.2f}%")
    print(f"sure links (confidence >= 0.99): {sure}, wrong {sure_wrong} "
          f"({1000.0 * sure_wrong / max(sure, 1):.2f} per 1,000)")
    print("orphan calls (no parent):", dict(orphans) or 0)
    for call, got, a, s in wrong_examples:
        print(f"WRONG call {call[4]} {call[0]} tid={call[5]} of {call[3]} linked to {got} "
              f"by {a.get('kspan.link')}/{a.get('kspan.link.candidates')} kspan tid={a.get('thread.id')} "
              f"start={s['startTimeUnixNano']}")


if __name__ == "__main__":
    main()
