//! The engine's output: traces made of spans, each with the kernel activity it caused.
//!
//! Every output format (tree text, OTLP JSON, …) is a sink of these types.

use crate::event::{EventTypeId, Tid, Timestamp};
use std::net::SocketAddr;

/// A 128-bit trace id (OpenTelemetry's size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(pub u128);

/// A 64-bit span id, unique within one analysis (OpenTelemetry's size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(pub u64);

/// Which side of a call a span stands for (OpenTelemetry's span kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// A service handling a request it read from a connection.
    Server,
    /// A traced thread calling another service (traced or not) over a connection.
    Client,
}

/// Where a span's time went, from the scheduler's point of view, and what it did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activity {
    /// Time the span's threads were running on a CPU, in ns.
    pub on_cpu_ns: u64,
    /// Time runnable but waiting for a CPU (woken or preempted, not yet running), in ns.
    pub runnable_ns: u64,
    /// Time blocked in a socket read/poll/accept/connect, in ns.
    pub blocked_net_ns: u64,
    /// Time blocked in uninterruptible sleep (D state: disk and other IO), in ns.
    pub blocked_io_ns: u64,
    /// Time blocked in futex (locks, condition variables, queues), in ns.
    pub blocked_futex_ns: u64,
    /// Time blocked on anything else, in ns.
    pub blocked_other_ns: u64,
    /// Bytes the span's threads read from its connection(s).
    pub bytes_in: u64,
    /// Bytes the span's threads wrote to its connection(s).
    pub bytes_out: u64,
    /// Events attributed to this span, per event type, sorted by type id.
    pub counts: Vec<(EventTypeId, u64)>,
    /// Sums of the fields requested for aggregation, indexed like
    /// [`EventNames::field_names`](crate::EventNames).
    pub sums: Vec<i64>,
}

/// One unit of work of one service for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// This span's id.
    pub id: SpanId,
    /// The span that caused it; `None` for a trace's root.
    pub parent: Option<SpanId>,
    /// Server or client side.
    pub kind: SpanKind,
    /// The service (from the world snapshot or `--service` mapping) of the span's process.
    pub service: String,
    /// Process id (tgid) of the thread that started the span.
    pub pid: i32,
    /// The thread that started the span.
    pub tid: Tid,
    /// Every thread that worked in this span's context (the starting one first).
    pub threads: Vec<Tid>,
    /// Start, on the trace clock.
    pub start: Timestamp,
    /// End, on the trace clock.
    pub end: Timestamp,
    /// This side's address of the connection the span is about, when known.
    pub local: Option<SocketAddr>,
    /// The other side's address (the client for a server span, the callee for a client span).
    pub peer: Option<SocketAddr>,
    /// True when part of the span lies outside the recording (in flight at its start or end)
    /// or when events it depends on were lost: its tree and times are incomplete.
    pub partial: bool,
    /// Why the span ended abnormally, when it did (connection reset, closed before answer, …).
    pub error: Option<String>,
    /// Kernel activity attributed to the span.
    pub activity: Activity,
}

/// One request's end-to-end trace: its spans, root first, every parent before its children.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// This trace's id.
    pub id: TraceId,
    /// The spans; `spans[0]` is the root.
    pub spans: Vec<Span>,
}

/// What the engine met over a whole analysis, to print next to the traces.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Traces emitted.
    pub traces: u64,
    /// Spans emitted.
    pub spans: u64,
    /// Events consumed.
    pub events: u64,
    /// Events of traced threads that fell in no span.
    pub unattributed_events: u64,
    /// Human-readable accuracy caveats (connections older than the recording, lost events, …),
    /// each with how often it was met.
    pub caveats: Vec<(String, u64)>,
}

/// Names for event type ids and for the fields kept for aggregation, from the event source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventNames {
    /// `(type id, "system:event")` pairs.
    pub names: Vec<(EventTypeId, String)>,
    /// `"system:event:field"` of each value an [`EventKind::Other`](crate::EventKind) carries,
    /// in the order of its `values`, per type id.
    pub field_names: Vec<(EventTypeId, Vec<String>)>,
}
