//! `kspan analyze --format sqlite` on a real recording: curl fetching three times from
//! python's http.server in a network namespace of the test gives a database with as many
//! traces and spans as the OTLP output of the same recording, and spans named by their
//! request; without `-o` it is one sentence. Needs root, tracefs, curl and python3.

use kspan_testsupport::{Netns, Scratch};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

fn kspan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args(args)
        .output()
        .expect("kspan runs")
}

fn succeeded(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Records three HTTP requests from curl to python's http.server into `path`.
fn record_three_requests(netns: &Netns, scratch: &Scratch, path: &Path) {
    let script = format!(
        "cd {} && python3 -m http.server 18091 --bind 127.0.0.1 >/dev/null 2>&1 & \
         for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18091/ && break; \
         sleep 0.1; done; \
         for i in 1 2 3; do curl -s -o /dev/null http://127.0.0.1:18091/kspan; done; kill $!",
        scratch.path().display()
    );
    let path = path.to_str().unwrap();
    let command = ["record", "-o", path, "--", "ip", "netns", "exec"];
    succeeded(kspan(
        &[&command[..], &[netns.name(), "sh", "-c", &script]].concat(),
    ));
}

/// Distinct trace ids and the number of spans in an OTLP/JSON document.
fn otlp_counts(path: &Path) -> (usize, usize) {
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let spans: Vec<&serde_json::Value> = doc["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["scopeSpans"][0]["spans"].as_array().unwrap())
        .collect();
    let traces: BTreeSet<&str> = spans
        .iter()
        .map(|s| s["traceId"].as_str().unwrap())
        .collect();
    (traces.len(), spans.len())
}

#[test]
fn analyze_to_sqlite_has_the_traces_of_the_otlp_output() {
    let netns = Netns::new("sqlite");
    let scratch = Scratch::new("cli-sqlite");
    let recording = scratch.join("http.dat");
    record_three_requests(&netns, &scratch, &recording);
    let recording = recording.to_str().unwrap();

    let otlp = scratch.join("http.otlp.json");
    let args = ["analyze", recording, "--format", "otlp-json", "-o"];
    succeeded(kspan(&[&args[..], &[otlp.to_str().unwrap()]].concat()));
    let (otlp_traces, otlp_spans) = otlp_counts(&otlp);

    let db_path = scratch.join("http.db");
    let args = ["analyze", recording, "--format", "sqlite", "-o"];
    succeeded(kspan(&[&args[..], &[db_path.to_str().unwrap()]].concat()));
    let db = rusqlite::Connection::open(&db_path).unwrap();
    let count =
        |sql: &str| -> usize { db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as usize };
    assert_eq!(count("SELECT count(*) FROM traces"), otlp_traces);
    assert_eq!(count("SELECT count(*) FROM spans"), otlp_spans);
    assert_eq!(count("SELECT sum(span_count) FROM traces"), otlp_spans);
    assert_eq!(
        count("SELECT count(*) FROM traces WHERE root_name = 'GET /kspan'"),
        3,
        "one trace per request"
    );
    assert_eq!(
        count("SELECT count(*) FROM spans WHERE kind = 'server' AND name = 'GET /kspan'"),
        3,
        "each request's server span is named by its request"
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM span_attributes a JOIN spans s USING (span_id) \
             WHERE s.kind = 'server' AND a.key = 'http.response.status_code' AND a.value = 404"
        ),
        3,
        "and carries its status"
    );

    let missing_output = kspan(&["analyze", recording, "--format", "sqlite"]);
    assert!(!missing_output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing_output.stderr).trim_end(),
        "kspan: error: --format sqlite writes a database file: name it with -o FILE"
    );
}
