//! Accuracy on application stacks the engine was not tuned on (`bench/stacks`): a Node.js,
//! a Go, a Python asyncio and a Java front → back pair behind nginx, each service logging its
//! own ground truth, recorded with `kspan record`, analysed and checked request by request.
//! Needs root, network namespaces, nginx, node, go, python3 and a JDK (scripts/setup.sh).
//!
//! The bars are acceptance levels at a low rate (50 req/s, 3 s), set below the spread of
//! the runs measured, not figures tuned to one run: Node.js and asyncio were exact on every
//! run; Go between 93.3 % and 100 % (a goroutine run by an OS thread that the request's
//! thread woke only through a third one), so its bar leaves room below the worst run; Java's `HttpClient` passes
//! requests through a selector and executor threads (100 % on every 50 req/s recording with
//! the pooled-connection checkout rule, 12–14 % before the engine's hand-off rules).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// `bench/stacks/run.sh` uses fixed namespace names: one run at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs one stack for 3 s at 50 req/s and returns (exact, requests).
fn run(stack: &str) -> (u64, u64) {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let kspan = PathBuf::from(env!("CARGO_BIN_EXE_kspan"));
    let bin_dir = kspan.parent().expect("the binary's directory");
    assert!(
        bin_dir.join("kspan-loadgen").exists(),
        "kspan-loadgen is built next to kspan (cargo build --release --workspace)"
    );
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::temp_dir().join(format!("kspan-stacks-{stack}-{}", std::process::id()));
    let output = Command::new("bash")
        .arg(root.join("bench/stacks/run.sh"))
        .args([stack, "50", "3"])
        .env("KSPAN_BIN_DIR", bin_dir)
        .env("OUT", &out)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench/stacks/run.sh {stack} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // RESULT stack=go rate=50 secs=3 exact=150/150 (100.0%)
    let result = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line:\n{stdout}"));
    let exact = result
        .split_whitespace()
        .find_map(|w| w.strip_prefix("exact="))
        .expect("exact=N/M");
    let (n, m) = exact.split_once('/').expect("N/M");
    eprintln!("{stack}: {result}");
    let _ = std::fs::remove_dir_all(&out);
    (n.parse().unwrap(), m.parse().unwrap())
}

fn assert_at_least(stack: &str, percent: f64) {
    let (exact, requests) = run(stack);
    assert!(requests >= 100, "{stack}: {requests} requests checked");
    let accuracy = 100.0 * exact as f64 / requests as f64;
    assert!(
        accuracy >= percent,
        "{stack}: {exact}/{requests} exact ({accuracy:.1}%), below {percent}%"
    );
}

#[test]
fn node_http_with_a_keep_alive_agent_is_traced_at_least_99_percent() {
    assert_at_least("node", 99.0);
}

#[test]
fn go_net_http_is_traced_at_least_85_percent() {
    assert_at_least("go", 85.0);
}

#[test]
fn python_asyncio_is_traced_at_least_99_percent() {
    assert_at_least("pyasync", 99.0);
}

#[test]
fn java_http_client_through_its_selector_is_traced_at_least_95_percent() {
    assert_at_least("java", 95.0);
}
