"""nodefork: the front's requests (read, response) and calls (written, answered) in time order,
each call with its true request, the request kspan linked it to (ROOT: none), BAD when they
differ, and the link's evidence and confidence. Shows how queued calls are handed freed
sockets and where a first-in-first-out split goes one or more requests off.
usage: python3 sequence.py OUT [SERVICE]   (OUT holds traces.otlp.json and truth/; SERVICE
defaults to kst-front)"""
import sys
from frontlog import calls_by_local, load, overlaps as ov, server_requests
out = sys.argv[1]; svc = sys.argv[2] if len(sys.argv) > 2 else 'kst-front'
spans, byid, front = load(out)
srv_rid = server_requests(spans, front, svc)
calls_on = calls_by_local(front)
ev = []
for s in spans:
    if s['svc'] != svc: continue
    if s['kind'] == 2:
        rid = srv_rid.get(s['spanId'], ('?', '?'))
        ev.append((s['st'], f"READ  {rid[0]} {rid[1]}"))
        ev.append((s['en'], f"RESP  {rid[0]} {rid[1]}"))
    elif s['kind'] == 3:
        cands = [c for c in calls_on.get(s['loc'], []) if ov(c[0], c[1], s['st'], s['en'])]
        c = min(cands, key=lambda c: abs(c[1] - s['en'])) if cands else None
        p = byid.get(s.get('parentSpanId'))
        got = srv_rid.get(p['spanId'], ('?',))[0] if p else 'ROOT'
        tr = c[2] if c else '?'
        ok = 'ok ' if got == tr else 'BAD'
        ev.append((s['st'], f"  call {s['name']:10} {s['loc'][-5:]} true {tr} kspan {got} {ok} {s['a'].get('kspan.link')} {s['a'].get('kspan.link.confidence')}"))
        ev.append((s['en'], f"  answ {s['name']:10} {s['loc'][-5:]} true {tr}"))
ev.sort()
t0 = ev[0][0]
for t, e in ev: print(f"{(t - t0) / 1e6:10.3f} {e}")
