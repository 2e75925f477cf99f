"""nodefork: every front call kspan shows (CLIENT span of kst-front, matched to its true call by
local end + time): right request or not, and whether the call waited in the http.Agent queue
(kspan start > 0.5 ms after the true call start). Wrong ones: root, the previous user of the same
socket (whose answer node read just before writing this call), or another request.
usage: python3 queued.py OUT"""
import collections, sys
from frontlog import calls_by_local, load, server_requests
out = sys.argv[1]
spans, byid, front = load(out)
def ov(a0, a1, b0, b1, tol=2_000_000): return a0 <= b1 + tol and b0 <= a1 + tol
# front server span -> rid (kind 2 = SERVER); the front server span's peer is nginx's end
srv_rid = {k: rid for k, (rid, _) in server_requests(spans, front, 'kst-front').items()}
calls_on = calls_by_local(front)
stat = collections.Counter()
for s in spans:
    if s['svc'] != 'kst-front' or s['kind'] != 3: continue
    cands = [c for c in calls_on.get(s['loc'], []) if ov(c[0], c[1], s['st'], s['en'], 0)]
    if not cands: stat['unmatched'] += 1; continue
    # the true call whose window holds the kspan span's start best
    c = min(cands, key=lambda c: abs(c[1] - s['en']))
    p = byid.get(s.get('parentSpanId'))
    got = srv_rid.get(p['spanId']) if p else None
    queued_flag = (s['st'] - c[0]) > 500_000
    if got == c[2]: stat['right' + (' (queued)' if queued_flag else ' (not queued)')] += 1; continue
    stat['WRONG' + (' (queued)' if queued_flag else ' (not queued)')] += 1
    lst = calls_on[s['loc']]; k = lst.index(c)
    prev = lst[k - 1] if k else None
    gap = (s['st'] - prev[1]) / 1e3 if prev else None
    queued = (s['st'] - c[0]) / 1e3
    tag = ('root' if not p else f"parent {p['svc']} kind {p['kind']} unmapped") if got is None else ('prev user of socket' if prev and got == prev[2] else 'other request')
    stat[f'{c[3]} call#{c[4]+1}: {tag}'] += 1
    if stat[f'ex {tag}'] < 4:
        stat[f'ex {tag}'] += 1
        print(f"{c[2]} {c[3]} call#{c[4]+1} on {s['loc']}: kspan under {got}; prev user {prev and prev[2]} answer read {gap}us before; call waited {queued:.0f}us for a socket")
for k, v in sorted(stat.items()):
    if not k.startswith('ex '): print(f'{v:5d}  {k}')
