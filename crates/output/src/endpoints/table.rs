//! The endpoint table for people (`kspan analyze --by endpoint`): one line per endpoint,
//! columns aligned, with where a span's time went on average.

use super::{Breakdown, Endpoint};
use crate::tree::human_ns;
use std::io::{self, Write};

/// The column titles; the first three are text (left-aligned), the rest numbers.
const TITLES: [&str; 12] = [
    "SERVICE",
    "KIND",
    "NAME",
    "COUNT",
    "ERRORS",
    "P50",
    "P99",
    "MAX",
    "MEAN",
    "SELF",
    "CALLS",
    "TIME WENT TO (mean per span)",
];
/// How many leading columns are text.
const TEXT_COLUMNS: usize = 3;
/// How many kernel states the last column names.
const TOP_STATES: usize = 3;
/// How many kinds of events the last column names.
const TOP_EVENTS: usize = 2;

/// The kernel states of `mean` with time in them, longest first (ties in the order of
/// the tree output), at most [`TOP_STATES`], and the most frequent events per span.
fn went_to(mean: &Breakdown, events: &[(String, u64)], count: usize) -> String {
    let mut states = mean.states();
    states.sort_by_key(|&(_, ns)| std::cmp::Reverse(ns));
    let mut parts: Vec<String> = states
        .iter()
        .filter(|&&(_, ns)| ns > 0)
        .take(TOP_STATES)
        .map(|&(state, ns)| format!("{state} {}", human_ns(ns)))
        .collect();
    parts.extend(
        events
            .iter()
            .take(TOP_EVENTS)
            .map(|(name, n)| format!("{name} {:.1}/span", *n as f64 / count.max(1) as f64)),
    );
    match parts.is_empty() {
        true => "-".to_string(),
        false => parts.join(", "),
    }
}

/// The cells of one endpoint's line.
fn row(e: &Endpoint) -> [String; 12] {
    let l = &e.latency;
    [
        e.service.clone(),
        e.kind.to_string(),
        e.name.clone(),
        l.count.to_string(),
        e.errors.to_string(),
        human_ns(l.p50),
        human_ns(l.p99),
        human_ns(l.max),
        human_ns(e.mean_ns),
        human_ns(e.self_ns),
        human_ns(e.calls_ns),
        went_to(&e.mean, &e.events, l.count),
    ]
}

/// Writes `endpoints` as an aligned table with a title line (or one sentence when there
/// are none).
pub fn write_table(out: &mut dyn Write, endpoints: &[Endpoint]) -> io::Result<()> {
    if endpoints.is_empty() {
        return writeln!(out, "no spans");
    }
    let rows: Vec<[String; 12]> = endpoints.iter().map(row).collect();
    let mut widths = TITLES.map(|t| t.chars().count());
    for r in &rows {
        for (width, cell) in widths.iter_mut().zip(r) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let titles = TITLES.map(str::to_string);
    for cells in std::iter::once(&titles).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, &width)) in cells.iter().zip(&widths).enumerate() {
            let pad = " ".repeat(width - cell.chars().count());
            match i {
                _ if i == cells.len() - 1 => line.push_str(cell),
                _ if i < TEXT_COLUMNS => line.push_str(&format!("{cell}{pad}  ")),
                _ => line.push_str(&format!("{pad}{cell}  ")),
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}
