//! A store dies while kspan records the demo application under load: the application keeps
//! serving (errors for the requests that need the store), the ground truth records the
//! failures, and kspan's traces of those requests show what happened — the calls that were
//! made, no span for the store after its death — rather than a wrong tree. Needs root.

use kspan_demo::{App, Config};
use kspan_loadgen::{LoadConfig, Mix, Pace};
use kspan_truth::CheckOptions;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn a_store_dying_mid_run_gives_error_requests_with_exact_short_trees() {
    let config = Config::with_prefix("kfl");
    let app = App::up(&config).expect("the demo application comes up");
    let dir = std::env::temp_dir().join(format!("kspan-failures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let recording = dir.join("failures.dat");

    let mut record = Command::new(env!("CARGO_BIN_EXE_kspan"));
    record.arg("record").arg("-o").arg(&recording);
    for host in app.hosts() {
        if let Some(cgroup) = &host.cgroup {
            record.arg("--cgroup").arg(cgroup);
        }
    }
    let mut recorder = record
        .stderr(Stdio::piped())
        .spawn()
        .expect("kspan record starts");
    let (ready_tx, ready_rx) = mpsc::channel();
    let stderr = recorder.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("recording into") {
                let _ = ready_tx.send(());
            }
            eprintln!("{line}");
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("kspan record is recording");

    let mut load = LoadConfig::new(std::net::SocketAddr::V4(app.gateway_addr()));
    load.mix = Mix::parse("/follow=1,/home-timeline=1").unwrap();
    load.pace = Pace::Rate(40.0);
    load.connections = 4;
    load.duration = Some(Duration::from_secs(3));
    load.timeout = Duration::from_secs(5);
    let redis = app.pids("redis");
    assert!(!redis.is_empty(), "redis runs");
    let run = std::thread::scope(|s| {
        let load_thread = s.spawn(|| app.in_client(|| kspan_loadgen::run(&load)));
        std::thread::sleep(Duration::from_millis(1500));
        for pid in &redis {
            // SAFETY: kill(2) on processes of our own application's redis cgroup.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        load_thread.join().unwrap()
    });
    let run = run.expect("the client namespace").expect("the load runs");
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(recorder.id() as i32, libc::SIGINT) };
    assert!(
        recorder.wait().unwrap().success(),
        "kspan record ends cleanly"
    );
    kspan_loadgen::write_jsonl(&app.truth_dir().join("loadgen.jsonl"), &run.records).unwrap();

    let otlp = dir.join("failures.otlp.json");
    let analyze = Command::new(env!("CARGO_BIN_EXE_kspan"))
        .arg("analyze")
        .arg(&recording)
        .args(["--format", "otlp-json", "-o"])
        .arg(&otlp)
        .status()
        .unwrap();
    assert!(analyze.success());
    let report = kspan_truth::check(&otlp, app.truth_dir(), &CheckOptions::default()).unwrap();
    eprintln!("{report}");
    app.down().expect("the application comes down");

    let ok = run.records.iter().filter(|r| r.status == 200).count();
    let failed = run.records.len() - ok;
    assert!(ok > 0, "requests before redis died were served");
    assert!(failed > 0, "requests after redis died failed (502)");
    assert_eq!(
        report.requests_traced, report.requests_in_truth,
        "every request has a trace"
    );
    assert_eq!(
        report.requests_exact, report.requests_in_truth,
        "every tree is exact, the failed ones included"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
