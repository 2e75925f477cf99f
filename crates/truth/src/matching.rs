//! Pairing kspan's spans with the true spans, one to one.
//!
//! A kspan span can stand for a true span when it has the same service (after aliases) and
//! kind, the same identifying connection end ([`ExpectedSpan::key`]: the client's end for a
//! SERVER span, the caller's end for a CLIENT span, the callee's end for a call that could not
//! connect), no contradicting other end, and a time
//! that overlaps the true span's within the tolerance. Among all such pairs, the closest in
//! time (sum of the start and end differences) are taken first, so the result does not depend
//! on the order of either input.

use crate::expected::{End, Expected, ExpectedSpan};
use crate::otlp::{ObservedSpan, SpanKind};
use std::collections::HashMap;
use std::net::SocketAddr;

/// Which kspan span stands for which true span.
#[derive(Debug, Clone, PartialEq)]
pub struct Matching {
    /// Per request, per true span: the index of its kspan span in the observed spans.
    pub of_expected: Vec<Vec<Option<usize>>>,
    /// Per kspan span: the (request, span) index pair of its true span.
    pub of_observed: Vec<Option<(usize, usize)>>,
}

/// Pairs the spans; `aliases` maps kspan service names to the truth's, `tolerance_ns` widens
/// every true span on both sides for the overlap test.
pub fn match_spans(
    expected: &Expected,
    observed: &[ObservedSpan],
    aliases: &HashMap<String, String>,
    tolerance_ns: i64,
) -> Matching {
    let mut by_key: HashMap<(SpanKind, End, SocketAddr), Vec<usize>> = HashMap::new();
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
            by_key.entry((span.kind, end, addr)).or_default().push(o);
        }
    }
    let mut pairs = Vec::new();
    for (r, request) in expected.requests.iter().enumerate() {
        for (s, want) in request.spans.iter().enumerate() {
            let (end, addr) = want.key();
            let candidates = by_key.get(&(want.kind, end, addr)).map_or(&[][..], |v| v);
            for &o in candidates {
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
    };
    for (_, r, s, o) in pairs {
        if matching.of_expected[r][s].is_none() && matching.of_observed[o].is_none() {
            matching.of_expected[r][s] = Some(o);
            matching.of_observed[o] = Some((r, s));
        }
    }
    matching
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
