//! Kernels without sock_send_length/sock_recv_length: bytes from syscall return values on
//! descriptors identified by socket events inside the same syscall.

mod dsl;
use dsl::*;
use kspan_engine::*;

const LG: Tid = 99;
const FRONT: Tid = 10;
const BACK: Tid = 20;

fn enter(r: &mut Rec, ts: u64, tid: Tid, call: Syscall, fd: i64) {
    r.ev(
        ts,
        tid,
        EventKind::SyscallEnter {
            call,
            arg: Some(fd),
        },
    );
}

fn exit(r: &mut Rec, ts: u64, tid: Tid, call: Syscall, ret: i64) {
    r.ev(ts, tid, EventKind::SyscallExit { call, ret });
}

/// A read of `n` bytes on `fd`, with tcp_rcv_space_adjust naming its socket.
fn read(r: &mut Rec, ts: u64, tid: Tid, fd: i64, sk: u64, t: FourTuple, n: i64) {
    enter(r, ts, tid, Syscall::Recv, fd);
    r.ev(
        ts + 1,
        tid,
        EventKind::RcvSpace {
            sk,
            tuple: t,
            cookie: sk,
        },
    );
    exit(r, ts + 2, tid, Syscall::Recv, n);
}

fn write(r: &mut Rec, ts: u64, tid: Tid, fd: i64, n: i64) {
    enter(r, ts, tid, Syscall::Send, fd);
    exit(r, ts + 2, tid, Syscall::Send, n);
}

#[test]
fn thread_per_request_from_syscall_return_values() {
    let mut r = Rec::new();
    r.thread(FRONT, FRONT, "front").thread(BACK, BACK, "back");
    let front_in = tuple(sa(1, 80), sa(9, 5000));
    let call = tuple(sa(1, 6000), sa(2, 81));
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80));
    // front connects to back on fd 7: the SYN_SENT state change fires inside connect().
    enter(&mut r, 20, FRONT, Syscall::Connect, 7);
    r.connect(21, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 81));
    exit(&mut r, 25, FRONT, Syscall::Connect, 0);
    read(&mut r, 110, FRONT, 5, 0xA2, front_in, 100);
    // The ordering trap, fallback flavour: back's read returns (121) before front's
    // write does (122).
    write(&mut r, 118, FRONT, 7, 50);
    read(&mut r, 119, BACK, 8, 0xB2, call.mirrored(), 50);
    write(&mut r, 140, BACK, 8, 70);
    read(&mut r, 150, FRONT, 7, 0xB1, call, 70);
    write(&mut r, 160, FRONT, 5, 200);
    // A write to a file (unknown descriptor) and a close are not socket bytes.
    write(&mut r, 170, FRONT, 3, 4096);
    enter(&mut r, 180, FRONT, Syscall::Close, 5);
    exit(&mut r, 181, FRONT, Syscall::Close, 0);
    write(&mut r, 190, FRONT, 5, 10);
    let config = Config {
        bytes_from: ByteSource::SyscallExits,
        ..Config::default()
    };
    let (traces, summary) = r.run_with(config);
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..162
              Client front tid=10 118..152
                Server back tid=20 119..142
            ---"
        )
    );
    assert_eq!(summary.caveats.len(), 1);
    assert_eq!(summary.caveats[0].1, 6, "six socket syscalls used");
}
