//! The event sets `kspan record` and `kspan live` enable besides the user's `-e`: the
//! default set, which holds only the events the engine's evidence uses (docs/engine.md,
//! "Which events each rule needs"), filtered in the kernel to the ones it reads, and the
//! full set it was cut from.

use crate::events::EventRequest;

/// Which events a recording enables besides the user's `-e`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventSet {
    /// None: only the `-e` events (`--no-default-events`).
    None,
    /// The events the engine's evidence uses: the full set less the events whose absence
    /// changes no trace (measured with `kspan analyze --drop-event` on the corpus and the
    /// demo, BENCHMARKS.md), with kernel filters that drop the socket events the engine
    /// ignores.
    #[default]
    Default,
    /// Everything the default set held before it was cut (issue 11), unfiltered: for the
    /// per-span counts of those events, for analyses by other tools, and to compare with.
    Full,
}

/// Where an event of the full set is in the default set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kept {
    /// Always.
    Yes,
    /// Not at all.
    No,
}

/// `sock_send_length` events the engine reads: TCP sends that moved bytes (errors and other
/// protocols only count as activity).
const SEND_FILTER: &str = "protocol == 6 && ret > 0";
/// `sock_recv_length` events the engine reads: TCP reads that moved bytes, and reads that
/// found nothing (-EAGAIN: a thread watching a connection); end of stream (0) and other
/// errors only count as activity.
const RECV_FILTER: &str = "protocol == 6 && (ret > 0 || ret == -11)";

/// Scheduler, process and network tracepoints of the full set: where each is in the default
/// set, and its filter there.
const TRACEPOINTS: &[(&str, Kept, Option<&str>)] = &[
    ("sched:sched_switch", Kept::Yes, None),
    ("sched:sched_waking", Kept::Yes, None),
    ("sched:sched_wakeup_new", Kept::Yes, None),
    // task_newtask fires for every new thread and process, in the parent, with the clone
    // flags: sched_process_fork says nothing more.
    ("sched:sched_process_fork", Kept::No, None),
    // The engine does not read it (a process keeps its service across exec).
    ("sched:sched_process_exec", Kept::No, None),
    ("sched:sched_process_exit", Kept::Yes, None),
    ("task:task_newtask", Kept::Yes, None),
    ("sock:sock_send_length", Kept::Yes, Some(SEND_FILTER)),
    ("sock:sock_recv_length", Kept::Yes, Some(RECV_FILTER)),
    // Names a socket older than the recording by its first read. The start snapshot names
    // them too, but not always rightly: CI recorded the demo's thread design (two
    // keep-alive connections older than the recording, to two services, from one local
    // port) with it left out, and every engine put one call's callee under the other
    // call (150 of 180 exact trees); with it, 180.
    ("tcp:tcp_rcv_space_adjust", Kept::Yes, None),
];

/// Which halves of a syscall's enter/exit pair the default set keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Halves {
    /// Both: the syscalls that move socket bytes (the exit of a send ends a span, of a read
    /// ends a client span; the entry gives the descriptor payload heads are matched by).
    Both,
    /// The entry only: the syscalls a thread waits in (what it waits in is what the engine
    /// reads; it is over at the thread's next syscall entry).
    Enter,
    /// Neither: syscalls that never move socket bytes nor wait for them.
    Neither,
}

/// Syscalls of the full set (each with its enter and exit events) and what the default set
/// keeps of them (skipped when this kernel lacks them).
const SYSCALLS: &[(&str, Halves)] = &[
    ("read", Halves::Both),
    ("write", Halves::Both),
    ("readv", Halves::Both),
    ("writev", Halves::Both),
    // Files only: a socket has no offset (ESPIPE).
    ("pread64", Halves::Neither),
    ("pwrite64", Halves::Neither),
    ("sendto", Halves::Both),
    ("recvfrom", Halves::Both),
    ("sendmsg", Halves::Both),
    ("recvmsg", Halves::Both),
    ("sendmmsg", Halves::Both),
    ("recvmmsg", Halves::Both),
    ("sendfile64", Halves::Both),
    ("connect", Halves::Enter),
    ("accept", Halves::Enter),
    ("accept4", Halves::Enter),
    // Only the engine's fallback for kernels without sock_*_length reads it (a descriptor
    // closed is forgotten), and kspan records only on kernels that have them.
    ("close", Halves::Neither),
    ("epoll_wait", Halves::Enter),
    ("epoll_pwait", Halves::Enter),
    ("poll", Halves::Enter),
    ("ppoll", Halves::Enter),
    ("select", Halves::Enter),
    ("pselect6", Halves::Enter),
    ("futex", Halves::Enter),
];

/// Which program records the socket syscalls' events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// ftrace: every event in the instance's per-CPU ring buffers.
    #[default]
    Ftrace,
    /// BPF programs on the same tracepoints (kspan-bpf, bpf/calls.bpf.c): one compact
    /// record per read/write/send/recv-family syscall instead of its entry, socket event
    /// and exit ([`BPF_EVENTS`]); every other event stays with ftrace.
    Bpf,
}

/// The tracepoints the BPF backend records instead of ftrace: the entry and exit of each
/// syscall of [`kspan_heads::CallKind`] and both socket-length events (`system`, `event`).
pub fn bpf_events() -> Vec<(&'static str, String)> {
    kspan_heads::CallKind::ALL
        .iter()
        .flat_map(|c| ["enter", "exit"].map(|dir| ("syscalls", format!("sys_{dir}_{}", c.name()))))
        .chain(["sock_send_length", "sock_recv_length"].map(|name| ("sock", name.to_string())))
        .collect()
}

/// Whether the BPF backend records `system:name` instead of ftrace.
pub fn recorded_by_bpf(system: &str, name: &str) -> bool {
    bpf_events().iter().any(|(s, n)| *s == system && n == name)
}

impl EventSet {
    /// The requests of this set: its tracepoints (required) and syscall events (skipped when
    /// this kernel lacks them).
    pub fn requests(self) -> Vec<EventRequest> {
        let tracepoints = TRACEPOINTS
            .iter()
            .filter(move |(_, kept, _)| match (self, kept) {
                (EventSet::None, _) => false,
                (EventSet::Full, _) | (_, Kept::Yes) => true,
                (_, Kept::No) => false,
            })
            .map(move |(pattern, _, filter)| EventRequest {
                pattern: pattern.to_string(),
                filter: filter
                    .filter(|_| self == EventSet::Default)
                    .map(str::to_string),
                required: true,
            });
        let syscalls = SYSCALLS.iter().flat_map(move |&(name, halves)| {
            let dirs: &[&str] = match (self, halves) {
                (EventSet::None, _) | (EventSet::Default, Halves::Neither) => &[],
                (EventSet::Default, Halves::Enter) => &["enter"],
                (EventSet::Full, _) | (EventSet::Default, Halves::Both) => &["enter", "exit"],
            };
            dirs.iter().map(move |dir| EventRequest {
                pattern: format!("syscalls:sys_{dir}_{name}"),
                filter: None,
                required: false,
            })
        });
        tracepoints.chain(syscalls).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(set: EventSet) -> Vec<String> {
        set.requests().into_iter().map(|r| r.pattern).collect()
    }

    #[test]
    fn the_default_set_is_the_full_set_less_what_the_engine_does_not_read() {
        let full = patterns(EventSet::Full);
        let default = patterns(EventSet::Default);
        assert_eq!(full.len(), TRACEPOINTS.len() + 2 * SYSCALLS.len());
        assert!(default.iter().all(|p| full.contains(p)));
        for gone in [
            "sched:sched_process_fork",
            "sched:sched_process_exec",
            "syscalls:sys_enter_close",
            "syscalls:sys_exit_close",
            "syscalls:sys_enter_pread64",
            "syscalls:sys_exit_futex",
            "syscalls:sys_exit_epoll_wait",
        ] {
            assert!(!default.contains(&gone.to_string()), "{gone}");
        }
        for kept in [
            "task:task_newtask",
            "tcp:tcp_rcv_space_adjust",
            "syscalls:sys_enter_futex",
            "syscalls:sys_enter_read",
            "syscalls:sys_exit_read",
            "syscalls:sys_exit_sendfile64",
        ] {
            assert!(default.contains(&kept.to_string()), "{kept}");
        }
        assert!(patterns(EventSet::None).is_empty());
    }

    #[test]
    fn the_bpf_backend_replaces_the_socket_syscalls_of_the_default_set() {
        let default = patterns(EventSet::Default);
        let replaced: Vec<String> = bpf_events()
            .into_iter()
            .map(|(s, n)| format!("{s}:{n}"))
            .collect();
        assert_eq!(replaced.len(), 24);
        assert!(replaced.iter().all(|p| default.contains(p)), "{replaced:?}");
        assert!(recorded_by_bpf("syscalls", "sys_exit_recvfrom"));
        assert!(recorded_by_bpf("sock", "sock_recv_length"));
        assert!(!recorded_by_bpf("syscalls", "sys_enter_futex"));
        assert!(!recorded_by_bpf("syscalls", "sys_enter_connect"));
    }

    #[test]
    fn only_the_default_set_filters() {
        let filter = |set: EventSet, event: &str| {
            set.requests()
                .into_iter()
                .find(|r| r.pattern == event)
                .and_then(|r| r.filter)
        };
        assert_eq!(
            filter(EventSet::Default, "sock:sock_recv_length").as_deref(),
            Some(RECV_FILTER)
        );
        assert_eq!(filter(EventSet::Full, "sock:sock_recv_length"), None);
        assert_eq!(filter(EventSet::Default, "sched:sched_switch"), None);
    }
}
