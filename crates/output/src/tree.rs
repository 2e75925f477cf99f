//! Trace trees for people: one line per span, indented under its parent, with the span's
//! kernel activity on the line below. ANSI colour when asked to.

use crate::names::{span_name, OutputContext};
use crate::protocol::SpanProtocol;
use crate::TraceSink;
use kspan_engine::{Link, Span, SpanKind, Summary, Trace};
use kspan_protocol::Message;
use std::io::{self, Write};

/// Writes each trace as an indented tree.
pub struct TreeSink<W: Write> {
    out: W,
    context: OutputContext,
    colour: bool,
}

const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const CYAN: &str = "\x1b[36m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

/// `GET /compose → 200 (gateway → compose-post)`: the protocol name, the answer's outcome
/// when it says one (an HTTP status, a MySQL error), and the generic name.
fn protocol_name(protocol: &SpanProtocol, generic: &str) -> String {
    let status = match protocol.response.as_ref().and_then(Message::outcome) {
        Some(outcome) => format!(" → {outcome}"),
        None => String::new(),
    };
    match protocol.name() {
        Some(name) => format!("{name}{status} ({generic})"),
        None => generic.to_string(),
    }
}

/// `1.234ms`-style duration with a unit suited to its size.
pub fn human_ns(ns: u64) -> String {
    match ns {
        0..=9_999 => format!("{ns}ns"),
        10_000..=9_999_999 => format!("{:.1}µs", ns as f64 / 1e3),
        10_000_000..=9_999_999_999 => format!("{:.3}ms", ns as f64 / 1e6),
        _ => format!("{:.3}s", ns as f64 / 1e9),
    }
}

/// `12.3KiB`-style byte count.
pub fn human_bytes(bytes: u64) -> String {
    match bytes {
        0..=1023 => format!("{bytes}B"),
        1024..=1_048_575 => format!("{:.1}KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1}MiB", bytes as f64 / 1_048_576.0),
    }
}

impl<W: Write> TreeSink<W> {
    /// A tree printer; `colour` switches ANSI colours on.
    pub fn new(out: W, context: OutputContext, colour: bool) -> Self {
        TreeSink {
            out,
            context,
            colour,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn activity_line(&self, span: &Span) -> String {
        let a = &span.activity;
        let mut parts = vec![format!(
            "cpu {} · runnable {} · blocked net {} io {} futex {} other {} · in {} out {}",
            human_ns(a.on_cpu_ns),
            human_ns(a.runnable_ns),
            human_ns(a.blocked_net_ns),
            human_ns(a.blocked_io_ns),
            human_ns(a.blocked_futex_ns),
            human_ns(a.blocked_other_ns),
            human_bytes(a.bytes_in),
            human_bytes(a.bytes_out),
        )];
        let events: Vec<String> = a
            .counts
            .iter()
            .filter(|&&(id, n)| n > 0 && self.context.shows_count(id))
            .map(|&(id, n)| format!("{}={n}", self.context.event_name(id)))
            .collect();
        if !events.is_empty() {
            parts.push(format!("events {}", events.join(" ")));
        }
        let sums: Vec<String> = self
            .context
            .sum_names
            .iter()
            .zip(&a.sums)
            .map(|(name, sum)| format!("sum({name})={sum}"))
            .collect();
        if !sums.is_empty() {
            parts.push(sums.join(" "));
        }
        parts.join(" · ")
    }

    /// With `--count` or `--sum`: the trace's totals over all its spans.
    fn totals_line(&self, trace: &Trace) -> Option<String> {
        let mut parts = Vec::new();
        for &id in self.context.count_only.iter().flatten() {
            let total: u64 = trace
                .spans
                .iter()
                .flat_map(|s| &s.activity.counts)
                .filter(|(t, _)| *t == id)
                .map(|(_, n)| n)
                .sum();
            parts.push(format!("{}={total}", self.context.event_name(id)));
        }
        for (slot, name) in self.context.sum_names.iter().enumerate() {
            let total: i64 = trace
                .spans
                .iter()
                .filter_map(|s| s.activity.sums.get(slot))
                .sum();
            parts.push(format!("sum({name})={total}"));
        }
        (!parts.is_empty()).then(|| format!("trace totals: {}", parts.join(" ")))
    }

    fn write_span(
        &mut self,
        trace: &Trace,
        index: usize,
        prefix: &str,
        last: bool,
    ) -> io::Result<()> {
        let span = &trace.spans[index];
        let root_start = trace.spans[0].start;
        let (branch, child_prefix) = match (index, last) {
            (0, _) => ("", String::new()),
            (_, true) => ("└─ ", format!("{prefix}   ")),
            (_, false) => ("├─ ", format!("{prefix}│  ")),
        };
        let kind = match span.kind {
            SpanKind::Server => "SERVER",
            SpanKind::Client => "CLIENT",
        };
        let mut flags = String::new();
        if span.partial {
            flags.push_str(&self.paint(YELLOW, " [partial]"));
        }
        if let Some(error) = &span.error {
            flags.push_str(&self.paint(RED, &format!(" [error: {error}]")));
        }
        // How a call found its request (a server span's link is its bytes: exact).
        if let Some(link) = span.link.filter(|_| span.kind == SpanKind::Client) {
            let text = format!(
                " [{} {:.2}, {} candidate{}]",
                link.evidence.name(),
                link.confidence,
                link.candidates,
                if link.candidates == 1 { "" } else { "s" }
            );
            let colour = if link.confidence < Link::SURE {
                YELLOW
            } else {
                DIM
            };
            flags.push_str(&self.paint(colour, &text));
        }
        let peer = span.peer.map(|p| format!(" peer {p}")).unwrap_or_default();
        let name = match self.context.protocol(trace, span) {
            Some(protocol) => protocol_name(&protocol, &span_name(trace, span)),
            None => span_name(trace, span),
        };
        let line = format!(
            "{prefix}{branch}{} {} pid {} tid {} +{} {}{peer}{flags}\n",
            self.paint(CYAN, &name),
            self.paint(DIM, kind),
            span.pid,
            span.tid,
            human_ns(span.start.saturating_sub(root_start)),
            self.paint(BOLD, &human_ns(span.end.saturating_sub(span.start))),
        );
        self.out.write_all(line.as_bytes())?;
        let detail_prefix = if index == 0 {
            "   ".to_string()
        } else {
            format!("{child_prefix}   ")
        };
        let activity = self.activity_line(span);
        writeln!(self.out, "{detail_prefix}{}", self.paint(DIM, &activity))?;
        let mut children: Vec<usize> = (0..trace.spans.len())
            .filter(|&i| trace.spans[i].parent == Some(span.id))
            .collect();
        children.sort_by_key(|&i| (trace.spans[i].start, i));
        let count = children.len();
        for (n, child) in children.into_iter().enumerate() {
            self.write_span(trace, child, &child_prefix, n + 1 == count)?;
        }
        Ok(())
    }
}

impl<W: Write> TraceSink for TreeSink<W> {
    fn trace(&mut self, trace: &Trace) -> io::Result<()> {
        let Some(root) = trace.spans.first() else {
            return Ok(());
        };
        let services: std::collections::BTreeSet<&str> =
            trace.spans.iter().map(|s| s.service.as_str()).collect();
        let header = format!(
            "trace {:032x}  {}  {} spans, {} services, starts at unix {}ns",
            trace.id.0,
            human_ns(root.end.saturating_sub(root.start)),
            trace.spans.len(),
            services.len(),
            self.context.unix_ns(root.start),
        );
        writeln!(self.out, "{}", self.paint(BOLD, &header))?;
        if let Some(totals) = self.totals_line(trace) {
            writeln!(self.out, "{totals}")?;
        }
        self.write_span(trace, 0, "", true)?;
        writeln!(self.out)
    }

    fn finish(&mut self, _summary: &Summary) -> io::Result<()> {
        self.out.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
