//! Per-endpoint latency: the spans of each service grouped by kind and name (`GET
//! /compose` when the payload heads name them), with their percentiles and where their time
//! went on average.

use super::breakdown::Breakdown;
use super::latency::{Latencies, Percentiles};
use crate::names::kind_name;
use kspan_engine::Span;
use serde::Serialize;
use std::collections::BTreeMap;

/// The spans gathered so far, per (service, kind, name).
#[derive(Debug, Default)]
pub struct Endpoints(BTreeMap<(String, &'static str, String), Gathered>);

#[derive(Debug, Default)]
struct Gathered {
    latencies: Latencies,
    time: Breakdown,
    errors: u64,
}

/// One endpoint as the report embeds it.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    /// The service.
    pub service: String,
    /// `server` (requests it served) or `client` (calls it made).
    pub kind: &'static str,
    /// The spans' name.
    pub name: String,
    /// How many spans and their durations.
    pub latency: Percentiles,
    /// How many of them failed.
    pub errors: u64,
    /// Where a span's time went, on average.
    pub mean: Breakdown,
}

impl Endpoints {
    /// Adds `span`, named `name`; `failed` when it ended in an error.
    pub fn add(&mut self, span: &Span, name: String, failed: bool) {
        let gathered = self
            .0
            .entry((span.service.clone(), kind_name(span.kind), name))
            .or_default();
        gathered.latencies.push(span.end.saturating_sub(span.start));
        gathered.time.add(&Breakdown::of(&span.activity));
        gathered.errors += u64::from(failed);
    }

    /// Every endpoint, slowest 99th percentile first.
    pub fn list(&self) -> Vec<Endpoint> {
        let mut list: Vec<Endpoint> = self
            .0
            .iter()
            .map(|((service, kind, name), g)| {
                let latency = g.latencies.percentiles();
                Endpoint {
                    service: service.clone(),
                    kind,
                    name: name.clone(),
                    mean: g.time.mean(latency.count as u64),
                    latency,
                    errors: g.errors,
                }
            })
            .collect();
        list.sort_by_key(|e| std::cmp::Reverse(e.latency.p99));
        list
    }
}
