//! Estimating the offset between kspan's clock and the applications' Unix clock.
//!
//! kspan converts its trace clock (CLOCK_BOOTTIME) to Unix time with an offset it measures
//! when the recording starts; the applications log CLOCK_REALTIME. The two may differ (a
//! measurement error, NTP slewing the real-time clock during the recording, or a recording
//! whose conversion is simply wrong), so the checker does not assume they agree: it estimates
//! the offset from the data and compares times after removing it.
//!
//! Only unambiguous pairs are used: a connection end (the identifying end of
//! [`ExpectedSpan::key`]) on which the truth logs as many spans of exact timing as kspan shows
//! spans of that service and kind. Requests on one HTTP/1.1 connection are sequential, so the
//! i-th true span is then the i-th kspan span, whatever the offset; no time window (and so no
//! assumed offset) is needed to pair them.
//!
//! The estimate is the median of the pairs' midpoint differences (kspan minus truth), kept
//! within the range of offsets under which the most pairs overlap: each pair admits the
//! offsets θ for which kspan's span, moved by -θ, overlaps the true span,
//! θ ∈ [kspan start − true end, kspan end − true start], and the range is where the most of
//! these meet, less one pair in [`OUTLIERS_PER`] (the range nearest the median if several):
//! under saturation, where spans last milliseconds, one mispaired span a millisecond off
//! still overlaps every other pair, and the range where all of them agree excluded the true
//! offset (a Go recording at 16 clients: 60,853 pairs, one 820 µs off, 1,835 right spans
//! taken for their neighbours). Not the median of the start differences alone: where an application takes its
//! timestamps (before or after reading the request, before or after checking out a pooled
//! connection) biases those by up to a few hundred µs, more than a short call lasts, while the
//! overlap is what the matching then tests. The median keeps a minority of wrong pairs (a
//! connection whose spans kspan got wrong one for one) from moving the estimate; the range
//! keeps every agreeing pair overlapping under it.
//!
//! [`ExpectedSpan::key`]: crate::expected::ExpectedSpan::key

use crate::expected::{End, Expected, Timing};
use crate::otlp::{ObservedSpan, SpanKind};
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;

/// The estimated clock offset and what it rests on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClockOffset {
    /// kspan's time minus the applications' time, ns: the median midpoint difference of the
    /// pairs, kept within `low_ns..=high_ns`; 0 when there was no pair to estimate it from
    /// (`pairs` is then 0).
    pub offset_ns: i64,
    /// The lowest offset of the range where the most pairs overlap (see the module's doc).
    pub low_ns: i64,
    /// The highest offset of that range.
    pub high_ns: i64,
    /// Unambiguous pairs found.
    pub pairs: usize,
    /// Of those, the pairs that overlap under the offset.
    pub agreeing: usize,
    /// Connection ends the pairs lie on.
    pub connections: usize,
}

/// A span's identifying connection end, with its service and kind.
type ConnKey<'a> = (&'a str, SpanKind, End, SocketAddr);

/// Estimates the offset of kspan's times (`observed`) from the truth's (`expected`);
/// `aliases` maps kspan service names to the truth's.
pub fn estimate(
    expected: &Expected,
    observed: &[ObservedSpan],
    aliases: &HashMap<String, String>,
) -> ClockOffset {
    let mut truth: HashMap<ConnKey<'_>, Vec<(i64, i64)>> = HashMap::new();
    for request in &expected.requests {
        for want in &request.spans {
            if want.timing == Timing::Exact && want.required() {
                let (end, addr) = want.key();
                truth
                    .entry((want.service.as_str(), want.kind, end, addr))
                    .or_default()
                    .push((want.start, want.end));
            }
        }
    }
    let mut kspan: HashMap<ConnKey<'_>, Vec<(i64, i64)>> = HashMap::new();
    for got in observed {
        let key = match got.kind {
            SpanKind::Server => got.peer.map(|a| (End::Peer, a)),
            SpanKind::Client => got.local.map(|a| (End::Local, a)),
            SpanKind::Other => None,
        };
        if let Some((end, addr)) = key {
            let service = aliases.get(&got.service).unwrap_or(&got.service);
            if let Some(key) = truth.get_key_value(&(service.as_str(), got.kind, end, addr)) {
                kspan.entry(*key.0).or_default().push((got.start, got.end));
            }
        }
    }
    let mut pairs = Vec::new();
    let mut connections = 0;
    for (key, mut true_spans) in truth {
        let Some(mut spans) = kspan.remove(&key) else {
            continue;
        };
        if spans.len() != true_spans.len() {
            continue;
        }
        spans.sort_unstable();
        if let Some(paired) = in_order(&spans, &mut true_spans) {
            pairs.extend(paired);
            connections += 1;
        }
    }
    fit(&pairs, connections)
}

/// kspan's spans on one connection end (`spans`, in start order) paired with as many true
/// spans, k-th with k-th: in the true spans' start order, or in their end order when that
/// pairs them more consistently (their midpoint differences spread less: a caller's logged
/// start may include a wait for a lock that is not first in first out, as Ruby's `Mutex`
/// around a shared connection, while the answers, and the logged ends, come in the order
/// the calls went on the wire); `None` when no one offset makes every pair of that order
/// overlap (the connection tells nothing sure).
fn in_order(spans: &[Interval], true_spans: &mut [Interval]) -> Option<Vec<(Interval, Interval)>> {
    let pair = |true_spans: &[Interval]| -> Vec<(Interval, Interval)> {
        spans
            .iter()
            .copied()
            .zip(true_spans.iter().copied())
            .collect()
    };
    true_spans.sort_unstable();
    let by_start = pair(true_spans);
    true_spans.sort_unstable_by_key(|&(start, end)| (end, start));
    let by_end = pair(true_spans);
    let chosen = if spread(&by_end) < spread(&by_start) {
        by_end
    } else {
        by_start
    };
    let low = chosen.iter().map(|(g, w)| g.0 - w.1).max();
    let high = chosen.iter().map(|(g, w)| g.1 - w.0).min();
    (low <= high).then_some(chosen)
}

/// How far the midpoint differences of `pairs` lie from their median, summed.
fn spread(pairs: &[(Interval, Interval)]) -> i128 {
    let mut d: Vec<i64> = pairs
        .iter()
        .map(|&(g, w)| (g.0 + g.1) / 2 - (w.0 + w.1) / 2)
        .collect();
    d.sort_unstable();
    let median = d.get(d.len() / 2).copied().unwrap_or(0);
    d.iter().map(|&x| i128::from((x - median).abs())).sum()
}

/// A span's `(start, end)`, ns.
type Interval = (i64, i64);

/// The offset that `pairs` (kspan's span, the true span) on `connections` connection ends
/// give: see the module's documentation.
fn fit(pairs: &[(Interval, Interval)], connections: usize) -> ClockOffset {
    if pairs.is_empty() {
        return ClockOffset::default();
    }
    // Each pair's admitted offsets, as sweep events: +1 where a range opens, -1 past its end.
    let mut events = Vec::with_capacity(2 * pairs.len());
    let mut midpoints = Vec::with_capacity(pairs.len());
    for &((got_start, got_end), (want_start, want_end)) in pairs {
        midpoints.push((got_start + got_end) / 2 - (want_start + want_end) / 2);
        events.push((got_start - want_end, 1i64));
        events.push((got_end - want_start + 1, -1));
    }
    // Closing events sort before opening ones at the same point: ranges are closed, and a
    // close at x + 1 is the end of a range that holds x.
    events.sort_unstable();
    let mut segments = Vec::with_capacity(events.len());
    let mut count = 0i64;
    for (i, &(at, step)) in events.iter().enumerate() {
        count += step;
        let end = events.get(i + 1).map_or(at, |next| next.0 - 1);
        if end >= at {
            segments.push((at, end, count));
        }
    }
    midpoints.sort_unstable();
    let median = midpoints[(pairs.len() - 1) / 2];
    let best = segments.iter().map(|s| s.2).max().unwrap_or(0);
    let (low, high) = agreeing_range(
        &segments,
        best - (pairs.len() / OUTLIERS_PER) as i64,
        median,
    );
    let offset_ns = median.clamp(low, high);
    let agreeing = segments
        .iter()
        .find(|s| (s.0..=s.1).contains(&offset_ns))
        .map_or(0, |s| s.2);
    ClockOffset {
        offset_ns,
        low_ns: low,
        high_ns: high,
        pairs: pairs.len(),
        agreeing: agreeing as usize,
        connections,
    }
}

/// One pair in this many may be a wrong pairing (a connection where kspan has as many spans
/// as the truth but cut them differently) without deciding the range.
const OUTLIERS_PER: usize = 1000;

/// The range of offsets, among `segments` (`(from, to, pairs overlapping)`, in order and
/// contiguous), where at least `enough` pairs overlap: of such ranges (adjacent segments
/// joined), the one holding `median`, else the one nearest to it.
fn agreeing_range(segments: &[(i64, i64, i64)], enough: i64, median: i64) -> (i64, i64) {
    let mut ranges: Vec<(i64, i64)> = Vec::new();
    for &(from, to, _) in segments.iter().filter(|s| s.2 >= enough) {
        match ranges.last_mut() {
            Some(last) if last.1 + 1 == from => last.1 = to,
            _ => ranges.push((from, to)),
        }
    }
    let distance = |&(from, to): &(i64, i64)| (from - median).max(median - to).max(0);
    ranges
        .into_iter()
        .min_by_key(distance)
        .unwrap_or((median, median))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_pairs_in_the_order_whose_pairs_agree_best_or_not_at_all() {
        // Three calls on one connection under a lock that is not first in first out: the
        // one logged first (0) went on the wire last (700–990).
        let spans = [(150, 400), (420, 690), (700, 990)];
        let mut truth = [(0, 1_000), (100, 410), (150, 695)];
        assert_eq!(
            in_order(&spans, &mut truth),
            Some(vec![
                ((150, 400), (100, 410)),
                ((420, 690), (150, 695)),
                ((700, 990), (0, 1_000))
            ])
        );
        // Both orders the same: start order.
        let mut truth = [(695, 995), (415, 695), (140, 405)];
        assert_eq!(
            in_order(&spans, &mut truth).map(|p| p[0].1),
            Some((140, 405))
        );
        // No offset makes every pair overlap: no pairs.
        let mut truth = [(0, 100), (5_000, 5_100), (9_000, 9_100)];
        assert_eq!(in_order(&spans, &mut truth), None);
    }

    #[test]
    fn one_mispaired_span_among_a_thousand_long_ones_does_not_move_the_offset() {
        // 1,999 spans of 3 ms, each 10 µs late in kspan (its midpoints differ by 10 µs), and
        // one pair whose kspan span starts 820 µs after the true span ends (cut differently):
        // every pair overlaps under any offset from 820 µs to 2,990 µs, so the range where all
        // agree excludes the true 10 µs.
        let mut pairs: Vec<(Interval, Interval)> = (0..1_999)
            .map(|i| {
                let t = i * 10_000_000;
                ((t + 10_000, t + 3_010_000), (t, t + 3_000_000))
            })
            .collect();
        pairs.push(((900_000, 1_000_000), (0, 80_000)));
        let clock = fit(&pairs, 1);
        assert_eq!(clock.offset_ns, 10_000);
        assert_eq!((clock.low_ns, clock.high_ns), (-2_990_000, 3_010_000));
        assert_eq!((clock.pairs, clock.agreeing), (2_000, 1_999));
    }

    #[test]
    fn with_fewer_than_a_thousand_pairs_every_pair_counts() {
        let pairs = [
            ((10_000, 3_010_000), (0, 3_000_000)),
            ((900_000, 1_000_000), (0, 80_000)),
        ];
        let clock = fit(&pairs, 2);
        assert_eq!((clock.low_ns, clock.high_ns), (820_000, 1_000_000));
        assert_eq!(clock.offset_ns, 820_000);
        assert_eq!(clock.agreeing, 2);
    }
}
