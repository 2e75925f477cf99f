//! The identity checks: a kspan span counts only when it is its request's own, on the thread
//! the truth names and at the true time once the clock offset estimated from the data is
//! removed; and a span of the neighbouring request on the same keep-alive connection does not
//! pass for this request's.

use kspan_truth::otlp::{parse_otlp, ObservedSpan, SpanKind};
use kspan_truth::records::{
    read_truth_dir, GatewayRecord, LoadgenRecord, ServiceRecord, TruthLogs,
};
use kspan_truth::report::ProblemKind;
use kspan_truth::{check_parsed, CheckOptions, Report};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/base")
}

fn base_otlp() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture().join("otlp.json")).unwrap()).unwrap()
}

fn spans_mut(otlp: &mut Value) -> impl Iterator<Item = &mut Value> {
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
}

/// The fixture's span whose id is `id` (1..=12).
fn span_mut(otlp: &mut Value, id: u64) -> &mut Value {
    let id = format!("{id:016x}");
    spans_mut(otlp)
        .find(|s| s["spanId"] == id.as_str())
        .unwrap()
}

/// Gives span `id` the thread attributes kspan exports.
fn set_threads(otlp: &mut Value, id: u64, tid: i64, threads: &str) {
    let attrs = span_mut(otlp, id)["attributes"].as_array_mut().unwrap();
    attrs.push(json!({"key": "thread.id", "value": {"intValue": tid.to_string()}}));
    attrs.push(json!({"key": "kspan.threads", "value": {"stringValue": threads}}));
}

fn fixture_logs() -> TruthLogs {
    read_truth_dir(&fixture().join("truth")).unwrap()
}

fn run(logs: &TruthLogs, otlp: &Value) -> Report {
    check_parsed(
        logs,
        &parse_otlp(&otlp.to_string()).unwrap(),
        &CheckOptions::default(),
    )
}

/// (exact requests, first failure's rid, kind and reason).
fn first_failure(report: &Report) -> (usize, Option<(String, ProblemKind, String)>) {
    (
        report.requests_exact,
        report
            .failures
            .first()
            .map(|f| (f.rid.clone(), f.kind, f.reason.clone())),
    )
}

#[test]
fn a_server_span_counts_only_on_the_thread_that_handled_the_request() {
    // compose's SERVER span (id 3): the truth says thread 201 read the request.
    let logs = fixture_logs();
    let mut otlp = base_otlp();
    set_threads(&mut otlp, 3, 205, "205,201");
    let report = run(&logs, &otlp);
    assert_eq!(first_failure(&report), (2, None));
    assert_eq!(report.identity.threads_checked, 1);
    assert_eq!(report.identity.threads_unknown, 2);

    let mut otlp = base_otlp();
    set_threads(&mut otlp, 3, 205, "205,206");
    let report = run(&logs, &otlp);
    let reason = "span compose SERVER 10.77.0.10:50001 ran on threads 205,206 (span id \
                  0000000000000003), not on the true thread 201";
    assert_eq!(
        first_failure(&report),
        (
            1,
            Some((
                "r-000001".to_string(),
                ProblemKind::WrongThread,
                reason.to_string()
            ))
        )
    );
    assert_eq!(report.failures[0].identity, vec![reason.to_string()]);
    assert_eq!(
        (report.identity.wrong_thread, report.identity.requests),
        (1, 1)
    );
    // Still matched (connection and time are right): only its identity is wrong.
    assert_eq!((report.spans.matched, report.spans.missing), (12, 0));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["failures"][0]["kind"], "wrong_thread");
    assert_eq!(json["identity"]["wrong_thread"], 1);
    assert!(report
        .to_string()
        .contains(&format!("  r-000001: {reason}\n")));
}

#[test]
fn a_client_span_counts_only_on_the_thread_that_made_the_call() {
    // compose's memcached call (span 6), logged as made by thread 203.
    let mut logs = fixture_logs();
    let compose = logs
        .services
        .iter_mut()
        .find(|r| r.service == "compose")
        .unwrap();
    compose.calls[1].tid = Some(203);
    let mut otlp = base_otlp();
    set_threads(&mut otlp, 6, 203, "203");
    assert_eq!(first_failure(&run(&logs, &otlp)), (2, None));

    let mut otlp = base_otlp();
    set_threads(&mut otlp, 6, 201, "201,204");
    let report = run(&logs, &otlp);
    assert_eq!(report.requests_exact, 1);
    assert_eq!(report.failures[0].kind, ProblemKind::WrongThread);
    assert_eq!(report.identity.wrong_thread, 1);

    // A record without a thread (or with 0, what stacks that cannot tell log) is not checked.
    for tid in [None, Some(0)] {
        let compose = logs
            .services
            .iter_mut()
            .find(|r| r.service == "compose")
            .unwrap();
        compose.calls[1].tid = tid;
        let report = run(&logs, &otlp);
        assert_eq!(first_failure(&report), (2, None));
        assert_eq!(report.identity.threads_checked, 0);
    }
}

#[test]
fn the_clock_offset_is_estimated_and_recovered_from_shifted_data() {
    let logs = fixture_logs();
    for shift in [37_000_000i64, -250_000_000, 0] {
        let mut otlp = base_otlp();
        for span in spans_mut(&mut otlp) {
            for field in ["startTimeUnixNano", "endTimeUnixNano"] {
                let t: i64 = span[field].as_str().unwrap().parse().unwrap();
                span[field] = json!((t + shift).to_string());
            }
        }
        let report = run(&logs, &otlp);
        // The six exactly timed spans are each alone on their connection; their midpoint
        // differences are -5, -2.5, -2, -1, 0 and 4 µs past the shift: the median (lower
        // middle) is -2 µs. All six overlap their true spans under any offset from -998 µs
        // (the memcached call: kspan 6.002–7.006 ms, truth 6–7 ms) to 999 µs (the redis call:
        // 24.001–24.999 ms, truth 24–25 ms) past the shift.
        let clock = report.clock;
        assert_eq!(clock.offset_ns, shift - 2_000, "shift {shift}");
        assert_eq!(
            (clock.low_ns, clock.high_ns),
            (shift - 998_000, shift + 999_000)
        );
        assert_eq!((clock.pairs, clock.agreeing, clock.connections), (6, 6, 6));
        assert_eq!(first_failure(&report), (2, None), "shift {shift}");
        assert_eq!(report.spans.matched, 12);
    }
}

#[test]
fn a_connection_where_kspan_has_fewer_spans_than_the_truth_does_not_estimate_the_offset() {
    let logs = fixture_logs();
    let mut otlp = base_otlp();
    let spans = otlp["resourceSpans"].as_array_mut().unwrap();
    for r in spans {
        r["scopeSpans"][0]["spans"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["spanId"] != "0000000000000005");
    }
    // kspan's user SERVER span 5 gone: its connection has one true span and no kspan one.
    let report = run(&logs, &otlp);
    assert_eq!((report.clock.pairs, report.clock.connections), (5, 5));
}

// --- two requests on one keep-alive connection --------------------------------------------
//
// Requests A (rid "a") and B (rid "b") come in on the same load-generator connection
// 10.0.0.2:41000 and go up to service `svc` (design thread, tid 7) on the same nginx upstream
// connection 10.0.0.10:50001 → 10.0.0.20:8080, B right after A. Times in µs from T0:
//   A: load generator 0–2000, svc 500–1500;   B: load generator 2200–4200, svc 2700–3700.
// Three more requests (c, d, e), each on connections of its own and traced right by kspan,
// are there for the clock offset to rest on more than the two requests under test (a real
// recording has thousands).

const T0: i64 = 1_764_431_234_000_000_000;
const US: i64 = 1_000;

/// (rid, sent at µs, load generator's port, nginx's upstream port); svc serves 500 µs after.
const REQUESTS: [(&str, i64, u16, u16); 5] = [
    ("a", 0, 41000, 50001),
    ("b", 2200, 41000, 50001),
    ("c", 10_000, 41001, 50002),
    ("d", 20_000, 41002, 50003),
    ("e", 30_000, 41003, 50004),
];

fn addr(text: &str) -> std::net::SocketAddr {
    text.parse().unwrap()
}

/// The truth of the requests (`with_a`: whether A is in it at all; it may have carried no
/// request id).
fn keepalive_truth(with_a: bool) -> TruthLogs {
    let mut logs = TruthLogs {
        loadgen: Some(vec![]),
        ..TruthLogs::default()
    };
    for (rid, sent, lg_port, up_port) in REQUESTS.into_iter().filter(|r| with_a || r.0 != "a") {
        let client = addr(&format!("10.0.0.2:{lg_port}"));
        logs.gateway.push(GatewayRecord {
            rid: rid.to_string(),
            peer: client,
            local: addr("10.0.0.10:80"),
            msec: (T0 + (sent + 2000) * US) as f64 / 1e9,
            request_time: 0.002,
            endpoint: "/x".to_string(),
            method: None,
        });
        logs.loadgen.as_mut().unwrap().push(LoadgenRecord {
            rid: rid.to_string(),
            endpoint: "/x".to_string(),
            local: Some(client),
            peer: addr("10.0.0.10:80"),
            start_unix_ns: T0 + sent * US,
            end_unix_ns: T0 + (sent + 2000) * US,
            status: 200,
            error: None,
        });
        logs.services.push(ServiceRecord {
            rid: rid.to_string(),
            service: "svc".to_string(),
            design: "thread".to_string(),
            tid: Some(7),
            start_unix_ns: T0 + (sent + 500) * US,
            end_unix_ns: T0 + (sent + 1500) * US,
            peer: addr(&format!("10.0.0.10:{up_port}")),
            local: addr("10.0.0.20:8080"),
            method: None,
            endpoint: None,
            calls: vec![],
        });
    }
    logs
}

#[allow(clippy::too_many_arguments)]
fn observed(
    trace: &str,
    id: &str,
    parent: Option<&str>,
    service: &str,
    kind: SpanKind,
    (start_us, end_us): (i64, i64),
    local: &str,
    peer: &str,
) -> ObservedSpan {
    ObservedSpan {
        trace_id: trace.to_string(),
        span_id: id.to_string(),
        parent_span_id: parent.map(str::to_string),
        service: service.to_string(),
        kind,
        start: T0 + start_us * US,
        end: T0 + end_us * US,
        peer: Some(addr(peer)),
        local: Some(addr(local)),
        tid: Some(7),
        threads: vec![7],
        link: None,
        name: String::new(),
        protocol: Default::default(),
    }
}

/// kspan's trace of request `rid` (its trace id is `t<rid>`), whose svc span lies at `svc`
/// (µs; `None`: kspan shows none), else 10 µs around the true one.
fn kspan_trace(rid: &str, svc: Option<Option<(i64, i64)>>) -> Vec<ObservedSpan> {
    let (_, sent, lg_port, up_port) = REQUESTS.into_iter().find(|r| r.0 == rid).unwrap();
    let trace = format!("t{rid}");
    let root = format!("{trace}-root");
    let client = format!("{trace}-gw");
    let upstream = format!("10.0.0.10:{up_port}");
    let mut spans = vec![
        observed(
            &trace,
            &root,
            None,
            "gateway",
            SpanKind::Server,
            (sent + 50, sent + 1950),
            "10.0.0.10:80",
            &format!("10.0.0.2:{lg_port}"),
        ),
        observed(
            &trace,
            &client,
            Some(&root),
            "gateway",
            SpanKind::Client,
            (sent + 480, sent + 1520),
            &upstream,
            "10.0.0.20:8080",
        ),
    ];
    if let Some(times) = svc.unwrap_or(Some((sent + 490, sent + 1510))) {
        spans.push(observed(
            &trace,
            &format!("{trace}-svc"),
            Some(&client),
            "svc",
            SpanKind::Server,
            times,
            "10.0.0.20:8080",
            &upstream,
        ));
    }
    spans
}

/// kspan's traces of requests c, d and e, right.
fn others() -> Vec<ObservedSpan> {
    ["c", "d", "e"]
        .into_iter()
        .flat_map(|rid| kspan_trace(rid, None))
        .collect()
}

fn check(logs: &TruthLogs, spans: &[ObservedSpan]) -> Report {
    check_parsed(logs, spans, &CheckOptions::default())
}

#[test]
fn both_requests_on_one_keepalive_connection_are_exact_when_each_has_its_own_span() {
    let mut spans = others();
    spans.extend(kspan_trace("a", None));
    spans.extend(kspan_trace("b", None));
    let report = check(&keepalive_truth(true), &spans);
    assert_eq!(first_failure(&report), (5, None));
    assert_eq!(report.identity.threads_checked, 5);
    // Every kspan svc span lies 10 µs around its true one: the midpoints agree.
    assert_eq!(report.clock.offset_ns, 0);
    assert_eq!((report.clock.pairs, report.clock.connections), (5, 4));
}

#[test]
fn the_previous_requests_span_on_the_connection_does_not_pass_for_this_ones() {
    // A carried no request id (it is not in the truth). kspan put A's svc span (490–1510 µs)
    // in B's trace and has none of B's own: 1.19 ms before B's svc span, which the former
    // 2 ms tolerance took for B's.
    let mut spans = others();
    spans.extend(kspan_trace("a", Some(None)));
    spans.extend(kspan_trace("b", Some(Some((490, 1510)))));
    let report = check(&keepalive_truth(false), &spans);
    // The wrong pair (A's span for B's) admits offsets -3210..-1190 µs: the other three outvote it.
    assert_eq!(report.clock.offset_ns, 0);
    assert_eq!((report.clock.pairs, report.clock.agreeing), (4, 3));
    assert_eq!(report.requests_exact, 3);
    assert_eq!(report.failures[0].kind, ProblemKind::TimeOff);
    assert_eq!(
        report.failures[0].reason,
        "span svc SERVER 10.0.0.10:50001: kspan's span on its connection (span id tb-svc) lies \
         1190.000 µs outside its time (after the clock offset)"
    );
    assert_eq!((report.identity.time_off, report.spans.missing), (1, 1));
    // With the former tolerance (2 ms) it would have been exact.
    let loose = CheckOptions {
        tolerance_ns: 2_000_000,
        ..CheckOptions::default()
    };
    assert_eq!(
        check_parsed(&keepalive_truth(false), &spans, &loose).requests_exact,
        4
    );
}

#[test]
fn a_span_closer_to_the_neighbouring_request_is_that_requests() {
    // A's own svc span is right; B's trace holds, instead of B's own, a span of 1000–2900 µs:
    // it reaches into B's svc span (2700–3700) but shares more of its time with A's (500–1500), so it is A's
    // activity, not B's.
    let mut spans = others();
    spans.extend(kspan_trace("a", None));
    spans.extend(kspan_trace("b", Some(Some((1000, 2900)))));
    let report = check(&keepalive_truth(true), &spans);
    // B's pair admits offsets -2700..200 µs, the others -1010..1010 µs: all five agree on
    // -1010..200 µs; the midpoints differ by 0 but for B's (-1250 µs): the median is 0.
    assert_eq!((report.clock.pairs, report.clock.agreeing), (5, 5));
    assert_eq!(
        (report.clock.low_ns, report.clock.high_ns),
        (-1010 * US, 200 * US)
    );
    assert_eq!(report.clock.offset_ns, 0);
    assert_eq!(report.requests_exact, 4);
    let failure = &report.failures[0];
    assert_eq!(
        (failure.rid.as_str(), failure.kind),
        ("b", ProblemKind::Neighbour)
    );
    assert_eq!(
        failure.reason,
        "span svc SERVER 10.0.0.10:50001: kspan's span on its connection at its time (span id \
         tb-svc) is request a's svc SERVER 10.0.0.10:50001"
    );
    assert_eq!(report.identity.neighbour, 1);
    assert_eq!(report.identity.requests, 1);
    // The span stands for no true span: extra in B's trace.
    assert_eq!((report.spans.missing, report.spans.extra), (1, 1));
}

#[test]
fn two_calls_on_one_pooled_connection_each_keep_their_span_despite_an_early_logged_start() {
    // Request e's svc makes two redis calls on one pooled connection 10.0.0.20:40000. The first
    // is logged from 30_600 µs (before the connection was checked out) to 31_000, kspan sees it
    // 30_940–30_990; the second is logged 31_010–31_050, kspan sees it 31_015–31_045. By start
    // and end differences kspan's first span is nearer the second call (130 µs against 350):
    // the overlap says it is the first's.
    let mut logs = keepalive_truth(true);
    let e = logs.services.iter_mut().find(|r| r.rid == "e").unwrap();
    for (start, end) in [(30_600, 31_000), (31_010, 31_050)] {
        e.calls.push(kspan_truth::records::CallRecord {
            target: "redis".to_string(),
            local: Some(addr("10.0.0.20:40000")),
            peer: addr("10.0.0.30:6379"),
            start_unix_ns: T0 + start * US,
            end_unix_ns: T0 + end * US,
            status: "ok".to_string(),
            tid: Some(7),
            asked: Default::default(),
        });
    }
    let mut spans = kspan_trace("a", None);
    spans.extend(kspan_trace("b", None));
    spans.extend(kspan_trace("c", None));
    spans.extend(kspan_trace("d", None));
    spans.extend(kspan_trace("e", None));
    for (i, (start, end)) in [(30_940, 30_990), (31_015, 31_045)].into_iter().enumerate() {
        let id = format!("te-call{i}");
        spans.push(observed(
            "te",
            &id,
            Some("te-svc"),
            "svc",
            SpanKind::Client,
            (start, end),
            "10.0.0.20:40000",
            "10.0.0.30:6379",
        ));
        spans.push(observed(
            "te",
            &format!("te-redis{i}"),
            Some(&id),
            "redis",
            SpanKind::Server,
            (start + 5, end - 5),
            "10.0.0.30:6379",
            "10.0.0.20:40000",
        ));
    }
    let report = check(&logs, &spans);
    assert_eq!(first_failure(&report), (5, None));
    assert_eq!(report.identity.threads_checked, 7);
}
