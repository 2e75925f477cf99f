//! The service map: which service calls which, how often and how fast (as the caller saw
//! it), with the requests that came from outside the recording as calls from `clients`.

use crate::endpoints::{Latencies, Percentiles};
use crate::names::callee;
use kspan_engine::{SpanKind, Trace};
use serde::Serialize;
use std::collections::BTreeMap;

/// The node of the callers kspan did not trace (a root server span's client).
pub const CLIENTS: &str = "clients";

/// Calls between services, gathered trace by trace.
#[derive(Debug, Default)]
pub struct ServiceMap {
    /// Server spans per traced service.
    served: BTreeMap<String, u64>,
    /// Durations of the calls per (caller, callee).
    calls: BTreeMap<(String, String), Latencies>,
}

/// A service of the map.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// Its name (a peer address for a service kspan did not trace).
    pub name: String,
    /// Requests it served (its server spans; 0 for one kspan did not trace).
    pub served: u64,
}

/// The calls from one service to another.
#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    /// The caller.
    pub from: String,
    /// The callee.
    pub to: String,
    /// How many calls and their durations (the caller's client span, or for calls from
    /// [`CLIENTS`] the server span).
    pub latency: Percentiles,
}

/// The map as the report embeds it.
#[derive(Debug, Clone, Serialize)]
pub struct Map {
    /// Every service met, callers and callees.
    pub nodes: Vec<Node>,
    /// Every pair of services with a call between them.
    pub edges: Vec<Edge>,
}

impl ServiceMap {
    /// Counts the calls of `trace`.
    pub fn add(&mut self, trace: &Trace) {
        for span in &trace.spans {
            let duration = span.end.saturating_sub(span.start);
            let edge = match (span.kind, span.parent) {
                (SpanKind::Server, parent) => {
                    *self.served.entry(span.service.clone()).or_default() += 1;
                    match parent {
                        Some(_) => continue,
                        None => (CLIENTS.to_string(), span.service.clone()),
                    }
                }
                (SpanKind::Client, _) => (span.service.clone(), callee(trace, span)),
            };
            self.calls.entry(edge).or_default().push(duration);
        }
    }

    /// The nodes and edges, by name.
    pub fn map(&self) -> Map {
        let mut nodes: BTreeMap<&str, u64> =
            self.served.iter().map(|(n, &c)| (n.as_str(), c)).collect();
        for (from, to) in self.calls.keys() {
            nodes.entry(from).or_default();
            nodes.entry(to).or_default();
        }
        Map {
            nodes: nodes
                .into_iter()
                .map(|(name, served)| Node {
                    name: name.to_string(),
                    served,
                })
                .collect(),
            edges: self
                .calls
                .iter()
                .map(|((from, to), latencies)| Edge {
                    from: from.clone(),
                    to: to.clone(),
                    latency: latencies.percentiles(),
                })
                .collect(),
        }
    }
}
