//! One payload head: the first bytes one send or read syscall moved on a TCP socket.

/// The syscall that moved the bytes (numbered as the BPF program stores them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyscallKind {
    /// `write`.
    Write = 1,
    /// `writev` (first iovec only).
    Writev = 2,
    /// `sendto`.
    Sendto = 3,
    /// `sendmsg` (first iovec only).
    Sendmsg = 4,
    /// `read`.
    Read = 5,
    /// `readv` (first iovec only).
    Readv = 6,
    /// `recvfrom`.
    Recvfrom = 7,
    /// `recvmsg` (first iovec only).
    Recvmsg = 8,
}

/// Whether a head was sent or read by the traced thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// The thread sent these bytes.
    Send,
    /// The thread read these bytes.
    Recv,
}

impl SyscallKind {
    /// Every kind, in stored-number order.
    pub const ALL: [SyscallKind; 8] = [
        SyscallKind::Write,
        SyscallKind::Writev,
        SyscallKind::Sendto,
        SyscallKind::Sendmsg,
        SyscallKind::Read,
        SyscallKind::Readv,
        SyscallKind::Recvfrom,
        SyscallKind::Recvmsg,
    ];

    /// The kind stored as `number`, if any.
    pub fn from_number(number: u8) -> Option<SyscallKind> {
        SyscallKind::ALL
            .get(usize::from(number).checked_sub(1)?)
            .copied()
    }

    /// Send or read side.
    pub fn direction(self) -> Direction {
        if (self as u8) <= SyscallKind::Sendmsg as u8 {
            Direction::Send
        } else {
            Direction::Recv
        }
    }

    /// The syscall's name.
    pub fn name(self) -> &'static str {
        match self {
            SyscallKind::Write => "write",
            SyscallKind::Writev => "writev",
            SyscallKind::Sendto => "sendto",
            SyscallKind::Sendmsg => "sendmsg",
            SyscallKind::Read => "read",
            SyscallKind::Readv => "readv",
            SyscallKind::Recvfrom => "recvfrom",
            SyscallKind::Recvmsg => "recvmsg",
        }
    }
}

/// The head of one syscall's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Syscall entry, on the trace clock (CLOCK_BOOTTIME ns, like every ftrace event).
    pub enter_ns: u64,
    /// Syscall exit, on the trace clock.
    pub exit_ns: u64,
    /// Bytes the syscall moved (its return value, > 0).
    pub ret: i64,
    /// Process (tgid) of the thread.
    pub tgid: i32,
    /// The thread.
    pub tid: i32,
    /// The socket descriptor.
    pub fd: i32,
    /// The syscall.
    pub kind: SyscallKind,
    /// The first `min(ret, first buffer, --payload-bytes)` bytes.
    pub bytes: Vec<u8>,
}

impl Head {
    /// The bytes as printable text: ASCII as is, `\r` `\n` `\t` `\\` `\"` escaped, anything
    /// else as `\xNN` (for `kspan dump`).
    pub fn escaped(&self) -> String {
        let mut out = String::with_capacity(self.bytes.len() + 8);
        for &b in &self.bytes {
            match b {
                b'\r' => out.push_str("\\r"),
                b'\n' => out.push_str("\\n"),
                b'\t' => out.push_str("\\t"),
                b'\\' => out.push_str("\\\\"),
                b'"' => out.push_str("\\\""),
                0x20..=0x7e => out.push(char::from(b)),
                _ => out.push_str(&format!("\\x{b:02x}")),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_their_numbers_and_know_their_side() {
        for kind in SyscallKind::ALL {
            assert_eq!(SyscallKind::from_number(kind as u8), Some(kind));
        }
        assert_eq!(SyscallKind::from_number(0), None);
        assert_eq!(SyscallKind::from_number(9), None);
        assert_eq!(SyscallKind::Sendmsg.direction(), Direction::Send);
        assert_eq!(SyscallKind::Read.direction(), Direction::Recv);
        assert_eq!(SyscallKind::Recvmsg.name(), "recvmsg");
    }

    #[test]
    fn bytes_are_escaped_for_one_line() {
        let head = Head {
            enter_ns: 0,
            exit_ns: 0,
            ret: 9,
            tgid: 1,
            tid: 1,
            fd: 3,
            kind: SyscallKind::Write,
            bytes: b"Q\x00\"a\\\r\n\xff".to_vec(),
        };
        assert_eq!(head.escaped(), r#"Q\x00\"a\\\r\n\xff"#);
    }
}
