//! Judging every request's kspan trace against its true tree, and the resulting report.

use crate::clock::ClockOffset;
use crate::expected::{Expected, ExpectedRequest, Timing};
use crate::links::{judge_links, LinkReport};
use crate::matching::{pipelined, Matching, Miss};
use crate::names::{judge_names, NameReport};
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
    /// The offset between kspan's clock and the applications', estimated from the data and
    /// removed from kspan's times before they are compared.
    pub clock: ClockOffset,
    /// Whether spans are their request's own: thread and time checks.
    pub identity: IdentityCounts,
    /// Per requested path.
    pub by_endpoint: BTreeMap<String, Tally>,
    /// Per service design: the requests that went through a service of that design, and the
    /// time errors of that design's spans.
    pub by_design: BTreeMap<String, DesignReport>,
    /// Every link kspan reported (`kspan.link`) judged against the true tree: how often links
    /// of each reported confidence and evidence were right.
    pub links: LinkReport,
    /// Whether each matched span is named for what the truth says it was (protocol names and
    /// attributes), and the first wrongly named spans.
    pub names: NameReport,
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

/// The identity checks: a kspan span counts only when it is its request's own, on the
/// request's thread (when the truth names it) and at its time (after the clock offset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IdentityCounts {
    /// Matched spans whose true thread the truth gives and whose threads kspan exported:
    /// the thread was checked.
    pub threads_checked: usize,
    /// Of those, spans that did not run on the true thread (a failure of the request).
    pub wrong_thread: usize,
    /// Matched spans whose true thread the truth gives but kspan's export does not say which
    /// threads worked in the span (not checked).
    pub threads_unknown: usize,
    /// Missing spans whose connection end holds a kspan span nearby (within 10 ms) but
    /// outside the true span's time, beyond the tolerance (counted in `spans.missing`).
    pub time_off: usize,
    /// Missing spans whose connection end holds a kspan span at their time that is another
    /// true span's (closer to a neighbouring request's span on the same keep-alive connection,
    /// or paired with it; counted in `spans.missing`).
    pub neighbour: usize,
    /// Requests with at least one identity problem (wrong thread, time off, neighbour).
    pub requests: usize,
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
    /// What kind of problem that is.
    pub kind: ProblemKind,
    /// Every identity problem of the request (wrong thread, time off, neighbour), in one line
    /// each, the first few.
    pub identity: Vec<String>,
}

/// What is wrong with a span of a request's trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A true span kspan did not produce, with no kspan span nearby on its connection.
    Missing,
    /// A true span kspan did not produce, whose connection holds a kspan span nearby but
    /// outside its time.
    TimeOff,
    /// A true span kspan did not produce, whose connection holds, at its time, a kspan span
    /// that is another true span's (a neighbouring request's on a keep-alive connection).
    Neighbour,
    /// A kspan span that did not run on the thread the truth names.
    WrongThread,
    /// A kspan span in another request's trace.
    WrongTrace,
    /// A kspan span under the wrong parent.
    WrongParent,
    /// A kspan span in the request's trace that stands for no true span.
    Extra,
    /// The request's trace holds a span of another request.
    ForeignSpan,
}

impl ProblemKind {
    /// Whether the problem is one of the identity checks.
    pub fn is_identity(self) -> bool {
        matches!(
            self,
            ProblemKind::TimeOff | ProblemKind::Neighbour | ProblemKind::WrongThread
        )
    }
}

/// How many identity problems a failure lists.
const MAX_IDENTITY_PROBLEMS: usize = 5;

/// Per-request verdict, before aggregation.
struct Verdict {
    traced: bool,
    problems: Vec<(ProblemKind, String)>,
}

/// Judges every request and aggregates the report, keeping the first `max_failures` failures.
pub fn judge(
    expected: &Expected,
    observed: &[ObservedSpan],
    matching: &Matching,
    requests_sent: Option<usize>,
    clock: ClockOffset,
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
    let mut counts = Counts::default();
    let mut request_traces = BTreeSet::new();
    let mut report = Report {
        requests_in_truth: expected.requests.len(),
        requests_sent,
        requests_traced: 0,
        requests_exact: 0,
        exact_tree_accuracy_pct: 0.0,
        spans: SpanCounts::default(),
        clock,
        identity: IdentityCounts::default(),
        by_endpoint: BTreeMap::new(),
        by_design: BTreeMap::new(),
        links: judge_links(expected, observed, matching, &by_id),
        names: judge_names(expected, observed, matching, max_failures),
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
        let identity_problems: Vec<String> = verdict
            .problems
            .iter()
            .filter(|(kind, _)| kind.is_identity())
            .map(|(_, text)| text.clone())
            .collect();
        counts.identity.requests += usize::from(!identity_problems.is_empty());
        if let (Some((kind, reason)), true) = (
            verdict.problems.first(),
            report.failures.len() < max_failures,
        ) {
            report.failures.push(Failure {
                rid: request.rid.clone(),
                reason: reason.clone(),
                kind: *kind,
                identity: identity_problems
                    .into_iter()
                    .take(MAX_IDENTITY_PROBLEMS)
                    .collect(),
            });
        }
    }
    // Unmatched spans, counted once each (two requests may share a trace).
    for (span, m) in observed.iter().zip(&matching.of_observed) {
        if m.is_some() {
            continue;
        }
        if request_traces.contains(span.trace_id.as_str()) {
            counts.spans.extra += 1;
        } else {
            counts.spans.outside_requests += 1;
        }
    }
    counts.spans.round_trips = matching.round_trips;
    report.spans = counts.spans;
    report.identity = counts.identity;
    if report.requests_in_truth > 0 {
        report.exact_tree_accuracy_pct =
            report.requests_exact as f64 * 100.0 / report.requests_in_truth as f64;
    }
    add_time_errors(&mut report.by_design, expected, observed, matching);
    report
}

/// The counts a judgement adds to.
#[derive(Default)]
struct Counts {
    spans: SpanCounts,
    identity: IdentityCounts,
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
    counts: &mut Counts,
) -> (Verdict, Option<&'a str>) {
    let found = &matching.of_expected[r];
    let trace = found
        .iter()
        .flatten()
        .next()
        .map(|&o| observed[o].trace_id.as_str());
    let mut problems = Vec::new();
    for (s, want) in request.spans.iter().enumerate() {
        counts.spans.expected += usize::from(want.required());
        let Some(o) = found[s] else {
            if want.required() {
                counts.spans.missing += 1;
                problems.push(missing(
                    r,
                    s,
                    expected,
                    observed,
                    matching,
                    &mut counts.identity,
                ));
            }
            continue;
        };
        counts.spans.matched += usize::from(want.required());
        let got = &observed[o];
        if let Some(tid) = want.tid {
            if !got.has_threads() {
                counts.identity.threads_unknown += 1;
            } else {
                counts.identity.threads_checked += 1;
                if !got.ran_on(tid) {
                    counts.identity.wrong_thread += 1;
                    problems.push((
                        ProblemKind::WrongThread,
                        format!(
                            "span {} ran on threads {} (span id {}), not on the true thread {tid}",
                            want.describe(),
                            thread_list(got),
                            got.span_id
                        ),
                    ));
                }
            }
        }
        if Some(got.trace_id.as_str()) != trace {
            counts.spans.wrong_trace += 1;
            problems.push((
                ProblemKind::WrongTrace,
                format!(
                    "span {} is in another trace ({})",
                    want.describe(),
                    got.trace_id
                ),
            ));
            continue;
        }
        // The parent must stand for the true parent: its paired span or a further round
        // trip of it (see `matching`), or a pipelined sibling of it (the same request's
        // span of the same kind on the same connection end, at the same time: a pipeline's
        // calls, which pair in any order; see `matching::pipelined`).
        let got_parent = got
            .parent_span_id
            .as_deref()
            .map(|id| index.by_id.get(id).and_then(|&po| matching.of_observed[po]));
        let sibling = |p: usize, q: usize| pipelined(&request.spans[p], &request.spans[q]);
        let right_parent = match want.parent {
            None => got_parent.is_none(),
            Some(p) if found[p].is_none() => continue,
            Some(p) => {
                matches!(got_parent, Some(Some((gr, gp))) if gr == r && (gp == p || sibling(gp, p)))
            }
        };
        if !right_parent {
            counts.spans.wrong_parent += 1;
            problems.push((
                ProblemKind::WrongParent,
                match want.parent {
                    None => format!("root span {} has a parent", want.describe()),
                    Some(p) => format!(
                        "span {} is not under {}",
                        want.describe(),
                        request.spans[p].describe()
                    ),
                },
            ));
        }
    }
    if let Some(trace) = trace {
        for &o in &index.by_trace[trace] {
            match matching.of_observed[o] {
                None => {
                    let got = &observed[o];
                    problems.push((
                        ProblemKind::Extra,
                        format!(
                            "extra span {} {} (span id {})",
                            got.service,
                            got.kind.name(),
                            got.span_id
                        ),
                    ));
                }
                Some((other, _)) if other != r => problems.push((
                    ProblemKind::ForeignSpan,
                    format!(
                        "the trace holds a span of request {}",
                        expected.requests[other].rid
                    ),
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

/// The problem of true span `s` of request `r`, which kspan did not produce: plainly missing,
/// or (an identity failure) the kspan span on its connection nearby is not its request's own.
fn missing(
    r: usize,
    s: usize,
    expected: &Expected,
    observed: &[ObservedSpan],
    matching: &Matching,
    identity: &mut IdentityCounts,
) -> (ProblemKind, String) {
    let want = &expected.requests[r].spans[s];
    let Some(near) = matching.near_misses[r][s] else {
        return (
            ProblemKind::Missing,
            format!("missing span {}", want.describe()),
        );
    };
    let got = &observed[near.span];
    match near.why {
        Miss::TimeOff { gap_ns } => {
            identity.time_off += 1;
            (
                ProblemKind::TimeOff,
                format!(
                    "span {}: kspan's span on its connection (span id {}) lies {} outside its \
                     time (after the clock offset)",
                    want.describe(),
                    got.span_id,
                    micros(gap_ns)
                ),
            )
        }
        Miss::Other { of: (r2, s2) } => {
            identity.neighbour += 1;
            let whose = if r2 == r {
                "this request's other".to_string()
            } else {
                format!("request {}'s", expected.requests[r2].rid)
            };
            (
                ProblemKind::Neighbour,
                format!(
                    "span {}: kspan's span on its connection at its time (span id {}) is {whose} \
                     {}",
                    want.describe(),
                    got.span_id,
                    expected.requests[r2].spans[s2].describe()
                ),
            )
        }
    }
}

/// A kspan span's threads for a failure reason: the listed ones, else its thread.
fn thread_list(got: &ObservedSpan) -> String {
    if got.threads.is_empty() {
        got.tid.map_or_else(String::new, |t| t.to_string())
    } else {
        got.threads
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
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
pub(crate) fn percent(part: usize, whole: usize) -> String {
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
        let c = &self.clock;
        if c.pairs > 0 {
            writeln!(
                f,
                "clock offset (kspan - truth): {}, removed before times are compared ({} of {} \
                 unambiguous pairs on {} connections overlap under any offset from {} to {})",
                micros(c.offset_ns),
                c.agreeing,
                c.pairs,
                c.connections,
                micros(c.low_ns),
                micros(c.high_ns)
            )?;
        } else {
            writeln!(
                f,
                "clock offset (kspan - truth): not estimated (no connection with as many kspan \
                 spans as true ones); taken as 0"
            )?;
        }
        let i = &self.identity;
        writeln!(
            f,
            "identity: {} requests fail it; threads checked on {} spans, {} on the wrong thread, \
             {} not checked (kspan gave no threads); {} missing spans have kspan's span on their \
             connection outside their time, {} at their time but another span's (a neighbouring \
             request's)",
            i.requests,
            i.threads_checked,
            i.wrong_thread,
            i.threads_unknown,
            i.time_off,
            i.neighbour
        )?;
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
        if self.links.judged + self.links.parent_unmatched + self.links.span_unmatched > 0 {
            write!(f, "{}", self.links)?;
        }
        if self.names.judged > 0 {
            write!(f, "{}", self.names)?;
        }
        if !self.failures.is_empty() {
            writeln!(f, "first failing requests:")?;
            for failure in &self.failures {
                writeln!(f, "  {}: {}", failure.rid, failure.reason)?;
                for problem in failure.identity.iter().filter(|p| **p != failure.reason) {
                    writeln!(f, "    identity: {problem}")?;
                }
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
