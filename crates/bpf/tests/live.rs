//! The programs on the real kernel: the heads of a loopback TCP exchange come out with the
//! right thread, descriptor, syscall and bytes on the boot clock; other writes do not; and
//! nothing stays loaded after the capture ends, or after its process is killed.
//! (Needs root. The traffic is on 127.0.0.1 between two sockets of this test process.)

use kspan_bpf::{HeadCapture, HeadOptions};
use kspan_heads::{Head, StoredHeads, SyscallKind};
use kspan_testsupport::{boot_ns, Scratch};
use libbpf_rs::Program;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

const ROLE_ENV: &str = "KSPAN_BPF_ROLE";

fn options(scratch: &Scratch, head_bytes: u32) -> HeadOptions {
    HeadOptions {
        head_bytes,
        trace_all: false,
        processes: vec![std::process::id() as i32],
        chunk_path: scratch.join("heads.chunks"),
    }
}

fn loaded(id: u32) -> bool {
    Program::fd_from_id(id).is_ok()
}

#[test]
fn a_loopback_exchange_gives_four_heads_with_thread_descriptor_and_clock() {
    let scratch = Scratch::new("bpf-heads");
    let capture = HeadCapture::start(&options(&scratch, 16)).unwrap();
    let ids = capture.programs().program_ids().to_vec();
    assert_eq!(ids.len(), 17, "8 entries, 8 exits, fork");
    assert!(ids.iter().all(|&id| loaded(id)));
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let before = boot_ns();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let request = b"GET /compose?user=7 HTTP/1.1\r\nHost: a\r\n\r\n";
    client.write_all(request).unwrap();
    let mut got = vec![0u8; request.len()];
    server.read_exact(&mut got).unwrap();
    std::fs::write(scratch.join("not-a-socket"), b"GET /file HTTP/1.1").unwrap();
    let response = b"HTTP/1.1 200 OK\r\n\r\n";
    server.write_all(response).unwrap();
    let mut got = vec![0u8; response.len()];
    client.read_exact(&mut got).unwrap();
    let after = boot_ns();

    let recorded = capture.finish().unwrap();
    assert!(ids.iter().all(|&id| !loaded(id)), "programs left loaded");
    assert_eq!(recorded.lost, 0);
    let chunks = std::fs::read(&recorded.chunks_path).unwrap();
    let option = StoredHeads::option_bytes(recorded.head_bytes, 0, &chunks);
    let stored = StoredHeads::from_option(&option).unwrap();
    assert_eq!(stored.heads.len() as u64, recorded.heads);
    let mine: Vec<&Head> = stored.heads.iter().filter(|h| h.tid == tid).collect();
    let summary: Vec<(i32, SyscallKind, i64, &[u8])> = mine
        .iter()
        .map(|h| (h.fd, h.kind, h.ret, h.bytes.as_slice()))
        .collect();
    let (c, s) = (client.as_raw_fd(), server.as_raw_fd());
    assert_eq!(
        summary,
        vec![
            (
                c,
                SyscallKind::Sendto,
                request.len() as i64,
                &b"GET /compose?use"[..]
            ),
            (
                s,
                SyscallKind::Recvfrom,
                request.len() as i64,
                &b"GET /compose?use"[..]
            ),
            (s, SyscallKind::Sendto, 19, &b"HTTP/1.1 200 OK\r"[..]),
            (c, SyscallKind::Recvfrom, 19, &b"HTTP/1.1 200 OK\r"[..]),
        ]
    );
    for h in mine {
        assert_eq!(h.tgid, std::process::id() as i32);
        assert!(before <= h.enter_ns && h.enter_ns <= h.exit_ns && h.exit_ns <= after);
    }
}

#[test]
fn a_writev_whose_first_buffer_is_empty_shows_the_next_one() {
    // Erlang's inet driver sends with writev(fd, [0 B, data]): the head is the data's.
    let scratch = Scratch::new("bpf-heads-iov");
    let capture = HeadCapture::start(&options(&scratch, 16)).unwrap();
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let command = b"*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n";
    let empty: [u8; 0] = [];
    let buffers = [
        libc::iovec {
            iov_base: empty.as_ptr() as *mut libc::c_void,
            iov_len: 0,
        },
        libc::iovec {
            iov_base: command.as_ptr() as *mut libc::c_void,
            iov_len: command.len(),
        },
    ];
    // SAFETY: both iovecs point at live buffers of the lengths given, for the call's length.
    let sent = unsafe { libc::writev(client.as_raw_fd(), buffers.as_ptr(), 2) };
    assert_eq!(sent, command.len() as isize);
    let mut got = vec![0u8; command.len()];
    server.read_exact(&mut got).unwrap();
    let recorded = capture.finish().unwrap();
    let chunks = std::fs::read(&recorded.chunks_path).unwrap();
    let option = StoredHeads::option_bytes(recorded.head_bytes, 0, &chunks);
    let stored = StoredHeads::from_option(&option).unwrap();
    let sends: Vec<(SyscallKind, i64, &[u8])> = stored
        .heads
        .iter()
        .filter(|h| h.tid == tid && h.fd == client.as_raw_fd())
        .map(|h| (h.kind, h.ret, h.bytes.as_slice()))
        .collect();
    assert_eq!(
        sends,
        vec![(SyscallKind::Writev, command.len() as i64, &command[..16])]
    );
}

/// The killed role: starts a capture, reports its program ids, waits to be killed.
#[test]
fn role_entry() {
    if std::env::var(ROLE_ENV).is_err() {
        return;
    }
    let scratch = Scratch::new("bpf-role");
    let capture = HeadCapture::start(&options(&scratch, 8)).unwrap();
    let ids: Vec<String> = capture
        .programs()
        .program_ids()
        .iter()
        .map(u32::to_string)
        .collect();
    println!("KSPAN:{}", ids.join(","));
    std::thread::sleep(std::time::Duration::from_secs(60));
}

#[test]
fn sigkill_leaves_no_program_loaded() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "role_entry", "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ids: Vec<u32> = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.split_once("KSPAN:").map(|(_, ids)| ids.to_string()))
        .expect("the role reports its programs")
        .split(',')
        .map(|id| id.parse().unwrap())
        .collect();
    assert!(!ids.is_empty() && ids.iter().all(|&id| loaded(id)));
    child.kill().unwrap();
    child.wait().unwrap();
    // The kernel frees the programs once the dead process's descriptors are closed, which
    // can take a moment (deferred release).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while ids.iter().any(|&id| loaded(id)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let left: Vec<u32> = ids.into_iter().filter(|&id| loaded(id)).collect();
    assert_eq!(
        left,
        Vec::<u32>::new(),
        "programs still loaded after SIGKILL"
    );
}
