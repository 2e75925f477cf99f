//! Whether kspan named each span for what it was: every matched true span whose truth states
//! its operation ([`crate::operation`]) is judged by the kspan spans that stand for it.
//!
//! A true span stands for one or more exchanges on the wire: one, or two for a call that
//! opened a PostgreSQL connection (its startup exchange, then the statement). kspan shows
//! each exchange as a span, the matching pairs one with the true span and takes the others
//! as its further round trips ([`crate::matching`]). The true span's name is right when
//! these spans, in start order, are the exchanges one for one: each with the expected name
//! (`GET /compose`, `LRANGE`, `get`, `INSERT`, `startup`) and, on the one named by the
//! operation, the expected `http.request.method` and `url.path` (HTTP) or
//! `db.operation.name`. A true span kspan did not produce is not judged here (it is
//! missing); nor is one whose truth says nothing of its operation (old logs: counted as
//! not stated).

use crate::expected::Expected;
use crate::matching::Matching;
use crate::operation::Operation;
use crate::otlp::ObservedSpan;
use crate::report::percent;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// The names check of one report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NameReport {
    /// Matched true spans whose truth states their operation: judged.
    pub judged: usize,
    /// Of those, named right (with the right attributes).
    pub right: usize,
    /// Matched true spans whose truth does not state their operation: not judged.
    pub unstated: usize,
    /// The judged spans per protocol and kind (`http SERVER`, `postgres CLIENT`).
    pub by_kind: BTreeMap<String, NameTally>,
    /// The first wrongly named spans.
    pub mismatches: Vec<NameMismatch>,
}

/// Judged and right spans of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NameTally {
    /// Spans judged.
    pub judged: usize,
    /// Of those, named right.
    pub right: usize,
}

/// A true span kspan named otherwise than the truth says it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameMismatch {
    /// The request id.
    pub rid: String,
    /// The true span (`user CLIENT 10.77.0.15:40444`).
    pub span: String,
    /// The names its exchanges should carry, in order.
    pub expected: Vec<String>,
    /// The names of the kspan spans that stand for it, in start order.
    pub got: Vec<String>,
    /// What is wrong, in one line.
    pub reason: String,
}

/// Judges the names of every matched true span; lists the first `max_mismatches` wrong ones.
pub fn judge_names(
    expected: &Expected,
    observed: &[ObservedSpan],
    matching: &Matching,
    max_mismatches: usize,
) -> NameReport {
    let mut standing: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
    for (o, m) in matching.of_observed.iter().enumerate() {
        if let Some(pair) = m {
            standing.entry(*pair).or_default().push(o);
        }
    }
    let mut report = NameReport::default();
    for (r, request) in expected.requests.iter().enumerate() {
        for (s, want) in request.spans.iter().enumerate() {
            let Some(spans) = standing.get_mut(&(r, s)) else {
                continue;
            };
            let Some(operation) = &want.operation else {
                report.unstated += 1;
                continue;
            };
            spans.sort_by_key(|&o| (observed[o].start, o));
            let got: Vec<&ObservedSpan> = spans.iter().map(|&o| &observed[o]).collect();
            let wrong = mismatch(operation, &got);
            let tally = report
                .by_kind
                .entry(format!("{} {}", operation.proto(), want.kind.name()))
                .or_default();
            tally.judged += 1;
            report.judged += 1;
            let Some(reason) = wrong else {
                tally.right += 1;
                report.right += 1;
                continue;
            };
            if report.mismatches.len() < max_mismatches {
                report.mismatches.push(NameMismatch {
                    rid: request.rid.clone(),
                    span: want.describe(),
                    expected: operation.exchanges(),
                    got: got.iter().map(|g| g.name.clone()).collect(),
                    reason,
                });
            }
        }
    }
    report
}

/// What is wrong with the names of `got` (the kspan spans of one true span, in start order)
/// for `operation`; `None` when nothing is.
fn mismatch(operation: &Operation, got: &[&ObservedSpan]) -> Option<String> {
    let exchanges = operation.exchanges();
    if got.len() != exchanges.len() {
        return Some(format!(
            "{} kspan spans for {} exchanges",
            got.len(),
            exchanges.len()
        ));
    }
    for (span, name) in got.iter().zip(&exchanges) {
        if span.name != *name {
            return Some(format!("named `{}`, not `{name}`", span.name));
        }
    }
    // The exchange named by the operation is the last one.
    let last = got.last()?;
    operation
        .attributes()
        .into_iter()
        .find(|(key, value)| last.protocol.get(key) != Some(value))
        .map(|(key, value)| match last.protocol.get(key) {
            Some(other) => format!("{key} is `{other}`, not `{value}`"),
            None => format!("{key} is missing (`{value}` expected)"),
        })
}

impl fmt::Display for NameReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "names: {} judged, {} right ({}); {} matched spans whose operation the truth does \
             not state",
            self.judged,
            self.right,
            percent(self.right, self.judged),
            self.unstated
        )?;
        let kinds: Vec<String> = self
            .by_kind
            .iter()
            .map(|(kind, t)| format!("{kind} {}/{}", t.right, t.judged))
            .collect();
        writeln!(
            f,
            "  by protocol and kind (right/judged): {}",
            kinds.join(", ")
        )?;
        for m in &self.mismatches {
            writeln!(
                f,
                "  {}: {}: {} (expected {}, kspan: {})",
                m.rid,
                m.span,
                m.reason,
                m.expected.join(" + "),
                if m.got.is_empty() {
                    "no span".to_string()
                } else {
                    m.got.join(" + ")
                }
            )?;
        }
        Ok(())
    }
}
