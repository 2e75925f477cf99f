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
    /// Why it has its parent, and how sure kspan is; `None` for a root.
    pub link: Option<Link>,
    /// Kernel activity attributed to the span.
    pub activity: Activity,
    /// Where the span's first bytes lie in the bytes of the syscall that opened it: 0
    /// unless that syscall moved several messages (a pipeline's commands, HTTP/2 frames of
    /// several streams), so that its payload head names the span from there.
    pub opening_offset: u64,
}

/// The evidence that decided a span's parent, strongest first (see docs/engine.md, "How a
/// call finds its request"). Later evidence replaces earlier only when it is stronger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Evidence {
    /// A server span that read the bytes its parent (a client span) sent: exact.
    Bytes,
    /// The call was made by a thread that read the request itself and had not answered it
    /// (thread per request), or by a thread or process it created while serving it.
    OwnThread,
    /// The connection was opened, or a pooled one checked out, while serving the request.
    Connection,
    /// The only request in progress in the caller's process when the call was written.
    SoleRequest,
    /// The thread woken after the call's answer was read is the one serving the request
    /// (a worker handing its result back).
    Completion,
    /// The thread that read the call's answer wrote the request's response next, having
    /// read nothing else since it last answered a request or went idle: the answer was what
    /// the response waited for (an event loop resuming the handler the answer completed).
    Response,
    /// The thread that read the call's answer wrote the request's response within the next
    /// poll rounds, and of everything it read in those rounds that answer is the only one
    /// that can be the request's: a response resumes one of the request's own reads.
    Resumed,
    /// The only request in progress that started before the call and, by the calls its
    /// endpoint was seen making in this recording, still has one of the call's kind to
    /// make (payload heads name both).
    Pattern,
    /// A wakeup from the request's own thread handed the work over (a queue, a pool).
    Wakeup,
    /// The order in which an event loop read its requests and answers.
    EventLoop,
    /// A call no direct evidence placed (an orphan, a link by counting, a connection handed
    /// on in a process that queues) was matched, when one of its candidates answered, first
    /// in, first out with the requests that had room for it (endpoint counts fitted from
    /// the recording; oldest call to oldest request), as queues serve.
    Split,
    /// A worker took the next queued request of the thread that feeds it.
    QueueOrder,
}

impl Evidence {
    /// Every kind, strongest first (the order of the enum).
    pub const ALL: [Evidence; 12] = [
        Evidence::Bytes,
        Evidence::OwnThread,
        Evidence::Connection,
        Evidence::SoleRequest,
        Evidence::Completion,
        Evidence::Response,
        Evidence::Resumed,
        Evidence::Pattern,
        Evidence::Wakeup,
        Evidence::EventLoop,
        Evidence::Split,
        Evidence::QueueOrder,
    ];

    /// The name used in outputs (`kspan.link`).
    pub fn name(self) -> &'static str {
        match self {
            Evidence::Bytes => "bytes",
            Evidence::OwnThread => "own-thread",
            Evidence::Connection => "connection",
            Evidence::SoleRequest => "sole-request",
            Evidence::Completion => "completion",
            Evidence::Response => "response",
            Evidence::Resumed => "resumed",
            Evidence::Pattern => "pattern",
            Evidence::Wakeup => "wakeup",
            Evidence::EventLoop => "event-loop",
            Evidence::Split => "split",
            Evidence::QueueOrder => "queue-order",
        }
    }
}

/// How a span was linked to its parent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// The evidence that decided it.
    pub evidence: Evidence,
    /// How many requests in progress could have been the parent (1: no choice).
    pub candidates: u32,
    /// Probability that the parent is right, from the rates measured per evidence and
    /// number of candidates (docs/engine.md).
    pub confidence: f32,
}

impl Link {
    /// Below this confidence a link is reported as unsure (flagged in the tree output,
    /// counted apart in the summary).
    pub const SURE: f32 = 0.9;
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
    /// Links emitted per evidence: (evidence, links, of which unsure: confidence below
    /// [`Link::SURE`]), strongest evidence first, only those met.
    pub links: Vec<(Evidence, u64, u64)>,
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
