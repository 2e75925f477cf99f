//! One trace as the report draws it: its spans in tree order (each parent followed by its
//! children, earliest first), with their depth, times relative to the root, and everything
//! a click on a span shows.

use crate::endpoints::Breakdown;
use crate::filter::{trace_confidence, trace_duration};
use crate::names::{kind_name, span_error, span_id_hex, tool_span_name, trace_id_hex};
use crate::{OutputContext, TraceSink};
use kspan_engine::{Span, Summary, Trace};
use serde::Serialize;
use std::collections::HashSet;
use std::io;

/// A trace's waterfall.
#[derive(Debug, Clone, Serialize)]
pub struct Waterfall {
    /// The trace id (32 hex digits).
    pub id: String,
    /// The root span's duration (ns).
    pub duration: u64,
    /// The root span's start, Unix ns.
    pub start_unix_ns: u64,
    /// The lowest confidence among its links.
    pub confidence: f32,
    /// Its spans in tree order.
    pub spans: Vec<Row>,
}

/// One span of a waterfall.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The span id (16 hex digits).
    pub id: String,
    /// Its parent's id.
    pub parent: Option<String>,
    /// 0 for the root, 1 for its children, …
    pub depth: usize,
    /// The span's name (the protocol's when the payload heads give one).
    pub name: String,
    /// Its service.
    pub service: String,
    /// `server` or `client`.
    pub kind: &'static str,
    /// The process that served it.
    pub pid: i32,
    /// The thread that started it.
    pub tid: i32,
    /// Every thread that worked for it, `tid comm`, the starting one first.
    pub threads: Vec<String>,
    /// Start, ns after the root's start.
    pub offset: u64,
    /// Duration (ns).
    pub duration: u64,
    /// The other end of its connection.
    pub peer: Option<String>,
    /// Part of it lies outside the recording, or events it depends on were lost.
    pub partial: bool,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Why it has its parent (`None` on the root).
    pub link: Option<LinkRow>,
    /// Where its time went.
    pub time: Breakdown,
    /// Events attributed to it, `(system:event, count)`.
    pub events: Vec<(String, u64)>,
    /// Sums of the fields asked for, `(system:event:field, sum)`.
    pub sums: Vec<(String, i64)>,
}

/// How a span found its parent.
#[derive(Debug, Clone, Serialize)]
pub struct LinkRow {
    /// The evidence's name (`bytes`, `own-thread`, …).
    pub evidence: &'static str,
    /// Probability that the parent is right.
    pub confidence: f32,
    /// How many requests in progress could have been the parent.
    pub candidates: u32,
}

/// The indices of `trace`'s spans in tree order, each with its depth. A span whose parent is
/// not in the trace starts a tree of its own, so every span appears once.
fn tree_order(trace: &Trace) -> Vec<(usize, usize)> {
    let ids: HashSet<_> = trace.spans.iter().map(|s| s.id).collect();
    let children_of = |parent: Option<_>| {
        let mut children: Vec<usize> = (0..trace.spans.len())
            .filter(|&i| match trace.spans[i].parent {
                Some(p) if ids.contains(&p) => Some(p) == parent,
                _ => parent.is_none(),
            })
            .collect();
        children.sort_by_key(|&i| (trace.spans[i].start, i));
        children
    };
    let mut order = Vec::with_capacity(trace.spans.len());
    let mut stack: Vec<(usize, usize)> = children_of(None)
        .into_iter()
        .rev()
        .map(|i| (i, 0))
        .collect();
    while let Some((i, depth)) = stack.pop() {
        order.push((i, depth));
        let children = children_of(Some(trace.spans[i].id));
        stack.extend(children.into_iter().rev().map(|c| (c, depth + 1)));
    }
    order
}

fn row(context: &OutputContext, trace: &Trace, span: &Span, depth: usize) -> Row {
    let protocol = context.protocol(trace, span);
    let root_start = trace.spans.first().map_or(span.start, |r| r.start);
    let a = &span.activity;
    Row {
        id: span_id_hex(span.id),
        parent: span.parent.map(span_id_hex),
        depth,
        name: tool_span_name(protocol.as_ref(), trace, span),
        service: span.service.clone(),
        kind: kind_name(span.kind),
        pid: span.pid,
        tid: span.tid,
        threads: span
            .threads
            .iter()
            .map(|t| match context.thread_names.get(t) {
                Some(comm) => format!("{t} {comm}"),
                None => t.to_string(),
            })
            .collect(),
        offset: span.start.saturating_sub(root_start),
        duration: span.end.saturating_sub(span.start),
        peer: span.peer.map(|p| p.to_string()),
        partial: span.partial,
        error: span_error(protocol.as_ref(), span),
        link: span.link.map(|link| LinkRow {
            evidence: link.evidence.name(),
            confidence: link.confidence,
            candidates: link.candidates,
        }),
        time: Breakdown::of(a),
        events: a
            .counts
            .iter()
            .filter(|&&(_, n)| n > 0)
            .map(|&(id, n)| (context.event_name(id), n))
            .collect(),
        sums: context
            .sum_names
            .iter()
            .cloned()
            .zip(a.sums.iter().copied())
            .collect(),
    }
}

impl Waterfall {
    /// The waterfall of `trace`.
    pub fn of(context: &OutputContext, trace: &Trace) -> Waterfall {
        let root = trace.spans.first();
        Waterfall {
            id: trace_id_hex(trace.id),
            duration: trace_duration(trace),
            start_unix_ns: root.map_or(0, |r| context.unix_ns(r.start)),
            confidence: trace_confidence(trace),
            spans: tree_order(trace)
                .into_iter()
                .map(|(i, depth)| row(context, trace, &trace.spans[i], depth))
                .collect(),
        }
    }
}

/// Keeps the waterfall of every trace it is given, in order.
pub struct Waterfalls {
    context: OutputContext,
    /// The waterfalls so far.
    pub traces: Vec<Waterfall>,
}

impl Waterfalls {
    /// An empty collection; `context` names spans, threads and events.
    pub fn new(context: OutputContext) -> Waterfalls {
        Waterfalls {
            context,
            traces: Vec::new(),
        }
    }
}

impl TraceSink for Waterfalls {
    fn trace(&mut self, trace: &Trace) -> io::Result<()> {
        self.traces.push(Waterfall::of(&self.context, trace));
        Ok(())
    }

    fn finish(&mut self, _: &Summary) -> io::Result<()> {
        Ok(())
    }
}
