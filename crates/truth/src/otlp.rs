//! Reading kspan's OTLP JSON export (`docs/otlp.md`) into flat spans.

use crate::error::TruthError;
use serde::Deserialize;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// Which side of a call a span stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpanKind {
    /// A service handling a request (OTLP kind 2).
    Server,
    /// A service calling another (OTLP kind 3).
    Client,
    /// Any other OTLP kind (kspan emits none; such spans can only be extra).
    Other,
}

impl SpanKind {
    /// The upper-case OpenTelemetry name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            SpanKind::Server => "SERVER",
            SpanKind::Client => "CLIENT",
            SpanKind::Other => "OTHER",
        }
    }
}

/// One span of the export, with what the checker compares.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedSpan {
    /// Hex trace id.
    pub trace_id: String,
    /// Hex span id.
    pub span_id: String,
    /// Hex parent span id; `None` on a trace's root.
    pub parent_span_id: Option<String>,
    /// The resource's `service.name`.
    pub service: String,
    /// Server, client or other.
    pub kind: SpanKind,
    /// Start, Unix ns.
    pub start: i64,
    /// End, Unix ns.
    pub end: i64,
    /// `network.peer.address`:`network.peer.port`, when both are present.
    pub peer: Option<SocketAddr>,
    /// `network.local.address`:`network.local.port`, when both are present.
    pub local: Option<SocketAddr>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Export {
    #[serde(default)]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans {
    #[serde(default)]
    resource: Resource,
    #[serde(default)]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Deserialize, Default)]
struct Resource {
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct ScopeSpans {
    #[serde(default)]
    spans: Vec<RawSpan>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSpan {
    trace_id: String,
    span_id: String,
    #[serde(default)]
    parent_span_id: String,
    #[serde(default)]
    kind: i64,
    start_time_unix_nano: Value,
    end_time_unix_nano: Value,
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    value: Value,
}

/// Reads an OTLP JSON export file.
pub fn read_otlp(path: &Path) -> Result<Vec<ObservedSpan>, TruthError> {
    let text = std::fs::read_to_string(path).map_err(|error| TruthError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    parse_otlp(&text).map_err(|reason| TruthError::BadOtlp {
        path: path.to_path_buf(),
        reason,
    })
}

/// Parses an OTLP JSON export; the error says what is wrong.
pub fn parse_otlp(text: &str) -> Result<Vec<ObservedSpan>, String> {
    let export: Export = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut spans = Vec::new();
    for resource in export.resource_spans {
        let service = attr_str(&resource.resource.attributes, "service.name")
            .ok_or("a resource has no service.name attribute")?
            .to_string();
        for raw in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
            spans.push(observed(raw, &service)?);
        }
    }
    Ok(spans)
}

fn observed(raw: RawSpan, service: &str) -> Result<ObservedSpan, String> {
    let time = |v: &Value, what: &str| {
        json_int(v).ok_or_else(|| format!("span {} has no valid {what}", raw.span_id))
    };
    Ok(ObservedSpan {
        start: time(&raw.start_time_unix_nano, "startTimeUnixNano")?,
        end: time(&raw.end_time_unix_nano, "endTimeUnixNano")?,
        peer: endpoint(&raw.attributes, "network.peer"),
        local: endpoint(&raw.attributes, "network.local"),
        kind: match raw.kind {
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            _ => SpanKind::Other,
        },
        parent_span_id: Some(raw.parent_span_id).filter(|p| !p.is_empty()),
        trace_id: raw.trace_id,
        span_id: raw.span_id,
        service: service.to_string(),
    })
}

/// `<prefix>.address` and `<prefix>.port` as one address, when both are present and valid.
fn endpoint(attrs: &[KeyValue], prefix: &str) -> Option<SocketAddr> {
    let ip: IpAddr = attr_str(attrs, &format!("{prefix}.address"))?
        .parse()
        .ok()?;
    let port = attr(attrs, &format!("{prefix}.port"))?
        .get("intValue")
        .and_then(json_int)?;
    Some(SocketAddr::new(ip, u16::try_from(port).ok()?))
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

fn attr_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attr(attrs, key)?.get("stringValue")?.as_str()
}

/// A proto3-JSON 64-bit integer: a decimal string, or a plain number.
fn json_int(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        other => other.as_i64(),
    }
}
