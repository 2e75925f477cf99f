//! The sinks on a hand-built two-service trace: exact OTLP JSON fields, exact tree text,
//! exact SQLite rows and the exact Perfetto timeline (`golden/perfetto.json`).

use kspan_engine::{
    Activity, EventNames, Evidence, Link, Span, SpanId, SpanKind, Summary, Trace, TraceId,
};
use kspan_output::filter::FilteredSink;
use kspan_output::otlp::OtlpJsonSink;
use kspan_output::perfetto::PerfettoSink;
use kspan_output::report::ReportSink;
use kspan_output::sqlite::SqliteSink;
use kspan_output::tree::TreeSink;
use kspan_output::{OutputContext, TraceFilter, TraceSink};

fn span(id: u64, parent: Option<u64>, kind: SpanKind, service: &str, start: u64, end: u64) -> Span {
    Span {
        id: SpanId(id),
        parent: parent.map(SpanId),
        kind,
        service: service.to_string(),
        pid: 10,
        tid: 11,
        threads: vec![11, 12],
        start,
        end,
        local: Some("10.0.0.1:80".parse().unwrap()),
        peer: Some("10.0.0.2:5000".parse().unwrap()),
        partial: false,
        error: None,
        link: parent.map(|_| Link {
            evidence: Evidence::Wakeup,
            candidates: 2,
            confidence: 0.8,
        }),
        activity: Activity {
            on_cpu_ns: 1500,
            bytes_in: 100,
            counts: vec![(7, 3), (8, 0)],
            ..Default::default()
        },
        opening_offset: 0,
    }
}

fn sample_trace(id: u128, root_duration: u64) -> Trace {
    Trace {
        id: TraceId(id),
        spans: vec![
            span(
                1,
                None,
                SpanKind::Server,
                "front",
                1000,
                1000 + root_duration,
            ),
            span(2, Some(1), SpanKind::Client, "front", 1100, 1900),
            span(3, Some(2), SpanKind::Server, "back", 1200, 1800),
        ],
    }
}

fn context() -> OutputContext {
    let names = EventNames {
        names: vec![(7, "exceptions:page_fault_user".into())],
        field_names: vec![],
    };
    OutputContext::new(&names, 1_000_000)
}

#[test]
fn otlp_json_has_one_resource_per_service_and_the_contract_attributes() {
    let mut out = Vec::new();
    let mut sink = OtlpJsonSink::new(&mut out, context());
    sink.trace(&sample_trace(0xabc, 1000)).unwrap();
    sink.finish(&Summary::default()).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let resources = doc["resourceSpans"].as_array().unwrap();
    assert_eq!(resources.len(), 2);
    assert_eq!(
        resources[0]["resource"]["attributes"][0]["value"]["stringValue"],
        "front"
    );
    let spans = resources[0]["scopeSpans"][0]["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2);
    let root = &spans[0];
    assert_eq!(root["traceId"], "00000000000000000000000000000abc");
    assert_eq!(root["spanId"], "0000000000000001");
    assert!(root.get("parentSpanId").is_none());
    assert_eq!(root["kind"], 2);
    assert_eq!(root["startTimeUnixNano"], "1001000");
    assert_eq!(root["endTimeUnixNano"], "1002000");
    assert_eq!(spans[1]["name"], "front → back");
    assert_eq!(spans[1]["kind"], 3);
    assert_eq!(spans[1]["parentSpanId"], "0000000000000001");
    let attr = |key: &str| {
        root["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| a["value"].clone())
    };
    assert_eq!(attr("process.pid").unwrap()["intValue"], "10");
    assert_eq!(attr("thread.id").unwrap()["intValue"], "11");
    assert_eq!(attr("kspan.threads").unwrap()["stringValue"], "11,12");
    assert!(attr("kspan.link").is_none(), "a root has no link");
    let call_attr = |key: &str| {
        spans[1]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| a["value"].clone())
    };
    assert_eq!(call_attr("kspan.link").unwrap()["stringValue"], "wakeup");
    assert_eq!(
        call_attr("kspan.link.confidence").unwrap()["doubleValue"],
        0.8
    );
    assert_eq!(call_attr("kspan.link.candidates").unwrap()["intValue"], "2");
    assert_eq!(
        attr("network.peer.address").unwrap()["stringValue"],
        "10.0.0.2"
    );
    assert_eq!(attr("network.peer.port").unwrap()["intValue"], "5000");
    assert_eq!(
        attr("kspan.events.exceptions:page_fault_user").unwrap()["intValue"],
        "3"
    );
    assert_eq!(attr("kspan.cpu.on_ns").unwrap()["intValue"], "1500");
    assert!(attr("event#8").is_none(), "zero counts are left out");
}

#[test]
fn empty_otlp_document_is_valid_json() {
    let mut out = Vec::new();
    OtlpJsonSink::new(&mut out, context())
        .finish(&Summary::default())
        .unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "{\"resourceSpans\":[]}\n");
}

/// Every row `sql` selects, as tuples.
fn rows<T>(db: &rusqlite::Connection, sql: &str) -> Vec<T>
where
    T: for<'a> TryFrom<&'a rusqlite::Row<'a>, Error = rusqlite::Error>,
{
    let mut statement = db.prepare(sql).unwrap();
    let found = statement.query_map([], |row| T::try_from(row)).unwrap();
    found.collect::<Result<_, _>>().unwrap()
}

#[test]
fn sqlite_has_exact_rows_parent_joins_and_activity() {
    let path = std::env::temp_dir().join(format!("kspan-sinks-{}.db", std::process::id()));
    std::fs::write(&path, "an older file, replaced").unwrap();
    let mut second = sample_trace(0xdef, 2000);
    for span in &mut second.spans {
        span.id.0 += 10;
        span.parent = span.parent.map(|p| SpanId(p.0 + 10));
    }
    second.spans[2].partial = true;
    second.spans[2].activity.blocked_io_ns = 700;
    let mut sink = SqliteSink::create(&path, context()).unwrap();
    sink.trace(&sample_trace(0xabc, 1000)).unwrap();
    sink.trace(&second).unwrap();
    sink.finish(&Summary::default()).unwrap();
    drop(sink);

    let db = rusqlite::Connection::open(&path).unwrap();
    let count = |table: &str| -> i64 {
        db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(
        [
            "traces",
            "spans",
            "span_threads",
            "span_events",
            "span_sums",
            "span_attributes"
        ]
        .map(count),
        [2, 6, 12, 6, 0, 0]
    );
    let traces: Vec<(String, String, String, i64, i64, i64, bool)> = rows(
        &db,
        "SELECT trace_id, root_service, root_name, start_unix_ns, duration_ns, span_count, \
             partial FROM traces ORDER BY trace_id",
    );
    assert_eq!(
        traces,
        [
            (
                "00000000000000000000000000000abc".into(),
                "front".into(),
                "front server".into(),
                1_001_000,
                1000,
                3,
                false
            ),
            (
                "00000000000000000000000000000def".into(),
                "front".into(),
                "front server".into(),
                1_001_000,
                2000,
                3,
                true
            ),
        ]
    );
    // Each server callee joined to the client span that called it, and that span's request.
    let calls: Vec<(String, String, String, String, f64, i64)> = rows(
        &db,
        "SELECT p.name, p.kind, c.service, c.link_evidence, c.link_confidence, \
             c.blocked_io_ns FROM spans c JOIN spans p ON c.parent_id = p.span_id \
             WHERE c.kind = 'server' ORDER BY c.span_id",
    );
    let call = |io| {
        (
            "front → back".to_string(),
            "client".to_string(),
            "back".to_string(),
            "wakeup".to_string(),
            0.8,
            io,
        )
    };
    assert_eq!(calls, [call(0), call(700)]);
    let root: Vec<(i64, i64, Option<String>, String, i64, String)> = rows(
        &db,
        "SELECT cpu_ns, bytes_in, parent_id, peer_address, peer_port, \
             (SELECT group_concat(tid) FROM span_threads t WHERE t.span_id = s.span_id) \
             FROM spans s WHERE span_id = '0000000000000001'",
    );
    assert_eq!(
        root,
        [(1500, 100, None, "10.0.0.2".into(), 5000, "11,12".into())]
    );
    let events: Vec<(String, i64)> = rows(
        &db,
        "SELECT event, count FROM span_events WHERE span_id = '0000000000000002'",
    );
    assert_eq!(events, [("exceptions:page_fault_user".into(), 3)]);
    drop(db);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn tree_text_is_exact() {
    let mut out = Vec::new();
    let mut sink = TreeSink::new(&mut out, context(), false);
    sink.trace(&sample_trace(1, 1000)).unwrap();
    let text = String::from_utf8(out).unwrap();
    let expected = "\
trace 00000000000000000000000000000001  1000ns  3 spans, 2 services, starts at unix 1001000ns
front server SERVER pid 10 tid 11 +0ns 1000ns peer 10.0.0.2:5000
   cpu 1500ns · runnable 0ns · blocked net 0ns io 0ns futex 0ns other 0ns · in 100B out 0B · events exceptions:page_fault_user=3
└─ front → back CLIENT pid 10 tid 11 +100ns 800ns peer 10.0.0.2:5000 [wakeup 0.80, 2 candidates]
      cpu 1500ns · runnable 0ns · blocked net 0ns io 0ns futex 0ns other 0ns · in 100B out 0B · events exceptions:page_fault_user=3
   └─ back server SERVER pid 10 tid 11 +200ns 600ns peer 10.0.0.2:5000
         cpu 1500ns · runnable 0ns · blocked net 0ns io 0ns futex 0ns other 0ns · in 100B out 0B · events exceptions:page_fault_user=3

";
    assert_eq!(text, expected);
}

/// Two traces on one thread: the second starts while the first's root is open and ends
/// after it, so its spans go to a second track of the thread.
#[test]
fn perfetto_timeline_is_exact() {
    let mut overlapping = sample_trace(2, 1000);
    for (n, span) in overlapping.spans.iter_mut().enumerate() {
        span.id = SpanId(span.id.0 + 10);
        span.parent = span.parent.map(|p| SpanId(p.0 + 10));
        span.start += 500;
        span.end += 500;
        span.activity.counts.clear();
        span.error = (n == 2).then(|| "connection reset".to_string());
    }
    let mut context = context();
    context.thread_names.insert(11, "worker".into());
    let mut out = Vec::new();
    let mut sink = PerfettoSink::new(&mut out, context);
    sink.trace(&sample_trace(1, 1000)).unwrap();
    sink.trace(&overlapping).unwrap();
    sink.finish(&Summary::default()).unwrap();
    let text = String::from_utf8(out).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let events = doc["traceEvents"].as_array().unwrap();
    assert_eq!(events.iter().filter(|e| e["ph"] == "X").count(), 6);
    assert_eq!(text, include_str!("golden/perfetto.json"));
}

/// The JSON document a report page embeds for its renderer.
fn report_data(page: &str) -> serde_json::Value {
    let start = page.find("id=\"kspan-data\">").unwrap() + "id=\"kspan-data\">".len();
    let end = start + page[start..].find("</script>").unwrap();
    serde_json::from_str(&page[start..end]).unwrap()
}

/// Two traces, the top one drawn: its spans in tree order, the service map's calls from
/// outside and between the services, the endpoints and the unsure links.
#[test]
fn report_has_the_slowest_waterfall_the_calls_and_the_endpoints() {
    let mut sink = ReportSink::new(context(), 1);
    sink.trace(&sample_trace(1, 1000)).unwrap();
    sink.trace(&sample_trace(2, 3000)).unwrap();
    let summary = Summary {
        traces: 2,
        spans: 6,
        links: vec![(Evidence::Wakeup, 4, 4)],
        ..Default::default()
    };
    sink.finish(&summary).unwrap();
    let mut page = Vec::new();
    sink.write(&mut page, "app.dat", &summary, vec!["lost 3 events".into()])
        .unwrap();
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("<title>kspan report: app.dat</title>"));
    let data = report_data(&page);

    let traces = data["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 1, "--top 1");
    assert_eq!(traces[0]["id"], format!("{:032x}", 2));
    assert_eq!(traces[0]["duration"], 3000);
    let rows: Vec<(String, u64, u64, u64)> = traces[0]["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["depth"].as_u64().unwrap(),
                s["offset"].as_u64().unwrap(),
                s["time"]["cpu"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("front server".to_string(), 0, 0, 1500),
            ("front → back".to_string(), 1, 100, 1500),
            ("back server".to_string(), 2, 200, 1500),
        ]
    );
    assert_eq!(
        traces[0]["spans"][1]["events"],
        serde_json::json!([["exceptions:page_fault_user", 3]])
    );
    assert_eq!(traces[0]["spans"][1]["link"]["evidence"], "wakeup");

    let edges: Vec<(&str, &str, u64, u64)> = data["services"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap(),
                e["to"].as_str().unwrap(),
                e["latency"]["count"].as_u64().unwrap(),
                e["latency"]["max"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        edges,
        [("clients", "front", 2, 3000), ("front", "back", 2, 800)]
    );
    let endpoints: Vec<(&str, &str, u64)> = data["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
                e["latency"]["p99"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        endpoints,
        [
            ("front server", "server", 3000),
            ("front → back", "client", 800),
            ("back server", "server", 600),
        ],
        "slowest p99 first"
    );
    let caveats = &data["caveats"];
    assert_eq!(
        caveats["links"],
        serde_json::json!([{"evidence": "wakeup", "count": 4, "unsure": 4}])
    );
    assert_eq!(
        caveats["flags"],
        serde_json::json!({"partial": 0, "errors": 0, "client_roots": 0})
    );
    assert_eq!(caveats["warnings"], serde_json::json!(["lost 3 events"]));
}

/// Collects trace ids, to see what a filter let through and in which order.
struct Ids(Vec<u128>);
impl TraceSink for &mut Ids {
    fn trace(&mut self, trace: &Trace) -> std::io::Result<()> {
        self.0.push(trace.id.0);
        Ok(())
    }
    fn finish(&mut self, _: &Summary) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn slowest_keeps_the_n_longest_slowest_first() {
    let mut ids = Ids(vec![]);
    let filter = TraceFilter {
        slowest: Some(2),
        ..Default::default()
    };
    let mut sink = FilteredSink::new(&mut ids, filter);
    for (id, duration) in [(1, 500), (2, 3000), (3, 100), (4, 2000), (5, 2500)] {
        sink.trace(&sample_trace(id, duration)).unwrap();
    }
    sink.finish(&Summary::default()).unwrap();
    assert_eq!(ids.0, vec![2, 5]);
}

#[test]
fn service_and_duration_and_id_filters() {
    let mut ids = Ids(vec![]);
    let filter = TraceFilter {
        service: Some("back".into()),
        min_duration_ns: 1000,
        ..Default::default()
    };
    let mut sink = FilteredSink::new(&mut ids, filter);
    for (id, duration) in [(1, 999), (2, 1000)] {
        sink.trace(&sample_trace(id, duration)).unwrap();
    }
    let mut other = sample_trace(3, 5000);
    other.spans.truncate(2);
    sink.trace(&other).unwrap();
    sink.finish(&Summary::default()).unwrap();
    assert_eq!(ids.0, vec![2]);
    let id_filter = TraceFilter {
        trace_id_prefix: Some("00000000000000000000000000000AB".into()),
        ..Default::default()
    };
    assert!(id_filter.matches(&sample_trace(0xabc, 1)));
    assert!(!id_filter.matches(&sample_trace(0xbbc, 1)));
}

#[test]
fn min_confidence_keeps_traces_whose_every_link_reaches_it() {
    let unsure = sample_trace(1, 100);
    assert!(unsure.spans.iter().any(|s| s.link.is_some()));
    let mut sure = sample_trace(2, 100);
    for s in sure.spans.iter_mut().filter(|s| s.link.is_some()) {
        s.link = s.link.map(|l| Link {
            confidence: 0.995,
            ..l
        });
    }
    let filter = TraceFilter {
        min_confidence: 0.99,
        ..Default::default()
    };
    assert!(!filter.matches(&unsure));
    assert!(filter.matches(&sure));
    assert!(TraceFilter::default().matches(&unsure));
}
