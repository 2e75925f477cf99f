#!/bin/sh
# Benchmark: `kspan check` on N synthetic requests (default 20000) shaped like the demo's
# /compose (19 spans each: gateway, 6 services, 8 calls, 3 store spans), with a perfect OTLP
# export; prints the report's head, the wall time and the peak memory.
# Usage: crates/truth/scripts/bench.sh [N] [path/to/kspan]
set -eu
N=${1:-20000}
KSPAN=${2:-/work/targets/loadgen/release/kspan}
DIR=$(mktemp -d /tmp/kspan-bench-truth.XXXXXX)
trap 'rm -rf "$DIR"' EXIT INT TERM
python3 - "$N" "$DIR" <<'PY'
import json, sys, os
n, out = int(sys.argv[1]), sys.argv[2]
os.makedirs(out + "/truth")
B = 1_800_000_000_000_000_000
files = {}
def log(name, obj):
    files.setdefault(name, []).append(json.dumps(obj))
spans = {}
def span(svc, trace, sid, parent, kind, s, e, peer, local):
    a = []
    for k, addr in (("network.peer", peer), ("network.local", local)):
        ip, port = addr.rsplit(":", 1)
        a += [{"key": k + ".address", "value": {"stringValue": ip}},
              {"key": k + ".port", "value": {"intValue": port}}]
    d = {"traceId": trace, "spanId": "%016x" % sid, "kind": kind, "name": svc,
         "startTimeUnixNano": str(s), "endTimeUnixNano": str(e), "attributes": a}
    if parent: d["parentSpanId"] = "%016x" % parent
    spans.setdefault(svc, []).append(d)
sid = 0
def nid():
    global sid; sid += 1; return sid
for r in range(n):
    rid, t0, tr = "r-%06d" % (r + 1), B + r * 1_000_000, "%032x" % (r + 1)
    port = lambda k: 10000 + (r * 16 + k) % 50000
    client = "10.77.0.2:%d" % port(0)
    log("gateway", {"rid": rid, "service": "gateway", "pid": 1, "peer": client, "local": "10.77.0.10:80",
        "msec": (t0 + 900_000) / 1e9, "request_time": 0.0008, "upstream": "", "upstream_time": "",
        "status": 200, "endpoint": "/compose"})
    root = nid(); span("gateway", tr, root, None, 2, t0 + 100_000, t0 + 900_000, client, "10.77.0.10:80")
    def service(name, design, ip, peer, parent, s, e, calls):
        sp = nid(); local = ip + ":8080"
        span(name, tr, sp, parent, 2, s, e, peer, local)
        recs = []
        for k, (target, tip, tport, sub) in enumerate(calls):
            cl = "%s:%d" % (ip, port(len(recs) + 1 + hash(name) % 7))
            cs, ce = s + 10_000 + k * 60_000, s + 60_000 + k * 60_000
            c = nid(); span(name, tr, c, sp, 3, cs, ce, "%s:%d" % (tip, tport), cl)
            recs.append({"target": target, "proto": "http" if sub else target, "local": cl,
                         "peer": "%s:%d" % (tip, tport), "start_unix_ns": cs, "end_unix_ns": ce, "status": "ok"})
            if sub: sub(cl, c, cs + 5_000, ce - 5_000)
            else: span(target, tr, nid(), c, 2, cs + 5_000, ce - 5_000, cl, "%s:%d" % (tip, tport))
        log(name, {"rid": rid, "service": name, "design": design, "pid": 2, "tid": 2, "start_unix_ns": s,
            "end_unix_ns": e, "peer": peer, "local": local, "endpoint": "/", "status": "ok", "calls": recs})
    leaf = lambda name, design, ip: (lambda peer, parent, s, e: service(name, design, ip, peer, parent, s, e, []))
    gw_local = "10.77.0.10:%d" % port(9)
    gc = nid(); span("gateway", tr, gc, root, 3, t0 + 150_000, t0 + 850_000, "10.77.0.11:8080", gw_local)
    service("compose-post", "tokio", "10.77.0.11", gw_local, gc, t0 + 200_000, t0 + 800_000, [
        ("unique-id", "10.77.0.12", 8080, leaf("unique-id", "epoll", "10.77.0.12")),
        ("text", "10.77.0.13", 8080, lambda p, par, s, e: service("text", "pool", "10.77.0.13", p, par, s, e,
            [("url-shorten", "10.77.0.14", 8080, leaf("url-shorten", "prefork", "10.77.0.14"))])),
        ("user", "10.77.0.15", 8080, lambda p, par, s, e: service("user", "thread", "10.77.0.15", p, par, s, e,
            [("memcached", "10.77.0.32", 11211, None)])),
        ("post-storage", "10.77.0.16", 8080, lambda p, par, s, e: service("post-storage", "pool", "10.77.0.16", p, par, s, e,
            [("postgres", "10.77.0.33", 5432, None), ("memcached", "10.77.0.32", 11211, None)])),
    ])
for name, lines in files.items():
    open("%s/truth/%s.jsonl" % (out, name), "w").write("\n".join(lines) + "\n")
json.dump({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": s}}]},
    "scopeSpans": [{"scope": {"name": "kspan"}, "spans": sp}]} for s, sp in spans.items()]}, open(out + "/otlp.json", "w"))
PY
ls -la "$DIR/otlp.json" | awk '{print "otlp.json: " $5 " bytes"}'
/usr/bin/time -f "wall %e s, peak RSS %M KiB" "$KSPAN" check --otlp "$DIR/otlp.json" --truth "$DIR/truth" | head -5
