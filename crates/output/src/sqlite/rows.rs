//! One trace as rows of the SQLite schema, inserted with cached prepared statements.

use crate::names::{
    kind_name, link_confidence, span_error, span_id_hex, tool_span_name, trace_id_hex,
    OutputContext,
};
use kspan_engine::{Span, Trace};
use kspan_protocol::AttributeValue;
use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{params, Connection, ToSql};
use std::net::SocketAddr;

const INSERT_TRACE: &str = "INSERT INTO traces (trace_id, root_span_id, root_service, \
    root_name, start_unix_ns, duration_ns, span_count, partial) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

const INSERT_SPAN: &str = "INSERT INTO spans (span_id, trace_id, parent_id, kind, service, \
    name, pid, tid, start_unix_ns, end_unix_ns, duration_ns, local_address, local_port, \
    peer_address, peer_port, error, link_evidence, link_confidence, link_candidates, partial, \
    cpu_ns, runnable_ns, blocked_net_ns, blocked_io_ns, blocked_futex_ns, blocked_other_ns, \
    bytes_in, bytes_out) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
    ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)";

const INSERT_THREAD: &str = "INSERT INTO span_threads (span_id, position, tid) VALUES (?1, ?2, ?3)";

const INSERT_EVENT: &str = "INSERT INTO span_events (span_id, event, count) VALUES (?1, ?2, ?3)";

const INSERT_SUM: &str = "INSERT INTO span_sums (span_id, field, sum) VALUES (?1, ?2, ?3)";

const INSERT_ATTRIBUTE: &str =
    "INSERT INTO span_attributes (span_id, key, value) VALUES (?1, ?2, ?3)";

/// A protocol attribute's value, stored as the SQLite type it is.
struct Attribute(AttributeValue);

impl ToSql for Attribute {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Owned(match &self.0 {
            AttributeValue::Str(s) => Value::Text(s.clone()),
            AttributeValue::Int(i) => Value::Integer(*i),
        }))
    }
}

/// The address and port columns of a socket address (the address as OTLP writes it).
fn address(addr: Option<SocketAddr>) -> (Option<String>, Option<u16>) {
    match addr {
        Some(a) => (Some(a.ip().to_canonical().to_string()), Some(a.port())),
        None => (None, None),
    }
}

/// Inserts `trace`: its row, then each span's row and the rows that belong to the span.
pub(super) fn insert_trace(
    db: &Connection,
    context: &OutputContext,
    trace: &Trace,
) -> rusqlite::Result<()> {
    let trace_id = trace_id_hex(trace.id);
    let root = &trace.spans[0];
    let root_protocol = context.protocol(trace, root);
    db.prepare_cached(INSERT_TRACE)?.execute(params![
        trace_id,
        span_id_hex(root.id),
        root.service,
        tool_span_name(root_protocol.as_ref(), trace, root),
        context.unix_ns(root.start),
        root.end.saturating_sub(root.start),
        trace.spans.len(),
        trace.spans.iter().any(|s| s.partial),
    ])?;
    for span in &trace.spans {
        insert_span(db, context, trace, &trace_id, span)?;
    }
    Ok(())
}

/// Inserts `span` of `trace` with its threads, event counts, sums and protocol attributes.
fn insert_span(
    db: &Connection,
    context: &OutputContext,
    trace: &Trace,
    trace_id: &str,
    span: &Span,
) -> rusqlite::Result<()> {
    let span_id = span_id_hex(span.id);
    let protocol = context.protocol(trace, span);
    let (local_address, local_port) = address(span.local);
    let (peer_address, peer_port) = address(span.peer);
    let a = &span.activity;
    db.prepare_cached(INSERT_SPAN)?.execute(params![
        span_id,
        trace_id,
        span.parent.map(span_id_hex),
        kind_name(span.kind),
        span.service,
        tool_span_name(protocol.as_ref(), trace, span),
        span.pid,
        span.tid,
        context.unix_ns(span.start),
        context.unix_ns(span.end),
        span.end.saturating_sub(span.start),
        local_address,
        local_port,
        peer_address,
        peer_port,
        span_error(protocol.as_ref(), span),
        span.link.map(|l| l.evidence.name()),
        span.link.as_ref().map(link_confidence),
        span.link.map(|l| l.candidates),
        span.partial,
        a.on_cpu_ns,
        a.runnable_ns,
        a.blocked_net_ns,
        a.blocked_io_ns,
        a.blocked_futex_ns,
        a.blocked_other_ns,
        a.bytes_in,
        a.bytes_out,
    ])?;
    let mut threads = db.prepare_cached(INSERT_THREAD)?;
    for (position, tid) in span.threads.iter().enumerate() {
        threads.execute(params![span_id, position, tid])?;
    }
    let mut events = db.prepare_cached(INSERT_EVENT)?;
    for &(id, count) in a.counts.iter().filter(|(_, count)| *count > 0) {
        events.execute(params![span_id, context.event_name(id), count])?;
    }
    let mut sums = db.prepare_cached(INSERT_SUM)?;
    for (field, sum) in context.sum_names.iter().zip(&a.sums) {
        sums.execute(params![span_id, field, sum])?;
    }
    let mut attributes = db.prepare_cached(INSERT_ATTRIBUTE)?;
    for (key, value) in protocol.iter().flat_map(|p| p.attributes()) {
        attributes.execute(params![span_id, key, Attribute(value)])?;
    }
    Ok(())
}
