//! The engine fed one event at a time, its traces going to a sink: the one path from an
//! ordered event stream to the outputs, for a file's analysis and a live one alike.

use anyhow::Context;
use kspan_engine::{Engine, Event, Summary, Timestamp, Trace};
use kspan_output::TraceSink;
use std::io;

/// An engine and the sink of its traces; the first write error stops the writing and is
/// returned by [`Feed::check`] or [`Feed::finish`].
pub struct Feed<'s> {
    engine: Engine,
    sink: &'s mut dyn TraceSink,
    error: Option<io::Error>,
    /// Traces written with a span cut by the end of input (partial).
    partial: u64,
}

/// Writes `trace` to `sink` unless an earlier write failed; counts it when partial.
fn deliver(
    sink: &mut dyn TraceSink,
    error: &mut Option<io::Error>,
    partial: &mut u64,
    trace: Trace,
) {
    *partial += u64::from(trace.spans.iter().any(|s| s.partial));
    if error.is_none() {
        *error = sink.trace(&trace).err();
    }
}

impl<'s> Feed<'s> {
    /// `engine`'s traces go to `sink`.
    pub fn new(engine: Engine, sink: &'s mut dyn TraceSink) -> Feed<'s> {
        Feed {
            engine,
            sink,
            error: None,
            partial: 0,
        }
    }

    /// Pushes one event (in time order).
    pub fn push(&mut self, event: &Event) {
        let (sink, error, partial) = (&mut *self.sink, &mut self.error, &mut self.partial);
        self.engine
            .push(event, &mut |t| deliver(sink, error, partial, t));
    }

    /// No event before `ts` is still to come ([`Engine::advance`]).
    pub fn advance(&mut self, ts: Timestamp) {
        let (sink, error, partial) = (&mut *self.sink, &mut self.error, &mut self.partial);
        self.engine
            .advance(ts, &mut |t| deliver(sink, error, partial, t));
    }

    /// Hands the traces written so far to the output ([`TraceSink::flush`]).
    pub fn flush(&mut self) {
        if self.error.is_none() {
            self.error = self.sink.flush().err();
        }
    }

    /// The first write error so far, if any.
    pub fn check(&mut self) -> anyhow::Result<()> {
        match self.error.take() {
            Some(e) => Err(e).context("cannot write the traces"),
            None => Ok(()),
        }
    }

    /// Ends the input: writes the traces still open (their unanswered spans partial) and
    /// returns the engine's summary and how many traces written had a partial span.
    pub fn finish(self) -> anyhow::Result<(Summary, u64)> {
        let Feed {
            engine,
            sink,
            mut error,
            mut partial,
        } = self;
        let summary = engine.finish(&mut |t| deliver(sink, &mut error, &mut partial, t));
        if let Some(e) = error {
            return Err(e).context("cannot write the traces");
        }
        Ok((summary, partial))
    }
}
