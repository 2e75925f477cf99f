//! Accuracy on application stacks the engine was not tuned on (`bench/stacks`): a Node.js,
//! a Go, a Python asyncio and a Java front → back pair behind nginx, each service logging its
//! own ground truth, recorded with `kspan record`, analysed and checked request by request.
//! Needs root, network namespaces, nginx, node, go, python3, a JDK, php-fpm, perl, ruby and
//! Erlang (scripts/setup.sh).
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

/// One stack run's outcome: requests traced exactly, requests checked, and what the run
/// printed (the checker's report) with the recorder's log, shown when a bar is missed so that
/// a failure on a CI machine can be diagnosed from its log alone.
struct Outcome {
    exact: u64,
    requests: u64,
    report: String,
}

/// Runs one stack for 3 s under `load` (req/s, or `cN`: N clients in a closed loop).
fn run(stack: &str, load: &str) -> Outcome {
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
        .args([stack, load, "3"])
        .env("KSPAN_BIN_DIR", bin_dir)
        .env("OUT", &out)
        .env("QUIET", "0")
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
    let record_log = std::fs::read_to_string(out.join("record.log")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&out);
    Outcome {
        exact: n.parse().unwrap(),
        requests: m.parse().unwrap(),
        report: format!("{stdout}\nrecord.log:\n{record_log}"),
    }
}

/// Runs `stack` under `load` and asserts that at least `percent` % of its requests were
/// traced exactly.
fn assert_at_least(stack: &str, load: &str, percent: f64) {
    let Outcome {
        exact,
        requests,
        report,
    } = run(stack, load);
    assert!(
        requests >= 50,
        "{stack}: {requests} requests checked\n{report}"
    );
    let accuracy = 100.0 * exact as f64 / requests as f64;
    assert!(
        accuracy >= percent,
        "{stack}: {exact}/{requests} exact ({accuracy:.1}%), below {percent}%\n{report}"
    );
}

#[test]
fn node_http_with_a_keep_alive_agent_is_traced_at_least_99_percent() {
    assert_at_least("node", "50", 99.0);
}

#[test]
fn go_net_http_is_traced_at_least_85_percent() {
    assert_at_least("go", "50", 85.0);
}

#[test]
fn python_asyncio_is_traced_at_least_99_percent() {
    assert_at_least("pyasync", "50", 99.0);
}

#[test]
fn java_http_client_through_its_selector_is_traced_at_least_95_percent() {
    assert_at_least("java", "50", 95.0);
}

/// grpcio over one HTTP/2 channel (`bench/stacks/grpc`, venv from `grpc/setup.sh`): `/par`'s
/// two calls are multiplexed on the connection, each its own span by its stream
/// (docs/engine.md, "Multiplexed connections"); 100 % on the two fresh 50 req/s and
/// 1-client recordings measured (0.4 % at 4 clients before streams were split).
#[test]
fn grpc_calls_multiplexed_on_one_http2_connection_are_traced_at_least_99_percent() {
    assert_at_least("grpc", "50", 99.0);
}

// Held-out stacks, closed loop (every request answered before the client's next), measured with
// the engine of 5d0e72d on kept recordings and on 14 fresh ones (in brackets: 9c734df, the
// evidence engine before that session's changes; same recordings, same checker): pythreads c4
// 100 % on four recordings (78.8–92.3); pypool c1 99.9–100 % on three (96.6–99.7); pykeep c4
// 100 % on two (99.7, 99.8); pypool c4 65.3–83.3 % on four (5.5–16.7), 72.0–89.5 % on seven
// with ffd1165; nodefork c1 98.6–100 % on four. Bars sit below the measured spread on
// this shared 2-core machine; the low ones say what is not solved yet (issue 9), and fail on a
// regression.

#[test]
fn cpython_thread_per_connection_under_four_clients_is_traced_at_least_95_percent() {
    assert_at_least("pythreads", "c4", 95.0);
}

#[test]
fn cpython_thread_pool_feeding_asyncio_with_one_client_is_traced_at_least_97_percent() {
    assert_at_least("pypool", "c1", 97.0);
}

#[test]
fn cpython_pool_fan_out_to_asyncio_on_one_locked_connection_under_four_clients_at_least_60_percent()
{
    assert_at_least("pypool", "c4", 60.0);
}

#[test]
fn cpython_threads_on_pooled_keep_alive_connections_under_four_clients_at_least_97_percent() {
    assert_at_least("pykeep", "c4", 97.0);
}

#[test]
fn node_agent_to_a_forking_server_that_execs_psql_with_one_client_at_least_85_percent() {
    // 98.6-100 % on every recording but one: 87.2 % once in CI (c27ce8b, run right after
    // the c4 test), not reproduced in ten runs since (100 % each, also right after c4 and
    // under two CPU hogs). The bar sits below that one.
    assert_at_least("nodefork", "c1", 85.0);
}

#[test]
fn asyncio_gather_under_four_clients_at_least_90_percent() {
    // Under constant concurrency (no quiet moment), once each endpoint's calls, an event
    // loop's first-call and response rounds and each handler's first wave (the two calls of
    // a `gather`) are fitted from the overlapping traffic: 96.3, 98.3 and 99.2 % on three
    // fresh 3-second recordings (87.2, 91.4 and 87.2 % with the engine before first waves and
    // summed lags, on the same recordings; 60.1 and 63.4 % when the patterns were only learnt
    // from requests nobody overlapped).
    assert_at_least("pyasync", "c4", 90.0);
}

#[test]
fn node_agent_saturated_by_four_clients_at_least_30_percent() {
    // Under constant concurrency, with fitted endpoint patterns and orphans matched first in,
    // first out when a candidate answers: 62.4, 51.5 and 55.6 % on three 3-second
    // recordings on a quiet machine (34.0 % once in CI with other tests running, with an
    // earlier variant; 32.0-37.6 % before fitted patterns). A call the agent queued and
    // wrote on another request's freed socket, when several requests wait, is what is left
    // (issue 9).
    assert_at_least("nodefork", "c4", 30.0);
}

#[test]
fn nginx_connecting_per_request_to_php_fpm_under_four_clients_at_least_95_percent() {
    // nginx without upstream keep-alive (its default) reads a request, connects for it, reads
    // the next, connects for that one, and writes both a round later: every connection must
    // go to the request read just before it. 99.9 % and 99.2 % on two 4-second recordings
    // (29.9 % and 24.7 % when a connect was held to the first write's learnt lag).
    assert_at_least("phpfpm", "c4", 95.0);
}

#[test]
fn nginx_in_front_of_perl_prefork_workers_under_four_clients_at_least_95_percent() {
    // The same nginx pattern in front of a different runtime (forked workers accepting under
    // a lock, `/par` in two forked children): 100 % on a 4-second recording (50.3 % when a
    // connect was held to the first write's learnt lag).
    assert_at_least("perlprefork", "c4", 95.0);
}

#[test]
fn php_fpm_on_kept_alive_fastcgi_connections_under_four_clients_at_least_95_percent() {
    // PHP-FPM reads a FastCGI request's last 8 bytes (sent in nginx's one `writev`) only
    // after writing its response: they are that request's, not a new one's. 100 % on a
    // 4-second recording (22.7 % when read order cut them into a span of their own).
    assert_at_least("phpfpm-keep", "c4", 95.0);
}

#[test]
fn cruby_threads_sharing_a_locked_redis_connection_under_four_clients_at_least_95_percent() {
    // CRuby hands its GVL on through the waiter's own condition variable, which looks like a
    // channel: a completion must skip a woken thread still waiting for its own call's
    // answer. 99.8 % on a fresh 3-second run, 99.5 % on a 4-second recording (94.3 % before
    // that rule, scored by the thread-aware checker).
    assert_at_least("rubythreads", "c4", 95.0);
}

#[test]
fn erlang_with_the_inet_driver_under_one_client_at_least_97_percent() {
    // gen_tcp sends with writev(fd, [0 B, data]): a payload head is the first non-empty
    // buffer, else the pipelined redis connection's division has nothing to divide by.
    // 100 % on a fresh 3-second run and on a 4-second recording (0 % on every recording
    // with empty heads).
    assert_at_least("erlang", "c1", 97.0);
}

#[test]
fn a_thread_pool_feeding_an_asyncio_loop_under_four_clients_at_least_45_percent() {
    // Held-out (the FastAPI sync-endpoint design): the loop hands jobs to workers, which hand
    // their results back through the loop's self-pipe. A result must be an answer the loop
    // reads by proxy, and a hand-off the loop's oldest read not acted on. 57.7 % on a
    // 4-second recording (29.0 % when both were the loop's last read).
    assert_at_least("pyexec", "c4", 45.0);
}
