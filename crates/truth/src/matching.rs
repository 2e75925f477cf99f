//! Pairing kspan's spans with the true spans, one to one.
//!
//! A kspan span can stand for a true span when it has the same service (after aliases) and
//! kind, the same identifying connection end ([`ExpectedSpan::key`]: the client's end for a
//! SERVER span, the caller's end for a CLIENT span, the callee's end for a call that could not
//! connect), no contradicting other end, and a time
//! that overlaps the true span's within the tolerance. Among all such pairs, the closest in
//! time (sum of the start and end differences) are taken first, so the result does not depend
//! on the order of either input.
//!
//! One true call may be several kspan round trips: a protocol with a handshake on a new
//! connection (PostgreSQL's startup message, then the query) makes the caller send twice and
//! read twice where the service logs one call. kspan is right that there were two exchanges, so
//! a kspan span left unpaired is taken as a further round trip of a paired one (see
//! [`absorb_round_trips`]) when it is on the same connection, in the same trace, under the
//! same true parent and inside the true span's time window.

use crate::expected::{End, Expected, ExpectedSpan};
use crate::otlp::{ObservedSpan, SpanKind};
use std::collections::HashMap;
use std::net::SocketAddr;

/// Which kspan span stands for which true span.
#[derive(Debug, Clone, PartialEq)]
pub struct Matching {
    /// Per request, per true span: the index of its kspan span in the observed spans.
    pub of_expected: Vec<Vec<Option<usize>>>,
    /// Per kspan span: the (request, span) index pair of its true span (for a further
    /// round trip of a true call, the call's or its callee's).
    pub of_observed: Vec<Option<(usize, usize)>>,
    /// kspan spans taken as further round trips of a true span already paired.
    pub round_trips: usize,
}

/// Pairs the spans; `aliases` maps kspan service names to the truth's, `tolerance_ns` widens
/// every true span on both sides for the overlap test.
pub fn match_spans(
    expected: &Expected,
    observed: &[ObservedSpan],
    aliases: &HashMap<String, String>,
    tolerance_ns: i64,
) -> Matching {
    let mut by_key: HashMap<(SpanKind, End, SocketAddr), Bucket> = HashMap::new();
    for (o, span) in observed.iter().enumerate() {
        let keys = match span.kind {
            SpanKind::Server => [None, span.peer.map(|a| (End::Peer, a))],
            SpanKind::Client => [
                span.local.map(|a| (End::Local, a)),
                span.peer.map(|a| (End::Peer, a)),
            ],
            SpanKind::Other => [None, None],
        };
        for (end, addr) in keys.into_iter().flatten() {
            by_key
                .entry((span.kind, end, addr))
                .or_default()
                .spans
                .push(o);
        }
    }
    for bucket in by_key.values_mut() {
        bucket.index(observed);
    }
    let mut pairs = Vec::new();
    for (r, request) in expected.requests.iter().enumerate() {
        for (s, want) in request.spans.iter().enumerate() {
            let (end, addr) = want.key();
            let Some(bucket) = by_key.get(&(want.kind, end, addr)) else {
                continue;
            };
            let window = (want.start - tolerance_ns, want.end + tolerance_ns);
            for o in bucket.overlapping(window) {
                let got = &observed[o];
                if fits(want, got, aliases, tolerance_ns) {
                    let cost = (got.start - want.start).abs() + (got.end - want.end).abs();
                    pairs.push((cost, r, s, o));
                }
            }
        }
    }
    pairs.sort_unstable();
    let mut matching = Matching {
        of_expected: expected
            .requests
            .iter()
            .map(|r| vec![None; r.spans.len()])
            .collect(),
        of_observed: vec![None; observed.len()],
        round_trips: 0,
    };
    for (_, r, s, o) in pairs {
        if matching.of_expected[r][s].is_none() && matching.of_observed[o].is_none() {
            matching.of_expected[r][s] = Some(o);
            matching.of_observed[o] = Some((r, s));
        }
    }
    absorb_round_trips(expected, observed, &mut matching, tolerance_ns);
    matching
}

/// Takes each unpaired kspan span that is a further round trip of a paired one as standing
/// for the same true span: same service, kind and connection (both ends), same trace, a parent
/// that stands for the true span's parent, and a time inside the true span's window (within
/// the tolerance). A callee's SERVER span of such a round trip then has the round trip as its
/// parent, which stands for the true call: spans are taken in start order, and passes repeat
/// until none is added, so such chains are followed whatever the order of the input.
fn absorb_round_trips(
    expected: &Expected,
    observed: &[ObservedSpan],
    matching: &mut Matching,
    tolerance_ns: i64,
) {
    type Conn<'a> = (
        SpanKind,
        &'a str,
        &'a str,
        Option<SocketAddr>,
        Option<SocketAddr>,
    );
    let conn = |o: usize| -> Conn<'_> {
        let span = &observed[o];
        let trace = span.trace_id.as_str();
        (
            span.kind,
            trace,
            span.service.as_str(),
            span.local,
            span.peer,
        )
    };
    let mut paired: HashMap<Conn<'_>, Vec<usize>> = HashMap::new();
    for (o, m) in matching.of_observed.iter().enumerate() {
        if m.is_some() {
            paired.entry(conn(o)).or_default().push(o);
        }
    }
    let by_id: HashMap<&str, usize> = observed
        .iter()
        .enumerate()
        .map(|(o, span)| (span.span_id.as_str(), o))
        .collect();
    let mut unpaired: Vec<usize> = (0..observed.len())
        .filter(|&o| matching.of_observed[o].is_none() && observed[o].kind != SpanKind::Other)
        .collect();
    unpaired.sort_by_key(|&o| (observed[o].start, o));
    loop {
        let before = unpaired.len();
        unpaired.retain(|&o| {
            let got = &observed[o];
            let parent = got
                .parent_span_id
                .as_deref()
                .and_then(|id| by_id.get(id))
                .and_then(|&p| matching.of_observed[p]);
            let taken = paired.get(&conn(o)).and_then(|candidates| {
                candidates.iter().find_map(|&m| {
                    let (r, s) = matching.of_observed[m]?;
                    let want = &expected.requests[r].spans[s];
                    let inside = got.start >= want.start - tolerance_ns
                        && got.end <= want.end + tolerance_ns;
                    let same_parent = want.parent.is_some_and(|wp| parent == Some((r, wp)));
                    (inside && same_parent).then_some((r, s))
                })
            });
            let Some(true_span) = taken else {
                return true;
            };
            matching.of_observed[o] = Some(true_span);
            matching.round_trips += 1;
            false
        });
        if unpaired.len() == before {
            break;
        }
    }
}

/// The kspan spans sharing one identifying connection end, sorted by start, with the
/// running maximum of their ends, so that the ones overlapping a time window are found
/// without scanning the whole connection's history (a pooled connection carries thousands).
#[derive(Default)]
struct Bucket {
    spans: Vec<usize>,
    starts: Vec<i64>,
    max_ends: Vec<i64>,
}

impl Bucket {
    /// Sorts the spans by start and computes the running maximum of their ends.
    fn index(&mut self, observed: &[ObservedSpan]) {
        self.spans.sort_by_key(|&o| (observed[o].start, o));
        self.starts = self.spans.iter().map(|&o| observed[o].start).collect();
        let mut max_end = i64::MIN;
        self.max_ends = self
            .spans
            .iter()
            .map(|&o| {
                max_end = max_end.max(observed[o].end);
                max_end
            })
            .collect();
    }

    /// The spans that start by `to` and end at `from` or later, and some that do not (those
    /// behind a longer span): a superset for [`fits`] to filter, latest start first.
    fn overlapping(&self, (from, to): (i64, i64)) -> impl Iterator<Item = usize> + '_ {
        let last = self.starts.partition_point(|&start| start <= to);
        (0..last)
            .rev()
            .take_while(move |&i| self.max_ends[i] >= from)
            .map(move |i| self.spans[i])
    }
}

/// Whether `got` can stand for `want` (the identifying end is already equal).
fn fits(
    want: &ExpectedSpan,
    got: &ObservedSpan,
    aliases: &HashMap<String, String>,
    tolerance_ns: i64,
) -> bool {
    let service = aliases.get(&got.service).unwrap_or(&got.service);
    let far = match got.kind {
        SpanKind::Client => got.peer,
        _ => got.local,
    };
    *service == want.service
        && (far.is_none() || want.far().is_none() || far == want.far())
        && got.start <= want.end + tolerance_ns
        && got.end >= want.start - tolerance_ns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: i64, end: i64) -> ObservedSpan {
        ObservedSpan {
            trace_id: String::new(),
            span_id: String::new(),
            parent_span_id: None,
            service: String::new(),
            kind: SpanKind::Server,
            start,
            end,
            peer: None,
            local: None,
        }
    }

    #[test]
    fn a_bucket_yields_every_overlapping_span_and_stops_early_on_sequential_ones() {
        let observed = [span(30, 40), span(0, 100), span(10, 20), span(70, 80)];
        let mut bucket = Bucket {
            spans: vec![0, 1, 2, 3],
            ..Bucket::default()
        };
        bucket.index(&observed);
        let found = |window| bucket.overlapping(window).collect::<Vec<_>>();
        // The long span keeps everything before the window's end in play.
        assert_eq!(found((50, 60)), [0, 2, 1]);
        assert_eq!(found((75, 200)), [3, 0, 2, 1]);
        assert_eq!(found((101, 200)), Vec::<usize>::new());
        // Without it, the scan stops at the first span that ends before the window.
        let sequential = [span(0, 10), span(20, 30), span(40, 50), span(60, 70)];
        bucket.index(&sequential);
        let found = |window| bucket.overlapping(window).collect::<Vec<_>>();
        assert_eq!(found((45, 65)), [3, 2]);
        assert_eq!(found((31, 39)), Vec::<usize>::new());
    }
}
