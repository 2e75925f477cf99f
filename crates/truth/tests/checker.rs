//! The checker on a hand-made fixture (`tests/fixtures/base`: two requests, three service
//! designs, a memcached and a redis call) and on variations of its OTLP file, each with
//! the exact report it must produce.

use kspan_truth::otlp::parse_otlp;
use kspan_truth::records::read_truth_dir;
use kspan_truth::report::{SpanCounts, Tally, TimeErrors};
use kspan_truth::{check, check_parsed, CheckOptions, Report, TruthError};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/base")
}

fn base_otlp() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture().join("otlp.json")).unwrap()).unwrap()
}

/// The span of the fixture whose id is `id` (ids are 1..=12, see the fixture's layout).
fn span_mut(otlp: &mut Value, id: u64) -> &mut Value {
    let id = format!("{id:016x}");
    otlp["resourceSpans"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .flat_map(|r| {
            r["scopeSpans"][0]["spans"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
        })
        .find(|s| s["spanId"] == id.as_str())
        .unwrap()
}

fn remove_span(otlp: &mut Value, id: u64) {
    let id = format!("{id:016x}");
    for r in otlp["resourceSpans"].as_array_mut().unwrap() {
        r["scopeSpans"][0]["spans"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["spanId"] != id.as_str());
    }
}

fn resource_mut<'a>(otlp: &'a mut Value, service: &str) -> &'a mut Value {
    otlp["resourceSpans"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["resource"]["attributes"][0]["value"]["stringValue"] == service)
        .unwrap()
}

fn run(otlp: &Value, options: &CheckOptions) -> Report {
    let logs = read_truth_dir(&fixture().join("truth")).unwrap();
    let spans = parse_otlp(&otlp.to_string()).unwrap();
    check_parsed(&logs, &spans, options)
}

fn counts(missing: usize, extra: usize, wrong_trace: usize, wrong_parent: usize) -> SpanCounts {
    SpanCounts {
        expected: 12,
        matched: 12 - missing,
        missing,
        extra,
        wrong_trace,
        wrong_parent,
        outside_requests: 0,
        round_trips: 0,
    }
}

/// (requests, traced, exact, first failure) summary of a report.
fn outcome(report: &Report) -> (usize, usize, usize, Vec<(String, String)>) {
    let failures = report
        .failures
        .iter()
        .map(|f| (f.rid.clone(), f.reason.clone()))
        .collect();
    (
        report.requests_in_truth,
        report.requests_traced,
        report.requests_exact,
        failures,
    )
}

fn failure(rid: &str, reason: &str) -> (String, String) {
    (rid.to_string(), reason.to_string())
}

#[test]
fn perfect_traces_are_all_exact_with_exact_time_errors() {
    let report = check(
        &fixture().join("otlp.json"),
        &fixture().join("truth"),
        &CheckOptions::default(),
    )
    .unwrap();
    assert_eq!(outcome(&report), (2, 2, 2, vec![]));
    assert_eq!(report.requests_sent, Some(2));
    assert_eq!(report.spans, counts(0, 0, 0, 0));
    assert_eq!(report.exact_tree_accuracy_pct, 100.0);
    let tally = |n| Tally {
        requests: n,
        traced: n,
        exact: n,
    };
    assert_eq!(report.by_endpoint["/compose"], tally(1));
    assert_eq!(report.by_endpoint["/home-timeline"], tally(1));
    let errors = |spans, start_median_ns, start_worst_ns, duration_median_ns, duration_worst_ns| {
        Some(TimeErrors {
            spans,
            start_median_ns,
            start_worst_ns,
            duration_median_ns,
            duration_worst_ns,
        })
    };
    let thread = &report.by_design["thread"];
    assert_eq!(thread.requests, tally(1));
    assert_eq!(thread.server, errors(1, -15_000, -15_000, 20_000, 20_000));
    assert_eq!(thread.client, errors(2, -1_000, 2_000, 0, 4_000));
    let epoll = &report.by_design["epoll"];
    assert_eq!(epoll.requests, tally(1));
    assert_eq!(epoll.server, errors(1, -5_000, -5_000, 6_000, 6_000));
    assert_eq!(epoll.client, None);
    let pool = &report.by_design["pool"];
    assert_eq!(pool.server, errors(1, -7_000, -7_000, 9_000, 9_000));
    assert_eq!(pool.client, errors(1, 1_000, 1_000, -2_000, -2_000));
    assert_eq!(report.by_design.len(), 3);
    assert_eq!(
        report.to_string(),
        "\
requests sent:       2
requests in truth:   2
requests traced:     2
exact-tree accuracy: 100.0% (2/2 requests)
spans: 12 expected, 12 matched, 0 missing, 0 extra, 0 in the wrong trace, 0 under the wrong parent, 0 outside any request
clock offset (kspan - truth): -2.000 µs, removed before times are compared (6 of 6 unambiguous pairs on 6 connections overlap under any offset from -998.000 µs to 999.000 µs)
identity: 0 requests fail it; threads checked on 0 spans, 0 on the wrong thread, 3 not checked (kspan gave no threads); 0 missing spans have kspan's span on their connection outside their time, 0 at their time but another span's (a neighbouring request's)
per endpoint:
  /compose                 100.0% (1/1 exact, 1 traced)
  /home-timeline           100.0% (1/1 exact, 1 traced)
per service design:
  epoll                    100.0% (1/1 exact, 1 traced)
    server spans: 1, start error median -5.000 µs worst -5.000 µs, duration error median 6.000 µs worst 6.000 µs
  pool                     100.0% (1/1 exact, 1 traced)
    server spans: 1, start error median -7.000 µs worst -7.000 µs, duration error median 9.000 µs worst 9.000 µs
    client spans: 1, start error median 1.000 µs worst 1.000 µs, duration error median -2.000 µs worst -2.000 µs
  thread                   100.0% (1/1 exact, 1 traced)
    server spans: 1, start error median -15.000 µs worst -15.000 µs, duration error median 20.000 µs worst 20.000 µs
    client spans: 2, start error median -1.000 µs worst 2.000 µs, duration error median 0.000 µs worst 4.000 µs
"
    );
}

#[test]
fn a_missing_service_span_fails_its_request_only() {
    let mut otlp = base_otlp();
    remove_span(&mut otlp, 5);
    let report = run(&otlp, &CheckOptions::default());
    assert_eq!(
        outcome(&report),
        (
            2,
            2,
            1,
            vec![failure(
                "r-000001",
                "missing span user SERVER 10.77.0.21:40001"
            )]
        )
    );
    assert_eq!(report.spans, counts(1, 0, 0, 0));
    assert_eq!(
        report.to_string().lines().nth(3),
        Some("exact-tree accuracy: 50.0% (1/2 requests)")
    );
    assert_eq!(report.by_design["epoll"].server, None);
}

#[test]
fn an_extra_span_in_a_trace_is_counted_and_fails_the_request() {
    let mut otlp = base_otlp();
    let mut extra = span_mut(&mut otlp, 4).clone();
    extra["spanId"] = json!("00000000000000ff");
    extra["attributes"][3]["value"]["intValue"] = json!("40009");
    resource_mut(&mut otlp, "compose")["scopeSpans"][0]["spans"]
        .as_array_mut()
        .unwrap()
        .push(extra);
    let report = run(&otlp, &CheckOptions::default());
    assert_eq!(
        outcome(&report),
        (
            2,
            2,
            1,
            vec![failure(
                "r-000001",
                "extra span compose CLIENT (span id 00000000000000ff)"
            )]
        )
    );
    assert_eq!(report.spans, counts(0, 1, 0, 0));
}

#[test]
fn a_store_span_under_the_wrong_parent_is_counted() {
    let mut otlp = base_otlp();
    span_mut(&mut otlp, 7)["parentSpanId"] = json!("0000000000000003");
    let report = run(&otlp, &CheckOptions::default());
    assert_eq!(
        outcome(&report),
        (
            2,
            2,
            1,
            vec![failure(
                "r-000001",
                "span memcached SERVER 10.77.0.21:40002 is not under compose CLIENT 10.77.0.21:40002"
            )]
        )
    );
    assert_eq!(report.spans, counts(0, 0, 0, 1));
}

/// Gives span `id` of the fixture the link attributes kspan exports.
fn add_link(otlp: &mut Value, id: u64, evidence: &str, confidence: f64) {
    let attributes = span_mut(otlp, id)["attributes"].as_array_mut().unwrap();
    attributes.push(json!({"key": "kspan.link", "value": {"stringValue": evidence}}));
    attributes.push(json!({"key": "kspan.link.confidence", "value": {"doubleValue": confidence}}));
    attributes.push(json!({"key": "kspan.link.candidates", "value": {"intValue": "2"}}));
}

#[test]
fn links_are_judged_per_confidence_and_evidence() {
    let mut otlp = base_otlp();
    for server in [3, 5, 7, 10, 12] {
        add_link(&mut otlp, server, "bytes", 1.0);
    }
    for (call, evidence, confidence) in [
        (2, "event-loop", 0.75),
        (9, "event-loop", 0.75),
        (4, "own-thread", 0.99),
        (6, "own-thread", 0.99),
        (11, "connection", 0.98),
    ] {
        add_link(&mut otlp, call, evidence, confidence);
    }
    // memcached's span under the compose SERVER span rather than its call: a wrong sure link;
    // redis's span under a span not in the export: not judged.
    span_mut(&mut otlp, 7)["parentSpanId"] = json!("0000000000000003");
    span_mut(&mut otlp, 12)["parentSpanId"] = json!("00000000000000ee");
    let report = run(&otlp, &CheckOptions::default());
    let links = &report.links;
    assert_eq!(
        (
            links.judged,
            links.right,
            links.parent_unmatched,
            links.span_unmatched
        ),
        (9, 8, 1, 0)
    );
    assert_eq!((links.sure.links, links.sure.wrong), (6, 1));
    assert_eq!((links.sure_calls.links, links.sure_calls.wrong), (2, 0));
    let text = report.to_string();
    let lines: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("links:"))
        .collect();
    assert_eq!(
        lines[..4],
        [
            "links: 9 judged, 8 right (88.8%); not judged: 1 whose parent stands for no true \
             span, 0 whose span stands for none",
            "  sure links (confidence >= 0.99): 6, 1 wrong (166.67 per 1,000); calls: 2, 0 wrong \
             (0.00 per 1,000); wrong by evidence: bytes 1",
            "  by confidence: >= 0.7: 2/2 right, reported 0.750; >= 0.95: 1/1 right, reported \
             0.980; >= 0.99: 5/6 right, reported 0.997",
            "  by evidence (right/links): bytes 3/4, connection 1/1, event-loop 2/2, own-thread 2/2",
        ]
    );
    // An export without link attributes (the base fixture) has no links section.
    assert!(!run(&base_otlp(), &CheckOptions::default())
        .to_string()
        .contains("links:"));
}

#[test]
fn a_span_in_another_requests_trace_fails_both_requests() {
    let mut otlp = base_otlp();
    span_mut(&mut otlp, 5)["traceId"] = json!("aa000000000000000000000000000002");
    let report = run(&otlp, &CheckOptions::default());
    assert_eq!(
        outcome(&report),
        (
            2,
            2,
            0,
            vec![
                failure(
                    "r-000001",
                    "span user SERVER 10.77.0.21:40001 is in another trace \
                     (aa000000000000000000000000000002)"
                ),
                failure("r-000002", "the trace holds a span of request r-000001"),
            ]
        )
    );
    assert_eq!(report.spans, counts(0, 0, 1, 0));
}

#[test]
fn a_missing_store_span_is_counted() {
    let mut otlp = base_otlp();
    remove_span(&mut otlp, 12);
    let report = run(&otlp, &CheckOptions::default());
    assert_eq!(
        outcome(&report),
        (
            2,
            2,
            1,
            vec![failure(
                "r-000002",
                "missing span redis SERVER 10.77.0.23:40003"
            )]
        )
    );
    assert_eq!(report.spans, counts(1, 0, 0, 0));
}

#[test]
fn a_store_named_otherwise_by_kspan_matches_only_through_an_alias() {
    let mut otlp = base_otlp();
    resource_mut(&mut otlp, "redis")["resource"]["attributes"][0]["value"]["stringValue"] =
        json!("redis-server");
    let report = run(&otlp, &CheckOptions::default());
    assert_eq!(report.requests_exact, 1);
    assert_eq!(report.spans, counts(1, 1, 0, 0));
    let options = CheckOptions {
        aliases: [("redis-server".to_string(), "redis".to_string())].into(),
        ..CheckOptions::default()
    };
    let report = run(&otlp, &options);
    assert_eq!(outcome(&report), (2, 2, 2, vec![]));
}

#[test]
fn a_missing_root_leaves_the_request_untraced() {
    let mut otlp = base_otlp();
    remove_span(&mut otlp, 8);
    span_mut(&mut otlp, 9)
        .as_object_mut()
        .unwrap()
        .remove("parentSpanId");
    let report = run(&otlp, &CheckOptions::default());
    assert_eq!(
        outcome(&report),
        (
            2,
            1,
            1,
            vec![failure(
                "r-000002",
                "missing span gateway SERVER 10.77.0.2:41000"
            )]
        )
    );
    assert_eq!(report.spans, counts(1, 0, 0, 0));
}

#[test]
fn a_span_outside_the_tolerance_does_not_match() {
    let mut otlp = base_otlp();
    // The redis span moved 2.2 ms after its call ended (tolerance 0.1 ms): missing and extra.
    span_mut(&mut otlp, 12)["startTimeUnixNano"] = json!("1764431234027200000");
    span_mut(&mut otlp, 12)["endTimeUnixNano"] = json!("1764431234027300000");
    let report = run(&otlp, &CheckOptions::default());
    assert_eq!(report.spans, counts(1, 1, 0, 0));
    let wide = CheckOptions {
        tolerance_ns: 2_300_000,
        ..CheckOptions::default()
    };
    assert_eq!(run(&otlp, &wide).spans, counts(0, 0, 0, 0));
}

#[test]
fn unrelated_traces_count_as_outside_requests() {
    let mut otlp = base_otlp();
    let mut health = span_mut(&mut otlp, 1).clone();
    health["traceId"] = json!("bb000000000000000000000000000001");
    health["spanId"] = json!("00000000000000ee");
    health["attributes"][1]["value"]["intValue"] = json!("5000");
    resource_mut(&mut otlp, "gateway")["scopeSpans"][0]["spans"]
        .as_array_mut()
        .unwrap()
        .push(health);
    let report = run(&otlp, &CheckOptions::default());
    assert_eq!(outcome(&report), (2, 2, 2, vec![]));
    assert_eq!(
        report.spans,
        SpanCounts {
            outside_requests: 1,
            round_trips: 0,
            ..counts(0, 0, 0, 0)
        }
    );
}

#[test]
fn bad_inputs_are_errors_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("kspan-truth-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = read_truth_dir(&dir).unwrap_err();
    assert!(
        matches!(err, TruthError::NoGatewayLog(ref p) if *p == dir),
        "{err}"
    );
    std::fs::write(dir.join("gateway.jsonl"), "\n{\"rid\": 1}\n").unwrap();
    let err = read_truth_dir(&dir).unwrap_err();
    assert!(
        matches!(err, TruthError::BadRecord { line: 2, .. }),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        parse_otlp(r#"{"resourceSpans":[{"resource":{},"scopeSpans":[]}]}"#),
        Err("a resource has no service.name attribute".to_string())
    );
}

/// The fixture's truth with home-timeline's redis call failed to connect (`"local": ""`).
struct FailedCallTruth(PathBuf);

impl FailedCallTruth {
    fn new(tag: &str) -> FailedCallTruth {
        let dir = std::env::temp_dir().join(format!("kspan-truth-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(fixture().join("truth")).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap().replace(
                r#""local": "10.77.0.23:40003", "peer": "10.77.0.32:6379", "start_unix_ns": 1764431234024000000, "end_unix_ns": 1764431234025000000, "status": "ok""#,
                r#""local": "", "peer": "10.77.0.32:6379", "start_unix_ns": 1764431234024000000, "end_unix_ns": 1764431234025000000, "status": "error: redis: connection refused""#,
            );
            std::fs::write(dir.join(path.file_name().unwrap()), text).unwrap();
        }
        FailedCallTruth(dir)
    }

    fn check(&self, otlp: &Value) -> Report {
        let logs = read_truth_dir(&self.0).unwrap();
        check_parsed(
            &logs,
            &parse_otlp(&otlp.to_string()).unwrap(),
            &CheckOptions::default(),
        )
    }
}

impl Drop for FailedCallTruth {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn failed_call_counts(extra: usize) -> SpanCounts {
    SpanCounts {
        expected: 10,
        matched: 10,
        extra,
        ..SpanCounts::default()
    }
}

#[test]
fn a_call_that_could_not_connect_is_optional() {
    let truth = FailedCallTruth::new("optional");
    // kspan shows neither the attempt nor a server: exact.
    let mut otlp = base_otlp();
    remove_span(&mut otlp, 11);
    remove_span(&mut otlp, 12);
    let report = truth.check(&otlp);
    assert_eq!(outcome(&report), (2, 2, 2, vec![]));
    assert_eq!(report.spans, failed_call_counts(0));
    // kspan shows the attempt, without a local end: matched by the callee's end, exact.
    let mut otlp = base_otlp();
    remove_span(&mut otlp, 12);
    let attempt = span_mut(&mut otlp, 11);
    attempt["attributes"].as_array_mut().unwrap().truncate(2);
    let report = truth.check(&otlp);
    assert_eq!(outcome(&report), (2, 2, 2, vec![]));
    assert_eq!(report.spans, failed_call_counts(0));
    assert_eq!(report.by_design["pool"].client.as_ref().unwrap().spans, 1);
    // A server span for a call that never connected is extra.
    let mut otlp = base_otlp();
    span_mut(&mut otlp, 11)["attributes"]
        .as_array_mut()
        .unwrap()
        .truncate(2);
    let report = truth.check(&otlp);
    assert_eq!(
        outcome(&report),
        (
            2,
            2,
            1,
            vec![failure(
                "r-000002",
                "extra span redis SERVER (span id 000000000000000c)"
            )]
        )
    );
    assert_eq!(report.spans, failed_call_counts(1));
}

#[test]
fn the_roots_window_is_the_load_generators_request() {
    // r-000001's root moved to 10.2–10.4 ms: outside nginx's 1–10 ms (tolerance 0; 10.202 ms
    // once the estimated clock offset of -2 µs is removed), inside the load generator's
    // 0.5–10.5 ms.
    let mut otlp = base_otlp();
    span_mut(&mut otlp, 1)["startTimeUnixNano"] = json!("1764431234010200000");
    span_mut(&mut otlp, 1)["endTimeUnixNano"] = json!("1764431234010400000");
    let exact = CheckOptions {
        tolerance_ns: 0,
        coarse_tolerance_ns: 0,
        ..CheckOptions::default()
    };
    assert_eq!(outcome(&run(&otlp, &exact)), (2, 2, 2, vec![]));
    let mut logs = read_truth_dir(&fixture().join("truth")).unwrap();
    logs.loadgen = None;
    let report = check_parsed(&logs, &parse_otlp(&otlp.to_string()).unwrap(), &exact);
    assert_eq!(
        outcome(&report),
        (
            2,
            1,
            1,
            vec![failure(
                "r-000001",
                "span gateway SERVER 10.77.0.2:41000: kspan's span on its connection (span id \
                 0000000000000001) lies 202.000 µs outside its time (after the clock offset)"
            )]
        )
    );
    assert_eq!(report.identity.time_off, 1);
}

#[test]
fn two_requests_merged_into_one_trace_fail_both_and_extras_count_once() {
    let mut otlp = base_otlp();
    for id in 8..=12 {
        span_mut(&mut otlp, id)["traceId"] = json!("aa000000000000000000000000000001");
    }
    let mut extra = span_mut(&mut otlp, 4).clone();
    extra["spanId"] = json!("00000000000000ff");
    extra["attributes"][3]["value"]["intValue"] = json!("40009");
    resource_mut(&mut otlp, "compose")["scopeSpans"][0]["spans"]
        .as_array_mut()
        .unwrap()
        .push(extra);
    let report = run(&otlp, &CheckOptions::default());
    assert_eq!(
        outcome(&report),
        (
            2,
            2,
            0,
            vec![
                failure("r-000001", "the trace holds a span of request r-000002"),
                failure("r-000002", "the trace holds a span of request r-000001"),
            ]
        )
    );
    assert_eq!(report.spans, counts(0, 1, 0, 0));
}

/// The fixture's memcached call (span 6, and memcached's span 7 under it) shown by kspan as
/// two round trips on the same connection, like a new PostgreSQL connection's startup
/// exchange before its query: span 6 and its callee end early, and spans 0x20 (a second
/// CLIENT span, parent `call_parent`) and 0x21 (its callee) carry the rest.
fn call_in_two_round_trips(call_parent: u64, second_end: u64) -> Value {
    let mut otlp = base_otlp();
    let first = span_mut(&mut otlp, 6);
    first["endTimeUnixNano"] = json!("1764431234006400000");
    let mut second = first.clone();
    second["spanId"] = json!("0000000000000020");
    second["parentSpanId"] = json!(format!("{call_parent:016x}"));
    second["startTimeUnixNano"] = json!("1764431234006500000");
    second["endTimeUnixNano"] = json!(second_end.to_string());
    let callee = span_mut(&mut otlp, 7);
    callee["endTimeUnixNano"] = json!("1764431234006300000");
    let mut second_callee = callee.clone();
    second_callee["spanId"] = json!("0000000000000021");
    second_callee["parentSpanId"] = json!("0000000000000020");
    second_callee["startTimeUnixNano"] = json!("1764431234006600000");
    second_callee["endTimeUnixNano"] = json!("1764431234006900000");
    for (service, span) in [("compose", second), ("memcached", second_callee)] {
        resource_mut(&mut otlp, service)["scopeSpans"][0]["spans"]
            .as_array_mut()
            .unwrap()
            .push(span);
    }
    otlp
}

#[test]
fn a_call_made_in_two_round_trips_on_its_connection_is_one_call() {
    let report = run(
        &call_in_two_round_trips(3, 1764431234007006000),
        &CheckOptions::default(),
    );
    assert_eq!(outcome(&report), (2, 2, 2, vec![]));
    assert_eq!(
        report.spans,
        SpanCounts {
            round_trips: 2,
            ..counts(0, 0, 0, 0)
        }
    );
}

#[test]
fn a_second_round_trip_under_another_parent_is_extra() {
    let report = run(
        &call_in_two_round_trips(2, 1764431234007006000),
        &CheckOptions::default(),
    );
    assert_eq!(
        outcome(&report),
        (
            2,
            2,
            1,
            vec![failure(
                "r-000001",
                "span compose CLIENT 10.77.0.21:40002 is not under compose SERVER 10.77.0.10:50001"
            )]
        )
    );
    // The second round trip is the closer in time, so it is the one paired (under the wrong
    // parent); the first and its callee are still taken as round trips of the true call.
    assert_eq!(
        report.spans,
        SpanCounts {
            round_trips: 2,
            ..counts(0, 0, 0, 1)
        }
    );
}

#[test]
fn a_second_round_trip_after_the_true_call_is_extra() {
    // Ends 3 ms after the true call, beyond the 0.1 ms tolerance.
    let report = run(
        &call_in_two_round_trips(3, 1764431234010006000),
        &CheckOptions::default(),
    );
    assert_eq!(
        outcome(&report),
        (
            2,
            2,
            1,
            vec![failure(
                "r-000001",
                "span memcached SERVER 10.77.0.21:40002 is not under compose CLIENT 10.77.0.21:40002"
            )]
        )
    );
    // The late round trip is extra; its callee, the closer in time, is paired under it.
    assert_eq!(
        report.spans,
        SpanCounts {
            round_trips: 1,
            ..counts(0, 1, 0, 1)
        }
    );
}

#[test]
fn a_callee_still_handling_a_message_after_its_caller_moved_on_is_a_round_trip() {
    // The callee's second SERVER span (a message that expects no answer, like PostgreSQL's
    // Terminate) starts inside the call and ends 3 ms after it: the callee's own time.
    let mut otlp = call_in_two_round_trips(3, 1764431234007006000);
    let late_callee = resource_mut(&mut otlp, "memcached")["scopeSpans"][0]["spans"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["spanId"] == json!("0000000000000021"))
        .expect("the second callee span");
    late_callee["endTimeUnixNano"] = json!("1764431234010000000");
    let report = run(&otlp, &CheckOptions::default());
    assert_eq!(outcome(&report), (2, 2, 2, vec![]));
    assert_eq!(
        report.spans,
        SpanCounts {
            round_trips: 2,
            ..counts(0, 0, 0, 0)
        }
    );
}
