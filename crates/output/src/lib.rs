//! kspan's output sinks. Every output format is a [`TraceSink`] fed by the one engine, like
//! ripgrep's printers: the analysis loop does not know which format it is writing.

pub mod endpoints;
pub mod filter;
pub mod names;
pub mod otlp;
pub mod perfetto;
pub mod protocol;
pub mod report;
pub mod sqlite;
pub mod summary;
pub mod tree;

use kspan_engine::{Summary, Trace};
use std::io;

pub use filter::TraceFilter;
pub use names::OutputContext;

/// A destination for traces as the engine emits them.
pub trait TraceSink {
    /// Writes (or keeps) one complete trace.
    fn trace(&mut self, trace: &Trace) -> io::Result<()>;
    /// Called once at the end of the analysis; writes what is still buffered.
    fn finish(&mut self, summary: &Summary) -> io::Result<()>;
    /// Hands the traces written so far to the output (a file, a terminal) instead of
    /// holding them in a buffer: `kspan live` calls it between batches of traces. Sinks
    /// that only write at the end do nothing.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S: TraceSink + ?Sized> TraceSink for Box<S> {
    fn trace(&mut self, trace: &Trace) -> io::Result<()> {
        (**self).trace(trace)
    }
    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        (**self).finish(summary)
    }
    fn flush(&mut self) -> io::Result<()> {
        (**self).flush()
    }
}

/// Passes every trace to two sinks (e.g. an OTLP file and the slowest trees on screen).
pub struct Tee<A: TraceSink, B: TraceSink>(pub A, pub B);

impl<A: TraceSink, B: TraceSink> TraceSink for Tee<A, B> {
    fn trace(&mut self, trace: &Trace) -> io::Result<()> {
        self.0.trace(trace)?;
        self.1.trace(trace)
    }
    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.0.finish(summary)?;
        self.1.finish(summary)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}
