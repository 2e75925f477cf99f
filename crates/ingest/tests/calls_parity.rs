//! The BPF backend (`kspan record --backend bpf`) gives the engine what ftrace gives it:
//! two recorders, one with each backend (default event set, payload heads on), record the
//! same run of a Python program in a network namespace of the test; the program waits for
//! a go file, then makes a known sequence of read/write/send/recv-family syscalls on TCP
//! sockets, a pipe and a file (sendto, recvfrom, write, read, sendmsg, recvmsg, writev,
//! readv, a read that finds nothing, sendfile, an end of stream). Decoded as `kspan
//! analyze` decodes them, both recordings hold the same events of those syscalls (entry,
//! socket event, exit) in the same order with the same fields, and the same payload heads;
//! the BPF recording has one record per syscall. Needs root, tracefs and python3.

use kspan_capture::{write_trace_dat, Backend, FileVersion, RecordOptions, Recording, TargetSpec};
use kspan_engine::{Event, EventKind, Syscall};
use kspan_heads::{StoredHeads, HEADS_OPTION};
use kspan_ingest::{CallEvents, Decoder};
use kspan_testsupport::{within, ChildGuard, Netns, Scratch};
use kspan_tracedat::TraceFile;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PROGRAM: &str = r#"
import os, socket, sys, time
go, data, ready = sys.argv[1], sys.argv[2], sys.argv[3]
os.close(os.open(ready, os.O_WRONLY | os.O_CREAT))
while not os.path.exists(go):
    time.sleep(0.01)
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
c = socket.create_connection(srv.getsockname())
s, _ = srv.accept()
c.sendall(b"GET /a HTTP/1.1\r\n\r\n")
s.recv(100)
os.write(s.fileno(), b"HTTP/1.1 200 OK\r\n\r\n")
os.read(c.fileno(), 100)
c.sendmsg([b"*1\r\n", b"$4\r\nPING\r\n"])
s.recvmsg(100)
os.writev(s.fileno(), [b"+PO", b"NG\r\n"])
os.readv(c.fileno(), [bytearray(3), bytearray(10)])
c.setblocking(False)
try:
    c.recv(10)
except BlockingIOError:
    pass
c.setblocking(True)
r, w = os.pipe()
os.write(w, b"x")
os.read(r, 1)
fd = os.open(data, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.write(fd, b"y" * 100)
os.close(fd)
fd = os.open(data, os.O_RDONLY)
os.sendfile(s.fileno(), fd, 0, 100)
got = b""
while len(got) < 100:
    got += c.recv(100)
s.close()
c.recv(10)
"#;

/// A recorder of process `pid` with `backend` into a temporary directory of `scratch`.
fn recorder(scratch: &Scratch, pid: i32, backend: Backend) -> Recording {
    Recording::start(RecordOptions {
        targets: TargetSpec {
            pids: vec![pid],
            ..TargetSpec::default()
        },
        temp_parent: scratch.path().to_path_buf(),
        output: scratch.join("unused.dat"),
        tracefs_root: kspan_capture::TRACEFS_ROOT.into(),
        payload_bytes: 64,
        backend,
        ..RecordOptions::default()
    })
    .unwrap()
}

/// One socket-syscall event without its time and CPU: type, thread, what it says.
type Bare = (u32, i32, EventKind);

/// One payload head: syscall, descriptor, bytes.
type BareHead = (String, i32, Vec<u8>);

/// Whether the engine event is one the BPF backend records.
fn of_socket_syscalls(e: &Event) -> bool {
    match &e.kind {
        EventKind::SyscallEnter { call, .. } | EventKind::SyscallExit { call, .. } => {
            matches!(call, Syscall::Send | Syscall::Recv)
        }
        EventKind::SockSend { .. } | EventKind::SockRecv { .. } => true,
        _ => false,
    }
}

/// The socket-syscall events of thread `tid` in `path`, decoded as `kspan analyze` does
/// (ftrace's events and the BPF backend's records merged in time order), and its heads.
fn decoded(path: &Path, tid: i32) -> (Vec<Bare>, Vec<BareHead>, usize) {
    let file = TraceFile::open(path).unwrap();
    let decoder = Decoder::new(&file.metadata().formats, &[]).unwrap();
    let mut calls = CallEvents::load(file.metadata()).unwrap();
    assert_eq!(calls.lost, 0);
    let mut out = Vec::new();
    let mut keep = |e: &Event| {
        if e.tid == tid && of_socket_syscalls(e) {
            out.push((e.type_id, e.tid, e.kind.clone()));
        }
    };
    let mut events = file.events();
    while let Some(record) = events.next_event().unwrap() {
        if let Some(event) = decoder.decode(&record) {
            calls.push_before(event.ts, &decoder, &mut keep);
            keep(&event);
        }
    }
    calls.push_rest(&decoder, &mut keep);
    let heads = file
        .metadata()
        .option(HEADS_OPTION)
        .map(|o| StoredHeads::from_option(o).unwrap().heads)
        .unwrap_or_default()
        .into_iter()
        .filter(|h| h.tid == tid)
        .map(|h| (h.kind.name().to_string(), h.fd, h.bytes))
        .collect();
    (out, heads, calls.count)
}

#[test]
fn the_bpf_backend_gives_the_events_of_the_ftrace_triplets() {
    let scratch = Scratch::new("calls-parity");
    let netns = Netns::new("calls-parity");
    let program = scratch.join("program.py");
    std::fs::write(&program, PROGRAM).unwrap();
    let go = scratch.join("go");
    let child = netns
        .command("python3")
        .arg(&program)
        .arg(&go)
        .arg(scratch.join("data"))
        .arg(scratch.join("ready"))
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let mut child = ChildGuard::kill_on_drop(child);
    // Started: its imports (file reads) are done before either recorder starts.
    assert!(within(Duration::from_secs(30), || scratch
        .join("ready")
        .exists()));
    let ftrace = recorder(&scratch, pid, Backend::Ftrace);
    let bpf = recorder(&scratch, pid, Backend::Bpf);
    std::fs::write(&go, b"").unwrap();
    assert!(
        within(Duration::from_secs(30), || child
            .try_wait()
            .unwrap()
            .is_some()),
        "the program did not finish"
    );
    let mut files: Vec<PathBuf> = Vec::new();
    for (name, recording) in [("ftrace", ftrace), ("bpf", bpf)] {
        let capture = recording.finish().unwrap();
        assert_eq!(capture.meta.lost_events(), 0);
        assert_eq!(capture.calls.is_some(), name == "bpf");
        let out = scratch.join(format!("{name}.dat"));
        write_trace_dat(&capture, &out, FileVersion::V7Zstd).unwrap();
        files.push(out);
    }
    let (ftrace_events, ftrace_heads, none) = decoded(&files[0], pid);
    let (bpf_events, bpf_heads, records) = decoded(&files[1], pid);
    assert_eq!(none, 0);
    let entries = ftrace_events
        .iter()
        .filter(|e| matches!(e.2, EventKind::SyscallEnter { .. }))
        .count();
    // 15 syscalls and at least one recv of the sendfile's bytes.
    assert!(entries >= 16, "{ftrace_events:#?}");
    assert_eq!(records, entries, "one record per syscall");
    assert_eq!(bpf_events, ftrace_events);
    assert_eq!(bpf_heads, ftrace_heads);
    assert!(bpf_heads.len() >= 8, "{bpf_heads:?}");
}
