//! `--bpftrace` beside a recording of a network namespace (needs root, bpftrace, python3):
//! a process that enters the namespace after the start is added to the scripts' process map
//! when the recorder finds it, so its events after that are kept, exactly.

use kspan_capture::{RecordOptions, Recording, TargetSpec, TRACEFS_ROOT};
use kspan_testsupport::{Netns, Scratch};
use std::time::{Duration, Instant};

const CALLS: usize = 7;

#[test]
fn a_late_joiner_of_a_traced_netns_is_followed_by_the_script() {
    let netns = Netns::new("btlate");
    let scratch = Scratch::new("btlate");
    let script = scratch.join("getppid.bt");
    std::fs::write(
        &script,
        "tracepoint:syscalls:sys_enter_getppid /@kspan_pids[pid]/ \
         { printf(\"KSPAN %d %llu getppid\\n\", tid, nsecs); }\n",
    )
    .unwrap();
    let recording = Recording::start(RecordOptions {
        targets: TargetSpec {
            netns: vec![netns.name().into()],
            ..TargetSpec::default()
        },
        event_set: kspan_capture::EventSet::Default,
        temp_parent: scratch.path().to_path_buf(),
        tracefs_root: TRACEFS_ROOT.into(),
        bpftrace_scripts: vec![script],
        ..RecordOptions::default()
    })
    .unwrap();
    // Joins after the start; calls getppid once the recorder's 200 ms poll has found it.
    let mut joiner = netns
        .command("python3")
        .arg("-c")
        .arg(format!(
            "import os, time\ntime.sleep(1.5)\nfor _ in range({CALLS}): os.getppid()"
        ))
        .spawn()
        .unwrap();
    let pid = joiner.id() as i32;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = joiner.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "joiner hung");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let capture = recording.finish().unwrap();
    let runs = capture.bpftrace.as_ref().unwrap();
    let events = runs.scripts[0].parse().events;
    let tids: Vec<i32> = events.iter().map(|e| e.tid).collect();
    assert_eq!(tids, vec![pid; CALLS]);
}
