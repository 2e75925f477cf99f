//! `kspan analyze --otlp-endpoint` against a real OTLP/HTTP receiver built on the official
//! `opentelemetry-proto` Python package (`support/otlp_receiver.py`, run in the virtual
//! environment `scripts/otlp-venv.sh` makes): every span of the OTLP/JSON output of the same
//! run arrives exactly once with the same ids, also when the collector comes up late and
//! answers 503 at first; with no collector at all the analysis ends within its timeout,
//! reports every span as dropped and exits with status 3; a collector down for a while
//! during `kspan live` misses exactly the traces kspan reports dropped, gets every other
//! trace whole and once, and the capture loses nothing. Needs root, tracefs, curl, python3
//! and PyPI (once, for the virtual environment).

mod common;

use common::{
    analyze_to, live_in_netns, otlp_json_spans, record_requests, serve_and_fetch, start_recorder,
    succeeded,
};
use kspan_testsupport::{within, ChildGuard, Netns, Scratch};
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The python of the receiver's virtual environment (made on first use).
fn receiver_python() -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/otlp-venv.sh");
    let out = succeeded(
        Command::new("bash")
            .arg(script)
            .output()
            .expect("bash runs"),
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A loopback port nothing listens on (free when asked; tests do not share ports).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The test receiver, listening on loopback; it records each span it gets in a file.
struct Receiver {
    child: ChildGuard,
    port: u16,
    spans: PathBuf,
    outages: PathBuf,
}

impl Receiver {
    /// Starts it on `port` (0: any free one), answering 503 to the first `fail_first`
    /// requests and going down for `outage` when asked ([`Receiver::go_down`]), and waits
    /// until it listens.
    fn start(scratch: &Scratch, port: u16, fail_first: u32, outage: Duration) -> Receiver {
        let port_file = scratch.join("receiver.port");
        let spans = scratch.join("received.txt");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/otlp_receiver.py"
        );
        let child = Command::new(receiver_python())
            .arg(script)
            .args([
                "--port",
                &port.to_string(),
                "--fail-first",
                &fail_first.to_string(),
                "--outage",
                &outage.as_secs_f64().to_string(),
            ])
            .arg("--port-file")
            .arg(&port_file)
            .arg("--out")
            .arg(&spans)
            .stdin(Stdio::null())
            .spawn()
            .expect("the receiver starts");
        let child = ChildGuard::kill_on_drop(child);
        let started = Instant::now();
        while !port_file.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the receiver never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let port = std::fs::read_to_string(&port_file)
            .unwrap()
            .parse()
            .unwrap();
        Receiver {
            child,
            port,
            spans,
            outages: PathBuf::from(format!("{}.outage", port_file.display())),
        }
    }

    /// Asks it to go down (refusing connections) for its outage, once the request in
    /// progress is answered.
    fn go_down(&self) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child's.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGUSR1) };
    }

    /// How long it was down, once it is up again (`None` before).
    fn was_down(&self) -> Option<Duration> {
        let log = std::fs::read_to_string(&self.outages).ok()?;
        let at = |what: &str| -> Option<f64> {
            let line = log.lines().find(|l| l.starts_with(what))?;
            line.split(' ').nth(1)?.parse().ok()
        };
        Some(Duration::from_secs_f64(at("up ")? - at("down ")?))
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The spans received, as `trace span parent name` lines, sorted; fails on any request
    /// the receiver found malformed.
    fn spans(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.spans).unwrap_or_default();
        let mut spans: Vec<String> = text.lines().map(str::to_string).collect();
        assert!(
            spans.iter().all(|s| !s.starts_with("ERROR")),
            "bad requests: {spans:?}"
        );
        spans.sort();
        spans
    }
}

/// The trace ids of `spans` (`trace span parent name` lines), each once.
fn traces_of(spans: &[String]) -> BTreeSet<&str> {
    spans.iter().filter_map(|s| s.split(' ').next()).collect()
}

/// `kspan analyze FILE --format otlp-json -o JSON --otlp-endpoint URL EXTRA…`.
fn analyze_and_push(recording: &Path, json: &Path, endpoint: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kspan"));
    command
        .arg("analyze")
        .arg(recording)
        .args(["--format", "otlp-json", "-o"])
        .arg(json)
        .args(["--otlp-endpoint", endpoint])
        .args(extra);
    command
}

#[test]
fn every_span_of_the_json_output_reaches_the_collector_exactly_once() {
    let (scratch, recording) = record_requests("otlp-push", 20);
    let receiver = Receiver::start(&scratch, 0, 0, Duration::ZERO);
    let json = scratch.join("traces.json");
    let out = succeeded(
        analyze_and_push(&recording, &json, &receiver.endpoint(), &[])
            .output()
            .unwrap(),
    );
    let expected = otlp_json_spans(&json);
    assert!(expected.len() >= 20, "one server span per request at least");
    assert_eq!(receiver.spans(), expected);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "kspan: OTLP: {} spans ({} traces) sent to {}/v1/traces",
            expected.len(),
            traces_of(&expected).len(),
            receiver.endpoint()
        )),
        "{stderr}"
    );
}

#[test]
fn a_collector_that_comes_up_late_and_answers_503_at_first_gets_every_span_once() {
    let (scratch, recording) = record_requests("otlp-retry", 10);
    let port = free_port();
    let json = scratch.join("traces.json");
    let endpoint = format!("http://127.0.0.1:{port}");
    let analysis = analyze_and_push(&recording, &json, &endpoint, &["--otlp-timeout", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nothing listens for the first seconds: the sender retries with backoff.
    std::thread::sleep(Duration::from_secs(2));
    let receiver = Receiver::start(&scratch, port, 2, Duration::ZERO);
    let out = succeeded(analysis.wait_with_output().unwrap());
    let expected = otlp_json_spans(&json);
    assert_eq!(receiver.spans(), expected, "each span exactly once");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let retried: u64 = stderr
        .split(" requests (")
        .nth(1)
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no push report in {stderr}"));
    assert!(
        retried >= 3,
        "refused connections and two 503s were retried: {stderr}"
    );
}

#[test]
fn with_no_collector_every_span_is_reported_dropped_within_the_timeout_and_the_exit_status_is_3() {
    let (scratch, recording) = record_requests("otlp-absent", 5);
    let json = scratch.join("traces.json");
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let out = analyze_and_push(&recording, &json, &endpoint, &["--otlp-timeout", "1s"])
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(3));
    let spans = otlp_json_spans(&json);
    let traces = traces_of(&spans).len();
    let spans = spans.len();
    assert!(spans >= 5, "the JSON output is complete all the same");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "kspan: error: OTLP: {spans} of {spans} spans ({traces} of {traces} traces) were not \
             delivered to {endpoint}/v1/traces ("
        )),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("kspan: error").count(),
        1,
        "one sentence: {stderr}"
    );
}

/// The receiver's outage in the outage test: `KSPAN_TEST_OTLP_OUTAGE_S` seconds (30 for the
/// issue's figure), else 4 s: longer than the 1.5 s retry timeout and than the 50-span
/// queue lasts under the load, so that retries, backoff and both ways of dropping happen,
/// and short enough for CI.
fn outage() -> Duration {
    let secs = std::env::var("KSPAN_TEST_OTLP_OUTAGE_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4.0);
    Duration::from_secs_f64(secs)
}

/// The number right before `what` in `text` (a word of digits).
fn number_before(text: &str, what: &str) -> u64 {
    let at = text
        .find(what)
        .unwrap_or_else(|| panic!("no `{what}` in {text}"));
    text[..at]
        .rsplit([' ', '('])
        .find(|w| !w.is_empty())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number before `{what}` in {text}"))
}

#[test]
fn a_collector_down_during_live_capture_misses_exactly_the_traces_reported_dropped() {
    let outage = outage();
    let netns = Netns::new("otlp-outage");
    let scratch = Scratch::new("otlp-outage");
    let receiver = Receiver::start(&scratch, 0, 0, outage);
    let (dat, json, err) = (
        scratch.join("live.dat"),
        scratch.join("live.json"),
        scratch.join("live.err"),
    );
    // Requests for about 2 s before the outage, during it, and 3 s after.
    let load = (outage + Duration::from_secs(5)).as_secs();
    let repeat = format!("end=$(( $(date +%s) + {load} )); while [ $(date +%s) -lt $end ]");
    let script = serve_and_fetch(scratch.path(), 18094, &repeat);
    let endpoint = receiver.endpoint();
    let push = [
        "--otlp-endpoint",
        &endpoint,
        "--otlp-timeout",
        "1.5s",
        "--otlp-queue",
        "50",
    ];
    let mut live = start_recorder(
        &mut live_in_netns(&dat, &json, &push, &netns, &script),
        &err,
    );
    let text = || std::fs::read_to_string(&err).unwrap_or_default();
    std::thread::sleep(Duration::from_secs(2));
    receiver.go_down();
    let ended = within(outage + Duration::from_secs(90), || {
        live.try_wait().unwrap().is_some()
    });
    assert!(ended, "kspan live did not end: {}", text());
    let status = live.wait().unwrap();
    let text = text();
    let down = receiver
        .was_down()
        .expect("the receiver went down and came back");
    assert!(down >= outage, "down for {down:?}");
    assert_eq!(status.code(), Some(3), "some spans were dropped: {text}");

    // The capture lost nothing: no loss warning, and every trace is in the JSON output,
    // which equals the analysis of the saved trace.dat.
    assert!(!text.contains("WARNING"), "{text}");
    let expected = otlp_json_spans(&json);
    let offline = scratch.join("offline.json");
    analyze_to(&dat, "otlp-json", &offline);
    assert_eq!(otlp_json_spans(&offline), expected);

    // Each trace the receiver got, it got whole and once; the others are exactly those
    // reported dropped.
    let received = receiver.spans();
    let got = traces_of(&received);
    let whole: Vec<String> = expected
        .iter()
        .filter(|s| got.contains(s.split(' ').next().unwrap()))
        .cloned()
        .collect();
    assert_eq!(received, whole, "the traces received, whole and once each");
    let report = text
        .lines()
        .find(|l| l.starts_with("kspan: error: OTLP: "))
        .unwrap_or_else(|| panic!("no push report: {text}"));
    let all = traces_of(&expected).len() as u64;
    let dropped_spans = (expected.len() - received.len()) as u64;
    let dropped_traces = all - got.len() as u64;
    assert!(
        report.starts_with(&format!(
            "kspan: error: OTLP: {dropped_spans} of {} spans ({dropped_traces} of {all} traces) \
             were not delivered",
            expected.len()
        )),
        "{report}"
    );
    let queue_full = number_before(report, " did not fit the queue of 50 spans");
    let unsent = number_before(report, " could not be sent within the 1.5s timeout");
    assert_eq!(queue_full + unsent, dropped_spans, "{report}");
    assert!(
        queue_full > 0 && unsent > 0,
        "both ways of dropping: {report}"
    );
    assert!(
        got.len() > 10,
        "traces before and after the outage: {report}"
    );
}
