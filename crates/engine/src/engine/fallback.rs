//! Kernels without `sock_send_length`/`sock_recv_length`: byte counts from syscall
//! return values on descriptors identified by socket events.

use super::*;

impl Engine {
    /// True for a TCP send/recv event that moved bytes (not an error, not a MSG_PEEK),
    /// when byte counts come from these events.
    pub(super) fn sock_bytes(&self, protocol: u16, ret: i32, flags: i32) -> bool {
        self.config.bytes_from == ByteSource::SockEvents
            && protocol == IPPROTO_TCP
            && ret > 0
            && flags & MSG_PEEK == 0
    }

    /// Fallback: a socket event inside a syscall on a descriptor says which socket the
    /// descriptor is.
    pub(super) fn learn_fd(&mut self, ev: &Event, sk: SockAddr) {
        if ev.in_irq || self.config.bytes_from != ByteSource::SyscallExits {
            return;
        }
        if let Some(th) = self.threads.map.get(&ev.tid) {
            if let (Some(_), Some(fd)) = (th.sys, th.sys_arg) {
                self.fds.learn(th.tgid, fd, sk);
            }
        }
    }

    /// Fallback: a send/recv syscall on a known socket descriptor moved `ret` bytes.
    pub(super) fn syscall_bytes(&mut self, tid: Tid, call: Syscall, ret: i64, now: Timestamp) {
        let Some(th) = self.threads.map.get(&tid) else {
            return;
        };
        let Some(fd) = th.sys_arg else { return };
        if call == Syscall::Close {
            self.fds.forget(th.tgid, fd);
            return;
        }
        let Some(sk) = self.fds.socket(th.tgid, fd) else {
            return;
        };
        if ret <= 0 {
            return;
        }
        match call {
            Syscall::Send => self.on_send(tid, sk, ret as u64, now),
            Syscall::Recv => self.on_recv(tid, sk, ret as u64, now),
            _ => return,
        }
        self.fds.used += 1;
    }
}
