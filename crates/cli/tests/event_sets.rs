//! The default event set gives the same traces as the full set it was cut from (issue 11):
//! two recorders, one with each set, record the same run at once, each in its own ftrace
//! instance, of a small two-service app in a network namespace of the test (curl → a
//! thread-per-request python front that calls python's http.server for every request: new
//! threads, the GIL's futexes, poll, accept, connect, reads at end of stream). Both
//! recordings give the same spans (names, kinds, processes, threads, links, times within
//! their trace), and the default one holds fewer events. Needs root, tracefs, curl and
//! python3.

mod common;

use common::{analyze_to, front_service, kspan, start_recorder, succeeded};
use kspan_testsupport::{within, ChildGuard, Netns, Scratch};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Requests made through the front service.
const REQUESTS: usize = 20;

/// How far the same event's time may differ between two ftrace instances: the kernel
/// stamps it in each instance's buffer in turn, and an interrupt can come in between
/// (measured: up to 56 µs on a loaded 2-core VM, under 1 µs on a quiet one).
const STAMP_SLACK_NS: u64 = 200_000;

/// One span without ids or clock: kind, name, service, process, thread, link and parent's
/// name, then its start and end relative to its trace's root.
type SpanContent = (String, u64, u64);

/// Every span of an OTLP/JSON document as [`SpanContent`], sorted.
fn spans_by_content(path: &Path) -> Vec<SpanContent> {
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut spans = Vec::new();
    for resource in doc["resourceSpans"].as_array().unwrap() {
        let service = resource["resource"]["attributes"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["key"] == "service.name"))
            .map_or(String::new(), |a| a["value"]["stringValue"].to_string());
        for span in resource["scopeSpans"][0]["spans"].as_array().unwrap() {
            spans.push((service.clone(), span.clone()));
        }
    }
    let time =
        |s: &serde_json::Value, key: &str| -> u64 { s[key].as_str().unwrap().parse().unwrap() };
    let by_id: BTreeMap<String, &serde_json::Value> = spans
        .iter()
        .map(|(_, s)| (s["spanId"].as_str().unwrap().to_string(), s))
        .collect();
    let root_start = |s: &serde_json::Value| {
        let mut s = s;
        while let Some(p) = s["parentSpanId"].as_str().and_then(|p| by_id.get(p)) {
            s = p;
        }
        time(s, "startTimeUnixNano")
    };
    let attr = |s: &serde_json::Value, key: &str| {
        s["attributes"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["key"] == key))
            .map_or(String::new(), |a| a["value"].to_string())
    };
    let mut contents: Vec<SpanContent> = spans
        .iter()
        .map(|(service, s)| {
            let root = root_start(s);
            let parent = s["parentSpanId"]
                .as_str()
                .and_then(|p| by_id.get(p))
                .map_or("-".to_string(), |p| p["name"].to_string());
            let key = format!(
                "{service} {} {} pid={} tid={} link={} under {parent}",
                s["kind"],
                s["name"],
                attr(s, "process.pid"),
                attr(s, "thread.id"),
                attr(s, "kspan.link"),
            );
            let start = time(s, "startTimeUnixNano") - root;
            (key, start, time(s, "endTimeUnixNano") - root)
        })
        .collect();
    contents.sort();
    contents
}

/// The `events:` total of `kspan info`.
fn events(recording: &Path) -> u64 {
    let out = succeeded(kspan(&["info", recording.to_str().unwrap()]));
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("events:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// `kspan record -o DAT --pid PID EXTRA…`.
fn recorder(dat: &Path, pid: u32, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kspan"));
    command
        .arg("record")
        .arg("-o")
        .arg(dat)
        .args(["--pid", &pid.to_string(), "--duration", "60"])
        .args(extra);
    command
}

#[test]
fn the_default_event_set_gives_the_traces_of_the_full_set() {
    let netns = Netns::new("cli-sets");
    let scratch = Scratch::new("cli-sets");
    let front = scratch.join("front.py");
    std::fs::write(&front, front_service("ThreadingHTTPServer", 18094, 18095)).unwrap();
    let go = scratch.join("go");
    let script = format!(
        "while [ ! -e {go} ]; do sleep 0.05; done; \
         cd {dir} && python3 -m http.server 18095 --bind 127.0.0.1 >/dev/null 2>&1 & B=$!; \
         python3 {front} & F=$!; \
         for i in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:18094/ && break; \
         sleep 0.1; done; \
         for i in $(seq {REQUESTS}); do curl -s -o /dev/null http://127.0.0.1:18094/r$i; done; \
         kill $B $F; wait",
        go = go.display(),
        dir = scratch.path().display(),
        front = front.display(),
    );
    // The app waits at its gate until both recorders follow it.
    let app = netns
        .command("sh")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .spawn()
        .expect("sh runs");
    let mut app = ChildGuard::kill_on_drop(app);
    let (default_dat, full_dat) = (scratch.join("default.dat"), scratch.join("full.dat"));
    let mut recorders = [
        start_recorder(
            &mut recorder(&default_dat, app.id(), &[]),
            &scratch.join("default.log"),
        ),
        start_recorder(
            &mut recorder(&full_dat, app.id(), &["--event-set", "full"]),
            &scratch.join("full.log"),
        ),
    ];
    std::fs::write(&go, "").unwrap();
    assert!(
        within(Duration::from_secs(60), || app
            .try_wait()
            .unwrap()
            .is_some()),
        "the app did not finish"
    );
    for r in &mut recorders {
        succeeded(
            Command::new("kill")
                .args(["-TERM", &r.id().to_string()])
                .output()
                .unwrap(),
        );
        assert!(r.wait().unwrap().success());
    }

    let (default_json, full_json) = (scratch.join("default.json"), scratch.join("full.json"));
    analyze_to(&default_dat, "otlp-json", &default_json);
    analyze_to(&full_dat, "otlp-json", &full_json);
    let default_spans = spans_by_content(&default_json);
    // Per request: curl's call, the front's server span, its call, the back's server span.
    assert!(default_spans.len() >= 4 * REQUESTS, "{default_spans:#?}");
    let full_spans = spans_by_content(&full_json);
    let keys = |spans: &[SpanContent]| spans.iter().map(|s| s.0.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&default_spans), keys(&full_spans));
    for (d, f) in default_spans.iter().zip(&full_spans) {
        assert!(
            d.1.abs_diff(f.1) <= STAMP_SLACK_NS && d.2.abs_diff(f.2) <= STAMP_SLACK_NS,
            "{d:?} (default set) against {f:?} (full set)"
        );
    }
    let (default_events, full_events) = (events(&default_dat), events(&full_dat));
    assert!(
        default_events < full_events,
        "{default_events} events with the default set, {full_events} with the full one"
    );
}
