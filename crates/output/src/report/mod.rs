//! The HTML report (`kspan report`): one self-contained page, readable without network or
//! backend, with the slowest traces as waterfalls, a service map, per-endpoint latency and
//! where it went, and the recording's caveats.
//!
//! [`ReportSink`] gathers what the page needs as the engine emits traces; the page is
//! written afterwards by [`ReportSink::write`], once the recording's losses are known too.
//! The data goes into the page as one JSON document (`page.rs`), which a small hand-written
//! script (`report.js`) renders.

mod caveats;
mod page;
mod services;
mod waterfall;

use crate::endpoints::{Endpoint, Endpoints};
use crate::filter::FilteredSink;
use crate::{OutputContext, TraceFilter, TraceSink};
use caveats::{Caveats, SpanFlags};
use kspan_engine::{Summary, Trace};
use serde::Serialize;
use services::{Map, ServiceMap};
use std::io::{self, Write};
use waterfall::{Waterfall, Waterfalls};

/// Gathers a report over every trace it is given.
pub struct ReportSink {
    context: OutputContext,
    slowest: FilteredSink<Waterfalls>,
    services: ServiceMap,
    endpoints: Endpoints,
    flags: SpanFlags,
}

/// Everything the page shows, as it is embedded.
#[derive(Serialize)]
struct Data<'a> {
    title: &'a str,
    generator: String,
    traces: &'a [Waterfall],
    services: Map,
    endpoints: Vec<Endpoint>,
    caveats: Caveats,
}

impl ReportSink {
    /// A report showing the `top` slowest traces as waterfalls; `context` names spans,
    /// threads and events.
    pub fn new(context: OutputContext, top: usize) -> ReportSink {
        let filter = TraceFilter {
            slowest: Some(top),
            ..TraceFilter::default()
        };
        ReportSink {
            slowest: FilteredSink::new(Waterfalls::new(context.clone()), filter),
            context,
            services: ServiceMap::default(),
            endpoints: Endpoints::default(),
            flags: SpanFlags::default(),
        }
    }

    /// Writes the page, titled `title`, after the analysis ended with `summary`; `warnings`
    /// are the recording's (lost events), one sentence each.
    pub fn write(
        &self,
        out: &mut dyn Write,
        title: &str,
        summary: &Summary,
        warnings: Vec<String>,
    ) -> io::Result<()> {
        let data = Data {
            title,
            generator: format!("kspan {}", env!("CARGO_PKG_VERSION")),
            traces: &self.slowest.get_ref().traces,
            services: self.services.map(),
            endpoints: self.endpoints.list(&self.context),
            caveats: Caveats::new(summary, self.flags, warnings),
        };
        page::write_page(out, title, &serde_json::to_string(&data)?)
    }
}

impl TraceSink for ReportSink {
    fn trace(&mut self, trace: &Trace) -> io::Result<()> {
        let errors = self.endpoints.add_trace(&self.context, trace);
        self.flags.add(trace, errors);
        self.services.add(trace);
        self.slowest.trace(trace)
    }

    /// Puts the slowest traces in order; the page is written by [`ReportSink::write`].
    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.slowest.finish(summary)
    }
}
