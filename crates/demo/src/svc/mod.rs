//! `kspan-demo-svc`: one of our services, in any of the five designs, logging ground truth.
//!
//! The designs share the request model (`Service`, `Received`, `Outcome`) and differ
//! only in which thread or process reads, calls downstream and writes.

mod asyncd;
mod blocking;
mod call;
mod pool;
mod prefork;

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use crate::plan::{self, Call};
use crate::proto::{self, HttpRequest};
use crate::topology::Design;
use crate::truth::{self, CallRecord, SpanRecord, TruthLog};

/// How to run one service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Service name: selects its endpoints and calls (see [`crate::plan`]).
    pub name: String,
    /// Its design.
    pub design: Design,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Ground-truth directory.
    pub truth_dir: PathBuf,
    /// Addresses of the targets it calls, by name.
    pub downstreams: HashMap<String, SocketAddr>,
}

/// Binds the listener and serves forever in the configured design.
pub fn run(config: ServiceConfig) -> io::Result<()> {
    let listener = TcpListener::bind(config.listen)?;
    let service = Service {
        log: TruthLog::open(&config.truth_dir, &config.name)?,
        name: config.name,
        design: config.design,
        downstreams: config.downstreams,
    };
    match service.design {
        Design::Thread => blocking::run_thread_per_connection(service, listener),
        Design::Pool => pool::run(service, listener),
        Design::Prefork => prefork::run(service, listener),
        Design::Epoll => asyncd::run(service, listener, false),
        Design::Tokio => asyncd::run(service, listener, true),
    }
}

/// A running service's identity, downstream addresses and truth log.
#[derive(Debug)]
struct Service {
    name: String,
    design: Design,
    downstreams: HashMap<String, SocketAddr>,
    log: TruthLog,
}

/// A request as read, with what the truth log needs about its reading.
#[derive(Debug)]
struct Received {
    req: HttpRequest,
    start_unix_ns: u64,
    tid: i32,
    peer: SocketAddr,
    local: SocketAddr,
}

impl Received {
    /// Parses a complete request just read on the calling thread.
    fn new(raw: &[u8], peer: SocketAddr, local: SocketAddr) -> Option<Received> {
        let start_unix_ns = truth::now_ns();
        let req = HttpRequest::parse(raw)?;
        Some(Received {
            req,
            start_unix_ns,
            tid: truth::gettid(),
            peer,
            local,
        })
    }
}

/// The result of a request's calls: the records, and the first failure.
#[derive(Debug, Default)]
struct Outcome {
    calls: Vec<CallRecord>,
    failure: Option<(u16, String)>,
}

impl Outcome {
    /// Records a call; its failure (the first one) decides the response.
    fn push(&mut self, record: CallRecord, timed_out: bool) {
        if self.failure.is_none() && record.status != "ok" {
            self.failure = Some((if timed_out { 504 } else { 502 }, record.status.clone()));
        }
        self.calls.push(record);
    }
}

impl Service {
    /// The stages of calls for a request, `None` for an unknown endpoint.
    fn plan(&self, got: &Received) -> Option<Vec<Vec<Call>>> {
        plan::plan(&self.name, &got.req.path, &got.req.rid)
    }

    /// The response to send and the span status, from the outcome (`None`: unknown endpoint).
    fn response(&self, got: &Received, outcome: Option<&Outcome>) -> (Vec<u8>, String) {
        let (code, status) = match outcome {
            None => (404, format!("error: unknown endpoint {}", got.req.path)),
            Some(Outcome {
                failure: Some((code, status)),
                ..
            }) => (*code, status.clone()),
            Some(_) => (200, "ok".to_string()),
        };
        let body = serde_json::json!({"service": self.name, "rid": got.req.rid, "status": status});
        (proto::http_response(code, &body.to_string()), status)
    }

    /// Appends the span of a served request (write errors go to stderr: serving goes on).
    fn log(&self, got: Received, status: String, calls: Vec<CallRecord>) {
        let span = SpanRecord {
            rid: got.req.rid,
            service: self.name.clone(),
            design: self.design.name().to_string(),
            pid: std::process::id(),
            tid: got.tid,
            start_unix_ns: got.start_unix_ns,
            end_unix_ns: truth::now_ns(),
            peer: got.peer.to_string(),
            local: got.local.to_string(),
            method: got.req.method,
            endpoint: got.req.path,
            status,
            calls,
        };
        if let Err(e) = self.log.append(&span) {
            eprintln!("{}: cannot append to the truth log: {e}", self.name);
        }
    }
}
