//! The true tree of every request, built from the ground-truth logs.
//!
//! Shape (OpenTelemetry's usual one), per request:
//! - root: the gateway's SERVER span (nginx's access-log line of the request id; its peer is
//!   the load generator's connection); its time window is the load generator's request (sent
//!   to answered, in ns) when `loadgen.jsonl` has it on that connection, else nginx's logged
//!   time (1 ms resolution, too coarse to tell apart back-to-back requests of one connection:
//!   [`Timing::Coarse`]);
//! - under it, one gateway CLIENT span per upstream call: nginx logs only `$upstream_addr`, so
//!   each call is taken from the service line with that request id whose peer IP is the
//!   gateway's IP: the CLIENT span's local end is that line's `peer`, its peer end that line's
//!   `local`, and its time is only known to contain the service's span (a window);
//! - under each gateway CLIENT span, the service's SERVER span (exact times);
//! - under a service SERVER span, one CLIENT span per entry of its `calls` (exact times);
//! - under a call's CLIENT span, the callee's SERVER span: the service line with that request
//!   id whose `peer` is the call's `local`; when there is none (stores log nothing, and a
//!   crashed service cannot), a SERVER span of the call's target with that peer is expected
//!   within the call's time window, but only if the call succeeded (a failed call may never
//!   have reached a server);
//! - a call that could not connect (its `local` is empty) is an *optional* CLIENT span: kspan
//!   may show the attempt (it is then matched by the callee's address and time, and judged
//!   like any span) or not (it is then not missing).
//!
//! Each span also carries what it was by protocol when the truth says
//! ([`crate::operation`]): the root from the gateway's line, a gateway call and the
//! service's span from the service's line, a call and a store's span from the call's entry.

use crate::operation::Operation;
use crate::otlp::SpanKind;
use crate::records::{known_tid, LoadgenRecord, ServiceRecord, TruthLogs};
use std::collections::HashMap;
use std::net::SocketAddr;

/// How precisely the truth knows a span's times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// Logged by the span's own process: start and end are the span's.
    Exact,
    /// Only known to lie about this window, to the nanosecond (the load generator's request
    /// around the gateway's span, the service's span inside the gateway's call, a store's
    /// span inside its caller's call): used for matching only, never for time errors.
    Window,
    /// Only known to nginx's 1 ms resolution (a root whose request the load generator's log
    /// lacks): matched with the coarse tolerance, never used for time errors.
    Coarse,
}

/// One span a request's true tree holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedSpan {
    /// The service the span belongs to.
    pub service: String,
    /// Server or client.
    pub kind: SpanKind,
    /// This side's end of the span's connection; `None` only for a call that could not
    /// connect (an optional span).
    pub local: Option<SocketAddr>,
    /// The other side's end.
    pub peer: SocketAddr,
    /// Start, Unix ns.
    pub start: i64,
    /// End, Unix ns.
    pub end: i64,
    /// Whether `start`/`end` are the span's own or a window around it.
    pub timing: Timing,
    /// The design of the service that logged the span, for our services' spans.
    pub design: Option<String>,
    /// Index of the parent span in the request's `spans`; `None` for the root.
    pub parent: Option<usize>,
    /// The OS thread the truth says handled the request (a SERVER span) or made the call (a
    /// CLIENT span), when it was logged: kspan's span must have run on it.
    pub tid: Option<i64>,
    /// What the span is by protocol, when the truth says (the names check).
    pub operation: Option<Operation>,
}

impl ExpectedSpan {
    /// The connection end that identifies the span: the client's end for a SERVER span, the
    /// caller's own end for a CLIENT span (an ephemeral port, unique while the connection
    /// lives), or the callee's end for a call that could not connect.
    pub fn key(&self) -> (End, SocketAddr) {
        match (self.kind, self.local) {
            (SpanKind::Client, Some(local)) => (End::Local, local),
            _ => (End::Peer, self.peer),
        }
    }

    /// The connection's other end, when known (see [`ExpectedSpan::key`]).
    pub fn far(&self) -> Option<SocketAddr> {
        match self.kind {
            SpanKind::Client => self.local.map(|_| self.peer),
            _ => self.local,
        }
    }

    /// False for a call that could not connect: kspan may or may not show it.
    pub fn required(&self) -> bool {
        self.local.is_some()
    }

    /// A short description for failure reasons, e.g. `user SERVER 10.77.0.10:53512` (the
    /// identifying end).
    pub fn describe(&self) -> String {
        match self.key() {
            (End::Local, addr) => format!("{} {} {addr}", self.service, self.kind.name()),
            (End::Peer, addr) if self.kind == SpanKind::Server => {
                format!("{} {} {addr}", self.service, self.kind.name())
            }
            (End::Peer, addr) => format!(
                "{} {} to {addr} (no connection)",
                self.service,
                self.kind.name()
            ),
        }
    }
}

/// Which end of a connection an address is, from the span's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    /// The span's own end.
    Local,
    /// The other side's end.
    Peer,
}

/// One request's true tree.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedRequest {
    /// The request id.
    pub rid: String,
    /// The requested path (from the gateway's log).
    pub endpoint: String,
    /// The spans, root first, every parent before its children.
    pub spans: Vec<ExpectedSpan>,
}

/// Every request's true tree, and what in the truth could not be placed in one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    /// The requests, by start time then request id.
    pub requests: Vec<ExpectedRequest>,
    /// Truth lines that could not be used, each said once with a count.
    pub warnings: Vec<String>,
}

/// Builds every request's true tree from the logs.
pub fn build(logs: &TruthLogs) -> Expected {
    let mut by_rid: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, rec) in logs.services.iter().enumerate() {
        by_rid.entry(rec.rid.as_str()).or_default().push(i);
    }
    let sent: HashMap<&str, &LoadgenRecord> = logs
        .loadgen
        .iter()
        .flatten()
        .map(|r| (r.rid.as_str(), r))
        .collect();
    let mut used = vec![false; logs.services.len()];
    let mut seen_rids = HashMap::new();
    let mut duplicates = 0usize;
    let mut requests = Vec::new();
    for gw in logs.gateway.iter().filter(|g| !g.rid.is_empty()) {
        if seen_rids.insert(gw.rid.as_str(), ()).is_some() {
            duplicates += 1;
            continue;
        }
        let (start, end, timing) = match sent.get(gw.rid.as_str()) {
            Some(lg) if lg.local == Some(gw.peer) => {
                (lg.start_unix_ns, lg.end_unix_ns, Timing::Window)
            }
            _ => (gw.start_unix_ns(), gw.end_unix_ns(), Timing::Coarse),
        };
        let mut spans = vec![ExpectedSpan {
            service: "gateway".to_string(),
            kind: SpanKind::Server,
            local: Some(gw.local),
            peer: gw.peer,
            start,
            end,
            timing,
            design: None,
            parent: None,
            tid: None,
            operation: Operation::served(gw.method.as_deref(), Some(&gw.endpoint)),
        }];
        let lines = by_rid
            .get(gw.rid.as_str())
            .map_or(&[][..], |v| v.as_slice());
        for &i in lines {
            let rec = &logs.services[i];
            if rec.peer.ip() == gw.local.ip() && !used[i] {
                used[i] = true;
                spans.push(ExpectedSpan {
                    service: "gateway".to_string(),
                    kind: SpanKind::Client,
                    local: Some(rec.peer),
                    peer: rec.local,
                    start: rec.start_unix_ns,
                    end: rec.end_unix_ns,
                    timing: Timing::Window,
                    design: None,
                    parent: Some(0),
                    tid: None,
                    operation: Operation::served(rec.method.as_deref(), rec.endpoint.as_deref()),
                });
                let parent = spans.len() - 1;
                add_service_subtree(&logs.services, lines, &mut used, i, parent, &mut spans);
            }
        }
        requests.push(ExpectedRequest {
            rid: gw.rid.clone(),
            endpoint: gw.endpoint.clone(),
            spans,
        });
    }
    requests.sort_by(|a, b| (a.spans[0].start, &a.rid).cmp(&(b.spans[0].start, &b.rid)));
    let mut warnings = Vec::new();
    if duplicates > 0 {
        warnings.push(format!(
            "{duplicates} gateway lines repeat an earlier request id and were ignored"
        ));
    }
    let unreached = used.iter().filter(|u| !**u).count();
    if unreached > 0 {
        warnings.push(format!(
            "{unreached} service lines were reached from no gateway line (no gateway line for \
             their request id, or their caller's line is missing) and were ignored"
        ));
    }
    Expected { requests, warnings }
}

/// Adds the SERVER span of service line `first` under `parent`, then its calls and their
/// callees, breadth first (no recursion: the depth comes from the input).
fn add_service_subtree(
    services: &[ServiceRecord],
    same_rid: &[usize],
    used: &mut [bool],
    first: usize,
    parent: usize,
    spans: &mut Vec<ExpectedSpan>,
) {
    let mut queue = std::collections::VecDeque::from([(first, parent)]);
    while let Some((i, parent)) = queue.pop_front() {
        let rec = &services[i];
        spans.push(ExpectedSpan {
            service: rec.service.clone(),
            kind: SpanKind::Server,
            local: Some(rec.local),
            peer: rec.peer,
            start: rec.start_unix_ns,
            end: rec.end_unix_ns,
            timing: Timing::Exact,
            design: Some(rec.design.clone()),
            parent: Some(parent),
            tid: known_tid(rec.tid),
            operation: Operation::served(rec.method.as_deref(), rec.endpoint.as_deref()),
        });
        let server = spans.len() - 1;
        for call in &rec.calls {
            let operation = Operation::of_call(&call.asked);
            spans.push(ExpectedSpan {
                service: rec.service.clone(),
                kind: SpanKind::Client,
                local: call.local,
                peer: call.peer,
                start: call.start_unix_ns,
                end: call.end_unix_ns,
                timing: Timing::Exact,
                design: Some(rec.design.clone()),
                parent: Some(server),
                tid: known_tid(call.tid),
                operation: operation.clone(),
            });
            let client = spans.len() - 1;
            let callee = same_rid
                .iter()
                .copied()
                .find(|&j| !used[j] && Some(services[j].peer) == call.local);
            match (callee, call.local) {
                (Some(j), _) => {
                    used[j] = true;
                    queue.push_back((j, client));
                }
                (None, Some(caller_end)) if call.status == "ok" => spans.push(ExpectedSpan {
                    service: call.target.clone(),
                    kind: SpanKind::Server,
                    local: Some(call.peer),
                    peer: caller_end,
                    start: call.start_unix_ns,
                    end: call.end_unix_ns,
                    timing: Timing::Window,
                    design: None,
                    parent: Some(client),
                    tid: None,
                    operation,
                }),
                _ => {}
            }
        }
    }
}
