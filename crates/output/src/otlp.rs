//! OpenTelemetry OTLP/JSON (`ExportTraceServiceRequest`), the contract documented in
//! `docs/otlp.md`. Written as a stream: each trace becomes one `ResourceSpans` entry per
//! service it touches, so memory does not grow with the number of traces.

use crate::names::{
    link_confidence, span_error, span_id_hex, tool_span_name, trace_id_hex, OutputContext,
};
use crate::TraceSink;
use kspan_engine::{Span, SpanKind, Summary, Trace};
use kspan_protocol::AttributeValue;
use serde::Serialize;
use std::io::{self, Write};

/// OTLP span kind numbers (`opentelemetry.proto.trace.v1.Span.SpanKind`).
const KIND_SERVER: u8 = 2;
const KIND_CLIENT: u8 = 3;
/// OTLP status code for an error.
const STATUS_ERROR: u8 = 2;

/// OTLP's `AnyValue`, serialised as `{"stringValue": …}` and so on.
#[derive(Serialize)]
enum AnyValue {
    #[serde(rename = "stringValue")]
    Str(String),
    /// int64, which proto3 JSON writes as a decimal string.
    #[serde(rename = "intValue")]
    Int(String),
    #[serde(rename = "boolValue")]
    Bool(bool),
    #[serde(rename = "doubleValue")]
    Double(f64),
}

#[derive(Serialize)]
struct KeyValue {
    key: String,
    value: AnyValue,
}

fn string_kv(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: AnyValue::Str(value.into()),
    }
}

fn int_kv(key: &str, value: impl ToString) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: AnyValue::Int(value.to_string()),
    }
}

#[derive(Serialize)]
struct Status {
    code: u8,
    message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OtlpSpan {
    trace_id: String,
    span_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_span_id: Option<String>,
    name: String,
    kind: u8,
    start_time_unix_nano: String,
    end_time_unix_nano: String,
    attributes: Vec<KeyValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
}

#[derive(Serialize)]
struct Scope {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct ScopeSpans {
    scope: Scope,
    spans: Vec<OtlpSpan>,
}

#[derive(Serialize)]
struct Resource {
    attributes: Vec<KeyValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans {
    resource: Resource,
    scope_spans: Vec<ScopeSpans>,
}

/// Writes traces as one OTLP/JSON `ExportTraceServiceRequest` document.
pub struct OtlpJsonSink<W: Write> {
    out: W,
    context: OutputContext,
    wrote_any: bool,
}

impl<W: Write> OtlpJsonSink<W> {
    /// A sink writing to `out`, naming events and converting times with `context`.
    pub fn new(out: W, context: OutputContext) -> Self {
        OtlpJsonSink {
            out,
            context,
            wrote_any: false,
        }
    }

    fn span_attributes(&self, span: &Span) -> Vec<KeyValue> {
        let a = &span.activity;
        let mut attrs = vec![
            int_kv("process.pid", span.pid),
            int_kv("thread.id", span.tid),
            string_kv(
                "kspan.threads",
                span.threads
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ];
        if let Some(peer) = span.peer {
            attrs.push(string_kv(
                "network.peer.address",
                peer.ip().to_canonical().to_string(),
            ));
            attrs.push(int_kv("network.peer.port", peer.port()));
        }
        if let Some(local) = span.local {
            attrs.push(string_kv(
                "network.local.address",
                local.ip().to_canonical().to_string(),
            ));
            attrs.push(int_kv("network.local.port", local.port()));
        }
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
            attrs.push(int_kv(key, value));
        }
        for &(id, count) in a.counts.iter().filter(|(_, count)| *count > 0) {
            attrs.push(int_kv(
                &format!("kspan.events.{}", self.context.event_name(id)),
                count,
            ));
        }
        for (name, sum) in self.context.sum_names.iter().zip(&a.sums) {
            attrs.push(int_kv(&format!("kspan.sum.{name}"), sum));
        }
        if let Some(link) = span.link {
            attrs.push(string_kv("kspan.link", link.evidence.name()));
            attrs.push(KeyValue {
                key: "kspan.link.confidence".into(),
                value: AnyValue::Double(link_confidence(&link)),
            });
            attrs.push(int_kv("kspan.link.candidates", link.candidates));
        }
        if span.partial {
            attrs.push(KeyValue {
                key: "kspan.partial".into(),
                value: AnyValue::Bool(true),
            });
        }
        attrs
    }

    fn otlp_span(&self, trace: &Trace, span: &Span) -> OtlpSpan {
        let protocol = self.context.protocol(trace, span);
        let mut attributes = self.span_attributes(span);
        attributes.extend(
            protocol
                .iter()
                .flat_map(|p| p.attributes())
                .map(|(key, value)| match value {
                    AttributeValue::Str(s) => string_kv(key, s),
                    AttributeValue::Int(i) => int_kv(key, i),
                }),
        );
        let error = span_error(protocol.as_ref(), span);
        OtlpSpan {
            trace_id: trace_id_hex(trace.id),
            span_id: span_id_hex(span.id),
            parent_span_id: span.parent.map(span_id_hex),
            name: tool_span_name(protocol.as_ref(), trace, span),
            kind: match span.kind {
                SpanKind::Server => KIND_SERVER,
                SpanKind::Client => KIND_CLIENT,
            },
            start_time_unix_nano: self.context.unix_ns(span.start).to_string(),
            end_time_unix_nano: self.context.unix_ns(span.end).to_string(),
            attributes,
            status: error.map(|message| Status {
                code: STATUS_ERROR,
                message,
            }),
        }
    }
}

impl<W: Write> TraceSink for OtlpJsonSink<W> {
    fn trace(&mut self, trace: &Trace) -> io::Result<()> {
        // Group the trace's spans by service, keeping first-appearance order.
        let mut services: Vec<(&str, Vec<OtlpSpan>)> = Vec::new();
        for span in &trace.spans {
            let otlp = self.otlp_span(trace, span);
            match services.iter_mut().find(|(name, _)| *name == span.service) {
                Some((_, spans)) => spans.push(otlp),
                None => services.push((&span.service, vec![otlp])),
            }
        }
        for (service, spans) in services {
            let entry = ResourceSpans {
                resource: Resource {
                    attributes: vec![string_kv("service.name", service)],
                },
                scope_spans: vec![ScopeSpans {
                    scope: Scope {
                        name: "kspan",
                        version: env!("CARGO_PKG_VERSION"),
                    },
                    spans,
                }],
            };
            self.out.write_all(if self.wrote_any {
                b",\n"
            } else {
                b"{\"resourceSpans\":[\n"
            })?;
            self.wrote_any = true;
            serde_json::to_writer(&mut self.out, &entry)?;
        }
        Ok(())
    }

    fn finish(&mut self, _summary: &Summary) -> io::Result<()> {
        self.out.write_all(if self.wrote_any {
            b"\n]}\n"
        } else {
            b"{\"resourceSpans\":[]}\n"
        })?;
        self.out.flush()
    }
}
