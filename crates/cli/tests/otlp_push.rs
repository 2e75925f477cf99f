//! `kspan analyze --otlp-endpoint` against a real OTLP/HTTP receiver built on the official
//! `opentelemetry-proto` Python package (`support/otlp_receiver.py`, run in the virtual
//! environment `scripts/otlp-venv.sh` makes): every span of the OTLP/JSON output of the same
//! run arrives exactly once with the same ids, also when the collector comes up late and
//! answers 503 at first; with no collector at all the analysis ends within its timeout,
//! reports every span as dropped and exits with status 3. Needs root, tracefs, curl, python3
//! and PyPI (once, for the virtual environment).

mod common;

use common::{otlp_json_spans, record_requests, succeeded};
use kspan_testsupport::{ChildGuard, Scratch};
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
    _child: ChildGuard,
    port: u16,
    spans: PathBuf,
}

impl Receiver {
    /// Starts it on `port` (0: any free one), answering 503 to the first `fail_first`
    /// requests, and waits until it listens.
    fn start(scratch: &Scratch, port: u16, fail_first: u32) -> Receiver {
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
            _child: child,
            port,
            spans,
        }
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
    let receiver = Receiver::start(&scratch, 0, 0);
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
            "kspan: OTLP: {} spans sent to {}/v1/traces",
            expected.len(),
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
    let receiver = Receiver::start(&scratch, port, 2);
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
    let spans = otlp_json_spans(&json).len();
    assert!(spans >= 5, "the JSON output is complete all the same");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "kspan: error: OTLP: {spans} of {spans} spans were not delivered to {endpoint}/v1/traces ("
        )),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("kspan: error").count(),
        1,
        "one sentence: {stderr}"
    );
}
