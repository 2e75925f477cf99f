//! `kspan analyze --by endpoint` on a real recording (curl fetching four times from
//! python's http.server in a network namespace of the test): the server endpoint `GET
//! /kspan` has the count and the percentiles computed here from the OTLP output's spans of
//! the same recording, in JSON and in the table. Needs root, tracefs, curl and python3.

mod common;

use common::{analyze_to, kspan, record_requests, succeeded};

/// The nearest-rank percentile `q` of `samples`.
fn percentile(samples: &[u64], q: f64) -> u64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.max(1) - 1]
}

/// Service and duration of every SERVER span named `name` in an OTLP/JSON document.
fn server_spans(doc: &serde_json::Value, name: &str) -> Vec<(String, u64)> {
    let ns = |v: &serde_json::Value| v.as_str().unwrap().parse::<u64>().unwrap();
    let mut out = Vec::new();
    for resource in doc["resourceSpans"].as_array().unwrap() {
        let service = resource["resource"]["attributes"][0]["value"]["stringValue"]
            .as_str()
            .unwrap();
        for span in resource["scopeSpans"][0]["spans"].as_array().unwrap() {
            if span["name"] == name && span["kind"] == 2 {
                let duration = ns(&span["endTimeUnixNano"]) - ns(&span["startTimeUnixNano"]);
                out.push((service.to_string(), duration));
            }
        }
    }
    out
}

#[test]
fn endpoint_percentiles_are_those_of_the_traces() {
    let (scratch, recording) = record_requests("cli-endpoints", 4);
    let otlp = scratch.join("http.otlp.json");
    analyze_to(&recording, "otlp-json", &otlp);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&otlp).unwrap()).unwrap();
    let served = server_spans(&doc, "GET /kspan");
    assert_eq!(served.len(), 4, "one server span per request");
    let service = served[0].0.clone();
    let durations: Vec<u64> = served.iter().map(|s| s.1).collect();

    let path = recording.to_str().unwrap();
    let json = succeeded(kspan(&["analyze", path, "--by", "endpoint", "--json"]));
    let endpoints: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let endpoint = endpoints["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "server" && e["name"] == "GET /kspan")
        .expect("the server endpoint");
    assert_eq!(endpoint["service"], service.as_str());
    let latency = &endpoint["latency"];
    assert_eq!(latency["count"], 4);
    assert_eq!(latency["p50"], percentile(&durations, 0.5));
    assert_eq!(latency["p99"], percentile(&durations, 0.99));
    assert_eq!(latency["max"], *durations.iter().max().unwrap());
    assert_eq!(
        endpoint["mean_ns"],
        durations.iter().sum::<u64>() / durations.len() as u64
    );

    let table = succeeded(kspan(&["analyze", path, "--by", "endpoint"]));
    let table = String::from_utf8(table.stdout).unwrap();
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("SERVICE "));
    let row: Vec<&str> = lines
        .find(|l| l.contains(" server ") && l.contains(" GET /kspan "))
        .expect("a line for the server endpoint")
        .split_whitespace()
        .collect();
    assert_eq!(row[..5], [service.as_str(), "server", "GET", "/kspan", "4"]);

    let mixed = kspan(&["analyze", path, "--by", "endpoint", "--format", "sqlite"]);
    assert!(!mixed.status.success());
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("does not go with --format sqlite"));
}
