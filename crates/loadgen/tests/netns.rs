//! The load generator against real servers in network namespaces of its own: nginx (every
//! request id must reach nginx's access log, on the connection the load generator logged)
//! and a listener that never answers (timeouts).
//!
//! Needs root (`ip netns`) and nginx; every namespace, server and file is removed on drop.

use kspan_testsupport::{run, ChildGuard, Netns, Scratch};
use kspan_truth::records::{read_jsonl, LoadgenRecord};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A network namespace with only `lo`, and a scratch directory; both removed on drop.
struct Sandbox {
    netns: Netns,
    dir: Scratch,
}

impl Sandbox {
    fn new(tag: &str) -> Sandbox {
        let tag = format!("lg-{tag}");
        Sandbox {
            netns: Netns::new(&tag),
            dir: Scratch::new(&tag),
        }
    }

    /// A command run inside the namespace.
    fn exec(&self, program: &str) -> Command {
        self.netns.command(program)
    }

    /// Starts a server in the namespace and waits until `port` listens.
    fn serve(&self, cmd: &mut Command, port: u16) -> Server {
        let server = ChildGuard::terminate_on_drop(cmd.spawn().unwrap());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let filter = format!("sport = :{port}");
            let out = run(self.exec("ss").args(["-Hltn", &filter]));
            if !out.stdout.is_empty() {
                return server;
            }
            assert!(Instant::now() < deadline, "nothing listens on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs the load generator in the namespace; returns its records and JSON summary.
    fn loadgen(&self, args: &[&str]) -> (Vec<LoadgenRecord>, Value) {
        let log = self.dir.join("loadgen.jsonl");
        let out = run(self
            .exec(env!("CARGO_BIN_EXE_kspan-loadgen"))
            .args(args)
            .args(["--json", "--out", log.to_str().unwrap()]));
        (
            read_jsonl(&log).unwrap(),
            serde_json::from_slice(&out.stdout).unwrap(),
        )
    }
}

/// A server process, stopped (SIGTERM, then waited for) on drop.
type Server = ChildGuard;

/// nginx answering every path with 200, logging `rid uri status remote_port` per request,
/// with `extra` directives in its server block.
fn nginx(sandbox: &Sandbox, extra: &str) -> Server {
    let d = sandbox.dir.path().display();
    let conf = format!(
        "daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
         events {{ worker_connections 64; }}
         http {{
           log_format rid '$http_x_request_id $uri $status $remote_port';
           access_log {d}/access.log rid;
           client_body_temp_path {d}/t1; proxy_temp_path {d}/t2; fastcgi_temp_path {d}/t3;
           uwsgi_temp_path {d}/t4; scgi_temp_path {d}/t5;
           server {{ listen 127.0.0.1:8080; {extra} location / {{ return 200 \"ok\\n\"; }} }}
         }}"
    );
    let path = sandbox.dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let prefix = format!("{d}/");
    let err = format!("{d}/error.log");
    sandbox.serve(
        sandbox
            .exec("nginx")
            .args(["-p", &prefix, "-e", &err, "-c", path.to_str().unwrap()]),
        8080,
    )
}

/// nginx's access log lines, stopping nginx first so that every line is written.
fn access_log(server: Server, dir: &Path) -> Vec<String> {
    drop(server);
    let text = std::fs::read_to_string(dir.join("access.log")).unwrap();
    text.lines().map(str::to_string).collect()
}

/// What nginx must have logged for these records: `rid uri 200 local_port`, sorted.
fn expected_log(records: &[LoadgenRecord]) -> Vec<String> {
    let mut lines: Vec<String> = records
        .iter()
        .map(|r| format!("{} {} 200 {}", r.rid, r.endpoint, r.local.unwrap().port()))
        .collect();
    lines.sort();
    lines
}

fn ids(prefix: &str, count: u64) -> Vec<String> {
    (1..=count).map(|n| format!("{prefix}{n:06}")).collect()
}

#[test]
fn closed_loop_sends_exactly_the_count_with_unique_ids() {
    let sandbox = Sandbox::new("closed");
    let server = nginx(&sandbox, "");
    let (records, summary) = sandbox.loadgen(&[
        "--target",
        "127.0.0.1:8080",
        "--requests",
        "60",
        "--connections",
        "3",
        "--mix",
        "/a=1,/b=2",
        "--rid-prefix",
        "t-",
    ]);
    assert_eq!(
        records.iter().map(|r| r.rid.clone()).collect::<Vec<_>>(),
        ids("t-", 60)
    );
    let mut per_path = BTreeMap::new();
    for r in &records {
        *per_path.entry(r.endpoint.as_str()).or_insert(0) += 1;
        assert_eq!((r.status, r.error.as_deref()), (200, None), "{r:?}");
        assert!(r.start_unix_ns < r.end_unix_ns);
    }
    assert_eq!(per_path, BTreeMap::from([("/a", 20), ("/b", 40)]));
    let connections: BTreeSet<_> = records.iter().map(|r| r.local).collect();
    assert!((1..=3).contains(&connections.len()), "{connections:?}");
    assert_eq!(
        (
            &summary["sent"],
            &summary["ok"],
            &summary["failed"],
            &summary["late"]
        ),
        (
            &Value::from(60),
            &Value::from(60),
            &Value::from(0),
            &Value::from(0)
        )
    );
    let mut log = access_log(server, sandbox.dir.path());
    log.sort();
    assert_eq!(log, expected_log(&records));
}

#[test]
fn open_loop_sends_rate_times_duration_requests() {
    let sandbox = Sandbox::new("open");
    let server = nginx(&sandbox, "");
    let (records, summary) = sandbox.loadgen(&[
        "--target",
        "127.0.0.1:8080",
        "--rate",
        "400",
        "--duration",
        "250ms",
        "--connections",
        "2",
    ]);
    assert_eq!(
        records.iter().map(|r| r.rid.clone()).collect::<Vec<_>>(),
        ids("r-", 100)
    );
    assert!(records.iter().all(|r| r.status == 200 && r.endpoint == "/"));
    assert_eq!(
        (&summary["sent"], &summary["ok"]),
        (&Value::from(100), &Value::from(100))
    );
    let mut log = access_log(server, sandbox.dir.path());
    log.sort();
    assert_eq!(log, expected_log(&records));
}

#[test]
fn unanswered_and_refused_requests_fail_with_status_zero() {
    let sandbox = Sandbox::new("timeout");
    let _silent = sandbox.serve(
        sandbox.exec("python3").args([
            "-c",
            "import socket, time\n\
             s = socket.socket(); s.bind(('127.0.0.1', 9000)); s.listen(8); time.sleep(60)",
        ]),
        9000,
    );
    let (records, summary) = sandbox.loadgen(&[
        "--target",
        "127.0.0.1:9000",
        "--requests",
        "3",
        "--connections",
        "1",
        "--timeout",
        "100ms",
    ]);
    let failures: Vec<_> = records
        .iter()
        .map(|r| (r.rid.as_str(), r.status, r.error.as_deref()))
        .collect();
    assert_eq!(
        failures,
        [
            ("r-000001", 0, Some("timeout")),
            ("r-000002", 0, Some("timeout")),
            ("r-000003", 0, Some("timeout"))
        ]
    );
    // Each timeout drops its connection: three connections.
    assert_eq!(
        records
            .iter()
            .map(|r| r.local)
            .collect::<BTreeSet<_>>()
            .len(),
        3
    );
    assert_eq!(
        (
            &summary["failed"],
            &summary["timeouts"],
            &summary["latency"]
        ),
        (&Value::from(3), &Value::from(3), &Value::Null)
    );
    let (records, summary) = sandbox.loadgen(&["--target", "127.0.0.1:9", "--requests", "1"]);
    assert_eq!(records.len(), 1);
    assert_eq!(
        (
            records[0].status,
            records[0].local,
            records[0].error.as_deref()
        ),
        (
            0,
            None,
            Some("connect to 127.0.0.1:9: Connection refused (os error 111)")
        )
    );
    assert_eq!(
        (&summary["failed"], &summary["timeouts"]),
        (&Value::from(1), &Value::from(0))
    );
}

#[test]
fn a_connection_the_server_closed_as_idle_is_replaced_without_error() {
    let sandbox = Sandbox::new("idle");
    let server = nginx(&sandbox, "keepalive_timeout 100ms;");
    // Requests 250 ms apart on one connection: nginx closes it as idle in between.
    let (records, summary) = sandbox.loadgen(&[
        "--target",
        "127.0.0.1:8080",
        "--rate",
        "4",
        "--requests",
        "2",
        "--connections",
        "1",
    ]);
    assert_eq!(
        records.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200]
    );
    assert_eq!(
        records
            .iter()
            .map(|r| r.local)
            .collect::<BTreeSet<_>>()
            .len(),
        2
    );
    assert_eq!(
        (&summary["ok"], &summary["failed"]),
        (&Value::from(2), &Value::from(0))
    );
    let mut log = access_log(server, sandbox.dir.path());
    log.sort();
    assert_eq!(log, expected_log(&records));
}
