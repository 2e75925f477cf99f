//! `kspan analyze --by endpoint`'s sink on hand-built traces whose spans are named by
//! payload heads: the exact table, and JSON whose counts, percentiles and self/call times
//! are computed here again from the spans' durations; and `--name`, which selects traces by
//! those names.

use kspan_engine::{
    Activity, EventNames, Evidence, Link, Span, SpanId, SpanKind, Summary, Trace, TraceId,
};
use kspan_heads::{Head, HeadTable, SyscallKind};
use kspan_output::endpoints::EndpointSink;
use kspan_output::{OutputContext, TraceFilter, TraceSink};
use std::sync::Arc;

/// Root durations of the `GET /one` traces, then of the `GET /two` ones.
const ONE: [u64; 5] = [3000, 1000, 5000, 2000, 4000];
const TWO: [u64; 2] = [6000, 8000];

/// The `SET` call's duration in trace `i`; its server span lasts 100 ns less.
fn call(i: usize) -> u64 {
    400 + 100 * i as u64
}

fn span(id: u64, parent: Option<u64>, kind: SpanKind, service: &str, tid: i32) -> Span {
    Span {
        id: SpanId(id),
        parent: parent.map(SpanId),
        kind,
        service: service.into(),
        pid: tid,
        tid,
        threads: vec![tid],
        start: 0,
        end: 0,
        local: None,
        peer: None,
        partial: false,
        error: None,
        link: parent.map(|_| Link {
            evidence: Evidence::Bytes,
            candidates: 1,
            confidence: 1.0,
        }),
        activity: Activity::default(),
        opening_offset: 0,
    }
}

/// `span` from `start` for `duration`, half of it on CPU and a quarter blocked on the net.
fn timed(mut span: Span, start: u64, duration: u64) -> Span {
    span.start = start;
    span.end = start + duration;
    span.activity.on_cpu_ns = duration / 2;
    span.activity.blocked_net_ns = duration / 4;
    span
}

fn head(tid: i32, enter_ns: u64, kind: SyscallKind, bytes: &[u8]) -> Head {
    Head {
        enter_ns,
        exit_ns: enter_ns + 1,
        ret: bytes.len() as i64,
        tgid: tid,
        tid,
        fd: 3,
        kind,
        bytes: bytes.to_vec(),
    }
}

/// Seven traces (five `GET /one`, two `GET /two`, the last failed), each calling `SET` on
/// `back`, and the heads that name their spans.
fn traces() -> (Vec<Trace>, HeadTable) {
    let set = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
    let mut traces = Vec::new();
    let mut heads = Vec::new();
    for (i, &root) in ONE.iter().chain(&TWO).enumerate() {
        let base = 100_000 * (i as u64 + 1);
        let path: &[u8] = if i < ONE.len() { b"/one" } else { b"/two" };
        heads.push(head(
            11,
            base,
            SyscallKind::Read,
            &[b"GET ", path, b" HTTP/1.1\r\n"].concat(),
        ));
        heads.push(head(11, base + 100, SyscallKind::Write, set));
        heads.push(head(21, base + 150, SyscallKind::Read, set));
        let mut front = timed(span(1, None, SpanKind::Server, "front", 11), base, root);
        front.activity.counts = vec![(7, 1)];
        front.error = (i == 6).then(|| "connection reset".to_string());
        let client = timed(
            span(2, Some(1), SpanKind::Client, "front", 11),
            base + 100,
            call(i),
        );
        let server = timed(
            span(3, Some(2), SpanKind::Server, "back", 21),
            base + 150,
            call(i) - 100,
        );
        traces.push(Trace {
            id: TraceId(i as u128 + 1),
            spans: vec![front, client, server],
        });
    }
    (traces, HeadTable::new(heads))
}

fn run(json: bool) -> String {
    let (traces, heads) = traces();
    let names = EventNames {
        names: vec![(7, "exceptions:page_fault_user".into())],
        field_names: vec![],
    };
    let mut context = OutputContext::new(&names, 0);
    context.heads = Some(Arc::new(heads));
    let mut out = Vec::new();
    let mut sink = EndpointSink::new(&mut out, context, json);
    for trace in &traces {
        sink.trace(trace).unwrap();
    }
    sink.finish(&Summary::default()).unwrap();
    String::from_utf8(out).unwrap()
}

/// The nearest-rank percentile `q` of `samples`.
fn percentile(samples: &[u64], q: f64) -> u64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.max(1) - 1]
}

#[test]
fn the_table_is_exact() {
    let expected = "\
SERVICE  KIND    NAME      COUNT  ERRORS     P50     P99     MAX    MEAN    SELF  CALLS  TIME WENT TO (mean per span)
front    server  GET /two      2       1  6000ns  8000ns  8000ns  7000ns  6050ns  950ns  cpu 3500ns, net 1750ns, exceptions:page_fault_user 1.0/span
front    server  GET /one      5       0  3000ns  5000ns  5000ns  3000ns  2400ns  600ns  cpu 1500ns, net 750ns, exceptions:page_fault_user 1.0/span
front    client  SET           7       0   700ns  1000ns  1000ns   700ns   100ns  600ns  cpu 350ns, net 175ns
back     server  SET           7       0   600ns   900ns   900ns   600ns   600ns    0ns  cpu 300ns, net 150ns
";
    assert_eq!(run(false), expected);
}

#[test]
fn json_has_the_counts_percentiles_and_self_time_of_each_endpoint() {
    let doc: serde_json::Value = serde_json::from_str(&run(true)).unwrap();
    let endpoints = doc["endpoints"].as_array().unwrap();
    let find = |service: &str, kind: &str, name: &str| {
        endpoints
            .iter()
            .find(|e| e["service"] == service && e["kind"] == kind && e["name"] == name)
            .unwrap_or_else(|| panic!("{service} {kind} {name}"))
    };
    let calls: Vec<u64> = (0..ONE.len() + TWO.len()).map(call).collect();
    let served: Vec<u64> = calls.iter().map(|c| c - 100).collect();
    let mean = |v: &[u64]| v.iter().sum::<u64>() / v.len() as u64;
    for (endpoint, durations, in_calls) in [
        (find("front", "server", "GET /one"), &ONE[..], &calls[..5]),
        (find("front", "server", "GET /two"), &TWO[..], &calls[5..]),
        (find("front", "client", "SET"), &calls[..], &served[..]),
        (find("back", "server", "SET"), &served[..], &[][..]),
    ] {
        let latency = &endpoint["latency"];
        assert_eq!(latency["count"], durations.len());
        assert_eq!(latency["p50"], percentile(durations, 0.5));
        assert_eq!(latency["p99"], percentile(durations, 0.99));
        assert_eq!(latency["max"], *durations.iter().max().unwrap());
        assert_eq!(endpoint["mean_ns"], mean(durations));
        let calls_ns = if in_calls.is_empty() {
            0
        } else {
            mean(in_calls)
        };
        assert_eq!(endpoint["calls_ns"], calls_ns);
        assert_eq!(endpoint["self_ns"], mean(durations) - calls_ns);
        assert_eq!(endpoint["mean"]["cpu"], mean(durations) / 2);
    }
    assert_eq!(endpoints.len(), 4);
    assert_eq!(find("front", "server", "GET /two")["errors"], 1);
    assert_eq!(
        find("front", "server", "GET /one")["events"],
        serde_json::json!([["exceptions:page_fault_user", 5]])
    );
}

/// The ids of the fixture's traces that `--name name` keeps, with the heads or without.
fn named(name: &str, with_heads: bool) -> Vec<u128> {
    let (traces, heads) = traces();
    let names = EventNames {
        names: vec![],
        field_names: vec![],
    };
    let mut context = OutputContext::new(&names, 0);
    if with_heads {
        context.heads = Some(Arc::new(heads));
    }
    let filter = TraceFilter {
        name: Some((name.to_string(), context)),
        ..TraceFilter::default()
    };
    traces
        .iter()
        .filter(|t| filter.matches(t))
        .map(|t| t.id.0)
        .collect()
}

#[test]
fn the_name_filter_keeps_the_traces_with_a_span_of_that_name() {
    assert_eq!(named("GET /two", true), vec![6, 7]);
    assert_eq!(named("GET /one", true), vec![1, 2, 3, 4, 5]);
    assert_eq!(named("SET", true), vec![1, 2, 3, 4, 5, 6, 7]);
    // Exactly the name: neither a prefix nor another case.
    assert_eq!(named("GET", true), Vec::<u128>::new());
    assert_eq!(named("get /two", true), Vec::<u128>::new());
    // Without heads, spans have their generic names only.
    assert_eq!(named("GET /two", false), Vec::<u128>::new());
    assert_eq!(named("front server", false), vec![1, 2, 3, 4, 5, 6, 7]);
}
