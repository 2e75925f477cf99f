//! `kspan analyze --by endpoint`: a sink that gathers every trace's spans into
//! [`Endpoints`] and writes them once, at the end, as a table or as JSON.

use super::{write_table, Endpoint, Endpoints};
use crate::{OutputContext, TraceSink};
use kspan_engine::{Summary, Trace};
use serde::Serialize;
use std::io::{self, Write};

/// Writes the endpoints of every trace it is given, at the end.
pub struct EndpointSink<W: Write> {
    out: W,
    context: OutputContext,
    endpoints: Endpoints,
    json: bool,
}

/// The JSON document: `{"endpoints": [...]}`, slowest 99th percentile first.
#[derive(Serialize)]
struct Document {
    endpoints: Vec<Endpoint>,
}

impl<W: Write> EndpointSink<W> {
    /// A sink writing to `out` a table, or with `json` one JSON document; `context` names
    /// spans and events.
    pub fn new(out: W, context: OutputContext, json: bool) -> Self {
        EndpointSink {
            out,
            context,
            endpoints: Endpoints::default(),
            json,
        }
    }
}

impl<W: Write> TraceSink for EndpointSink<W> {
    fn trace(&mut self, trace: &Trace) -> io::Result<()> {
        self.endpoints.add_trace(&self.context, trace);
        Ok(())
    }

    fn finish(&mut self, _: &Summary) -> io::Result<()> {
        let endpoints = self.endpoints.list(&self.context);
        if self.json {
            serde_json::to_writer(&mut self.out, &Document { endpoints })?;
            writeln!(self.out)?;
        } else {
            write_table(&mut self.out, &endpoints)?;
        }
        self.out.flush()
    }
}
