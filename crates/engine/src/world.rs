//! What the engine is told about the world at the start of a recording: the traced threads
//! and the TCP sockets that already existed.

use crate::event::{FourTuple, SockAddr, TcpState, Tid};

/// One traced thread as it was when the recording started.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadInfo {
    /// Thread id.
    pub tid: Tid,
    /// Process id (thread group id).
    pub tgid: i32,
    /// The thread's comm.
    pub comm: String,
    /// The service the thread belongs to (from its cgroup, network namespace, or process
    /// name, or the user's `--service` mapping).
    pub service: String,
}

/// One TCP socket that existed when the recording started.
#[derive(Debug, Clone, PartialEq)]
pub struct SocketInfo {
    /// Kernel socket pointer, when it could be read.
    pub sk: Option<SockAddr>,
    /// Socket cookie, when it could be read.
    pub cookie: Option<u64>,
    /// Its 4-tuple (local first).
    pub tuple: FourTuple,
    /// TCP state.
    pub state: TcpState,
    /// True when the local port is a listening port in the same network namespace
    /// (the socket was accepted: this end is the server).
    pub server_side: bool,
    /// Bytes queued for sending and not yet acknowledged (tx_queue) at the snapshot.
    pub send_queue: u64,
    /// Bytes received and not yet read by the application (rx_queue) at the snapshot.
    pub recv_queue: u64,
}

/// The start-of-recording snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct World {
    /// Traced threads.
    pub threads: Vec<ThreadInfo>,
    /// TCP sockets of traced processes (and of their peers, when known).
    pub sockets: Vec<SocketInfo>,
    /// Add this to a trace-clock timestamp to get Unix time in ns.
    pub clock_to_unix_ns: i64,
}
