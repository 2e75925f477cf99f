//! Live tests of bpftrace events (need root, bpftrace and python3): a server in a private
//! network namespace calls `getpid()` exactly K times per request; `kspan record --bpftrace`
//! machinery records it while a client sends N requests; the analysis must give N one-span
//! traces whose spans carry exactly K bpftrace events each, and the same per-span counts as
//! ftrace's `syscalls:sys_enter_getpid`.

use kspan_bpftrace::BpftraceRecording;
use kspan_capture::{read_meta, write_trace_dat, FileVersion, RecordOptions, Recording};
use kspan_engine::{ByteSource, Config, Engine, EventNames, Trace};
use kspan_ingest::bpftrace::{bpftrace_events, BPFTRACE_OPTION};
use kspan_ingest::psv::import_psv;
use kspan_ingest::{world_from_meta, Decoder, SumRequest};
use kspan_testsupport::{ChildGuard, Netns, Scratch};
use kspan_tracedat::TraceFile;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SERVER: &str = r#"
import os, socket, sys
k, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 7100))
s.listen(16)
for _ in range(n):
    c, _ = s.accept()
    c.recv(100)
    for _ in range(k):
        os.getpid()
    c.sendall(b"x" * 50)
    c.close()
"#;

const CLIENT: &str = r#"
import socket, sys, time
for i in range(int(sys.argv[1])):
    for _ in range(400):
        try:
            c = socket.create_connection(("127.0.0.1", 7100))
            break
        except OSError:
            time.sleep(0.05)
    c.sendall(b"q" * 20)
    c.recv(100)
    c.close()
"#;

/// A uprobe on libc's getpid: what Python's `os.getpid()` calls.
const UPROBE_SCRIPT: &str = "uprobe:/lib/x86_64-linux-gnu/libc.so.6:getpid /@kspan_pids[pid]/ \
    { printf(\"KSPAN %d %llu getpid\\n\", tid, nsecs); }\n";
/// The syscall tracepoint ftrace records too.
const TRACEPOINT_SCRIPT: &str = "BEGIN { @calls = 0; }\n\
    tracepoint:syscalls:sys_enter_getpid /@kspan_pids[pid]/ \
    { @calls = @calls + 1; printf(\"KSPAN %d %llu sys_getpid n=%d one=1\\n\", tid, nsecs, @calls); }\n\
    END { clear(@calls); }\n";

/// Records `n` requests of a server calling getpid `k` times each, with `scripts` beside
/// the capture and `events` enabled in ftrace, and returns the traces (with `sums`) and
/// event names.
fn record_and_analyze(
    tag: &str,
    (k, n): (usize, usize),
    scripts: &[&str],
    events: &[&str],
    sums: &[SumRequest],
) -> (Vec<Trace>, EventNames) {
    let (scratch, out) = record(tag, (k, n), scripts, events);
    let analysed = analyze(&out, sums);
    drop(scratch);
    analysed
}

/// Records as [`record_and_analyze`] does; returns the scratch directory and the trace.dat.
fn record(
    tag: &str,
    (k, n): (usize, usize),
    scripts: &[&str],
    events: &[&str],
) -> (Scratch, PathBuf) {
    let tag = format!("bt-{tag}");
    let scratch = Scratch::new(&tag);
    let netns = Netns::new(&tag);
    let write = |name: &str, text: &str| -> PathBuf {
        let path = scratch.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let server = write("server.py", SERVER);
    let client = write("client.py", CLIENT);
    let scripts: Vec<PathBuf> = scripts
        .iter()
        .enumerate()
        .map(|(i, s)| write(&format!("script{i}.bt"), s))
        .collect();
    let argv = |script: &Path, args: &[String]| -> Vec<String> {
        let cmd = netns.command("python3");
        let mut v: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        v.push(script.display().to_string());
        v.extend(args.iter().cloned());
        v
    };
    let mut recording = Recording::start(RecordOptions {
        command: argv(&server, &[k.to_string(), n.to_string()]),
        event_set: kspan_capture::EventSet::Default,
        events: events
            .iter()
            .map(|e| kspan_capture::EventRequest::user(e, None))
            .collect(),
        temp_parent: scratch.path().to_path_buf(),
        tracefs_root: kspan_capture::TRACEFS_ROOT.into(),
        bpftrace_scripts: scripts,
        ..RecordOptions::default()
    })
    .unwrap();
    let client_argv = argv(&client, &[n.to_string()]);
    let _client = ChildGuard::kill_on_drop(
        std::process::Command::new(&client_argv[0])
            .args(&client_argv[1..])
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while recording.command_status().is_none() {
        assert!(started.elapsed() < Duration::from_secs(120), "server hung");
        std::thread::sleep(Duration::from_millis(50));
    }
    let capture = recording.finish().unwrap();
    assert_eq!(capture.meta.lost_events(), 0);
    assert_eq!(capture.bpftrace.as_ref().unwrap().lost_events(), 0);
    let out = scratch.join("out.dat");
    write_trace_dat(&capture, &out, FileVersion::V7Zstd).unwrap();
    (scratch, out)
}

/// `kspan analyze`'s loop: ftrace events with the bpftrace events merged in time order.
fn analyze(path: &Path, sums: &[SumRequest]) -> (Vec<Trace>, EventNames) {
    let file = TraceFile::open(path).unwrap();
    let meta = read_meta(file.metadata().kspan_metadata().unwrap()).unwrap();
    let mut decoder = Decoder::new(&file.metadata().formats, &[]).unwrap();
    let bpftrace = bpftrace_events(file.metadata().option(BPFTRACE_OPTION), sums).unwrap();
    assert_eq!((bpftrace.lost, bpftrace.malformed), (0, 0));
    decoder.add_names(bpftrace.events.names());
    let mut extra = bpftrace.events;
    let names = decoder.names().clone();
    let mut engine = Engine::new(world_from_meta(&meta), names.clone(), Config::default());
    let mut traces = Vec::new();
    let mut events = file.events();
    while let Some(record) = events.next_event().unwrap() {
        if let Some(event) = decoder.decode(&record) {
            extra.push_before(event.ts, &mut |e| engine.push(e, &mut |t| traces.push(t)));
            engine.push(&event, &mut |t| traces.push(t));
        }
    }
    extra.push_rest(&mut |e| engine.push(e, &mut |t| traces.push(t)));
    engine.finish(&mut |t| traces.push(t));
    (traces, names)
}

fn type_id(names: &EventNames, name: &str) -> u32 {
    names
        .names
        .iter()
        .find(|(_, n)| n == name)
        .unwrap_or_else(|| panic!("no event {name}"))
        .0
}

/// Per span (in trace order), the count of event type `id`.
fn per_span(traces: &[Trace], id: u32) -> Vec<u64> {
    traces
        .iter()
        .flat_map(|t| &t.spans)
        .map(|s| {
            s.activity
                .counts
                .iter()
                .find(|(t, _)| *t == id)
                .map_or(0, |c| c.1)
        })
        .collect()
}

#[test]
fn every_request_span_carries_exactly_k_uprobe_events() {
    const K: usize = 3;
    const N: usize = 12;
    let (traces, names) = record_and_analyze("uprobe", (K, N), &[UPROBE_SCRIPT], &[], &[]);
    assert_eq!(traces.len(), N);
    assert!(traces.iter().all(|t| t.spans.len() == 1));
    let id = type_id(&names, "bpftrace:getpid");
    assert!(id > 65535);
    assert_eq!(per_span(&traces, id), vec![K as u64; N]);
}

#[test]
fn bpftrace_and_ftrace_give_the_same_per_span_counts() {
    const K: usize = 5;
    const N: usize = 10;
    let sums: Vec<SumRequest> = vec!["bpftrace:sys_getpid:one".parse().unwrap()];
    let (traces, names) = record_and_analyze(
        "tp",
        (K, N),
        &[TRACEPOINT_SCRIPT],
        &["syscalls:sys_enter_getpid"],
        &sums,
    );
    assert_eq!(traces.len(), N);
    let from_bpftrace = per_span(&traces, type_id(&names, "bpftrace:sys_getpid"));
    let from_ftrace = per_span(&traces, type_id(&names, "syscalls:sys_enter_getpid"));
    assert_eq!(from_bpftrace, vec![K as u64; N]);
    assert_eq!(from_bpftrace, from_ftrace);
    // The field `one=1` summed per span is the count again.
    let sums: Vec<i64> = traces
        .iter()
        .flat_map(|t| &t.spans)
        .map(|s| s.activity.sums[0])
        .collect();
    assert_eq!(sums, vec![K as i64; N]);
    assert_eq!(names.field_names.len(), 1);
}

/// A trace's shape, without times or service names (which differ between the sources):
/// per span, its parent's index, kind, thread, addresses and bytes.
fn shape(trace: &Trace) -> Vec<String> {
    trace
        .spans
        .iter()
        .map(|s| {
            let parent = s
                .parent
                .and_then(|p| trace.spans.iter().position(|x| x.id == p));
            format!(
                "parent {parent:?} {:?} tid {} local {:?} peer {:?} in {} out {}",
                s.kind, s.tid, s.local, s.peer, s.activity.bytes_in, s.activity.bytes_out
            )
        })
        .collect()
}

/// The MiSeRTrace-format script of `bench/bpftrace-examples`, run beside kspan's own capture
/// of the same run: its lines, imported, give the same traces as the capture.
#[test]
fn imported_psv_of_the_same_run_gives_the_same_traces() {
    const N: usize = 8;
    let script = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bench/bpftrace-examples/misertrace_psv.bt"
    ))
    .unwrap();
    let (scratch, out) = record("psv", (2, N), &[&script], &[]);
    let (ours, _) = analyze(&out, &[]);
    let file = TraceFile::open(&out).unwrap();
    let stored =
        BpftraceRecording::from_bytes(file.metadata().option(BPFTRACE_OPTION).unwrap()).unwrap();
    let import = import_psv(&stored.scripts[0].stdout, &[]).unwrap();
    drop(scratch);
    assert_eq!(
        (import.exits_without_ret, import.incomplete_records),
        (0, 0)
    );
    let config = Config {
        bytes_from: ByteSource::SyscallExits,
        ..Config::default()
    };
    let mut engine = Engine::new(import.world.clone(), import.names.clone(), config);
    let mut imported = Vec::new();
    for event in &import.events {
        engine.push(event, &mut |t| imported.push(t));
    }
    engine.finish(&mut |t| imported.push(t));
    assert_eq!(ours.len(), N);
    let shapes = |traces: &[Trace]| {
        let mut s: Vec<Vec<String>> = traces.iter().map(shape).collect();
        s.sort();
        s
    };
    assert_eq!(shapes(&imported), shapes(&ours));
}
