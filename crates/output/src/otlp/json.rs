//! OTLP/JSON (`ExportTraceServiceRequest` in proto3's JSON mapping). Written as a stream:
//! each trace becomes one `ResourceSpans` entry per service it touches, so memory does not
//! grow with the number of traces.

use super::proto::{kind_number, STATUS_ERROR};
use super::{resource_groups, Attribute, OtlpSpan, Value, SCOPE_NAME, SCOPE_VERSION};
use crate::names::{span_id_hex, trace_id_hex, OutputContext};
use crate::TraceSink;
use kspan_engine::{Summary, Trace};
use serde::Serialize;
use std::io::{self, Write};

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

impl From<Attribute> for KeyValue {
    fn from(attribute: Attribute) -> KeyValue {
        KeyValue {
            key: attribute.key,
            value: match attribute.value {
                Value::Str(s) => AnyValue::Str(s),
                Value::Int(i) => AnyValue::Int(i.to_string()),
                Value::Bool(b) => AnyValue::Bool(b),
                Value::Double(d) => AnyValue::Double(d),
            },
        }
    }
}

#[derive(Serialize)]
struct Status {
    code: i32,
    message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpan {
    trace_id: String,
    span_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_span_id: Option<String>,
    name: String,
    kind: i32,
    start_time_unix_nano: String,
    end_time_unix_nano: String,
    attributes: Vec<KeyValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
}

impl From<OtlpSpan> for JsonSpan {
    fn from(span: OtlpSpan) -> JsonSpan {
        JsonSpan {
            trace_id: trace_id_hex(span.trace_id),
            span_id: span_id_hex(span.span_id),
            parent_span_id: span.parent.map(span_id_hex),
            name: span.name,
            kind: kind_number(span.kind),
            start_time_unix_nano: span.start_unix_ns.to_string(),
            end_time_unix_nano: span.end_unix_ns.to_string(),
            attributes: span.attributes.into_iter().map(KeyValue::from).collect(),
            status: span.error.map(|message| Status {
                code: STATUS_ERROR,
                message,
            }),
        }
    }
}

#[derive(Serialize)]
struct Scope {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct ScopeSpans {
    scope: Scope,
    spans: Vec<JsonSpan>,
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
}

impl<W: Write> TraceSink for OtlpJsonSink<W> {
    fn trace(&mut self, trace: &Trace) -> io::Result<()> {
        for (service, spans) in resource_groups(&self.context, trace) {
            let entry = ResourceSpans {
                resource: Resource {
                    attributes: vec![Attribute::string("service.name", service).into()],
                },
                scope_spans: vec![ScopeSpans {
                    scope: Scope {
                        name: SCOPE_NAME,
                        version: SCOPE_VERSION,
                    },
                    spans: spans.into_iter().map(JsonSpan::from).collect(),
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

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
