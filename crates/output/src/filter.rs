//! Which traces to show: `--trace`, `--service`, `--name`, `--min-duration`,
//! `--min-confidence`, `--slowest`.

use crate::names::{tool_span_name, OutputContext};
use crate::TraceSink;
use kspan_engine::{Summary, Trace};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;

/// The user's trace selection. Empty (the default) keeps every trace.
#[derive(Debug, Clone, Default)]
pub struct TraceFilter {
    /// Keep traces whose hex id starts with this prefix.
    pub trace_id_prefix: Option<String>,
    /// Keep traces with at least one span of this service.
    pub service: Option<String>,
    /// Keep traces with at least one span of this name, as the outputs name it (`GET
    /// /compose`, `SELECT`, from the payload heads in the context), exactly.
    pub name: Option<(String, OutputContext)>,
    /// Keep traces whose root span lasts at least this long (ns).
    pub min_duration_ns: u64,
    /// Keep only the N traces with the longest root spans, printed slowest first.
    pub slowest: Option<usize>,
    /// Keep traces whose every link has at least this confidence (0 keeps all).
    pub min_confidence: f32,
}

/// The lowest confidence among a trace's links (1 for a trace of one span).
pub fn trace_confidence(trace: &Trace) -> f32 {
    trace
        .spans
        .iter()
        .filter_map(|s| s.link)
        .map(|l| l.confidence)
        .fold(1.0, f32::min)
}

/// The duration of a trace: that of its root span.
pub fn trace_duration(trace: &Trace) -> u64 {
    trace
        .spans
        .first()
        .map_or(0, |root| root.end.saturating_sub(root.start))
}

impl TraceFilter {
    /// True when `trace` passes every predicate except `slowest`.
    pub fn matches(&self, trace: &Trace) -> bool {
        self.trace_id_prefix
            .as_ref()
            .is_none_or(|prefix| format!("{:032x}", trace.id.0).starts_with(&prefix.to_lowercase()))
            && self
                .service
                .as_ref()
                .is_none_or(|service| trace.spans.iter().any(|s| &s.service == service))
            && self.name.as_ref().is_none_or(|(name, context)| {
                trace.spans.iter().any(|s| {
                    let protocol = context.protocol(trace, s);
                    &tool_span_name(protocol.as_ref(), trace, s) == name
                })
            })
            && trace_duration(trace) >= self.min_duration_ns
            && trace_confidence(trace) >= self.min_confidence
    }
}

/// A sink that passes the selected traces on to another sink.
pub struct FilteredSink<S: TraceSink> {
    inner: S,
    filter: TraceFilter,
    /// For `slowest`: the N longest so far, as a min-heap on (duration, arrival order).
    slowest: BinaryHeap<Reverse<(u64, u64, TraceBox)>>,
    arrivals: u64,
}

/// A trace ordered by nothing (the heap orders by the tuple's earlier fields).
struct TraceBox(Box<Trace>);

impl PartialEq for TraceBox {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for TraceBox {}
impl PartialOrd for TraceBox {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for TraceBox {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<S: TraceSink> FilteredSink<S> {
    /// Wraps `inner` so that it only sees the traces `filter` selects.
    pub fn new(inner: S, filter: TraceFilter) -> Self {
        FilteredSink {
            inner,
            filter,
            slowest: BinaryHeap::new(),
            arrivals: 0,
        }
    }

    /// The sink it passes traces on to.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: TraceSink> TraceSink for FilteredSink<S> {
    fn trace(&mut self, trace: &Trace) -> io::Result<()> {
        if !self.filter.matches(trace) {
            return Ok(());
        }
        let Some(n) = self.filter.slowest else {
            return self.inner.trace(trace);
        };
        self.arrivals += 1;
        let key = (trace_duration(trace), u64::MAX - self.arrivals);
        if self.slowest.len() < n {
            self.slowest
                .push(Reverse((key.0, key.1, TraceBox(Box::new(trace.clone())))));
        } else if let Some(Reverse(min)) = self.slowest.peek() {
            if (min.0, min.1) < key {
                self.slowest.pop();
                self.slowest
                    .push(Reverse((key.0, key.1, TraceBox(Box::new(trace.clone())))));
            }
        }
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        // into_sorted_vec of Reverse(..) is ascending in Reverse order: slowest first.
        for Reverse((_, _, TraceBox(trace))) in std::mem::take(&mut self.slowest).into_sorted_vec()
        {
            self.inner.trace(&trace)?;
        }
        self.inner.finish(summary)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
