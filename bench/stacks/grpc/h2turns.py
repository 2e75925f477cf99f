#!/usr/bin/env python3
"""How kspan's message rule cuts the gRPC (HTTP/2) connection of a bench/stacks grpc run.

usage: h2turns.py OUTDIR                       lists the AF_INET6 TCP sockets with their senders and send sizes
       h2turns.py OUTDIR FRONT_SK BACK_SK      the turns of that connection (front = client end)
A turn is what one side sends before the other side sends (kspan's "message"). Sends < 60 B are
HTTP/2 control frames (PING 17 B, PING ACK + WINDOW_UPDATE 30 B, SETTINGS ACK 9 B); request sends
(85 B) are mapped first-in first-out onto the front's logged calls to tell which requests share a turn.
Needs KSPAN (default /work/targets/grpc/release/kspan).
"""
import collections, json, os, re, subprocess, sys

out = sys.argv[1]
kspan = os.environ.get("KSPAN", "/work/targets/grpc/release/kspan")
dump = subprocess.run([kspan, "dump", f"{out}/trace.dat", "--event", "sock_send_length"],
                      capture_output=True, text=True, check=True).stdout
pat = re.compile(r'\s*(\S+)-(\d+)\s+\[\d+\]\s+([\d.]+): sock_send_length: sk=(\S+) family=10 protocol=6 ret=(\d+)')
sends = [(float(t), comm, sk, int(n)) for comm, tid, t, sk, n in pat.findall(dump) if int(n) > 0]
if len(sys.argv) < 4:
    by = collections.defaultdict(collections.Counter)
    for t, comm, sk, n in sends:
        by[sk][(comm, n)] += 1
    for sk, c in by.items():
        print(sk, dict(c.most_common(6)))
    sys.exit(0)
fsk, bsk = sys.argv[2:4]
off = int(re.search(rb'"clock_to_unix_ns":(-?[0-9]+)', open(f"{out}/trace.dat", "rb").read()).group(1))
calls = sorted((c["start_unix_ns"], r["rid"]) for r in map(json.loads, open(f"{out}/truth/front.jsonl"))
               for c in r["calls"])
turns, ci, ctl = [], 0, collections.Counter()
for t, comm, sk, n in sends:
    if sk not in (fsk, bsk):
        continue
    side = "front" if sk == fsk else "back"
    if not turns or turns[-1]["side"] != side:
        turns.append({"side": side, "rids": [], "ctl": []})
    if n < 60:
        turns[-1]["ctl"].append(n)
        ctl[(side, comm, n)] += 1
    elif side == "front":
        for _ in range(round(n / 85)):
            if ci < len(calls):
                turns[-1]["rids"].append(calls[ci][1]); ci += 1
shape = collections.Counter()
for tr in turns:
    if tr["side"] != "front":
        continue
    r = tr["rids"]
    k = f"{len(r)} call(s) of {len(set(r))} request(s)" if r else "control frames only"
    shape[k + (" + control" if r and tr["ctl"] else "")] += 1
print(f"{len(calls)} true calls, {sum(1 for t in turns if t['side'] == 'front')} front turns (kspan calls at most)")
for k, v in shape.most_common():
    print(f"  {v:6d} front turns: {k}")
print("control sends (side, thread, bytes):", dict(ctl))
