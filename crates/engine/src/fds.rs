//! The fallback for kernels without `sock_send_length`/`sock_recv_length`: which socket
//! each process's file descriptor is, learnt from socket events fired inside a syscall on
//! that descriptor.

use crate::event::SockAddr;
use crate::fxhash::FxHashMap;

/// Socket pointers by (process id, file descriptor).
#[derive(Debug, Default)]
pub(crate) struct FdTable {
    map: FxHashMap<(i32, i64), SockAddr>,
    /// Send/recv syscalls whose bytes were taken from their return value.
    pub used: u64,
}

impl FdTable {
    /// Records that `fd` of process `tgid` is socket `sk`.
    pub fn learn(&mut self, tgid: i32, fd: i64, sk: SockAddr) {
        self.map.insert((tgid, fd), sk);
    }

    /// Forgets a closed descriptor.
    pub fn forget(&mut self, tgid: i32, fd: i64) {
        self.map.remove(&(tgid, fd));
    }

    /// The socket `fd` of `tgid` is, when known.
    pub fn socket(&self, tgid: i32, fd: i64) -> Option<SockAddr> {
        self.map.get(&(tgid, fd)).copied()
    }
}
