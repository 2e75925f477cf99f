//! The custom per-span handler API: user code that sees every event attributed to a span
//! (the paper's "custom handler stubs"), e.g. to count page faults per request.

use crate::event::Event;
use crate::model::{Span, SpanId};

/// Receives the events attributed to each span, and each span when its trace is emitted.
/// Both methods default to doing nothing.
pub trait SpanHandler {
    /// `ev` was attributed to `span`. Events after a span's provisional end (between two
    /// writes of a response, or after its last one) are reported too; the engine itself
    /// only keeps those followed by another write of the same span.
    fn on_event(&mut self, span: SpanId, ev: &Event) {
        let _ = (span, ev);
    }

    /// `span` is final; called for every span of a trace just before the trace is emitted.
    fn on_span_end(&mut self, span: &Span) {
        let _ = span;
    }
}
