//! `kspan live` on a small two-service app (curl → a python front server that calls python's
//! http.server for every request) in a network namespace of the test: the traces come out
//! while the recording still runs, and they are exactly those of `kspan analyze` of the
//! trace.dat the same run saved (same trace and span ids, same parents, same names). Needs
//! root, tracefs, curl and python3.

mod common;

use common::{analyze_to, front_service, live_in_netns, otlp_json_spans};
use kspan_testsupport::{ChildGuard, Netns, Scratch};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Requests made through the front service.
const REQUESTS: usize = 10;

/// The distinct trace ids in an OTLP/JSON document being written (maybe cut short).
fn trace_ids(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split("\"traceId\":\"")
        .skip(1)
        .filter_map(|rest| rest.get(..32).map(str::to_string))
        .collect()
}

#[test]
fn live_traces_come_out_while_recording_and_equal_the_offline_analysis() {
    let netns = Netns::new("cli-live");
    let scratch = Scratch::new("cli-live");
    let dat = scratch.join("live.dat");
    let live_json = scratch.join("live.otlp.json");
    let front = scratch.join("front.py");
    std::fs::write(&front, front_service("HTTPServer", 18092, 18093)).unwrap();
    let script = format!(
        "cd {dir} && python3 -m http.server 18093 --bind 127.0.0.1 >/dev/null 2>&1 & B=$!; \
         python3 {front} & F=$!; \
         for i in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:18092/ && break; \
         sleep 0.1; done; \
         for i in $(seq {REQUESTS}); do curl -s -o /dev/null http://127.0.0.1:18092/r$i; done; \
         sleep 5; kill $B $F",
        dir = scratch.path().display(),
        front = front.display(),
    );
    let child = live_in_netns(&dat, &live_json, &[], &netns, &script)
        .stderr(Stdio::piped())
        .spawn()
        .expect("kspan runs");
    let mut live = ChildGuard::terminate_on_drop(child);

    // Watch the output while kspan runs: the traces must appear before it ends.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen_while_running = 0;
    while live.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "kspan live did not end");
        let seen = trace_ids(&live_json).len();
        if live.try_wait().unwrap().is_none() {
            seen_while_running = seen;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(live.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(live.wait().unwrap().success(), "{stderr}");

    let offline_json = scratch.join("offline.otlp.json");
    analyze_to(&dat, "otlp-json", &offline_json);
    let (live_spans, offline_spans) = (otlp_json_spans(&live_json), otlp_json_spans(&offline_json));
    assert_eq!(
        trace_ids(&live_json),
        trace_ids(&offline_json),
        "the same traces"
    );
    assert_eq!(
        live_spans, offline_spans,
        "the same spans, parents and names"
    );
    let traces = trace_ids(&live_json).len();
    assert!(traces > REQUESTS, "{traces} traces: {stderr}");
    assert_eq!(
        seen_while_running, traces,
        "every trace was out before the recording ended: {stderr}"
    );
    // The app's shape: curl → front server → front's call → back server, per request.
    let parents: BTreeSet<&str> = live_spans
        .iter()
        .filter_map(|s| s.split(' ').nth(2))
        .collect();
    let deep = live_spans
        .iter()
        .filter(|s| s.split(' ').nth(2) != Some("-"))
        .filter(|s| parents.contains(s.split(' ').nth(1).unwrap()))
        .count();
    assert!(
        deep >= 2 * REQUESTS,
        "front's server span and its call, under a parent and over a child, per request: {deep}"
    );
}
