//! Per-endpoint summaries: every span grouped by service, kind and name (`GET /compose`,
//! `SET`, `SELECT` when the payload heads name them, root spans and calls alike), with their
//! latency percentiles and where their time went: in the span itself or in the calls it
//! waited for, and in which kernel states and events. One aggregation for every output that
//! shows endpoints: `kspan analyze --by endpoint` ([`EndpointSink`]) and the HTML report.

mod breakdown;
mod latency;
mod sink;
mod table;

pub use breakdown::Breakdown;
pub use latency::{Latencies, Percentiles};
pub use sink::EndpointSink;
pub use table::write_table;

use crate::names::{kind_name, span_error, tool_span_name};
use crate::OutputContext;
use kspan_engine::{EventTypeId, Span, SpanId, Trace};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The spans gathered so far, per (service, kind, name).
#[derive(Debug, Default)]
pub struct Endpoints(BTreeMap<(String, &'static str, String), Gathered>);

#[derive(Debug, Default)]
struct Gathered {
    latencies: Latencies,
    /// Sum of the spans' durations (ns).
    total: u64,
    /// Sum of the time the spans spent in their child spans (ns).
    in_calls: u64,
    time: Breakdown,
    events: BTreeMap<EventTypeId, u64>,
    errors: u64,
}

/// One endpoint as the outputs show it.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    /// The service.
    pub service: String,
    /// `server` (requests it served) or `client` (calls it made).
    pub kind: &'static str,
    /// The spans' name.
    pub name: String,
    /// How many spans and their durations.
    pub latency: Percentiles,
    /// How many of them failed.
    pub errors: u64,
    /// The mean duration of a span (ns).
    pub mean_ns: u64,
    /// Of it, the mean time inside its child spans (ns): the calls a server span waited
    /// for, the callee's server span of a call (the time its intervals cover, overlaps
    /// counted once).
    pub calls_ns: u64,
    /// The rest of the mean duration: the span's own time (ns).
    pub self_ns: u64,
    /// Where a span's time went in the kernel, on average.
    pub mean: Breakdown,
    /// Events attributed to the spans, summed, most frequent first (`system:event`, count).
    pub events: Vec<(String, u64)>,
}

impl Endpoints {
    /// Adds every span of `trace`, named as `context` names them for tools; returns how
    /// many of them failed.
    pub fn add_trace(&mut self, context: &OutputContext, trace: &Trace) -> u64 {
        let mut children: HashMap<SpanId, Vec<(u64, u64)>> = HashMap::new();
        for span in &trace.spans {
            if let Some(parent) = span.parent {
                children
                    .entry(parent)
                    .or_default()
                    .push((span.start, span.end));
            }
        }
        let mut errors = 0;
        for span in &trace.spans {
            let protocol = context.protocol(trace, span);
            let failed = span_error(protocol.as_ref(), span).is_some();
            errors += u64::from(failed);
            let name = tool_span_name(protocol.as_ref(), trace, span);
            let in_calls = children
                .get_mut(&span.id)
                .map_or(0, |c| covered(span.start, span.end, c.as_mut_slice()));
            self.add(span, name, failed, in_calls);
        }
        errors
    }

    fn add(&mut self, span: &Span, name: String, failed: bool, in_calls: u64) {
        let gathered = self
            .0
            .entry((span.service.clone(), kind_name(span.kind), name))
            .or_default();
        let duration = span.end.saturating_sub(span.start);
        gathered.latencies.push(duration);
        gathered.total = gathered.total.saturating_add(duration);
        gathered.in_calls = gathered.in_calls.saturating_add(in_calls);
        gathered.time.add(&Breakdown::of(&span.activity));
        for &(id, n) in &span.activity.counts {
            *gathered.events.entry(id).or_default() += n;
        }
        gathered.errors += u64::from(failed);
    }

    /// Every endpoint, slowest 99th percentile first; `context` names the events and
    /// says which to show (`--count`).
    pub fn list(&self, context: &OutputContext) -> Vec<Endpoint> {
        let mut list: Vec<Endpoint> = self
            .0
            .iter()
            .map(|((service, kind, name), g)| {
                let latency = g.latencies.percentiles();
                let count = (latency.count as u64).max(1);
                let mean_ns = g.total / count;
                let calls_ns = g.in_calls / count;
                let mut events: Vec<(String, u64)> = g
                    .events
                    .iter()
                    .filter(|&(&id, &n)| n > 0 && context.shows_count(id))
                    .map(|(&id, &n)| (context.event_name(id), n))
                    .collect();
                events.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                Endpoint {
                    service: service.clone(),
                    kind,
                    name: name.clone(),
                    mean: g.time.mean(count),
                    latency,
                    errors: g.errors,
                    mean_ns,
                    calls_ns,
                    self_ns: mean_ns.saturating_sub(calls_ns),
                    events,
                }
            })
            .collect();
        list.sort_by_key(|e| std::cmp::Reverse(e.latency.p99));
        list
    }
}

/// How much of `from..to` (a span) the `intervals` (its children's start and end) cover,
/// each clipped to the span and overlaps counted once.
fn covered(from: u64, to: u64, intervals: &mut [(u64, u64)]) -> u64 {
    intervals.sort_unstable();
    let (mut total, mut reached) = (0u64, from);
    for &(start, end) in intervals.iter() {
        let (start, end) = (start.max(reached), end.min(to));
        if end > start {
            total += end - start;
            reached = end;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_cover_their_union_within_the_span() {
        // In a span of 100..200: 90..120 clipped to 100..120 (20), 110..130 adds 120..130
        // (10), 150..250 clipped to 150..200 (50), 160..170 inside it (0).
        let mut children = [(150, 250), (90, 120), (160, 170), (110, 130)];
        assert_eq!(covered(100, 200, &mut children), 80);
        assert_eq!(covered(100, 200, &mut []), 0);
    }
}
