//! The ground-truth log formats (one JSON object per line) and reading a truth directory.
//!
//! The formats are the shared contract between the demo app, the load generator and the
//! checker: `<service>.jsonl` written by our services, `gateway.jsonl` (nginx's JSON access
//! log) and `loadgen.jsonl` (one line per request the load generator sent).

use crate::error::TruthError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// One request served by one of our services (a line of `<service>.jsonl`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ServiceRecord {
    /// The request id (from `X-Request-Id`).
    pub rid: String,
    /// The service's name.
    pub service: String,
    /// The service's design: thread, pool, epoll, prefork or tokio.
    pub design: String,
    /// The OS thread that handled the request (read it), when the service can tell; absent,
    /// `null` or 0 when it cannot (the thread check is then skipped, see [`known_tid`]).
    #[serde(default)]
    pub tid: Option<i64>,
    /// When the request was fully read, Unix ns.
    pub start_unix_ns: i64,
    /// When the last byte of the response was written, Unix ns.
    pub end_unix_ns: i64,
    /// The client's end of the connection the request came in on.
    pub peer: SocketAddr,
    /// The service's end of that connection.
    pub local: SocketAddr,
    /// The request's method as the service read it (`GET`), when logged: with `endpoint`, what
    /// the span is named after (see [`crate::operation`]).
    #[serde(default)]
    pub method: Option<String>,
    /// The request's path as the service read it, when logged.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The calls the service made downstream while serving the request.
    #[serde(default)]
    pub calls: Vec<CallRecord>,
}

/// One downstream call a service made for a request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CallRecord {
    /// The called service or store.
    pub target: String,
    /// The caller's end of the connection used for the call; `None` (logged as `""`) when
    /// no connection could be made.
    #[serde(deserialize_with = "empty_as_none")]
    pub local: Option<SocketAddr>,
    /// The callee's end of that connection.
    pub peer: SocketAddr,
    /// When the call started, Unix ns.
    pub start_unix_ns: i64,
    /// When the call's answer was fully read, Unix ns.
    pub end_unix_ns: i64,
    /// `ok` or `error: <what>`.
    pub status: String,
    /// The OS thread that made the call, when the service can tell; absent, `null` or 0 when
    /// it cannot (the thread check is then skipped, see [`known_tid`]).
    #[serde(default)]
    pub tid: Option<i64>,
    /// What the call asked for, when logged (its fields sit in the call's object).
    #[serde(flatten)]
    pub asked: Asked,
}

/// What a call asked for, by protocol, as the caller logged it: the facts its span's name
/// is made of (see [`crate::operation`]). Every field is optional: logs without them still
/// check, their spans' names are then not judged.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Asked {
    /// The protocol: `http`, `redis`, `memcached`, `postgres`, …
    #[serde(default)]
    pub proto: Option<String>,
    /// HTTP: the request method as sent.
    #[serde(default)]
    pub method: Option<String>,
    /// HTTP: the request path as sent.
    #[serde(default)]
    pub path: Option<String>,
    /// Redis, memcached: the command word as sent.
    #[serde(default)]
    pub command: Option<String>,
    /// SQL databases: the statement's text.
    #[serde(default)]
    pub query: Option<String>,
    /// Whether the call opened a new connection and sent the protocol's startup message
    /// (PostgreSQL) before its request.
    #[serde(default)]
    pub startup: bool,
}

/// A logged thread id that names a thread: positive (stacks that cannot tell log 0).
pub fn known_tid(tid: Option<i64>) -> Option<i64> {
    tid.filter(|&t| t > 0)
}

/// One request as nginx logged it (a line of `gateway.jsonl`); times have nginx's 1 ms resolution.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GatewayRecord {
    /// The request id (empty when the request carried none).
    pub rid: String,
    /// The client's end of the connection (the load generator's `local`).
    pub peer: SocketAddr,
    /// nginx's end of that connection.
    pub local: SocketAddr,
    /// When the request ended, Unix seconds with millisecond decimals.
    pub msec: f64,
    /// How long the request took, seconds with millisecond decimals.
    pub request_time: f64,
    /// The request's path.
    pub endpoint: String,
    /// The request's method (`$request_method`), when logged.
    #[serde(default)]
    pub method: Option<String>,
}

impl GatewayRecord {
    /// The request's end, Unix ns (at nginx's 1 ms resolution).
    pub fn end_unix_ns(&self) -> i64 {
        millis(self.msec) * 1_000_000
    }

    /// The request's start, Unix ns (at nginx's 1 ms resolution).
    pub fn start_unix_ns(&self) -> i64 {
        (millis(self.msec) - millis(self.request_time)) * 1_000_000
    }
}

/// Seconds with millisecond decimals to whole milliseconds (nginx prints exactly three decimals).
fn millis(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// One request the load generator sent (a line of `loadgen.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadgenRecord {
    /// The request id it put in `X-Request-Id`.
    pub rid: String,
    /// The requested path.
    pub endpoint: String,
    /// The load generator's end of the connection (absent when it could not connect).
    pub local: Option<SocketAddr>,
    /// The gateway's end of the connection.
    pub peer: SocketAddr,
    /// When the request's first byte was written, Unix ns.
    pub start_unix_ns: i64,
    /// When the response's last byte was read (or the request failed), Unix ns.
    pub end_unix_ns: i64,
    /// The HTTP status; 0 when the request failed or timed out.
    pub status: u16,
    /// Why the request failed, when `status` is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything a truth directory holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TruthLogs {
    /// Lines of every `<service>.jsonl`.
    pub services: Vec<ServiceRecord>,
    /// Lines of `gateway.jsonl`.
    pub gateway: Vec<GatewayRecord>,
    /// Lines of `loadgen.jsonl`, when the directory has one.
    pub loadgen: Option<Vec<LoadgenRecord>>,
}

/// An address, or `None` for an empty string.
fn empty_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

/// Reads every `*.jsonl` of a truth directory: `gateway.jsonl`, the optional `loadgen.jsonl`,
/// and every other file as a service log.
pub fn read_truth_dir(dir: &Path) -> Result<TruthLogs, TruthError> {
    let io_err = |error| TruthError::Io {
        path: dir.to_path_buf(),
        error,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io_err)?;
    files.retain(|p| p.extension().is_some_and(|e| e == "jsonl"));
    files.sort();
    let mut logs = TruthLogs::default();
    let mut has_gateway = false;
    for path in files {
        match path.file_stem().and_then(|s| s.to_str()) {
            Some("gateway") => {
                logs.gateway = read_jsonl(&path)?;
                has_gateway = true;
            }
            Some("loadgen") => logs.loadgen = Some(read_jsonl(&path)?),
            _ => logs.services.extend(read_jsonl::<ServiceRecord>(&path)?),
        }
    }
    if !has_gateway {
        return Err(TruthError::NoGatewayLog(dir.to_path_buf()));
    }
    Ok(logs)
}

/// Reads a file of one JSON object per line, skipping blank lines.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, TruthError> {
    let text = std::fs::read_to_string(path).map_err(|error| TruthError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|error| TruthError::BadRecord {
                path: path.to_path_buf(),
                line: i + 1,
                error,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_span_was_is_optional() {
        let line = r#"{"rid":"r-1","service":"post-storage","design":"pool","tid":7,
            "start_unix_ns":1,"end_unix_ns":9,"peer":"10.0.0.1:5000","local":"10.0.0.2:8080",
            "method":"POST","endpoint":"/store","status":"ok","calls":[
            {"target":"postgres","proto":"postgres","local":"10.0.0.2:40000",
             "peer":"10.0.0.3:5432","start_unix_ns":2,"end_unix_ns":5,"status":"ok",
             "query":"INSERT INTO posts VALUES (1)","startup":true},
            {"target":"memcached","local":"","peer":"10.0.0.4:11211","start_unix_ns":6,
             "end_unix_ns":8,"status":"error: memcached: timed out"}]}"#;
        let rec: ServiceRecord = serde_json::from_str(line).unwrap();
        assert_eq!(
            (rec.method.as_deref(), rec.endpoint.as_deref()),
            (Some("POST"), Some("/store"))
        );
        assert_eq!(
            rec.calls[0].asked,
            Asked {
                proto: Some("postgres".into()),
                query: Some("INSERT INTO posts VALUES (1)".into()),
                startup: true,
                ..Asked::default()
            }
        );
        // An older log: nothing said, nothing assumed.
        assert_eq!(rec.calls[1].local, None);
        assert_eq!(rec.calls[1].asked, Asked::default());
        let gateway: GatewayRecord = serde_json::from_str(
            r#"{"rid":"r-1","peer":"10.0.0.9:1","local":"10.0.0.1:80","msec":1.5,
                "request_time":0.001,"endpoint":"/compose"}"#,
        )
        .unwrap();
        assert_eq!(gateway.method, None);
    }
}
