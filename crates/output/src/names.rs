//! What sinks need to know besides the traces: event names and the clock offset.

use crate::protocol::{span_protocol, SpanProtocol};
use kspan_engine::{EventNames, EventTypeId, Link, Span, SpanId, SpanKind, Tid, Trace, TraceId};
use kspan_heads::HeadTable;
use std::collections::HashMap;
use std::sync::Arc;

/// Names of event types and aggregated fields, and the trace clock's offset to Unix time.
#[derive(Debug, Clone, Default)]
pub struct OutputContext {
    event_names: HashMap<EventTypeId, String>,
    /// Names of the aggregated fields, in the order of [`Activity::sums`](kspan_engine::Activity).
    pub sum_names: Vec<String>,
    /// Add to a trace-clock timestamp to get Unix nanoseconds.
    pub clock_to_unix_ns: i64,
    /// When set (`--count`), people see only these events' counts, with per-trace totals.
    pub count_only: Option<Vec<EventTypeId>>,
    /// The recording's payload heads, when it has some: spans are named by protocol.
    pub heads: Option<Arc<HeadTable>>,
    /// Thread names (comm) by tid, as far as the recording knows them.
    pub thread_names: HashMap<Tid, String>,
}

impl OutputContext {
    /// Builds the context from the event source's names and the recording's clock offset.
    pub fn new(names: &EventNames, clock_to_unix_ns: i64) -> OutputContext {
        OutputContext {
            event_names: names.names.iter().cloned().collect(),
            sum_names: names
                .field_names
                .iter()
                .flat_map(|(_, fields)| fields.iter().cloned())
                .collect(),
            clock_to_unix_ns,
            count_only: None,
            heads: None,
            thread_names: HashMap::new(),
        }
    }

    /// Whether people should see the count of event type `id`.
    pub fn shows_count(&self, id: EventTypeId) -> bool {
        self.count_only.as_ref().is_none_or(|ids| ids.contains(&id))
    }

    /// `system:event` of an event type id, or `event#ID` when the source gave no name.
    pub fn event_name(&self, id: EventTypeId) -> String {
        self.event_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("event#{id}"))
    }

    /// What the payload heads say about `span` (`None` without heads or when its first
    /// message is of no known protocol).
    pub fn protocol(&self, trace: &Trace, span: &Span) -> Option<SpanProtocol> {
        span_protocol(self.heads.as_deref()?, trace, span)
    }

    /// Unix nanoseconds of a trace-clock timestamp (saturating at 0).
    pub fn unix_ns(&self, ts: u64) -> u64 {
        (ts as i128 + self.clock_to_unix_ns as i128).max(0) as u64
    }
}

/// A trace id as tools write it: 32 lowercase hex digits.
pub fn trace_id_hex(id: TraceId) -> String {
    format!("{:032x}", id.0)
}

/// A span id as tools write it: 16 lowercase hex digits.
pub fn span_id_hex(id: SpanId) -> String {
    format!("{:016x}", id.0)
}

/// A span's name for tools: the protocol's (`GET /compose`) when the payload heads give
/// one, else [`span_name`].
pub fn tool_span_name(protocol: Option<&SpanProtocol>, trace: &Trace, span: &Span) -> String {
    protocol
        .and_then(SpanProtocol::name)
        .unwrap_or_else(|| span_name(trace, span))
}

/// Why a span failed: the engine's reason, else the HTTP status its protocol says is an
/// error for its kind.
pub fn span_error(protocol: Option<&SpanProtocol>, span: &Span) -> Option<String> {
    span.error
        .clone()
        .or_else(|| protocol?.status_error(span.kind))
}

/// A link's confidence as tools write it: the f32 it is, to three decimals (0.99, not
/// 0.9900000095367432).
pub fn link_confidence(link: &Link) -> f64 {
    (f64::from(link.confidence) * 1000.0).round() / 1000.0
}

/// A span's display name: `<service> server`, or `<service> → <callee>` for a client span
/// ([`callee`]).
pub fn span_name(trace: &Trace, span: &Span) -> String {
    match span.kind {
        SpanKind::Server => format!("{} server", span.service),
        SpanKind::Client => format!("{} → {}", span.service, callee(trace, span)),
    }
}

/// Whom client span `call` of `trace` called: the service of its server child span, else
/// the peer address (`?` when unknown).
pub fn callee(trace: &Trace, call: &Span) -> String {
    trace
        .spans
        .iter()
        .find(|s| s.parent == Some(call.id) && s.kind == SpanKind::Server)
        .map(|s| s.service.clone())
        .or_else(|| call.peer.map(|p| p.to_string()))
        .unwrap_or_else(|| "?".to_string())
}

/// A span kind as tools write it: `server` or `client`.
pub fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Server => "server",
        SpanKind::Client => "client",
    }
}
