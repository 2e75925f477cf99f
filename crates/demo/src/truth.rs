//! Ground-truth records (see docs/ground-truth.md) and the per-service append-only log
//! that every process of a service writes whole lines to.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// What a call asked for, by protocol: the facts a span name is made of
/// (docs/ground-truth.md, "What each span is"). Each field is logged only when the call's
/// protocol has it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Operation {
    /// HTTP: the request method as sent (`GET`, `POST`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// HTTP: the request path as sent, without query string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Redis and memcached: the command word as sent (`LRANGE`, `get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// PostgreSQL: the SQL text of the query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// One call a service made while serving a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Target service or store name.
    pub target: String,
    /// `http`, `redis`, `memcached` or `postgres`.
    pub proto: String,
    /// The caller's end of the connection used ("" when no connection could be made).
    pub local: String,
    /// The target's end of the connection.
    pub peer: String,
    /// When the call started (before connecting or taking a pooled connection).
    pub start_unix_ns: u64,
    /// When its reply was fully read (or it failed).
    pub end_unix_ns: u64,
    /// `"ok"` or `"error: <what>"`.
    pub status: String,
    /// What the call asked for (logged as the fields of [`Operation`]).
    #[serde(flatten)]
    pub operation: Operation,
    /// True when the call opened a new connection and sent the protocol's startup message
    /// first (PostgreSQL): one more exchange on the wire before the request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub startup: bool,
}

/// One request a service served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanRecord {
    /// The request id from `X-Request-Id`.
    pub rid: String,
    /// Service name.
    pub service: String,
    /// Its design: thread, pool, epoll, prefork or tokio.
    pub design: String,
    /// Process id.
    pub pid: u32,
    /// The thread that read the request.
    pub tid: i32,
    /// When the request was fully read.
    pub start_unix_ns: u64,
    /// When the last byte of the response was written.
    pub end_unix_ns: u64,
    /// The client's end of the connection.
    pub peer: String,
    /// The service's end of the connection.
    pub local: String,
    /// Request method, as read (`GET`, `POST`).
    #[serde(default)]
    pub method: String,
    /// Request path.
    pub endpoint: String,
    /// `"ok"` or `"error: <what>"`.
    pub status: String,
    /// Calls made, in the order they were started.
    pub calls: Vec<CallRecord>,
}

/// Current CLOCK_REALTIME in Unix nanoseconds.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The calling thread's kernel thread id.
pub fn gettid() -> i32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// `<truth dir>/<service>.jsonl`, opened with O_APPEND so that every process and thread
/// of the service can append whole lines without interleaving.
#[derive(Debug)]
pub struct TruthLog {
    file: File,
}

impl TruthLog {
    /// Opens (creating if needed) the log of `service` in `dir`.
    pub fn open(dir: &Path, service: &str) -> io::Result<TruthLog> {
        std::fs::create_dir_all(dir)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{service}.jsonl")))?;
        Ok(TruthLog { file })
    }

    /// Appends one record as one line with a single write.
    pub fn append(&self, span: &SpanRecord) -> io::Result<()> {
        let mut line = serde_json::to_vec(span).map_err(io::Error::other)?;
        line.push(b'\n');
        (&self.file).write_all(&line)
    }
}

/// Reads every record of a `<service>.jsonl` file (missing file: no records).
pub fn read_spans(path: &Path) -> io::Result<Vec<SpanRecord>> {
    let text = match std::fs::read_to_string(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other?,
    };
    text.lines()
        .map(|l| serde_json::from_str(l).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)))
        .collect()
}
