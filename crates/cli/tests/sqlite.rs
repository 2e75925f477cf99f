//! `kspan analyze --format sqlite` on a real recording: curl fetching three times from
//! python's http.server in a network namespace of the test gives a database with as many
//! traces and spans as the OTLP output of the same recording, and spans named by their
//! request; without `-o` it is one sentence. Needs root, tracefs, curl and python3.

mod common;

use common::{analyze_to, kspan, otlp_json_spans, record_requests};
use std::collections::BTreeSet;

#[test]
fn analyze_to_sqlite_has_the_traces_of_the_otlp_output() {
    let (scratch, recording) = record_requests("cli-sqlite", 3);
    let otlp = scratch.join("http.otlp.json");
    analyze_to(&recording, "otlp-json", &otlp);
    let spans = otlp_json_spans(&otlp);
    let otlp_spans = spans.len();
    let otlp_traces = spans
        .iter()
        .map(|s| s.split(' ').next().unwrap())
        .collect::<BTreeSet<_>>()
        .len();

    let db_path = scratch.join("http.db");
    analyze_to(&recording, "sqlite", &db_path);
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

    let missing_output = kspan(&["analyze", recording.to_str().unwrap(), "--format", "sqlite"]);
    assert!(!missing_output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing_output.stderr).trim_end(),
        "kspan: error: --format sqlite writes a database file: name it with -o FILE"
    );
}
