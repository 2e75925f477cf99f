//! What the CLI tests share: running `kspan`, and (needing root, tracefs, curl and
//! python3) recording curl fetching from python's http.server in a network namespace of the
//! test.

#![allow(dead_code)] // each test binary uses its own part

use kspan_testsupport::{within, ChildGuard, Netns, Scratch};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Runs `kspan ARGS` and returns what it did.
pub fn kspan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args(args)
        .output()
        .expect("kspan runs")
}

/// `out`, after checking that it succeeded (its stderr otherwise).
pub fn succeeded(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A shell script that serves `dir` with python's http.server on loopback port `port`,
/// waits until it answers, then fetches `/kspan` with curl in the loop that `repeat` opens
/// (`for i in $(seq 10)`, `while …`), and stops the server.
pub fn serve_and_fetch(dir: &Path, port: u16, repeat: &str) -> String {
    format!(
        "cd {} && python3 -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 & \
         for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:{port}/ && break; \
         sleep 0.1; done; \
         {repeat}; do curl -s -o /dev/null http://127.0.0.1:{port}/kspan; done; \
         kill $!",
        dir.display()
    )
}

/// A python front service for `server` (`HTTPServer`, or `ThreadingHTTPServer` for a thread
/// per request) on loopback port `port`: answers every GET after fetching `/` from the
/// back service on `back`.
pub fn front_service(server: &str, port: u16, back: u16) -> String {
    format!(
        "
import http.server, urllib.request
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = urllib.request.urlopen('http://127.0.0.1:{back}/').read()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.{server}(('127.0.0.1', {port}), H).serve_forever()
"
    )
}

/// A recording (`http.dat` in a new scratch directory, returned with it) of `requests` HTTP
/// requests from curl to python's http.server, in a network namespace of its own; `tag`
/// names both.
pub fn record_requests(tag: &str, requests: u32) -> (Scratch, PathBuf) {
    let netns = Netns::new(tag);
    let scratch = Scratch::new(tag);
    let path = scratch.join("http.dat");
    let script = serve_and_fetch(
        scratch.path(),
        18090,
        &format!("for i in $(seq {requests})"),
    );
    record_in_netns(&path, &netns, &script);
    (scratch, path)
}

/// `kspan record -o PATH -- ip netns exec NETNS sh -c SCRIPT`, checked to succeed.
pub fn record_in_netns(path: &Path, netns: &Netns, script: &str) {
    record_in_netns_with(path, &[], netns, script);
}

/// `kspan record -o PATH EXTRA… -- ip netns exec NETNS sh -c SCRIPT`, checked to succeed.
pub fn record_in_netns_with(path: &Path, extra: &[&str], netns: &Netns, script: &str) {
    let command = ["record", "-o", path.to_str().unwrap()];
    let target = [
        "--",
        "ip",
        "netns",
        "exec",
        netns.name(),
        "sh",
        "-c",
        script,
    ];
    succeeded(kspan(&[&command[..], extra, &target[..]].concat()));
}

/// `kspan live --save DAT --format otlp-json -o JSON EXTRA… -- ip netns exec NETNS sh -c
/// SCRIPT`.
pub fn live_in_netns(
    dat: &Path,
    json: &Path,
    extra: &[&str],
    netns: &Netns,
    script: &str,
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kspan"));
    command
        .arg("live")
        .arg("--save")
        .arg(dat)
        .args(["--format", "otlp-json", "-o"])
        .arg(json)
        .args(extra);
    command.args([
        "--",
        "ip",
        "netns",
        "exec",
        netns.name(),
        "sh",
        "-c",
        script,
    ]);
    command
}

/// Starts `command` (a `kspan record` or `kspan live`) with its standard error into `log`
/// and waits until it says it is recording (30 s at most); it is asked to stop (SIGTERM) if
/// the guard is dropped while it runs.
pub fn start_recorder(command: &mut Command, log: &Path) -> ChildGuard {
    let child = command
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("kspan runs");
    let recorder = ChildGuard::terminate_on_drop(child);
    let text = || std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        within(Duration::from_secs(30), || text()
            .contains("recording into")),
        "kspan did not start recording: {}",
        text()
    );
    recorder
}

/// `kspan analyze RECORDING --format FORMAT -o OUT`, checked to succeed.
pub fn analyze_to(recording: &Path, format: &str, out: &Path) -> Output {
    let args = [
        "analyze",
        recording.to_str().unwrap(),
        "--format",
        format,
        "-o",
    ];
    succeeded(kspan(&[&args[..], &[out.to_str().unwrap()]].concat()))
}

/// The spans of an OTLP/JSON document as `trace span parent name` lines (parent `-` on a
/// root), sorted: what the test receiver writes for each span it gets.
pub fn otlp_json_spans(path: &Path) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut spans: Vec<String> = doc["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["scopeSpans"][0]["spans"].as_array().unwrap())
        .map(|s| {
            format!(
                "{} {} {} {}",
                s["traceId"].as_str().unwrap(),
                s["spanId"].as_str().unwrap(),
                s["parentSpanId"].as_str().unwrap_or("-"),
                s["name"].as_str().unwrap()
            )
        })
        .collect();
    spans.sort();
    spans
}
