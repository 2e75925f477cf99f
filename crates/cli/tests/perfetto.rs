//! `kspan analyze --format perfetto` on a real recording (curl fetching from python's
//! http.server in a network namespace of the test): the timeline parses, has one complete
//! slice per span of the OTLP output of the same recording, with the same ids, on the
//! span's thread, every flow has both its ends, and every thread track is named. Needs root,
//! tracefs, curl and python3.

mod common;

use common::{analyze_to, otlp_json_spans, record_requests};
use std::collections::BTreeSet;

#[test]
fn the_timeline_has_a_slice_per_span_and_both_ends_of_every_flow() {
    let (scratch, recording) = record_requests("cli-perfetto", 5);
    let otlp = scratch.join("http.otlp.json");
    analyze_to(&recording, "otlp-json", &otlp);
    let timeline = scratch.join("timeline.json");
    analyze_to(&recording, "perfetto", &timeline);

    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&timeline).unwrap()).expect("the timeline parses");
    let events = doc["traceEvents"].as_array().unwrap();
    let phase = |ph: &'static str| events.iter().filter(move |e| e["ph"] == ph);
    let spans = otlp_json_spans(&otlp);
    let span_ids: BTreeSet<&str> = spans.iter().map(|s| s.split(' ').nth(1).unwrap()).collect();
    let slice_ids: BTreeSet<&str> = phase("X")
        .map(|e| e["args"]["span_id"].as_str().unwrap())
        .collect();
    assert!(span_ids.len() >= 5, "a span per request at least");
    assert_eq!(phase("X").count(), spans.len(), "one slice per span");
    assert_eq!(slice_ids, span_ids, "the OTLP output's spans");
    for slice in phase("X") {
        assert_eq!(
            slice["tid"], slice["args"]["thread.id"],
            "on its own thread: {slice}"
        );
    }
    let flow_ids = |ph: &'static str| -> Vec<&str> {
        let mut ids: Vec<&str> = phase(ph).map(|e| e["id"].as_str().unwrap()).collect();
        ids.sort();
        ids
    };
    let children: Vec<&str> = {
        let mut ids: Vec<&str> = spans
            .iter()
            .filter(|s| s.split(' ').nth(2) != Some("-"))
            .map(|s| s.split(' ').nth(1).unwrap())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        flow_ids("s"),
        children,
        "a flow into every span that has a parent"
    );
    assert_eq!(flow_ids("f"), children, "and its end");
    let named: BTreeSet<(i64, i64)> = phase("M")
        .filter(|e| e["name"] == "thread_name")
        .map(|e| (e["pid"].as_i64().unwrap(), e["tid"].as_i64().unwrap()))
        .collect();
    for slice in phase("X") {
        let track = (
            slice["pid"].as_i64().unwrap(),
            slice["tid"].as_i64().unwrap(),
        );
        assert!(named.contains(&track), "unnamed track {track:?}");
    }
}
