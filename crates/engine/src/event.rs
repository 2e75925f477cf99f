//! The engine's input: kernel events, already decoded and typed, in global time order.
//!
//! This is the contract between every event source (a trace.dat file, a live recording,
//! an imported PSV file, bpftrace output) and the engine. Sources convert their records
//! into [`Event`]s (see the `kspan-ingest` crate); the engine never sees raw bytes.

/// Nanoseconds on the recording's trace clock (the `boot` clock, CLOCK_BOOTTIME).
pub type Timestamp = u64;

/// A kernel thread id (what the kernel calls a pid; `common_pid` of an ftrace event).
pub type Tid = i32;

/// A kernel `struct sock *` address, as carried raw by the binary ring buffer.
pub type SockAddr = u64;

/// Identifies an event type for per-span counting: the ftrace event id (`common_type`) for
/// ftrace events, or an id the source allocated above 65535 for other sources (bpftrace).
/// Names come from [`EventNames`](crate::EventNames) supplied by the source.
pub type EventTypeId = u32;

/// One kernel event, as the engine consumes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When it happened, on the trace clock.
    pub ts: Timestamp,
    /// CPU whose ring buffer held it.
    pub cpu: u32,
    /// The thread that was running when the event fired (`common_pid`).
    pub tid: Tid,
    /// True when the event fired in hard or soft interrupt context (`common_flags` has
    /// TRACE_FLAG_HARDIRQ 0x08 or TRACE_FLAG_SOFTIRQ 0x10): then `tid` is whoever happened
    /// to be running, not the thread the event is about.
    pub in_irq: bool,
    /// The event type id (for per-span counting by name).
    pub type_id: EventTypeId,
    /// What happened.
    pub kind: EventKind,
}

/// The syscalls the engine tells apart. Everything else is [`Syscall::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Syscall {
    /// write, writev, pwrite*, sendto, sendmsg, sendmmsg, sendfile, splice towards a socket.
    Send,
    /// read, readv, pread*, recvfrom, recvmsg, recvmmsg.
    Recv,
    /// connect.
    Connect,
    /// accept, accept4.
    Accept,
    /// close.
    Close,
    /// epoll_wait, epoll_pwait, epoll_pwait2, poll, ppoll, select, pselect6.
    Poll,
    /// futex, futex_waitv.
    Futex,
    /// Any other syscall; carries the syscall number.
    Other(u32),
}

/// A TCP connection's endpoints, as the socket sees them (local first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FourTuple {
    /// Local address (IPv4 addresses are stored as IPv4-mapped IPv6).
    pub local: std::net::SocketAddrV6,
    /// Remote address (IPv4 addresses are stored as IPv4-mapped IPv6).
    pub remote: std::net::SocketAddrV6,
}

impl FourTuple {
    /// The same connection seen from the other end.
    pub fn mirrored(self) -> FourTuple {
        FourTuple {
            local: self.remote,
            remote: self.local,
        }
    }
}

/// TCP states as numbered by the kernel (`include/net/tcp_states.h`).
pub type TcpState = i32;

/// One frame of a multiplexed connection (an HTTP/2 frame, or the connection preface).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Its size in bytes, header included.
    pub len: u64,
    /// The stream (one request and its response) it belongs to; 0 for the connection.
    pub stream: u32,
    /// True when it carries a request or a response (HTTP/2 HEADERS, DATA, CONTINUATION),
    /// false for connection and flow control (SETTINGS, PING, WINDOW_UPDATE, …).
    pub message: bool,
}

/// One message of a pipelined protocol (a RESP command or reply) that a payload head
/// shows, in order from its syscall's first byte: its size, and what request it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHead {
    /// Its size in bytes; `None` when it ends past the head (it runs at least to the end
    /// of its syscall's bytes).
    pub len: Option<u64>,
    /// The endpoint signature of the request it is (a command), `None` for an answer.
    pub sig: Option<u64>,
}

/// The kinds of event the engine understands; anything else is [`EventKind::Other`].
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// `task:task_newtask` (in the parent's context): a new task `child`; `clone_flags`
    /// tells a thread (CLONE_THREAD) from a process.
    NewTask { child: Tid, clone_flags: u64 },
    /// `sched:sched_process_fork`: `parent` created `child`.
    Fork { parent: Tid, child: Tid },
    /// `sched:sched_process_exec`: the thread now runs `filename`.
    Exec { filename: String },
    /// `sched:sched_process_exit`: the thread `tid` exits.
    Exit,
    /// `sched:sched_switch`: `prev` leaves the CPU in `prev_state` (0 = runnable, i.e.
    /// preempted; 1 = S interruptible sleep; 2 = D uninterruptible), `next` gets it.
    Switch {
        prev: Tid,
        prev_state: i64,
        next: Tid,
    },
    /// `sched:sched_waking` (fires in the waker's context): `target` is being woken.
    Waking { target: Tid },
    /// `sched:sched_wakeup_new`: the new task `target` becomes runnable for the first time.
    WakeupNew { target: Tid },
    /// Entry of a syscall; `arg` is the argument naming what it acts on, where it has one:
    /// the file descriptor, or for [`Syscall::Futex`] the futex word's address.
    SyscallEnter { call: Syscall, arg: Option<i64> },
    /// Exit of a syscall with its return value.
    SyscallExit { call: Syscall, ret: i64 },
    /// `sock:sock_send_length`: `ret` bytes (or -errno) handed to socket `sk`.
    /// `flags` are the msg flags (MSG_PEEK = 2).
    SockSend {
        sk: SockAddr,
        family: u16,
        protocol: u16,
        ret: i32,
        flags: i32,
    },
    /// `sock:sock_recv_length`: `ret` bytes (or -errno) taken from socket `sk`.
    SockRecv {
        sk: SockAddr,
        family: u16,
        protocol: u16,
        ret: i32,
        flags: i32,
    },
    /// `sock:inet_sock_set_state`: a TCP state change of `sk`, with its 4-tuple.
    SockState {
        sk: SockAddr,
        old: TcpState,
        new: TcpState,
        tuple: FourTuple,
    },
    /// `tcp:tcp_rcv_space_adjust` (inside tcp_recvmsg): binds `sk` to its 4-tuple and cookie.
    RcvSpace {
        sk: SockAddr,
        tuple: FourTuple,
        cookie: u64,
    },
    /// `tcp:tcp_destroy_sock`: `sk` is gone (its address may be reused afterwards).
    SockDestroy { sk: SockAddr },
    /// A payload head (`kspan record --payload-bytes`): the bytes a send (`send`) or read
    /// syscall of the thread moved on descriptor `fd` start a request whose endpoint
    /// signature is `sig` (a hash of what they say it is: `GET /par`, `SET`); stamped at
    /// the syscall's exit. Evidence only, not kernel activity.
    Head { fd: i64, send: bool, sig: u64 },
    /// A payload head of a send on a multiplexed connection (HTTP/2): how the bytes the
    /// thread's send syscall on descriptor `fd` moves divide into frames, from its first
    /// byte, as far as the head shows them; stamped at the syscall's entry (its bytes are
    /// known from then), before the send's `sock_send_length`. Bytes past the last frame
    /// are not known. `sig`: the endpoint signature of the request a HEADERS frame among
    /// them opens (when the send opens one).
    Frames {
        fd: i64,
        frames: Vec<Frame>,
        sig: Option<u64>,
    },
    /// A payload head of a send (`send`) or read on descriptor `fd` that shows messages
    /// of a pipelined protocol (RESP: a client writes several commands before reading
    /// their replies, in order), from its first byte, as far as the head shows them;
    /// stamped at the syscall's entry, before its `sock_send_length` or
    /// `sock_recv_length`.
    Messages {
        fd: i64,
        send: bool,
        messages: Vec<MessageHead>,
    },
    /// Any other event (user-enabled ones included): counted per span under `type_id`;
    /// `values` holds the numeric fields a source was asked to keep for aggregation
    /// (see [`EventNames::field_names`](crate::EventNames)), in that order.
    Other { values: Vec<i64> },
}
