//! Payload heads on the real kernel: a traced HTTP exchange (curl → python's http.server,
//! in a network namespace of the test) leaves exactly its heads in the trace.dat, each on
//! the thread and socket descriptor whose ftrace syscall events carried the same message;
//! and `--payload-bytes 0` stores none. (Needs root, tracefs, curl and python3.)

use kspan_capture::{write_trace_dat, FileVersion, RecordOptions, Recording, TRACEFS_ROOT};
use kspan_heads::{Direction, Head, StoredHeads, HEADS_OPTION};
use kspan_testsupport::{Netns, Scratch};
use kspan_tracedat::TraceFile;
use std::time::{Duration, Instant};

/// Heads are stamped by BPF at the same tracepoints as the ftrace events, by a separate
/// clock read: allow this much between the two.
const SLACK_NS: u64 = 50_000;

/// Records `script` run by sh inside `netns` with `payload_bytes`, returns the file.
fn record(netns: &Netns, scratch: &Scratch, script: &str, payload_bytes: u32) -> TraceFile {
    let command = ["ip", "netns", "exec", netns.name(), "sh", "-c", script];
    let mut recording = Recording::start(RecordOptions {
        command: command.iter().map(|s| s.to_string()).collect(),
        event_set: kspan_capture::EventSet::Default,
        temp_parent: scratch.path().to_path_buf(),
        tracefs_root: TRACEFS_ROOT.into(),
        payload_bytes,
        ..RecordOptions::default()
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while recording.command_status().is_none() {
        assert!(Instant::now() < deadline, "the command did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let capture = recording.finish().unwrap();
    let out = scratch.join(format!("heads-{payload_bytes}.dat"));
    write_trace_dat(&capture, &out, FileVersion::V7Zstd).unwrap();
    TraceFile::open(&out).unwrap()
}

/// The ftrace syscall events `syscalls:NAME` as (ts, tid, fd or ret).
fn syscall_events(file: &TraceFile, name: &str, field: &str) -> Vec<(u64, i32, i64)> {
    let format = file.metadata().formats.by_name(name).expect("recorded");
    let handle = kspan_tracedat::FieldHandle::new(format, field).unwrap();
    let mut events = file.events();
    let mut out = Vec::new();
    while let Some(rec) = events.next_event().unwrap() {
        if rec.event_id() == format.id {
            out.push((rec.timestamp, rec.pid(), rec.i64(handle).unwrap()));
        }
    }
    out
}

#[test]
fn an_http_exchange_leaves_its_exact_heads_on_the_right_thread_and_descriptor() {
    let netns = Netns::new("heads");
    let scratch = Scratch::new("capture-heads");
    let script = format!(
        "cd {} && python3 -m http.server 18090 --bind 127.0.0.1 >/dev/null 2>&1 & \
         for i in $(seq 50); do curl -s -o /dev/null 'http://127.0.0.1:18090/heads?q=1' && break; \
         sleep 0.1; done; kill $!",
        scratch.path().display()
    );
    let file = record(&netns, &scratch, &script, 24);
    let stored = StoredHeads::from_option(file.metadata().option(HEADS_OPTION).unwrap()).unwrap();
    assert_eq!((stored.payload_bytes, stored.lost), (24, 0));
    let with = |dir: Direction, bytes: &[u8]| -> Vec<&Head> {
        stored
            .heads
            .iter()
            .filter(|h| h.kind.direction() == dir && h.bytes == bytes)
            .collect()
    };
    let request = b"GET /heads?q=1 HTTP/1.1\r";
    let response = b"HTTP/1.0 404 File not fo";
    let (sent, read) = (
        with(Direction::Send, request),
        with(Direction::Recv, request),
    );
    let (answered, got) = (
        with(Direction::Send, response),
        with(Direction::Recv, response),
    );
    assert_eq!(
        (sent.len(), read.len(), answered.len(), got.len()),
        (1, 1, 1, 1)
    );
    let (sent, read, answered, got) = (sent[0], read[0], answered[0], got[0]);
    // curl sends and reads on one socket; the server thread reads and answers on another.
    assert_eq!((sent.tid, sent.fd), (got.tid, got.fd));
    assert_eq!((read.tid, read.fd), (answered.tid, answered.fd));
    assert_ne!(sent.tgid, read.tgid);
    assert_eq!(sent.ret, read.ret);
    // Each head matches the ftrace syscall events of its thread and descriptor.
    let enters = syscall_events(&file, "syscalls:sys_enter_sendto", "fd");
    for head in [sent, answered] {
        let found = enters.iter().filter(|&&(ts, tid, fd)| {
            tid == head.tid
                && fd == i64::from(head.fd)
                && ts + SLACK_NS >= head.enter_ns
                && ts <= head.exit_ns
        });
        assert_eq!(found.count(), 1, "sys_enter_sendto of {head:?}");
    }
    let exits = syscall_events(&file, "syscalls:sys_exit_recvfrom", "ret");
    for head in [read, got] {
        let found = exits.iter().filter(|&&(ts, tid, ret)| {
            tid == head.tid
                && ret == head.ret
                && ts >= head.enter_ns
                && ts <= head.exit_ns + SLACK_NS
        });
        assert_eq!(found.count(), 1, "sys_exit_recvfrom of {head:?}");
    }
}

#[test]
fn payload_bytes_zero_stores_no_heads() {
    let netns = Netns::new("noheads");
    let scratch = Scratch::new("capture-noheads");
    let file = record(&netns, &scratch, "true", 0);
    assert!(file.metadata().option(HEADS_OPTION).is_none());
}
