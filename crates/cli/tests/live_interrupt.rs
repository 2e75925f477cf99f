//! Ctrl-C on `kspan live` recording the demo application under load: it writes every trace
//! (those the stop cut with their unfinished spans marked partial), says exactly how many
//! traces were partial, exits 0, and leaves no ftrace instance behind; its traces are exactly those of
//! `kspan analyze` of the trace.dat it saved. Real kernel, the demo's real services (needs
//! root and what scripts/setup.sh installs).

mod common;

use common::{analyze_to, otlp_json_spans, start_recorder};
use kspan_capture::tracefs::process_gone;
use kspan_demo::{App, Config};
use kspan_loadgen::{LoadConfig, Mix, Pace};
use kspan_testsupport::{kspan_instances_of, within, Scratch};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The demo's namespace and cgroup prefix for this test.
const PREFIX: &str = "ktl";

/// The service frozen when Ctrl-C comes (most requests go through it).
const FROZEN: &str = "post-storage";

/// Brings down whatever the demo with [`PREFIX`] left when dropped (also when the test
/// fails); `kspan live` itself is stopped by its [`ChildGuard`].
struct Down;

impl Drop for Down {
    fn drop(&mut self) {
        let _ = kspan_demo::teardown(&Config::with_prefix(PREFIX));
    }
}

/// The trace ids of an OTLP/JSON document with a span marked `kspan.partial`, and all.
fn partial_and_all_traces(path: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let (mut partial, mut all) = (BTreeSet::new(), BTreeSet::new());
    let spans = doc["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["scopeSpans"][0]["spans"].as_array().unwrap());
    for span in spans {
        let trace = span["traceId"].as_str().unwrap().to_string();
        let is_partial = span["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["key"] == "kspan.partial" && a["value"]["boolValue"] == true);
        if is_partial {
            partial.insert(trace.clone());
        }
        all.insert(trace);
    }
    (partial, all)
}

/// The number before `before` in the line of `text` that starts with `line`.
fn count_in(text: &str, line: &str, before: &str) -> u64 {
    let found = text.lines().find(|l| l.starts_with(line));
    let found = found.unwrap_or_else(|| panic!("no line `{line}…` in {text}"));
    let head = &found[..found
        .find(before)
        .unwrap_or_else(|| panic!("no `{before}` in {found}"))];
    head.rsplit([' ', ';'])
        .find(|w| !w.is_empty())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no count before `{before}` in {found}"))
}

#[test]
fn ctrl_c_on_kspan_live_writes_every_trace_says_how_many_were_partial_and_leaves_no_tracing() {
    let _down = Down;
    let scratch = Scratch::new("live-interrupt");
    let config = Config {
        truth_dir: scratch.join("truth"),
        ..Config::with_prefix(PREFIX)
    };
    let app = App::up(&config).expect("the demo comes up");
    let (dat, traces, stderr) = (
        scratch.join("live.dat"),
        scratch.join("live.otlp.json"),
        scratch.join("live.err"),
    );
    let mut live = Command::new(env!("CARGO_BIN_EXE_kspan"));
    live.args(["live", "--format", "otlp-json", "-o"])
        .arg(&traces)
        .arg("--save")
        .arg(&dat);
    for host in app.hosts() {
        if let Some(cgroup) = &host.cgroup {
            live.arg("--cgroup").arg(cgroup);
        }
    }
    let mut live = start_recorder(&mut live, &stderr);
    let pid = live.id();
    let text = || std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(!kspan_instances_of(pid).is_empty(), "it records");

    let mut load = LoadConfig::new(std::net::SocketAddr::V4(app.gateway_addr()));
    load.mix = Mix::parse("/compose=1,/home-timeline=2,/user-timeline=2,/follow=1").unwrap();
    load.pace = Pace::Rate(100.0);
    load.connections = 8;
    load.duration = Some(Duration::from_secs(8));
    let run = std::thread::scope(|scope| {
        let run = scope.spawn(|| app.in_client(|| kspan_loadgen::run(&load)));
        // Ctrl-C in the middle of the load, while post-storage is frozen: the requests
        // waiting for it are surely in flight.
        std::thread::sleep(Duration::from_secs(3));
        app.set_frozen(FROZEN, true).expect("freezes");
        std::thread::sleep(Duration::from_secs(1));
        // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child's.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
        std::thread::sleep(Duration::from_millis(500));
        app.set_frozen(FROZEN, false).expect("thaws");
        run.join().unwrap()
    });
    let run = run.expect("the load runs").expect("the load runs");
    assert!(run.records.len() > 500, "{} requests", run.records.len());
    assert!(
        within(Duration::from_secs(60), || live
            .try_wait()
            .unwrap()
            .is_some()),
        "kspan live still runs a minute after Ctrl-C: {}",
        text()
    );
    let status = live.wait().unwrap();
    let text = text();
    assert!(status.success(), "{status}: {text}");
    assert!(process_gone(pid as i32));
    assert_eq!(
        kspan_instances_of(pid),
        Vec::<String>::new(),
        "no instance left"
    );
    assert!(text.contains("(interrupted)"), "{text}");

    // Every trace written, the partial ones counted exactly.
    let (partial, all) = partial_and_all_traces(&traces);
    let written = count_in(&text, "kspan: live: ", " traces written");
    let said_partial = count_in(&text, "kspan: live: ", " of them partial");
    assert_eq!(written, all.len() as u64, "{text}");
    assert_eq!(said_partial, partial.len() as u64, "{text}");
    assert!(
        said_partial > 0,
        "the requests waiting for {FROZEN} were cut: {text}"
    );
    assert!(all.len() > 200, "{} traces: {text}", all.len());

    // The same traces as the offline analysis of the trace.dat it saved.
    let offline = scratch.join("offline.otlp.json");
    analyze_to(&dat, "otlp-json", &offline);
    assert_eq!(otlp_json_spans(&traces), otlp_json_spans(&offline));
    app.down().expect("the demo goes down");
}
