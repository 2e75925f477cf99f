//! OTLP protobuf: the shared mapping's spans as the official `opentelemetry-proto` messages
//! (`ExportTraceServiceRequest`), for OTLP/HTTP export.

use super::{resource_groups, Attribute, OtlpSpan, Value, SCOPE_NAME, SCOPE_VERSION};
use crate::names::OutputContext;
use kspan_engine::{SpanKind, Trace};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};

pub use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

/// OTLP's status code for a span that failed.
pub const STATUS_ERROR: i32 = status::StatusCode::Error as i32;

/// OTLP's number for a span kind (2 = SERVER, 3 = CLIENT).
pub fn kind_number(kind: SpanKind) -> i32 {
    match kind {
        SpanKind::Server => span::SpanKind::Server as i32,
        SpanKind::Client => span::SpanKind::Client as i32,
    }
}

fn key_value(attribute: Attribute) -> KeyValue {
    let value = match attribute.value {
        Value::Str(s) => any_value::Value::StringValue(s),
        Value::Int(i) => any_value::Value::IntValue(i),
        Value::Bool(b) => any_value::Value::BoolValue(b),
        Value::Double(d) => any_value::Value::DoubleValue(d),
    };
    KeyValue {
        key: attribute.key,
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn proto_span(span: OtlpSpan) -> Span {
    Span {
        trace_id: span.trace_id.0.to_be_bytes().to_vec(),
        span_id: span.span_id.0.to_be_bytes().to_vec(),
        parent_span_id: span
            .parent
            .map(|p| p.0.to_be_bytes().to_vec())
            .unwrap_or_default(),
        name: span.name,
        kind: kind_number(span.kind),
        start_time_unix_nano: span.start_unix_ns,
        end_time_unix_nano: span.end_unix_ns,
        attributes: span.attributes.into_iter().map(key_value).collect(),
        status: span.error.map(|message| Status {
            message,
            code: STATUS_ERROR,
        }),
        ..Default::default()
    }
}

/// `trace` as OTLP protobuf: one `ResourceSpans` per service it touches, like the JSON.
pub fn trace_resource_spans(context: &OutputContext, trace: &Trace) -> Vec<ResourceSpans> {
    resource_groups(context, trace)
        .into_iter()
        .map(|(service, spans)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![key_value(Attribute::string("service.name", service))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: SCOPE_NAME.to_string(),
                    version: SCOPE_VERSION.to_string(),
                    ..Default::default()
                }),
                spans: spans.into_iter().map(proto_span).collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect()
}

/// The number of spans in `resource_spans`.
pub fn span_count(resource_spans: &[ResourceSpans]) -> usize {
    resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}
