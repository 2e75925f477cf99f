//! Reading kspan's OTLP JSON export (`docs/otlp.md`) into flat spans.

use crate::error::TruthError;
use serde::{Deserialize, Deserializer};
use std::fmt;
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
    /// `thread.id`: the thread that started the span, when exported.
    pub tid: Option<i64>,
    /// `kspan.threads`: every thread that worked in the span (empty when not exported).
    pub threads: Vec<i64>,
    /// How kspan linked the span to its parent, when exported (not on roots, nor in exports
    /// older than the link attributes).
    pub link: Option<Link>,
    /// The span's name (`GET /compose`, `SELECT`, or a generic `user server`).
    pub name: String,
    /// The protocol attributes the names check compares, when exported.
    pub protocol: ProtocolAttributes,
}

/// The protocol attributes of a span that say what it was (docs/otlp.md), as exported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtocolAttributes {
    /// `http.request.method`.
    pub http_method: Option<String>,
    /// `url.path`.
    pub url_path: Option<String>,
    /// `db.operation.name`.
    pub db_operation: Option<String>,
}

impl ProtocolAttributes {
    /// The value of attribute `key`, for the keys this holds (`None` for others).
    pub fn get(&self, key: &str) -> Option<&str> {
        match key {
            "http.request.method" => self.http_method.as_deref(),
            "url.path" => self.url_path.as_deref(),
            "db.operation.name" => self.db_operation.as_deref(),
            _ => None,
        }
    }
}

/// The evidence and confidence kspan gives for a span's link to its parent
/// (`kspan.link` and `kspan.link.confidence`, docs/otlp.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The evidence that decided the link (`bytes`, `own-thread`, `event-loop`, …).
    pub evidence: String,
    /// The probability kspan reports that the parent is right (0–1).
    pub confidence: f64,
}

impl ObservedSpan {
    /// Whether the export says which threads worked in the span.
    pub fn has_threads(&self) -> bool {
        self.tid.is_some() || !self.threads.is_empty()
    }

    /// Whether `tid` is the span's thread or among its threads.
    pub fn ran_on(&self, tid: i64) -> bool {
        self.tid == Some(tid) || self.threads.contains(&tid)
    }
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
    name: String,
    #[serde(default)]
    kind: i64,
    start_time_unix_nano: ProtoInt,
    end_time_unix_nano: ProtoInt,
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    value: AnyValue,
}

/// An attribute's value; the kinds the checker does not read are skipped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnyValue {
    string_value: Option<String>,
    int_value: Option<ProtoInt>,
    double_value: Option<f64>,
}

/// A proto3-JSON 64-bit integer: a decimal string, or (leniently) a plain number.
struct ProtoInt(i64);

impl<'de> Deserialize<'de> for ProtoInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ProtoInt;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 64-bit integer, as a decimal string or a number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ProtoInt, E> {
                v.parse().map(ProtoInt).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ProtoInt, E> {
                Ok(ProtoInt(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ProtoInt, E> {
                i64::try_from(v).map(ProtoInt).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
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
            spans.push(observed(raw, &service));
        }
    }
    Ok(spans)
}

fn observed(raw: RawSpan, service: &str) -> ObservedSpan {
    ObservedSpan {
        start: raw.start_time_unix_nano.0,
        end: raw.end_time_unix_nano.0,
        peer: endpoint(&raw.attributes, "network.peer.address", "network.peer.port"),
        local: endpoint(
            &raw.attributes,
            "network.local.address",
            "network.local.port",
        ),
        kind: match raw.kind {
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            _ => SpanKind::Other,
        },
        tid: attr(&raw.attributes, "thread.id")
            .and_then(|v| v.int_value.as_ref())
            .map(|t| t.0),
        threads: attr_str(&raw.attributes, "kspan.threads")
            .map(|list| {
                list.split(',')
                    .filter_map(|t| t.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default(),
        link: link(&raw.attributes),
        protocol: ProtocolAttributes {
            http_method: attr_str(&raw.attributes, "http.request.method").map(str::to_string),
            url_path: attr_str(&raw.attributes, "url.path").map(str::to_string),
            db_operation: attr_str(&raw.attributes, "db.operation.name").map(str::to_string),
        },
        name: raw.name,
        parent_span_id: Some(raw.parent_span_id).filter(|p| !p.is_empty()),
        trace_id: raw.trace_id,
        span_id: raw.span_id,
        service: service.to_string(),
    }
}

/// `kspan.link` and `kspan.link.confidence`, when both are present.
fn link(attrs: &[KeyValue]) -> Option<Link> {
    Some(Link {
        evidence: attr_str(attrs, "kspan.link")?.to_string(),
        confidence: attr(attrs, "kspan.link.confidence")?.double_value?,
    })
}

/// The address and port attributes as one address, when both are present and valid.
fn endpoint(attrs: &[KeyValue], address: &str, port: &str) -> Option<SocketAddr> {
    let ip: IpAddr = attr_str(attrs, address)?.parse().ok()?;
    let port = attr(attrs, port)?.int_value.as_ref()?.0;
    Some(SocketAddr::new(ip, u16::try_from(port).ok()?))
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

fn attr_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attr(attrs, key)?.string_value.as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_may_be_strings_or_numbers() {
        let text = r#"{"resourceSpans":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"user"}}]},
          "scopeSpans":[{"spans":[{"traceId":"t","spanId":"s","parentSpanId":"","kind":3,
            "name":"GET /user",
            "startTimeUnixNano":"1764431234000000001","endTimeUnixNano":1764431234000000002,
            "attributes":[{"key":"network.peer.address","value":{"stringValue":"10.0.0.1"}},
                          {"key":"network.peer.port","value":{"intValue":80}},
                          {"key":"network.local.address","value":{"stringValue":"10.0.0.2"}},
                          {"key":"network.local.port","value":{"intValue":"40000"}},
                          {"key":"thread.id","value":{"intValue":"77"}},
                          {"key":"kspan.threads","value":{"stringValue":"77,78"}},
                          {"key":"kspan.link","value":{"stringValue":"own-thread"}},
                          {"key":"kspan.link.confidence","value":{"doubleValue":0.99}},
                          {"key":"http.request.method","value":{"stringValue":"GET"}},
                          {"key":"url.path","value":{"stringValue":"/user"}},
                          {"key":"kspan.partial","value":{"boolValue":true}}]}]}]}]}"#;
        assert_eq!(
            parse_otlp(text),
            Ok(vec![ObservedSpan {
                trace_id: "t".to_string(),
                span_id: "s".to_string(),
                parent_span_id: None,
                service: "user".to_string(),
                kind: SpanKind::Client,
                start: 1_764_431_234_000_000_001,
                end: 1_764_431_234_000_000_002,
                peer: Some("10.0.0.1:80".parse().unwrap()),
                local: Some("10.0.0.2:40000".parse().unwrap()),
                tid: Some(77),
                threads: vec![77, 78],
                link: Some(Link {
                    evidence: "own-thread".to_string(),
                    confidence: 0.99,
                }),
                name: "GET /user".to_string(),
                protocol: ProtocolAttributes {
                    http_method: Some("GET".to_string()),
                    url_path: Some("/user".to_string()),
                    db_operation: None,
                },
            }])
        );
        assert!(parse_otlp(&text.replace("\"40000\"", "\"port\"")).is_err());
    }
}
