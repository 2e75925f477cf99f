//! Judging every request's kspan trace against its true tree, and the resulting report.

use crate::expected::{Expected, ExpectedRequest, Timing};
use crate::matching::Matching;
use crate::otlp::{ObservedSpan, SpanKind};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// The accuracy report of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Requests with a gateway log line (the requests the check is about).
    pub requests_in_truth: usize,
    /// Lines of `loadgen.jsonl`, when the truth has one.
    pub requests_sent: Option<usize>,
    /// Requests whose root span (the gateway's SERVER span) kspan produced.
    pub requests_traced: usize,
    /// Requests whose kspan trace is exactly the true tree.
    pub requests_exact: usize,
    /// `requests_exact` over `requests_in_truth`, in percent (0 when there are no requests).
    pub exact_tree_accuracy_pct: f64,
    /// Span-level counts.
    pub spans: SpanCounts,
    /// Per requested path.
    pub by_endpoint: BTreeMap<String, Tally>,
    /// Per service design: the requests that went through a service of that design, and the
    /// time errors of that design's spans.
    pub by_design: BTreeMap<String, DesignReport>,
    /// The first failing requests, each with its first problem.
    pub failures: Vec<Failure>,
    /// Truth lines that could not be used.
    pub warnings: Vec<String>,
}

/// Span-level counts over all requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SpanCounts {
    /// Spans in the true trees (not counting optional ones: calls that could not connect).
    pub expected: usize,
    /// Of those, spans kspan produced (in whatever trace, under whatever parent).
    pub matched: usize,
    /// True spans kspan did not produce.
    pub missing: usize,
    /// kspan spans in a request's trace that stand for no true span.
    pub extra: usize,
    /// True spans kspan produced in a trace other than their request's.
    pub wrong_trace: usize,
    /// True spans in their request's trace, whose parent's true span was produced, but which
    /// kspan placed under another parent (or, for a root, under any parent).
    pub wrong_parent: usize,
    /// kspan spans standing for no true span in traces of no request (traffic outside the
    /// truth, such as health checks or requests before the logs began).
    pub outside_requests: usize,
    /// kspan spans taken as further round trips of a true call or of its callee's span (a
    /// handshake before the query on a new connection), not counted in `matched`.
    pub round_trips: usize,
}

/// Request counts of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Requests in the group.
    pub requests: usize,
    /// Of those, traced (root span found).
    pub traced: usize,
    /// Of those, exact.
    pub exact: usize,
}

/// One service design's results.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DesignReport {
    /// Requests through a service of this design.
    pub requests: Tally,
    /// Time errors of this design's SERVER spans, when any was matched.
    pub server: Option<TimeErrors>,
    /// Time errors of this design's CLIENT spans, when any was matched.
    pub client: Option<TimeErrors>,
}

/// Errors (kspan minus truth, in ns) of matched spans whose true times are exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeErrors {
    /// Spans measured.
    pub spans: usize,
    /// Median start error (the lower middle value).
    pub start_median_ns: i64,
    /// Start error of largest magnitude.
    pub start_worst_ns: i64,
    /// Median duration error (the lower middle value).
    pub duration_median_ns: i64,
    /// Duration error of largest magnitude.
    pub duration_worst_ns: i64,
}

/// A request whose trace is not exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The request id.
    pub rid: String,
    /// Its first problem, in one line.
    pub reason: String,
}

/// Per-request verdict, before aggregation.
struct Verdict {
    traced: bool,
    problems: Vec<String>,
}

/// Judges every request and aggregates the report, keeping the first `max_failures` failures.
pub fn judge(
    expected: &Expected,
    observed: &[ObservedSpan],
    matching: &Matching,
    requests_sent: Option<usize>,
    max_failures: usize,
) -> Report {
    let mut by_trace: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (o, span) in observed.iter().enumerate() {
        by_trace.entry(span.trace_id.as_str()).or_default().push(o);
        by_id.insert(span.span_id.as_str(), o);
    }
    let index = Index {
        by_trace: &by_trace,
        by_id: &by_id,
    };
    let mut counts = SpanCounts::default();
    let mut request_traces = BTreeSet::new();
    let mut report = Report {
        requests_in_truth: expected.requests.len(),
        requests_sent,
        requests_traced: 0,
        requests_exact: 0,
        exact_tree_accuracy_pct: 0.0,
        spans: SpanCounts::default(),
        by_endpoint: BTreeMap::new(),
        by_design: BTreeMap::new(),
        failures: Vec::new(),
        warnings: expected.warnings.clone(),
    };
    for (r, request) in expected.requests.iter().enumerate() {
        let (verdict, trace) = judge_request(
            r,
            request,
            expected,
            observed,
            matching,
            &index,
            &mut counts,
        );
        request_traces.extend(trace);
        let exact = verdict.problems.is_empty();
        let tally = |t: &mut Tally| {
            t.requests += 1;
            t.traced += usize::from(verdict.traced);
            t.exact += usize::from(exact);
        };
        tally(
            report
                .by_endpoint
                .entry(request.endpoint.clone())
                .or_default(),
        );
        let designs: BTreeSet<&str> = request
            .spans
            .iter()
            .filter(|s| s.kind == SpanKind::Server)
            .filter_map(|s| s.design.as_deref())
            .collect();
        for design in designs {
            tally(
                &mut report
                    .by_design
                    .entry(design.to_string())
                    .or_default()
                    .requests,
            );
        }
        report.requests_traced += usize::from(verdict.traced);
        report.requests_exact += usize::from(exact);
        if let (Some(reason), true) = (
            verdict.problems.first(),
            report.failures.len() < max_failures,
        ) {
            report.failures.push(Failure {
                rid: request.rid.clone(),
                reason: reason.clone(),
            });
        }
    }
    // Unmatched spans, counted once each (two requests may share a trace).
    for (span, m) in observed.iter().zip(&matching.of_observed) {
        if m.is_some() {
            continue;
        }
        if request_traces.contains(span.trace_id.as_str()) {
            counts.extra += 1;
        } else {
            counts.outside_requests += 1;
        }
    }
    counts.round_trips = matching.round_trips;
    report.spans = counts;
    if report.requests_in_truth > 0 {
        report.exact_tree_accuracy_pct =
            report.requests_exact as f64 * 100.0 / report.requests_in_truth as f64;
    }
    add_time_errors(&mut report.by_design, expected, observed, matching);
    report
}

/// The kspan spans by trace id and by span id.
struct Index<'a> {
    by_trace: &'a HashMap<&'a str, Vec<usize>>,
    by_id: &'a HashMap<&'a str, usize>,
}

/// Judges one request: its verdict and its trace id (the root's trace, else the trace of its
/// first produced span), updating the span counts.
fn judge_request<'a>(
    r: usize,
    request: &ExpectedRequest,
    expected: &Expected,
    observed: &'a [ObservedSpan],
    matching: &Matching,
    index: &Index<'_>,
    counts: &mut SpanCounts,
) -> (Verdict, Option<&'a str>) {
    let found = &matching.of_expected[r];
    let trace = found
        .iter()
        .flatten()
        .next()
        .map(|&o| observed[o].trace_id.as_str());
    let mut problems = Vec::new();
    for (s, want) in request.spans.iter().enumerate() {
        counts.expected += usize::from(want.required());
        let Some(o) = found[s] else {
            if want.required() {
                counts.missing += 1;
                problems.push(format!("missing span {}", want.describe()));
            }
            continue;
        };
        counts.matched += usize::from(want.required());
        let got = &observed[o];
        if Some(got.trace_id.as_str()) != trace {
            counts.wrong_trace += 1;
            problems.push(format!(
                "span {} is in another trace ({})",
                want.describe(),
                got.trace_id
            ));
            continue;
        }
        // The parent must stand for the true parent: its paired span or a further round
        // trip of it (see `matching`).
        let got_parent = got
            .parent_span_id
            .as_deref()
            .map(|id| index.by_id.get(id).and_then(|&po| matching.of_observed[po]));
        let right_parent = match want.parent {
            None => got_parent.is_none(),
            Some(p) if found[p].is_none() => continue,
            Some(p) => got_parent == Some(Some((r, p))),
        };
        if !right_parent {
            counts.wrong_parent += 1;
            problems.push(match want.parent {
                None => format!("root span {} has a parent", want.describe()),
                Some(p) => format!(
                    "span {} is not under {}",
                    want.describe(),
                    request.spans[p].describe()
                ),
            });
        }
    }
    if let Some(trace) = trace {
        for &o in &index.by_trace[trace] {
            match matching.of_observed[o] {
                None => {
                    let got = &observed[o];
                    problems.push(format!(
                        "extra span {} {} (span id {})",
                        got.service,
                        got.kind.name(),
                        got.span_id
                    ));
                }
                Some((other, _)) if other != r => problems.push(format!(
                    "the trace holds a span of request {}",
                    expected.requests[other].rid
                )),
                Some(_) => {}
            }
        }
    }
    let verdict = Verdict {
        traced: found[0].is_some(),
        problems,
    };
    (verdict, trace)
}

/// Start and duration errors of one design's spans of one kind.
#[derive(Default)]
struct Samples {
    starts: Vec<i64>,
    durations: Vec<i64>,
}

/// Fills the per-design time errors from every matched span with exact true times.
fn add_time_errors(
    by_design: &mut BTreeMap<String, DesignReport>,
    expected: &Expected,
    observed: &[ObservedSpan],
    matching: &Matching,
) {
    let mut samples: BTreeMap<(&str, SpanKind), Samples> = BTreeMap::new();
    for (request, found) in expected.requests.iter().zip(&matching.of_expected) {
        for (want, o) in request.spans.iter().zip(found) {
            let (Some(design), Some(o), Timing::Exact) = (&want.design, o, want.timing) else {
                continue;
            };
            let got = &observed[*o];
            let entry = samples.entry((design.as_str(), want.kind)).or_default();
            entry.starts.push(got.start - want.start);
            entry
                .durations
                .push((got.end - got.start) - (want.end - want.start));
        }
    }
    for (
        (design, kind),
        Samples {
            mut starts,
            mut durations,
        },
    ) in samples
    {
        let errors = TimeErrors {
            spans: starts.len(),
            start_median_ns: median(&mut starts),
            start_worst_ns: worst(&starts),
            duration_median_ns: median(&mut durations),
            duration_worst_ns: worst(&durations),
        };
        let entry = by_design.entry(design.to_string()).or_default();
        match kind {
            SpanKind::Client => entry.client = Some(errors),
            _ => entry.server = Some(errors),
        }
    }
}

/// The lower middle value (the input is not empty).
fn median(values: &mut [i64]) -> i64 {
    values.sort_unstable();
    values[(values.len() - 1) / 2]
}

/// The value of largest magnitude (the first such, the input is not empty).
fn worst(values: &[i64]) -> i64 {
    values
        .iter()
        .copied()
        .fold(0, |w, v| if v.abs() > w.abs() { v } else { w })
}

/// `part/whole` as a percentage rounded down to one decimal, so it never overstates.
fn percent(part: usize, whole: usize) -> String {
    let tenths = (part * 1000).checked_div(whole).unwrap_or(0);
    format!("{}.{}%", tenths / 10, tenths % 10)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.requests_in_truth;
        if let Some(sent) = self.requests_sent {
            writeln!(f, "requests sent:       {sent}")?;
        }
        writeln!(f, "requests in truth:   {total}")?;
        writeln!(f, "requests traced:     {}", self.requests_traced)?;
        writeln!(
            f,
            "exact-tree accuracy: {} ({}/{total} requests)",
            percent(self.requests_exact, total),
            self.requests_exact
        )?;
        let s = &self.spans;
        write!(
            f,
            "spans: {} expected, {} matched, {} missing, {} extra, {} in the wrong trace, {} under \
             the wrong parent, {} outside any request",
            s.expected, s.matched, s.missing, s.extra, s.wrong_trace, s.wrong_parent, s.outside_requests
        )?;
        if s.round_trips > 0 {
            write!(f, ", {} further round trips of a call", s.round_trips)?;
        }
        writeln!(f)?;
        writeln!(f, "per endpoint:")?;
        for (endpoint, t) in &self.by_endpoint {
            writeln!(f, "  {endpoint:<24} {}", tally_line(t))?;
        }
        writeln!(f, "per service design:")?;
        for (design, d) in &self.by_design {
            writeln!(f, "  {design:<24} {}", tally_line(&d.requests))?;
            for (kind, errors) in [("server", &d.server), ("client", &d.client)] {
                if let Some(e) = errors {
                    writeln!(
                        f,
                        "    {kind} spans: {}, start error median {} worst {}, duration error \
                         median {} worst {}",
                        e.spans,
                        micros(e.start_median_ns),
                        micros(e.start_worst_ns),
                        micros(e.duration_median_ns),
                        micros(e.duration_worst_ns)
                    )?;
                }
            }
        }
        if !self.failures.is_empty() {
            writeln!(f, "first failing requests:")?;
            for failure in &self.failures {
                writeln!(f, "  {}: {}", failure.rid, failure.reason)?;
            }
        }
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        Ok(())
    }
}

fn tally_line(t: &Tally) -> String {
    format!(
        "{} ({}/{} exact, {} traced)",
        percent(t.exact, t.requests),
        t.exact,
        t.requests,
        t.traced
    )
}

/// Nanoseconds as signed microseconds with three decimals, e.g. `-12.345 µs`.
fn micros(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let abs = ns.unsigned_abs();
    format!("{sign}{}.{:03} µs", abs / 1000, abs % 1000)
}
