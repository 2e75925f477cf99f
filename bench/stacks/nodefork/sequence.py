"""nodefork: the front's requests (read, response) and calls (written, answered) in time order,
each call with its true request, the request kspan linked it to (ROOT: none), BAD when they
differ, and the link's evidence and confidence. Shows how queued calls are handed freed
sockets and where a first-in-first-out split goes one or more requests off.
usage: python3 sequence.py OUT [SERVICE]   (OUT holds traces.otlp.json and truth/; SERVICE
defaults to kst-front)"""
import json, sys, collections
out = sys.argv[1]; svc = sys.argv[2] if len(sys.argv) > 2 else 'kst-front'
spans = []
for rs in json.load(open(out + '/traces.otlp.json'))['resourceSpans']:
    sv = rs['resource']['attributes'][0]['value']['stringValue']
    for ss in rs['scopeSpans']:
        for s in ss['spans']:
            a = {x['key']: list(x['value'].values())[0] for x in s['attributes']}
            s['svc'] = sv; s['a'] = a; s['st'] = int(s['startTimeUnixNano']); s['en'] = int(s['endTimeUnixNano'])
            s['loc'] = f"{a.get('network.local.address')}:{a.get('network.local.port')}"
            s['peer'] = f"{a.get('network.peer.address')}:{a.get('network.peer.port')}"
            spans.append(s)
byid = {s['spanId']: s for s in spans}
front = [json.loads(l) for l in open(out + '/truth/front.jsonl')]
def ov(a0, a1, b0, b1, tol=0): return a0 <= b1 + tol and b0 <= a1 + tol
srv_rid = {}
for s in spans:
    if s['svc'] == svc and s['kind'] == 2:
        for f in front:
            if f['peer'] == s['peer'] and ov(f['start_unix_ns'], f['end_unix_ns'], s['st'], s['en']):
                srv_rid[s['spanId']] = (f['rid'], f['endpoint']); break
calls_on = collections.defaultdict(list)
for f in front:
    for i, c in enumerate(f['calls']):
        calls_on[c['local']].append((c['start_unix_ns'], c['end_unix_ns'], f['rid'], f['endpoint'], i))
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
