//! The engine's tunables.

/// How the engine reconstructs traces; [`Config::default`] suits most recordings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Most runs of bytes (one per message) kept queued per connection direction. Bytes
    /// beyond it keep their position but lose their context; bounds memory when the
    /// reading end is never traced (a load generator's socket).
    pub max_segments_per_stream: usize,
    /// Service names that replace the world snapshot's, by process id (tgid), e.g. from the
    /// command line's `--service PID=NAME`.
    pub service_overrides: Vec<(i32, String)>,
    /// Where byte counts of socket sends and reads come from.
    pub bytes_from: ByteSource,
    /// A trace whose every span is answered is emitted once no span's end moved for this
    /// long (ns of event time), instead of waiting for its connections to carry another
    /// request or close; 0: never. Checked every quarter of it, so a trace idles at most
    /// 1.25 times this long; the same in a file's analysis and live.
    pub idle_close_ns: u64,
}

/// Where the engine learns how many bytes each socket send or read moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ByteSource {
    /// `sock:sock_send_length` / `sock:sock_recv_length` (Linux 6.3 and later): exact,
    /// per socket, whatever syscall moved the bytes.
    #[default]
    SockEvents,
    /// Older kernels: the return value of send/recv syscalls, on the socket their file
    /// descriptor was seen to be (a `tcp_rcv_space_adjust` or `inet_sock_set_state` fired
    /// inside a syscall on that descriptor). Less precise: a descriptor is unknown until
    /// its first read or connect, and the summary says so.
    SyscallExits,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_segments_per_stream: 64,
            service_overrides: Vec::new(),
            bytes_from: ByteSource::SockEvents,
            idle_close_ns: 1_000_000_000,
        }
    }
}
