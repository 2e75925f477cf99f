//! Every design started alone (`kspan-demo-svc` on loopback, no namespaces): "text" in the
//! design under test calling "url-shorten" (thread design), over keep-alive connections.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{spans, Client};
use kspan_testsupport::{ChildGuard, Scratch};

/// The started services and their truth directory: killed, reaped and removed, also
/// when the test fails (the services go first: fields drop in order).
struct Procs {
    children: Vec<ChildGuard>,
    truth: Scratch,
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn start(
    procs: &mut Procs,
    design: &str,
    name: &str,
    listen: SocketAddr,
    truth: &Path,
    downstream: Option<String>,
) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kspan-demo-svc"));
    cmd.args([
        "--design",
        design,
        "--name",
        name,
        "--listen",
        &listen.to_string(),
    ])
    .arg("--truth")
    .arg(truth);
    if let Some(d) = downstream {
        cmd.args(["--downstream", &d]);
    }
    procs.children.push(ChildGuard::kill_on_drop(
        cmd.spawn().expect("start kspan-demo-svc"),
    ));
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(listen).is_err() {
        assert!(Instant::now() < deadline, "{name} does not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn check_design(design: &str) {
    let mut procs = Procs {
        children: Vec::new(),
        truth: Scratch::new(&format!("demo-design-{design}")),
    };
    let truth = procs.truth.path().to_path_buf();
    let (back, front) = (free_port(), free_port());
    start(&mut procs, "thread", "url-shorten", back, &truth, None);
    start(
        &mut procs,
        design,
        "text",
        front,
        &truth,
        Some(format!("url-shorten={back}")),
    );

    let mut first = Client::connect(front);
    let mut second = Client::connect(front);
    let codes: Vec<u16> = (0..6)
        .map(|i| {
            let client = if i % 2 == 0 { &mut first } else { &mut second };
            client.get(
                if i == 5 { "/nope" } else { "/text" },
                &format!("r-{design}-{i}"),
            )
        })
        .collect();
    assert_eq!(codes, vec![200, 200, 200, 200, 200, 404]);
    drop((first, second));

    // A span is logged after its response is written: lines of consecutive requests on
    // two connections may be appended in either order.
    let mut fronts = spans(&truth, "text", 6);
    let mut backs = spans(&truth, "url-shorten", 5);
    fronts.sort_by(|a, b| a.rid.cmp(&b.rid));
    backs.sort_by(|a, b| a.rid.cmp(&b.rid));
    assert_eq!((fronts.len(), backs.len()), (6, 5));
    for (i, span) in fronts.iter().enumerate() {
        assert_eq!(span.rid, format!("r-{design}-{i}"));
        assert_eq!(
            (span.service.as_str(), span.design.as_str()),
            ("text", design)
        );
        assert_eq!(span.local, front.to_string());
        assert!(span.start_unix_ns <= span.end_unix_ns);
        if i == 5 {
            assert_eq!(
                (span.endpoint.as_str(), span.status.as_str()),
                ("/nope", "error: unknown endpoint /nope")
            );
            assert!(span.calls.is_empty());
            continue;
        }
        assert_eq!(
            (span.endpoint.as_str(), span.status.as_str()),
            ("/text", "ok")
        );
        assert_eq!(span.calls.len(), 1);
        let call = &span.calls[0];
        assert_eq!(
            (
                call.target.as_str(),
                call.proto.as_str(),
                call.status.as_str()
            ),
            ("url-shorten", "http", "ok")
        );
        assert_eq!(call.peer, back.to_string());
        let callee = &backs[i];
        assert_eq!(
            (callee.rid.as_str(), callee.endpoint.as_str()),
            (span.rid.as_str(), "/shorten")
        );
        assert_eq!(
            callee.peer, call.local,
            "the call's local address is the callee's peer"
        );
        assert!(span.start_unix_ns <= call.start_unix_ns && call.end_unix_ns <= span.end_unix_ns);
    }
    // Requests 0,2,4 came on one connection, 1,3,5 on another.
    assert_eq!(fronts[0].peer, fronts[2].peer);
    assert_ne!(fronts[0].peer, fronts[1].peer);
    drop(procs);
    assert!(!truth.exists());
}

#[test]
fn thread_design_serves_and_logs_exact_truth() {
    check_design("thread");
}

#[test]
fn pool_design_serves_and_logs_exact_truth() {
    check_design("pool");
}

#[test]
fn epoll_design_serves_and_logs_exact_truth() {
    check_design("epoll");
}

#[test]
fn prefork_design_serves_and_logs_exact_truth() {
    check_design("prefork");
}

#[test]
fn tokio_design_serves_and_logs_exact_truth() {
    check_design("tokio");
}
