//! The syscall tracepoints the engine tells apart, by name (`syscalls:sys_enter_NAME`).

use kspan_engine::Syscall;

/// What a syscall means to the engine; `nr` is its number, used for [`Syscall::Other`].
pub fn classify(name: &str, nr: u32) -> Syscall {
    match name {
        "write" | "writev" | "pwrite64" | "pwritev" | "pwritev2" | "sendto" | "sendmsg"
        | "sendmmsg" | "sendfile64" | "splice" => Syscall::Send,
        "read" | "readv" | "pread64" | "preadv" | "preadv2" | "recvfrom" | "recvmsg"
        | "recvmmsg" => Syscall::Recv,
        "connect" => Syscall::Connect,
        "accept" | "accept4" => Syscall::Accept,
        "close" => Syscall::Close,
        "epoll_wait" | "epoll_pwait" | "epoll_pwait2" | "poll" | "ppoll" | "select"
        | "pselect6" => Syscall::Poll,
        "futex" | "futex_waitv" => Syscall::Futex,
        _ => Syscall::Other(nr),
    }
}

/// Splits `sys_enter_NAME` / `sys_exit_NAME` into (is_enter, NAME).
pub fn split_event_name(event: &str) -> Option<(bool, &str)> {
    if let Some(name) = event.strip_prefix("sys_enter_") {
        Some((true, name))
    } else {
        event.strip_prefix("sys_exit_").map(|name| (false, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_the_engine_kinds() {
        assert_eq!(classify("sendmsg", 46), Syscall::Send);
        assert_eq!(classify("read", 0), Syscall::Recv);
        assert_eq!(classify("epoll_pwait", 281), Syscall::Poll);
        assert_eq!(classify("openat", 257), Syscall::Other(257));
        assert_eq!(split_event_name("sys_enter_write"), Some((true, "write")));
        assert_eq!(split_event_name("sys_exit_futex"), Some((false, "futex")));
        assert_eq!(split_event_name("sched_switch"), None);
    }
}
