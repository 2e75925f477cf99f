//! The BPF backend's programs (bpf/calls.bpf.c) on the real kernel: a known sequence of
//! socket and file syscalls of one thread gives exactly one record per syscall, with the
//! parts, descriptor, return values, socket event and payload head each one has; a
//! syscall under way when the capture starts gives an exit without entry, one under way
//! when it ends an entry without exit; and nothing stays loaded afterwards.
//! (Needs root. The traffic is on 127.0.0.1 between sockets of this test process; each
//! test keeps to its own threads' records, so the tests may run at once.)

use kspan_bpf::{CallCapture, CallOptions, CallsRecorded};
use kspan_heads::calls::{PART_ENTER, PART_EXIT, PART_SEND, PART_SOCK};
use kspan_heads::{CallKind, CallRecord, StoredCalls, StoredHeads, SyscallKind};
use kspan_testsupport::{boot_ns, within, Scratch};
use libbpf_rs::Program;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

const EAGAIN: i64 = -11;
const ALL: u8 = PART_ENTER | PART_EXIT | PART_SOCK;

fn options(scratch: &Scratch, head_bytes: u32, sock_filter: bool) -> CallOptions {
    CallOptions {
        head_bytes,
        trace_all: false,
        processes: vec![std::process::id() as i32],
        sock_filter,
        ring_bytes: 4 << 20,
        calls_path: scratch.join("calls.chunks"),
        heads_path: scratch.join("heads.chunks"),
    }
}

fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// The stored records of `recorded`, as the trace.dat option holds them.
fn records(recorded: &CallsRecorded) -> Vec<CallRecord> {
    let chunks = std::fs::read(&recorded.calls_path).unwrap();
    let option = StoredCalls::option_bytes(recorded.sock_filtered, recorded.lost, &chunks);
    let stored = StoredCalls::from_option(&option).unwrap();
    assert_eq!(stored.records.len() as u64, recorded.records);
    stored.records
}

/// A connected pair of loopback TCP sockets (client, server).
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// (syscall, parts, descriptor, return value, socket event's return value)
type Summary = (Option<CallKind>, u8, i64, i64, i32);

fn summary(r: &CallRecord) -> Summary {
    (r.kind(), r.parts, r.arg, r.ret, r.sock_ret)
}

#[test]
fn one_record_per_syscall_with_its_socket_event_and_head() {
    let scratch = Scratch::new("bpf-calls");
    let capture = CallCapture::start(&options(&scratch, 16, true)).unwrap();
    let ids = capture.programs().program_ids().to_vec();
    assert_eq!(ids.len(), 25, "11 entries, 11 exits, 2 socket events, fork");
    // Syscalls before this moment are the loader's own (it reads each tracepoint's id).
    let start = boot_ns();
    let tid = gettid();
    let (mut client, mut server) = pair();
    let (c, s) = (client.as_raw_fd(), server.as_raw_fd());
    let request = b"GET /compose?user=7 HTTP/1.1\r\nHost: a\r\n\r\n";
    client.write_all(request).unwrap();
    let mut got = vec![0u8; request.len()];
    server.read_exact(&mut got).unwrap();
    let file = std::fs::File::create(scratch.join("not-a-socket")).unwrap();
    // SAFETY: writes 5 bytes of a live buffer to a descriptor this test owns.
    let wrote = unsafe { libc::write(file.as_raw_fd(), b"hello".as_ptr().cast(), 5) };
    assert_eq!(wrote, 5);
    let response = b"HTTP/1.1 200 OK\r\n\r\n";
    server.write_all(response).unwrap();
    let mut got = vec![0u8; response.len()];
    client.read_exact(&mut got).unwrap();
    client.set_nonblocking(true).unwrap();
    let nothing = client.read(&mut got).unwrap_err();
    assert_eq!(nothing.kind(), ErrorKind::WouldBlock);
    client.set_nonblocking(false).unwrap();
    let (first, second) = (b"*1\r\n$4\r\n", b"PING\r\n");
    let iov = [
        libc::iovec {
            iov_base: first.as_ptr() as *mut _,
            iov_len: first.len(),
        },
        libc::iovec {
            iov_base: second.as_ptr() as *mut _,
            iov_len: second.len(),
        },
    ];
    // SAFETY: both iovecs point to live buffers of their lengths.
    let sent = unsafe { libc::writev(s, iov.as_ptr(), 2) };
    assert_eq!(sent, 14);
    let mut buf = [0u8; 64];
    // SAFETY: reads at most 64 bytes into a live 64-byte buffer.
    let read = unsafe { libc::read(c, buf.as_mut_ptr().cast(), 64) };
    assert_eq!(read, 14);
    drop(server);
    assert_eq!(client.read(&mut buf).unwrap(), 0, "end of stream");
    let recorded = capture.finish().unwrap();
    // The kernel frees a detached program after a grace period (deferred release).
    let unloaded = || ids.iter().all(|&id| Program::fd_from_id(id).is_err());
    assert!(
        within(Duration::from_secs(5), unloaded),
        "programs left loaded"
    );
    assert_eq!(recorded.lost, 0);
    let mine: Vec<CallRecord> = records(&recorded)
        .into_iter()
        .filter(|r| r.tid == tid && r.enter_ns >= start)
        .collect();
    let f = i64::from(file.as_raw_fd());
    // A syscall on `fd` that moved `n` bytes, as its return value and its socket event's.
    let moved =
        |kind, parts, fd: i32, n: usize| (Some(kind), parts, i64::from(fd), n as i64, n as i32);
    let (q, a, send) = (request.len(), response.len(), ALL | PART_SEND);
    assert_eq!(
        mine.iter().map(summary).collect::<Vec<_>>(),
        vec![
            moved(CallKind::Sendto, send, c, q),
            moved(CallKind::Recvfrom, ALL, s, q),
            (Some(CallKind::Write), PART_ENTER | PART_EXIT, f, 5, 0),
            moved(CallKind::Sendto, send, s, a),
            moved(CallKind::Recvfrom, ALL, c, a),
            (
                Some(CallKind::Recvfrom),
                ALL,
                i64::from(c),
                EAGAIN,
                EAGAIN as i32
            ),
            moved(CallKind::Writev, send, s, 14),
            moved(CallKind::Read, ALL, c, 14),
            // End of stream: its socket event (0 bytes) is one the default set filters out.
            (
                Some(CallKind::Recvfrom),
                PART_ENTER | PART_EXIT,
                i64::from(c),
                0,
                0
            ),
        ]
    );
    for r in &mine {
        assert!(r.enter_ns <= r.exit_ns);
        if r.has(PART_SOCK) {
            assert!(r.enter_ns <= r.sock_ns && r.sock_ns <= r.exit_ns);
            assert_eq!((r.family, r.protocol), (2, 6));
            assert_ne!(r.sk, 0);
        }
        assert_eq!(r.tgid, std::process::id() as i32);
    }
    let sockets: Vec<u64> = mine
        .iter()
        .filter(|r| r.has(PART_SOCK))
        .map(|r| r.sk)
        .collect();
    assert_eq!(
        sockets
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        2
    );
    let all = records(&recorded);
    assert_eq!(recorded.events, recorded.records * 3 - count_missing(&all));

    let heads = recorded.heads.as_ref().unwrap();
    let chunks = std::fs::read(&heads.chunks_path).unwrap();
    let option = StoredHeads::option_bytes(heads.head_bytes, heads.lost, &chunks);
    let stored = StoredHeads::from_option(&option).unwrap();
    let mine: Vec<(SyscallKind, i32, &[u8])> = stored
        .heads
        .iter()
        .filter(|h| h.tid == tid && h.enter_ns >= start)
        .map(|h| (h.kind, h.fd, h.bytes.as_slice()))
        .collect();
    assert_eq!(
        mine,
        vec![
            (SyscallKind::Sendto, c, &b"GET /compose?use"[..]),
            (SyscallKind::Recvfrom, s, &b"GET /compose?use"[..]),
            (SyscallKind::Sendto, s, &b"HTTP/1.1 200 OK\r"[..]),
            (SyscallKind::Recvfrom, c, &b"HTTP/1.1 200 OK\r"[..]),
            (SyscallKind::Writev, s, &b"*1\r\n$4\r\n"[..]),
            (SyscallKind::Read, c, &b"*1\r\n$4\r\nPING\r\n"[..]),
        ]
    );
}

/// Parts missing from full records (entry, socket event, exit) over `records`.
fn count_missing(records: &[CallRecord]) -> u64 {
    records.iter().map(|r| 3 - u64::from(r.events())).sum()
}

#[test]
fn unfiltered_socket_events_and_syscalls_cut_by_the_capture_s_start_and_end() {
    let scratch = Scratch::new("bpf-calls-edges");
    let (mut client, server) = pair();
    // Blocked in recv before the capture starts: its exit comes without an entry, and the
    // socket event before it (with no syscall kept to join) as a record of its own.
    let early = std::thread::spawn(move || {
        let mut server = server;
        let mut buf = [0u8; 8];
        assert_eq!(server.read(&mut buf).unwrap(), 4);
        (gettid(), server)
    });
    std::thread::sleep(Duration::from_millis(200));
    let capture = CallCapture::start(&options(&scratch, 0, false)).unwrap();
    let client_fd = i64::from(client.as_raw_fd());
    let start = boot_ns();
    client.write_all(b"ping").unwrap();
    let (early_tid, server) = early.join().unwrap();
    // An end of stream, whose 0-byte socket event only the default set filters out.
    let tid = gettid();
    let (mut reader, writer) = pair();
    drop(writer);
    let mut buf = [0u8; 8];
    assert_eq!(reader.read(&mut buf).unwrap(), 0);
    // Blocked in recv when the capture ends: its entry comes without an exit.
    let late = std::thread::spawn(move || {
        let mut client = client;
        let mut buf = [0u8; 8];
        (gettid(), client.read(&mut buf).unwrap())
    });
    std::thread::sleep(Duration::from_millis(200));
    let recorded = capture.finish().unwrap();
    server.shutdown(std::net::Shutdown::Write).unwrap();
    let (late_tid, n) = late.join().unwrap();
    assert_eq!(n, 0);
    assert_eq!(recorded.lost, 0);
    assert!(recorded.heads.is_none());
    let all = records(&recorded);
    let of = |t: i32| -> Vec<Summary> {
        all.iter()
            .filter(|r| r.tid == t && (t != tid || r.first_ns() >= start))
            .map(summary)
            .collect()
    };
    assert_eq!(
        of(early_tid),
        vec![
            (None, PART_SOCK, 0, 0, 4),
            (Some(CallKind::Recvfrom), PART_EXIT, 0, 4, 0)
        ]
    );
    let reader_fd = i64::from(reader.as_raw_fd());
    assert_eq!(
        of(tid),
        vec![
            (Some(CallKind::Sendto), ALL | PART_SEND, client_fd, 4, 4),
            (Some(CallKind::Recvfrom), ALL, reader_fd, 0, 0),
        ]
    );
    assert_eq!(
        of(late_tid),
        vec![(Some(CallKind::Recvfrom), PART_ENTER, client_fd, 0, 0)]
    );
    let loader: u64 = all
        .iter()
        .filter(|r| r.tid == tid && r.first_ns() < start)
        .map(|r| u64::from(r.events()))
        .sum();
    assert_eq!(
        recorded.events,
        2 + 6 + 1 + loader + count_others(&all, &[early_tid, tid, late_tid])
    );
}

/// The events of the records of threads other than `threads` (other tests running at once).
fn count_others(records: &[CallRecord], threads: &[i32]) -> u64 {
    records
        .iter()
        .filter(|r| !threads.contains(&r.tid))
        .map(|r| u64::from(r.events()))
        .sum()
}
