//! OpenTelemetry's trace model for kspan's spans (the contract documented in `docs/otlp.md`):
//! one mapping from engine spans to OTLP spans ([`OtlpSpan`], grouped per service by
//! [`resource_groups`]), written as OTLP/JSON by [`json`], encoded as OTLP protobuf by
//! [`proto`] and pushed to a collector over OTLP/HTTP by [`push`].

pub mod json;
pub mod proto;
pub mod push;

pub use json::OtlpJsonSink;

use crate::names::{link_confidence, span_error, tool_span_name, OutputContext};
use kspan_engine::{Span, SpanId, SpanKind, Trace, TraceId};
use kspan_protocol::AttributeValue;
use std::net::SocketAddr;

/// The instrumentation scope every span is reported under.
pub const SCOPE_NAME: &str = "kspan";
/// The scope's version: kspan's.
pub const SCOPE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// An attribute value, as OTLP's `AnyValue` holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `stringValue`.
    Str(String),
    /// `intValue` (int64).
    Int(i64),
    /// `boolValue`.
    Bool(bool),
    /// `doubleValue`.
    Double(f64),
}

/// One span attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// The attribute's key (`kspan.cpu.on_ns`).
    pub key: String,
    /// Its value.
    pub value: Value,
}

impl Attribute {
    fn string(key: &str, value: impl Into<String>) -> Attribute {
        Attribute {
            key: key.to_string(),
            value: Value::Str(value.into()),
        }
    }

    /// An integer attribute; a count above `i64::MAX` (never met in practice) saturates.
    fn int(key: &str, value: impl TryInto<i64>) -> Attribute {
        Attribute {
            key: key.to_string(),
            value: Value::Int(value.try_into().unwrap_or(i64::MAX)),
        }
    }
}

/// One engine span as OTLP sees it: ids, name, kind, Unix times, attributes, error status.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpSpan {
    /// The trace's id.
    pub trace_id: TraceId,
    /// The span's id.
    pub span_id: SpanId,
    /// The parent's id (`None` on a trace's root).
    pub parent: Option<SpanId>,
    /// The span's name: the protocol's when the payload heads give one.
    pub name: String,
    /// Server or client.
    pub kind: SpanKind,
    /// Start, Unix nanoseconds.
    pub start_unix_ns: u64,
    /// End, Unix nanoseconds.
    pub end_unix_ns: u64,
    /// The attributes, in the contract's order.
    pub attributes: Vec<Attribute>,
    /// Why the span failed, when it did (OTLP status code ERROR with this message).
    pub error: Option<String>,
}

/// Every span of `trace`, grouped by service in order of first appearance: one OTLP
/// `ResourceSpans` per service.
pub fn resource_groups<'t>(
    context: &OutputContext,
    trace: &'t Trace,
) -> Vec<(&'t str, Vec<OtlpSpan>)> {
    let mut services: Vec<(&str, Vec<OtlpSpan>)> = Vec::new();
    for span in &trace.spans {
        let otlp = otlp_span(context, trace, span);
        match services.iter_mut().find(|(name, _)| *name == span.service) {
            Some((_, spans)) => spans.push(otlp),
            None => services.push((&span.service, vec![otlp])),
        }
    }
    services
}

/// `span` of `trace` as an OTLP span.
pub fn otlp_span(context: &OutputContext, trace: &Trace, span: &Span) -> OtlpSpan {
    let protocol = context.protocol(trace, span);
    let mut attributes = span_attributes(context, span);
    attributes.extend(protocol.iter().flat_map(|p| p.attributes()).map(
        |(key, value)| match value {
            AttributeValue::Str(s) => Attribute::string(key, s),
            AttributeValue::Int(i) => Attribute::int(key, i),
        },
    ));
    OtlpSpan {
        trace_id: trace.id,
        span_id: span.id,
        parent: span.parent,
        name: tool_span_name(protocol.as_ref(), trace, span),
        kind: span.kind,
        start_unix_ns: context.unix_ns(span.start),
        end_unix_ns: context.unix_ns(span.end),
        attributes,
        error: span_error(protocol.as_ref(), span),
    }
}

/// The address and port attributes of one end of a span's connection.
fn address_attributes(side: &str, addr: SocketAddr) -> [Attribute; 2] {
    [
        Attribute::string(
            &format!("network.{side}.address"),
            addr.ip().to_canonical().to_string(),
        ),
        Attribute::int(&format!("network.{side}.port"), addr.port()),
    ]
}

/// The attributes kspan itself knows of a span: process, threads, connection, kernel
/// activity, events, sums, link and partiality.
fn span_attributes(context: &OutputContext, span: &Span) -> Vec<Attribute> {
    let a = &span.activity;
    let threads: Vec<String> = span.threads.iter().map(|t| t.to_string()).collect();
    let mut attrs = vec![
        Attribute::int("process.pid", span.pid),
        Attribute::int("thread.id", span.tid),
        Attribute::string("kspan.threads", threads.join(",")),
    ];
    attrs.extend(
        span.peer
            .map(|peer| address_attributes("peer", peer))
            .into_iter()
            .flatten(),
    );
    attrs.extend(
        span.local
            .map(|local| address_attributes("local", local))
            .into_iter()
            .flatten(),
    );
    for (key, value) in [
        ("kspan.bytes.in", a.bytes_in),
        ("kspan.bytes.out", a.bytes_out),
        ("kspan.cpu.on_ns", a.on_cpu_ns),
        ("kspan.cpu.runnable_ns", a.runnable_ns),
        ("kspan.blocked.net_ns", a.blocked_net_ns),
        ("kspan.blocked.io_ns", a.blocked_io_ns),
        ("kspan.blocked.futex_ns", a.blocked_futex_ns),
        ("kspan.blocked.other_ns", a.blocked_other_ns),
    ] {
        attrs.push(Attribute::int(key, value));
    }
    for &(id, count) in a.counts.iter().filter(|(_, count)| *count > 0) {
        let key = format!("kspan.events.{}", context.event_name(id));
        attrs.push(Attribute::int(&key, count));
    }
    for (name, &sum) in context.sum_names.iter().zip(&a.sums) {
        attrs.push(Attribute::int(&format!("kspan.sum.{name}"), sum));
    }
    if let Some(link) = span.link {
        attrs.push(Attribute::string("kspan.link", link.evidence.name()));
        attrs.push(Attribute {
            key: "kspan.link.confidence".into(),
            value: Value::Double(link_confidence(&link)),
        });
        attrs.push(Attribute::int("kspan.link.candidates", link.candidates));
    }
    if span.partial {
        attrs.push(Attribute {
            key: "kspan.partial".into(),
            value: Value::Bool(true),
        });
    }
    attrs
}
