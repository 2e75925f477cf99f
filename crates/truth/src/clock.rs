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
//! these meet. Not the median of the start differences alone: where an application takes its
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
    /// The lowest offset under which the `agreeing` pairs all overlap.
    pub low_ns: i64,
    /// The highest such offset.
    pub high_ns: i64,
    /// Unambiguous pairs found.
    pub pairs: usize,
    /// Of those, the pairs that overlap under the offset (the most that any offset makes
    /// overlap).
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
    // Each pair's admitted offsets, as sweep events: +1 where a range opens, -1 past its end.
    let mut events = Vec::new();
    let mut midpoints = Vec::new();
    let mut connections = 0;
    for (key, mut true_spans) in truth {
        let Some(mut spans) = kspan.remove(&key) else {
            continue;
        };
        if spans.len() != true_spans.len() {
            continue;
        }
        true_spans.sort_unstable();
        spans.sort_unstable();
        for ((got_start, got_end), (want_start, want_end)) in spans.into_iter().zip(true_spans) {
            midpoints.push((got_start + got_end) / 2 - (want_start + want_end) / 2);
            events.push((got_start - want_end, 1i64));
            events.push((got_end - want_start + 1, -1));
        }
        connections += 1;
    }
    let pairs = events.len() / 2;
    if pairs == 0 {
        return ClockOffset::default();
    }
    // Closing events sort before opening ones at the same point: ranges are closed, and a
    // close at x + 1 is the end of a range that holds x.
    events.sort_unstable();
    let (mut count, mut best, mut low, mut high) = (0i64, 0i64, 0i64, 0i64);
    for (i, &(at, step)) in events.iter().enumerate() {
        count += step;
        if count > best {
            best = count;
            low = at;
            high = events.get(i + 1).map_or(at, |next| next.0 - 1);
        }
    }
    midpoints.sort_unstable();
    ClockOffset {
        offset_ns: midpoints[(pairs - 1) / 2].clamp(low, high),
        low_ns: low,
        high_ns: high,
        pairs,
        agreeing: best as usize,
        connections,
    }
}
