//! What the reader of a report should keep in mind: the analysis's counts, how sure its
//! links are, the engine's caveats and the recording's losses.

use kspan_engine::{SpanKind, Summary, Trace};
use serde::Serialize;

/// Spans counted trace by trace for the caveats (the summary counts the unsure links).
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct SpanFlags {
    /// Spans partly outside the recording, or missing events.
    pub partial: u64,
    /// Spans that failed.
    pub errors: u64,
    /// Traces whose root is a call (no request was found for it, or a traced client made it).
    pub client_roots: u64,
}

impl SpanFlags {
    /// Counts the flags of `trace`; `errors` of its spans failed.
    pub fn add(&mut self, trace: &Trace, errors: u64) {
        self.partial += trace.spans.iter().filter(|s| s.partial).count() as u64;
        self.errors += errors;
        self.client_roots += u64::from(
            trace
                .spans
                .first()
                .is_some_and(|r| r.kind == SpanKind::Client),
        );
    }
}

/// Links made on one kind of evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Links {
    /// The evidence's name.
    pub evidence: &'static str,
    /// How many links.
    pub count: u64,
    /// How many of them below [`Link::SURE`](kspan_engine::Link::SURE).
    pub unsure: u64,
}

/// The report's caveats section.
#[derive(Debug, Clone, Serialize)]
pub struct Caveats {
    /// Traces the engine emitted.
    pub traces: u64,
    /// Spans it emitted.
    pub spans: u64,
    /// Events it read.
    pub events: u64,
    /// Events of traced threads that fell in no span.
    pub unattributed_events: u64,
    /// Spans flagged partial or failed, and traces rooted in a call.
    pub flags: SpanFlags,
    /// Links per evidence, strongest first.
    pub links: Vec<Links>,
    /// The engine's caveats with how often each was met.
    pub engine: Vec<(String, u64)>,
    /// The recording's warnings (lost events), as `kspan analyze` prints them.
    pub warnings: Vec<String>,
}

impl Caveats {
    /// The caveats of an analysis: its `summary`, the `flags` counted over its traces and
    /// the recording's `warnings`.
    pub fn new(summary: &Summary, flags: SpanFlags, warnings: Vec<String>) -> Caveats {
        Caveats {
            traces: summary.traces,
            spans: summary.spans,
            events: summary.events,
            unattributed_events: summary.unattributed_events,
            flags,
            links: summary
                .links
                .iter()
                .map(|&(evidence, count, unsure)| Links {
                    evidence: evidence.name(),
                    count,
                    unsure,
                })
                .collect(),
            engine: summary.caveats.clone(),
            warnings,
        }
    }
}
