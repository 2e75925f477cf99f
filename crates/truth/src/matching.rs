//! Pairing kspan's spans with the true spans, one to one.
//!
//! A kspan span can stand for a true span when it has the same service (after aliases) and
//! kind, the same identifying connection end ([`ExpectedSpan::key`]: the client's end for a
//! SERVER span, the caller's end for a CLIENT span, the callee's end for a call that could not
//! connect), no contradicting other end, and when it is that request's own in time:
//! - its time, after removing the clock offset estimated from the data ([`crate::clock`]),
//!   overlaps the true span's within the tolerance ([`TimeRule::slack`]: small, wider only for
//!   a root known to nginx's 1 ms resolution);
//! - of the true spans on its connection end, this is the one it fits best: first, one whose
//!   logged thread is among the threads kspan says worked in the span (either may not say):
//!   a thread makes one call at a time, and the calls several threads queue for one
//!   connection (a lock, a pool) have logged windows that all hold each other's bytes; a span of the
//!   previous (or next) request on a keep-alive connection is that request's, even when it
//!   lies within the tolerance of this one. A connection carries one call at a time, but a
//!   call's logged start may precede its first byte by any wait for a connection, a lock or
//!   a slot in a client's queue (Node's `http.Agent` above `maxSockets`: the windows of
//!   several queued calls then all contain the first one's bytes), and its logged end may
//!   follow its answer by any wait for the caller to run (a pool that takes the connection
//!   back before the caller logs). So on a caller's connection end where kspan has as many
//!   spans as the truth has calls, and the k-th of each in start order overlap for every k,
//!   they are paired in that order. A multiplexed connection (HTTP/2) carries several calls
//!   at once, and its kspan spans overlap: there the true calls and kspan's spans, each in
//!   start order, are aligned as sequences, as a diff does (a call missing on either side
//!   shifts the others by one), and the SERVER spans on the client's end likewise, in end
//!   order (requests read together start at one read for kspan, one after the other in the
//!   callee's handler); the pairs of the alignment come first. For every other
//!   span, the best fit is the one it shares most of its time with (the largest
//!   intersection over union; for disjoint ones the nearest, then the closest in start and
//!   end).
//!
//! Among all such pairs, the closest in time are taken first, so the result does not depend
//! on the order of either input. For every true span left without a kspan span, the nearest
//! kspan span on its connection end that was refused for its time is kept as a [`NearMiss`],
//! for the report to say why.
//!
//! One true call may be several kspan round trips: a protocol with a handshake on a new
//! connection (PostgreSQL's startup message, then the query) makes the caller send twice and
//! read twice where the service logs one call. kspan is right that there were two exchanges, so
//! a kspan span left unpaired is taken as a further round trip of a paired one (see
//! [`absorb_round_trips`]) when it is on the same connection, in the same trace, under the
//! same true parent and inside the true span's time window (a callee's SERVER round trip
//! only has to start inside it: a message that expects no answer is handled while the caller
//! has moved on).

use crate::expected::{End, Expected, ExpectedSpan, Timing};
use crate::otlp::{ObservedSpan, SpanKind};
use std::collections::HashMap;
use std::net::SocketAddr;

/// How far (ns) around a true span kspan spans are looked at: for the closest-request rule and
/// to explain a missing span; it does not admit a pair.
pub const NEAR_NS: i64 = 10_000_000;

/// How kspan's times are compared with the truth's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRule {
    /// kspan's clock minus the applications' clock (ns), removed from kspan's times.
    pub offset_ns: i64,
    /// How far (ns) a kspan span may lie outside a true span whose times (or window) the truth
    /// knows to the nanosecond.
    pub tolerance_ns: i64,
    /// How far (ns) a kspan span may lie outside a true span known to nginx's 1 ms resolution.
    pub coarse_tolerance_ns: i64,
}

impl TimeRule {
    /// How far a kspan span may lie outside `want` and still overlap it.
    pub fn slack(&self, want: &ExpectedSpan) -> i64 {
        match want.timing {
            Timing::Exact | Timing::Window => self.tolerance_ns,
            Timing::Coarse => self.coarse_tolerance_ns,
        }
    }
}

/// Why the nearest kspan span on a missing true span's connection end was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// It lies this far (ns, after the clock offset) outside the true span's time, beyond
    /// the tolerance.
    TimeOff {
        /// The distance between the two intervals.
        gap_ns: i64,
    },
    /// It overlaps the true span, but stands for (is closest to, or was paired with) another
    /// true span on the same connection end: this (request, span) one.
    Other {
        /// The (request, span) index pair of that true span.
        of: (usize, usize),
    },
}

/// The nearest kspan span on a missing true span's connection end, and why it was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NearMiss {
    /// Index of the kspan span in the observed spans.
    pub span: usize,
    /// Why it does not stand for the true span.
    pub why: Miss,
}

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
    /// Per request, per true span left without a kspan span: the nearest kspan span on its
    /// connection end (within [`NEAR_NS`]) and why it was refused, when there is one.
    pub near_misses: Vec<Vec<Option<NearMiss>>>,
}

/// A true span and a kspan span that could stand for it but for its time.
#[derive(Clone, Copy)]
struct Candidate {
    /// Sum of the start and end differences (after the offset).
    cost: i64,
    /// How far the kspan span lies outside the true span (≤ 0: they overlap).
    gap: i64,
    /// Their intersection over their union, in millionths.
    iou: i64,
    /// Whether the two are the k-th in start order on a caller's connection end whose calls
    /// all pair in order (see the module's documentation).
    in_order: bool,
    /// Whether the kspan span ran on the true span's thread, or either side does not say
    /// (see [`same_thread`]).
    same_thread: bool,
    /// For a callee's span known only by its caller's window ([`in_callers_window`]):
    /// whether the kspan span's middle lies within the kspan span paired with that call;
    /// true for every other pair.
    within_call: bool,
    r: usize,
    s: usize,
    o: usize,
}

impl Candidate {
    /// How well the pair fits, best first: on the same thread; within its caller's paired
    /// call; then paired in order on their connection end; then the most shared time, then
    /// the nearest, then the closest in start and end.
    fn closeness(&self) -> Fit {
        (
            !self.same_thread,
            !self.within_call,
            !self.in_order,
            std::cmp::Reverse(self.iou),
            self.gap.max(0),
            self.cost,
        )
    }
}

/// The intersection over the union of two intervals, in millionths.
fn iou((a_start, a_end): (i64, i64), (b_start, b_end): (i64, i64)) -> i64 {
    let inter = (a_end.min(b_end) - a_start.max(b_start)).max(0);
    let union = a_end.max(b_end) - a_start.min(b_start);
    if union <= 0 {
        return i64::from(a_start == b_start) * 1_000_000;
    }
    (i128::from(inter) * 1_000_000 / i128::from(union)) as i64
}

/// Pairs the spans; `aliases` maps kspan service names to the truth's, `rule` says how times
/// compare.
pub fn match_spans(
    expected: &Expected,
    observed: &[ObservedSpan],
    aliases: &HashMap<String, String>,
    rule: &TimeRule,
) -> Matching {
    // kspan's times on the truth's clock.
    let times: Vec<(i64, i64)> = observed
        .iter()
        .map(|o| (o.start - rule.offset_ns, o.end - rule.offset_ns))
        .collect();
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
        bucket.index(&times);
    }
    let in_order = calls_in_order(expected, observed, &times, &by_key, aliases, rule);
    let mut candidates = Vec::new();
    for (r, request) in expected.requests.iter().enumerate() {
        for (s, want) in request.spans.iter().enumerate() {
            let (end, addr) = want.key();
            let Some(bucket) = by_key.get(&(want.kind, end, addr)) else {
                continue;
            };
            let near = NEAR_NS.max(rule.slack(want));
            for o in bucket.overlapping((want.start - near, want.end + near)) {
                let (start, end) = times[o];
                let gap = (want.start - end).max(start - want.end);
                if gap <= near && fits(want, &observed[o], aliases) {
                    let cost = (start - want.start).abs() + (end - want.end).abs();
                    let iou = iou((start, end), (want.start, want.end));
                    candidates.push(Candidate {
                        cost,
                        gap,
                        iou,
                        in_order: in_order.contains(&(r, s, o)),
                        same_thread: same_thread(want, &observed[o]),
                        within_call: true,
                        r,
                        s,
                        o,
                    });
                }
            }
        }
    }
    candidates.sort_unstable_by_key(|c| (c.cost, c.r, c.s, c.o));
    let mut matching = Matching {
        of_expected: expected
            .requests
            .iter()
            .map(|r| vec![None; r.spans.len()])
            .collect(),
        of_observed: vec![None; observed.len()],
        round_trips: 0,
        near_misses: expected
            .requests
            .iter()
            .map(|r| vec![None; r.spans.len()])
            .collect(),
    };
    // The callees known only by their callers' windows pair after the callers, within them.
    let (callees, mut candidates): (Vec<Candidate>, Vec<Candidate>) = candidates
        .into_iter()
        .partition(|c| in_callers_window(expected, c.r, c.s).is_some());
    pair_closest(expected, &candidates, &mut matching, rule);
    let callees: Vec<Candidate> = callees
        .into_iter()
        .map(|mut c| {
            let call = in_callers_window(expected, c.r, c.s)
                .and_then(|call| matching.of_expected[c.r][call]);
            // Its middle: the callee's span may end a little after the caller's read (the
            // exit of its send), and one call's span may lie within the tolerance of the
            // next, but not half of it. Both times are kspan's, on one clock.
            let (start, end) = times[c.o];
            let middle = start + (end - start) / 2;
            c.within_call = call.is_some_and(|call| {
                let (from, to) = times[call];
                (from..=to).contains(&middle)
            });
            c
        })
        .collect();
    pair_closest(expected, &callees, &mut matching, rule);
    candidates.extend(callees);
    let closest = closest_fits(&candidates, observed.len());
    pair_siblings(expected, &candidates, &closest, &mut matching, rule);
    absorb_round_trips(expected, observed, &times, &mut matching, rule);
    explain_misses(expected, &candidates, &closest, &mut matching, rule);
    matching
}

/// Each kspan span's own true span among `candidates`: the one it fits best.
fn closest_fits(candidates: &[Candidate], observed: usize) -> Vec<Option<Closest>> {
    let mut closest: Vec<Option<Closest>> = vec![None; observed];
    for c in candidates {
        let fit = (c.closeness(), c.r, c.s);
        let best = closest[c.o].get_or_insert(fit);
        *best = (*best).min(fit);
    }
    closest
}

/// Pairs, cheapest first, each candidate pair whose kspan span fits it best of all its
/// candidates, within the tolerance, when both are still free.
fn pair_closest(
    expected: &Expected,
    candidates: &[Candidate],
    matching: &mut Matching,
    rule: &TimeRule,
) {
    let closest = closest_fits(candidates, matching.of_observed.len());
    for c in candidates {
        let want = &expected.requests[c.r].spans[c.s];
        let own = closest[c.o].is_some_and(|(best, _, _)| c.closeness() <= best);
        if c.gap <= rule.slack(want)
            && own
            && matching.of_expected[c.r][c.s].is_none()
            && matching.of_observed[c.o].is_none()
        {
            matching.of_expected[c.r][c.s] = Some(c.o);
            matching.of_observed[c.o] = Some((c.r, c.s));
        }
    }
}

/// For a callee's span whose times are its caller's logged window (a store that logs
/// nothing: [`Timing::Window`] under a CLIENT span), the index of that call in its request.
/// The window holds any wait for a lock or a pooled connection, so the windows of calls
/// queued on one connection all hold each other's exchanges; the callee's span lies within
/// the call that sent it its bytes.
fn in_callers_window(expected: &Expected, r: usize, s: usize) -> Option<usize> {
    let spans = &expected.requests[r].spans;
    let want = &spans[s];
    let call = want.parent?;
    (want.timing == Timing::Window
        && want.kind == SpanKind::Server
        && spans[call].kind == SpanKind::Client)
        .then_some(call)
}

/// Whether two true spans of one request are *pipelined siblings*: of the same kind, on the
/// same connection end, at the same time (a redis pipeline's commands, logged one call each,
/// or their store's spans). Which of kspan's spans for them stands for which is not told by
/// anything: any pairing among them is as right.
pub fn pipelined(a: &ExpectedSpan, b: &ExpectedSpan) -> bool {
    a.kind == b.kind && a.key() == b.key() && a.start < b.end && b.start < a.end
}

/// Pairs the true spans left over with kspan spans whose own true span is a pipelined
/// sibling of theirs, already paired ([`pipelined`]): a pipeline's calls lie within
/// microseconds of each other, so each of kspan's spans for them is closest to the same true
/// call and only one pair formed. Nearest first, within the tolerance.
fn pair_siblings(
    expected: &Expected,
    candidates: &[Candidate],
    closest: &[Option<Closest>],
    matching: &mut Matching,
    rule: &TimeRule,
) {
    for c in candidates {
        let want = &expected.requests[c.r].spans[c.s];
        let sibling = closest[c.o].is_some_and(|(_, r, s)| {
            r == c.r && s != c.s && pipelined(&expected.requests[r].spans[s], want)
        });
        if sibling
            && c.gap <= rule.slack(want)
            && matching.of_expected[c.r][c.s].is_none()
            && matching.of_observed[c.o].is_none()
        {
            matching.of_expected[c.r][c.s] = Some(c.o);
            matching.of_observed[c.o] = Some((c.r, c.s));
        }
    }
}

/// The (request, span, kspan span) triples paired in order on each connection end. On a
/// caller's end carrying one call at a time: the true calls (times logged by the caller) and
/// kspan's spans there, in start order, when they are as many and the k-th of each overlap
/// for every k. On a [`multiplexed`] end, aligned as sequences (see [`align`]): on a
/// caller's end, the true calls and kspan's spans, each in start order; on a callee's client
/// end, its true SERVER spans (logged by the callee) and kspan's, each in end order
/// (requests read together start at one read for kspan, one after the other in the
/// callee's handler, which answers in order).
fn calls_in_order(
    expected: &Expected,
    observed: &[ObservedSpan],
    times: &[(i64, i64)],
    by_key: &HashMap<(SpanKind, End, SocketAddr), Bucket>,
    aliases: &HashMap<String, String>,
    rule: &TimeRule,
) -> std::collections::HashSet<(usize, usize, usize)> {
    type Key = (SpanKind, End, SocketAddr);
    let mut ends: HashMap<Key, Vec<(usize, usize)>> = HashMap::new();
    for (r, request) in expected.requests.iter().enumerate() {
        for (s, want) in request.spans.iter().enumerate() {
            let (end, addr) = want.key();
            let ordered = matches!(
                (want.kind, end),
                (SpanKind::Client, End::Local) | (SpanKind::Server, End::Peer)
            );
            if want.timing == Timing::Exact && ordered {
                ends.entry((want.kind, end, addr)).or_default().push((r, s));
            }
        }
    }
    let mut pairs = std::collections::HashSet::new();
    for (key, mut wants) in ends {
        let Some(bucket) = by_key.get(&key) else {
            continue;
        };
        let by_end = key.0 == SpanKind::Server;
        // The time the order is taken from: the start of a call, the end of a served request.
        let at = |(start, end): (i64, i64)| if by_end { end } else { start };
        let span = |&(r, s): &(usize, usize)| &expected.requests[r].spans[s];
        wants.sort_by_key(|w| (at((span(w).start, span(w).end)), *w));
        let mut got: Vec<usize> = bucket
            .spans
            .iter()
            .copied()
            .filter(|&o| fits(span(&wants[0]), &observed[o], aliases))
            .collect();
        let overlap = |i: usize, o: usize| {
            let want = span(&wants[i]);
            let (start, end) = times[o];
            (want.start - end).max(start - want.end) <= rule.slack(want)
                && same_thread(want, &observed[o])
        };
        if !multiplexed(&got, times) {
            // One call at a time: in order only when the counts agree and every k-th pair
            // overlaps.
            got.sort_by_key(|&o| (times[o], o));
            let all =
                got.len() == wants.len() && got.iter().enumerate().all(|(i, &o)| overlap(i, o));
            if all && !by_end {
                pairs.extend(wants.iter().zip(&got).map(|(&(r, s), &o)| (r, s, o)));
            }
            continue;
        }
        got.sort_by_key(|&o| (at(times[o]), o));
        let cost = |i: usize, j: usize| {
            let want = span(&wants[i]);
            let (start, end) = times[got[j]];
            let apart = (at((start, end)) - at((want.start, want.end))).abs();
            overlap(i, got[j]).then_some(apart.min(GAP_NS))
        };
        for (i, j) in align(wants.len(), got.len(), cost) {
            let (r, s) = wants[i];
            pairs.insert((r, s, got[j]));
        }
    }
    pairs
}

/// How many of kspan's spans on one connection end must overlap the next for the end to
/// be [`multiplexed`] (a span extended into its neighbour's time is not multiplexing).
const MULTIPLEXED_MIN: usize = 8;

/// Whether kspan's spans on one connection end (`got`) overlap each other, as only a
/// multiplexed connection's do (HTTP/2: several calls in flight at once): at least
/// [`MULTIPLEXED_MIN`], and one in ten, overlap the next in start order.
fn multiplexed(got: &[usize], times: &[(i64, i64)]) -> bool {
    let mut spans: Vec<(i64, i64)> = got.iter().map(|&o| times[o]).collect();
    spans.sort_unstable();
    let overlapping = spans.windows(2).filter(|w| w[1].0 < w[0].1).count();
    overlapping >= MULTIPLEXED_MIN && overlapping * 10 >= spans.len()
}

/// Leaving a true call or a kspan span unpaired costs as much as pairing two whose times
/// are this far apart (ns), and pairing two that overlap costs at most as much: two that
/// overlap are always paired rather than both left, however long a call waited in a queue
/// before its bytes, and among alignments that pair as many, the closest in time wins.
const GAP_NS: i64 = 1_000_000;
/// How many more unpaired spans than the two counts' difference an alignment may leave.
const BAND: usize = 64;

/// Aligns two sequences in order, as a diff does: the pairs (i, j), increasing in both,
/// that minimise the total cost of the pairs (`cost(i, j)`, `None` where they cannot pair,
/// at most [`GAP_NS`]) plus [`GAP_NS`] for each element of either left unpaired. Calls on one connection end
/// are carried in the order they are made (a connection carries one call at a time, and a
/// multiplexed one sends its requests in order), so a call missing on either side shifts the
/// pairing of the others by one, where pairing by most shared time alone would swap
/// overlapping neighbours. Elements are only compared within [`BAND`] of the diagonal that
/// the counts' difference allows.
fn align(n: usize, m: usize, cost: impl Fn(usize, usize) -> Option<i64>) -> Vec<(usize, usize)> {
    const INF: i64 = i64::MAX / 4;
    // d = j - i ranges over [lo, hi]; cell (i, d - lo).
    let lo = (m as i64 - n as i64).min(0) - BAND as i64;
    let hi = (m as i64 - n as i64).max(0) + BAND as i64;
    let width = (hi - lo + 1) as usize;
    let cell = |i: usize, j: usize| -> Option<usize> {
        let d = j as i64 - i as i64;
        (lo..=hi)
            .contains(&d)
            .then(|| i * width + (d - lo) as usize)
    };
    let mut best = vec![INF; (n + 1) * width];
    // 0: from (i-1, j-1), paired; 1: from (i-1, j), want i-1 left; 2: from (i, j-1).
    let mut from = vec![0u8; (n + 1) * width];
    for i in 0..=n {
        for j in 0..=m {
            let Some(c) = cell(i, j) else { continue };
            if i == 0 && j == 0 {
                best[c] = 0;
                continue;
            }
            let mut options = [INF; 3];
            if i > 0 && j > 0 {
                if let (Some(p), Some(k)) = (cell(i - 1, j - 1), cost(i - 1, j - 1)) {
                    options[0] = best[p].saturating_add(k);
                }
            }
            if let Some(p) = i.checked_sub(1).and_then(|i| cell(i, j)) {
                options[1] = best[p].saturating_add(GAP_NS);
            }
            if let Some(p) = j.checked_sub(1).and_then(|j| cell(i, j)) {
                options[2] = best[p].saturating_add(GAP_NS);
            }
            let (k, &v) = options
                .iter()
                .enumerate()
                .min_by_key(|&(k, v)| (*v, k))
                .expect("three options");
            best[c] = v;
            from[c] = k as u8;
        }
    }
    let mut pairs = Vec::new();
    let (mut i, mut j) = (n, m);
    while i > 0 || j > 0 {
        let Some(c) = cell(i, j) else { break };
        match from[c] {
            0 => {
                pairs.push((i - 1, j - 1));
                i -= 1;
                j -= 1;
            }
            1 => i -= 1,
            _ => j -= 1,
        }
    }
    pairs.reverse();
    pairs
}

/// A kspan span's best fit among the true spans: how well, and which (request, span).
type Closest = (Fit, usize, usize);

/// How well a kspan span fits a true span, smaller is better (see [`Candidate::closeness`]).
type Fit = (bool, bool, bool, std::cmp::Reverse<i64>, i64, i64);

/// Keeps, for every true span left without a kspan span, its nearest refused candidate: one
/// that overlaps it (within the tolerance) but is another true span's first, else the nearest
/// in time.
fn explain_misses(
    expected: &Expected,
    candidates: &[Candidate],
    closest: &[Option<Closest>],
    matching: &mut Matching,
    rule: &TimeRule,
) {
    let mut best: HashMap<(usize, usize), (bool, i64, i64, usize)> = HashMap::new();
    for c in candidates {
        if matching.of_expected[c.r][c.s].is_some() {
            continue;
        }
        let fits_time = c.gap <= rule.slack(&expected.requests[c.r].spans[c.s]);
        // Overlapping ones first, then the nearest, then the closest.
        let rank = (!fits_time, c.gap.max(0), c.cost, c.o);
        best.entry((c.r, c.s))
            .and_modify(|b| *b = (*b).min(rank))
            .or_insert(rank);
    }
    for ((r, s), (time_off, gap, _, o)) in best {
        let why = if time_off {
            Miss::TimeOff { gap_ns: gap }
        } else {
            match (matching.of_observed[o], closest[o]) {
                (Some(of), _) => Miss::Other { of },
                (None, Some((_, cr, cs))) if (cr, cs) != (r, s) => Miss::Other { of: (cr, cs) },
                // Closest to this span and free, yet not taken: cannot happen; say nothing.
                _ => continue,
            }
        };
        matching.near_misses[r][s] = Some(NearMiss { span: o, why });
    }
}

/// Takes each unpaired kspan span that is a further round trip of a paired one as standing
/// for the same true span: same service, kind and connection (both ends), same trace, a parent
/// that stands for the true span's parent, and a time inside the true span's window (within
/// the tolerance, after the clock offset). A callee's SERVER span of such a round trip then
/// has the round trip as its parent, which stands for the true call: spans are taken in start
/// order, and passes repeat until none is added, so such chains are followed whatever the
/// order of the input.
fn absorb_round_trips(
    expected: &Expected,
    observed: &[ObservedSpan],
    times: &[(i64, i64)],
    matching: &mut Matching,
    rule: &TimeRule,
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
                    let (start, end) = times[o];
                    let slack = rule.slack(want);
                    // A callee may go on with a message after its caller stopped waiting
                    // (one that expects no answer, like PostgreSQL's Terminate, is handled
                    // while the callee shuts the connection down): a SERVER round trip must
                    // start inside the window, its end is the callee's own.
                    let ends_inside = got.kind == SpanKind::Server || end <= want.end + slack;
                    let inside = start >= want.start - slack && ends_inside;
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
    /// Sorts the spans by start and computes the running maximum of their ends (`times`:
    /// every kspan span's start and end).
    fn index(&mut self, times: &[(i64, i64)]) {
        self.spans.sort_by_key(|&o| (times[o].0, o));
        self.starts = self.spans.iter().map(|&o| times[o].0).collect();
        let mut max_end = i64::MIN;
        self.max_ends = self
            .spans
            .iter()
            .map(|&o| {
                max_end = max_end.max(times[o].1);
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

/// Whether `got` ran on `want`'s thread, or either does not say which thread. A thread makes
/// one call at a time, so of the true calls on one connection end whose logged windows
/// overlap (each call's start is logged before it waits for a lock or a pooled connection),
/// the one kspan's span stands for is the one made by the thread that sent its bytes.
fn same_thread(want: &ExpectedSpan, got: &ObservedSpan) -> bool {
    match want.tid {
        Some(tid) => !got.has_threads() || got.ran_on(tid),
        None => true,
    }
}

/// Whether `got` can stand for `want` but for its time (the identifying end is already equal):
/// same service and no contradicting other end.
fn fits(want: &ExpectedSpan, got: &ObservedSpan, aliases: &HashMap<String, String>) -> bool {
    let service = aliases.get(&got.service).unwrap_or(&got.service);
    let far = match got.kind {
        SpanKind::Client => got.peer,
        _ => got.local,
    };
    *service == want.service && (far.is_none() || want.far().is_none() || far == want.far())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expected::ExpectedRequest;

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
            tid: None,
            threads: vec![],
            link: None,
            name: String::new(),
            protocol: Default::default(),
        }
    }

    fn times(spans: &[ObservedSpan]) -> Vec<(i64, i64)> {
        spans.iter().map(|s| (s.start, s.end)).collect()
    }

    #[test]
    fn a_bucket_yields_every_overlapping_span_and_stops_early_on_sequential_ones() {
        let observed = [span(30, 40), span(0, 100), span(10, 20), span(70, 80)];
        let mut bucket = Bucket {
            spans: vec![0, 1, 2, 3],
            ..Bucket::default()
        };
        bucket.index(&times(&observed));
        let found = |window| bucket.overlapping(window).collect::<Vec<_>>();
        // The long span keeps everything before the window's end in play.
        assert_eq!(found((50, 60)), [0, 2, 1]);
        assert_eq!(found((75, 200)), [3, 0, 2, 1]);
        assert_eq!(found((101, 200)), Vec::<usize>::new());
        // Without it, the scan stops at the first span that ends before the window.
        let sequential = [span(0, 10), span(20, 30), span(40, 50), span(60, 70)];
        bucket.index(&times(&sequential));
        let found = |window| bucket.overlapping(window).collect::<Vec<_>>();
        assert_eq!(found((45, 65)), [3, 2]);
        assert_eq!(found((31, 39)), Vec::<usize>::new());
    }

    /// A call (local end 10.0.0.1:5000 to 10.0.0.2:80) of service "front", logged from
    /// `start` to `end`.
    fn call(start: i64, end: i64) -> ExpectedSpan {
        ExpectedSpan {
            service: "front".into(),
            kind: SpanKind::Client,
            local: Some("10.0.0.1:5000".parse().unwrap()),
            peer: "10.0.0.2:80".parse().unwrap(),
            start,
            end,
            timing: Timing::Exact,
            design: None,
            parent: None,
            tid: None,
            operation: None,
        }
    }

    fn observed_call(start: i64, end: i64) -> ObservedSpan {
        ObservedSpan {
            service: "front".into(),
            kind: SpanKind::Client,
            local: Some("10.0.0.1:5000".parse().unwrap()),
            peer: Some("10.0.0.2:80".parse().unwrap()),
            ..span(start, end)
        }
    }

    fn pairs(wants: Vec<ExpectedSpan>, observed: &[ObservedSpan]) -> Vec<Option<usize>> {
        let expected = Expected {
            requests: wants
                .into_iter()
                .enumerate()
                .map(|(i, want)| ExpectedRequest {
                    rid: format!("r{i}"),
                    endpoint: "/".into(),
                    spans: vec![want],
                })
                .collect(),
            warnings: vec![],
        };
        let rule = TimeRule {
            offset_ns: 0,
            tolerance_ns: 5,
            coarse_tolerance_ns: 5,
        };
        let m = match_spans(&expected, observed, &HashMap::new(), &rule);
        m.of_expected.iter().map(|spans| spans[0]).collect()
    }

    #[test]
    fn calls_queued_on_one_connection_pair_in_order() {
        // Both calls waited in a client's queue; the second was logged before the first was
        // sent, and shares as much time with the first one's bytes as the first does.
        let observed = [observed_call(900, 1000), observed_call(1010, 1100)];
        assert_eq!(
            pairs(vec![call(0, 1000), call(200, 1100)], &observed),
            [Some(0), Some(1)]
        );
        // A third kspan span on the connection: no order to rely on, the most shared time
        // decides (and takes the first one's bytes for the second call).
        let observed = [
            observed_call(900, 1000),
            observed_call(1010, 1100),
            observed_call(5000, 5100),
        ];
        assert_eq!(
            pairs(vec![call(0, 1000), call(200, 1100)], &observed),
            [None, Some(0)]
        );
    }

    #[test]
    fn calls_waiting_on_a_lock_pair_with_the_span_of_their_own_thread() {
        // Three threads share one connection under a lock that is not first come, first
        // served: each logged its call before waiting for the lock, so all three windows
        // hold all three exchanges, and the thread that logged first sent last.
        let on = |tid, start, end| ExpectedSpan {
            tid: Some(tid),
            ..call(start, end)
        };
        let wants = vec![on(1, 0, 1300), on(2, 10, 1100), on(3, 20, 1200)];
        let ran = |tid, start, end| ObservedSpan {
            tid: Some(tid),
            ..observed_call(start, end)
        };
        let observed = [ran(2, 1000, 1090), ran(3, 1100, 1190), ran(1, 1200, 1290)];
        assert_eq!(pairs(wants, &observed), [Some(2), Some(0), Some(1)]);
    }

    #[test]
    fn a_store_s_span_pairs_within_its_caller_s_paired_call() {
        // Two threads queue for one store connection; both logged windows hold both
        // exchanges. The store's spans, known only by those windows, both fit the second
        // thread's (shorter) window best by time; each is the one inside its caller's call.
        let store = |start, end| ExpectedSpan {
            service: "store".into(),
            kind: SpanKind::Server,
            local: Some("10.0.0.3:6379".parse().unwrap()),
            peer: "10.0.0.1:5000".parse().unwrap(),
            timing: Timing::Window,
            parent: Some(0),
            ..call(start, end)
        };
        let request = |tid, start, end| ExpectedRequest {
            rid: format!("r{tid}"),
            endpoint: "/".into(),
            spans: vec![
                ExpectedSpan {
                    tid: Some(tid),
                    ..call(start, end)
                },
                store(start, end),
            ],
        };
        let expected = Expected {
            requests: vec![request(1, 0, 1100), request(2, 10, 1100)],
            warnings: vec![],
        };
        let served = |start, end| ObservedSpan {
            service: "store".into(),
            kind: SpanKind::Server,
            local: Some("10.0.0.3:6379".parse().unwrap()),
            peer: Some("10.0.0.1:5000".parse().unwrap()),
            ..span(start, end)
        };
        let sent = |tid, start, end| ObservedSpan {
            tid: Some(tid),
            ..observed_call(start, end)
        };
        let observed = [
            served(1010, 1080),
            served(110, 180),
            sent(2, 100, 190),
            sent(1, 1000, 1090),
        ];
        let rule = TimeRule {
            offset_ns: 0,
            tolerance_ns: 5,
            coarse_tolerance_ns: 5,
        };
        let m = match_spans(&expected, &observed, &HashMap::new(), &rule);
        assert_eq!(m.of_expected, [[Some(3), Some(0)], [Some(2), Some(1)]]);
    }

    #[test]
    fn a_span_missing_on_a_multiplexed_connection_shifts_the_others_by_one() {
        // Ten calls in flight at once on one connection, kspan missing the second: the
        // others pair with their own spans, in order.
        let wants: Vec<_> = (0..10).map(|k| call(100 * k, 2000 + 100 * k)).collect();
        let observed: Vec<_> = (0..10)
            .filter(|&k| k != 1)
            .map(|k| observed_call(100 * k + 10, 2000 + 100 * k))
            .collect();
        let mut want = vec![Some(0), None];
        want.extend((1..9).map(Some));
        assert_eq!(pairs(wants, &observed), want);
    }

    #[test]
    fn a_request_s_pipelined_commands_all_pair_whichever_one_each_is_closest_to() {
        // Four requests, each writing three commands at once to an untraced store on one
        // connection (a pipeline): the truth knows the store's spans only as windows, a few
        // ns apart, and kspan's three spans of a pipeline share their times, so each is
        // closest to the same true span of its request. Every one still pairs with one of
        // its own request's spans.
        let store = |start: i64, end: i64| ExpectedSpan {
            service: "redis".into(),
            kind: SpanKind::Server,
            local: None,
            peer: "10.0.0.1:5000".parse().unwrap(),
            timing: Timing::Window,
            ..call(start, end)
        };
        let observed_store = |start: i64, end: i64| ObservedSpan {
            service: "redis".into(),
            kind: SpanKind::Server,
            local: None,
            peer: Some("10.0.0.1:5000".parse().unwrap()),
            ..span(start, end)
        };
        let expected = Expected {
            requests: (0..4)
                .map(|k| ExpectedRequest {
                    rid: format!("r{k}"),
                    endpoint: "/".into(),
                    spans: (0..3)
                        .map(|i| store(1000 * k, 1000 * k + 500 + i))
                        .collect(),
                })
                .collect(),
            warnings: vec![],
        };
        let observed: Vec<_> = (0..4)
            .flat_map(|k| (0..3).map(move |_| observed_store(1000 * k, 1000 * k + 501)))
            .collect();
        let rule = TimeRule {
            offset_ns: 0,
            tolerance_ns: 5,
            coarse_tolerance_ns: 5,
        };
        let m = match_spans(&expected, &observed, &HashMap::new(), &rule);
        for (k, spans) in m.of_expected.iter().enumerate() {
            let mut got: Vec<usize> = spans.iter().map(|o| o.expect("paired")).collect();
            got.sort_unstable();
            assert_eq!(got, vec![3 * k, 3 * k + 1, 3 * k + 2], "request {k}");
        }
    }

    #[test]
    fn alignment_leaves_what_cannot_pair() {
        let cost = |i: usize, j: usize| (i == j + 1).then_some(0);
        assert_eq!(align(3, 2, cost), vec![(1, 0), (2, 1)]);
        assert_eq!(align(0, 2, cost), vec![]);
        assert_eq!(align(2, 0, cost), vec![]);
    }
}
