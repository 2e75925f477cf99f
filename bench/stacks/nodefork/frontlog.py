"""nodefork: what queued.py and sequence.py both read from a run's OUT: kspan's spans
(traces.otlp.json, each with its service, attributes, times and connection ends), the
front's truth (truth/front.jsonl), which true request each of the front's SERVER spans is,
and the front's true calls by their connection's local end."""
import collections
import json


def overlaps(a0, a1, b0, b1, tol=0):
    """Whether [a0, a1] and [b0, b1] overlap, within tol ns."""
    return a0 <= b1 + tol and b0 <= a1 + tol


def load(out):
    """(spans, spans by id, the front's truth records) of run directory `out`."""
    spans = []
    for rs in json.load(open(out + '/traces.otlp.json'))['resourceSpans']:
        svc = rs['resource']['attributes'][0]['value']['stringValue']
        for ss in rs['scopeSpans']:
            for s in ss['spans']:
                a = {x['key']: list(x['value'].values())[0] for x in s['attributes']}
                s['svc'] = svc; s['a'] = a
                s['st'] = int(s['startTimeUnixNano']); s['en'] = int(s['endTimeUnixNano'])
                s['loc'] = f"{a.get('network.local.address')}:{a.get('network.local.port')}"
                s['peer'] = f"{a.get('network.peer.address')}:{a.get('network.peer.port')}"
                spans.append(s)
    front = [json.loads(l) for l in open(out + '/truth/front.jsonl')]
    return spans, {s['spanId']: s for s in spans}, front


def server_requests(spans, front, svc):
    """Service `svc`'s SERVER spans (kind 2) -> (rid, endpoint) of the true request on the
    same peer (nginx's end) whose time overlaps."""
    rid = {}
    for s in spans:
        if s['svc'] == svc and s['kind'] == 2:
            for f in front:
                if f['peer'] == s['peer'] and overlaps(f['start_unix_ns'], f['end_unix_ns'], s['st'], s['en']):
                    rid[s['spanId']] = (f['rid'], f['endpoint']); break
    return rid


def calls_by_local(front):
    """Local connection end -> the true calls on it: (start, end, rid, endpoint, index), by start."""
    calls = collections.defaultdict(list)
    for f in front:
        for i, c in enumerate(f['calls']):
            calls[c['local']].append((c['start_unix_ns'], c['end_unix_ns'], f['rid'], f['endpoint'], i))
    for v in calls.values():
        v.sort()
    return calls
