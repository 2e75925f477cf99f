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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expected::{ExpectedRequest, ExpectedSpan, Timing};
    use crate::otlp::{ProtocolAttributes, SpanKind};

    /// A true span of `kind` whose truth says it is `operation` (`None`: says nothing).
    fn want(kind: SpanKind, operation: Option<Operation>) -> ExpectedSpan {
        ExpectedSpan {
            service: "svc".into(),
            kind,
            local: Some("10.0.0.1:4000".parse().unwrap()),
            peer: "10.0.0.2:80".parse().unwrap(),
            start: 0,
            end: 100,
            timing: Timing::Exact,
            design: None,
            parent: None,
            tid: None,
            operation,
        }
    }

    fn db(proto: &str, operation: &str, startup: bool) -> Option<Operation> {
        Some(Operation::Db {
            proto: proto.into(),
            operation: operation.into(),
            startup,
        })
    }

    /// A kspan span named `name` starting at `start`, with `attributes`.
    fn got(name: &str, start: i64, attributes: ProtocolAttributes) -> ObservedSpan {
        ObservedSpan {
            trace_id: "t".into(),
            span_id: format!("{name}@{start}"),
            parent_span_id: None,
            service: "svc".into(),
            kind: SpanKind::Client,
            start,
            end: start + 10,
            peer: None,
            local: None,
            tid: None,
            threads: vec![],
            link: None,
            name: name.into(),
            protocol: attributes,
        }
    }

    fn http_attrs(method: &str, path: &str) -> ProtocolAttributes {
        ProtocolAttributes {
            http_method: Some(method.into()),
            url_path: Some(path.into()),
            db_operation: None,
        }
    }

    fn db_attrs(operation: &str) -> ProtocolAttributes {
        ProtocolAttributes {
            db_operation: Some(operation.into()),
            ..ProtocolAttributes::default()
        }
    }

    /// One request of five true spans: a served `GET /compose`, a PostgreSQL `INSERT` that
    /// opened its connection, a memcached `get`, a span the truth says nothing of, and a
    /// Redis `SCARD` kspan did not produce; `observed` paired to them as `pairs` says.
    fn judge(observed: &[ObservedSpan], pairs: &[Option<usize>], max: usize) -> NameReport {
        let expected = Expected {
            requests: vec![ExpectedRequest {
                rid: "r-1".into(),
                endpoint: "/compose".into(),
                spans: vec![
                    want(SpanKind::Server, Some(Operation::http("GET", "/compose"))),
                    want(SpanKind::Client, db("postgres", "INSERT", true)),
                    want(SpanKind::Client, db("memcached", "get", false)),
                    want(SpanKind::Client, None),
                    want(SpanKind::Client, db("redis", "SCARD", false)),
                ],
            }],
            warnings: vec![],
        };
        let matching = Matching {
            of_expected: vec![vec![None; 5]],
            of_observed: pairs.iter().map(|p| p.map(|s| (0, s))).collect(),
            round_trips: 0,
            near_misses: vec![vec![None; 5]],
        };
        judge_names(&expected, observed, &matching, max)
    }

    #[test]
    fn spans_named_for_what_they_were_are_right() {
        // The startup round trip comes after the statement in the input: order is by time.
        let observed = [
            got("GET /compose", 0, http_attrs("GET", "/compose")),
            got("INSERT", 30, db_attrs("INSERT")),
            got("startup", 10, ProtocolAttributes::default()),
            got("get", 50, db_attrs("get")),
            got("svc → x", 60, ProtocolAttributes::default()),
        ];
        let report = judge(
            &observed,
            &[Some(0), Some(1), Some(1), Some(2), Some(3)],
            10,
        );
        assert_eq!((report.judged, report.right, report.unstated), (3, 3, 1));
        assert_eq!(report.mismatches, vec![]);
        let tally = |judged, right| NameTally { judged, right };
        assert_eq!(
            report.by_kind,
            BTreeMap::from([
                ("http SERVER".to_string(), tally(1, 1)),
                ("memcached CLIENT".to_string(), tally(1, 1)),
                ("postgres CLIENT".to_string(), tally(1, 1)),
            ])
        );
    }

    #[test]
    fn wrong_names_attributes_and_exchanges_are_mismatches() {
        let observed = [
            // The path attribute disagrees with the name.
            got("GET /compose", 0, http_attrs("GET", "/compos")),
            // The startup exchange is missing: one span for two exchanges.
            got("INSERT", 30, db_attrs("INSERT")),
            // Named right, but without its operation attribute.
            got("get", 50, ProtocolAttributes::default()),
        ];
        let report = judge(&observed, &[Some(0), Some(1), Some(2)], 2);
        assert_eq!((report.judged, report.right, report.unstated), (3, 0, 0));
        assert_eq!(
            report.by_kind["postgres CLIENT"],
            NameTally {
                judged: 1,
                right: 0
            }
        );
        // The first two listed, as `max` says.
        assert_eq!(
            report.to_string(),
            "\
names: 3 judged, 0 right (0.0%); 0 matched spans whose operation the truth does not state
  by protocol and kind (right/judged): http SERVER 0/1, memcached CLIENT 0/1, postgres CLIENT 0/1
  r-1: svc SERVER 10.0.0.2:80: url.path is `/compos`, not `/compose` (expected GET /compose, kspan: GET /compose)
  r-1: svc CLIENT 10.0.0.1:4000: 1 kspan spans for 2 exchanges (expected startup + INSERT, kspan: INSERT)
"
        );
        let wrong_name = [got("set", 50, db_attrs("set"))];
        let report = judge(&wrong_name, &[Some(2)], 10);
        assert_eq!(report.mismatches[0].reason, "named `set`, not `get`");
        assert_eq!(report.mismatches[0].got, ["set"]);
        assert_eq!(report.mismatches[0].expected, ["get"]);
        let missing = judge(&wrong_name[..0], &[], 10);
        assert_eq!(missing, NameReport::default());
    }
}
