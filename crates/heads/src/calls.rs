//! The BPF backend's socket-call records (`kspan record --backend bpf`): one record per
//! read/write/send/recv-family syscall of a traced thread, holding what the ftrace events
//! it replaces hold (the entry's first argument, the `sock:sock_*_length` event inside it,
//! the exit's return value, each with its time and CPU), and the trace.dat option
//! [`CALLS_OPTION`] that stores them.
//!
//! Option layout (little-endian): `KSPC`, a version byte (1), flags u8 (bit 0: the socket
//! events were filtered as the default ftrace set filters them), `lost` u64 (records the
//! kernel's ring buffer dropped), then chunks until the end (raw length u32, compressed
//! length u32, a zstd frame of records; see [`chunk_bytes`](crate::chunk_bytes)). A record
//! is [`RECORD_LEN`] bytes: `parts` u8, `call` u8 ([`CallKind`] number, 0 for a socket event
//! of its own), `enter_ns`, `exit_ns`, `sock_ns` u64, `sk` u64, `arg` i64, `ret` i64,
//! `tgid`, `tid`, `sock_ret`, `sock_flags` i32, `family`, `protocol`, `enter_cpu`,
//! `exit_cpu`, `sock_cpu` u16.

use crate::head::SyscallKind;
use crate::stored::{for_each_chunk, Reader};
use crate::HeadsError;

/// The option id (reserved among kspan's options by kspan-tracedat).
pub const CALLS_OPTION: u16 = kspan_tracedat::options::KSPAN_CALLS;

const MAGIC: &[u8; 4] = b"KSPC";
const VERSION: u8 = 1;
/// Bytes of `MAGIC`, version, flags and `lost`.
const HEADER_LEN: usize = 4 + 1 + 1 + 8;
/// Bytes of one stored record.
pub const RECORD_LEN: usize = 2 + 6 * 8 + 4 * 4 + 5 * 2;

/// The syscalls the BPF backend records as one record each (numbered as stored and as
/// the BPF program numbers them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallKind {
    /// `read`.
    Read = 1,
    /// `write`.
    Write = 2,
    /// `readv`.
    Readv = 3,
    /// `writev`.
    Writev = 4,
    /// `sendto`.
    Sendto = 5,
    /// `recvfrom`.
    Recvfrom = 6,
    /// `sendmsg`.
    Sendmsg = 7,
    /// `recvmsg`.
    Recvmsg = 8,
    /// `sendmmsg`.
    Sendmmsg = 9,
    /// `recvmmsg`.
    Recvmmsg = 10,
    /// `sendfile64`.
    Sendfile64 = 11,
}

impl CallKind {
    /// Every kind, in stored-number order.
    pub const ALL: [CallKind; 11] = [
        CallKind::Read,
        CallKind::Write,
        CallKind::Readv,
        CallKind::Writev,
        CallKind::Sendto,
        CallKind::Recvfrom,
        CallKind::Sendmsg,
        CallKind::Recvmsg,
        CallKind::Sendmmsg,
        CallKind::Recvmmsg,
        CallKind::Sendfile64,
    ];

    /// The kind stored as `number`, if any.
    pub fn from_number(number: u8) -> Option<CallKind> {
        CallKind::ALL
            .get(usize::from(number).checked_sub(1)?)
            .copied()
    }

    /// The syscall's name, as in its tracepoints `syscalls:sys_enter_NAME` / `sys_exit_NAME`.
    pub fn name(self) -> &'static str {
        match self {
            CallKind::Read => "read",
            CallKind::Write => "write",
            CallKind::Readv => "readv",
            CallKind::Writev => "writev",
            CallKind::Sendto => "sendto",
            CallKind::Recvfrom => "recvfrom",
            CallKind::Sendmsg => "sendmsg",
            CallKind::Recvmsg => "recvmsg",
            CallKind::Sendmmsg => "sendmmsg",
            CallKind::Recvmmsg => "recvmmsg",
            CallKind::Sendfile64 => "sendfile64",
        }
    }

    /// The payload-head kind of this syscall, when heads are read from it.
    pub fn head_kind(self) -> Option<SyscallKind> {
        Some(match self {
            CallKind::Read => SyscallKind::Read,
            CallKind::Write => SyscallKind::Write,
            CallKind::Readv => SyscallKind::Readv,
            CallKind::Writev => SyscallKind::Writev,
            CallKind::Sendto => SyscallKind::Sendto,
            CallKind::Recvfrom => SyscallKind::Recvfrom,
            CallKind::Sendmsg => SyscallKind::Sendmsg,
            CallKind::Recvmsg => SyscallKind::Recvmsg,
            CallKind::Sendmmsg | CallKind::Recvmmsg | CallKind::Sendfile64 => return None,
        })
    }
}

/// A record holds the syscall's entry.
pub const PART_ENTER: u8 = 1;
/// A record holds the syscall's exit.
pub const PART_EXIT: u8 = 2;
/// A record holds a `sock:sock_*_length` event.
pub const PART_SOCK: u8 = 4;
/// Its socket event is `sock_send_length` (else `sock_recv_length`).
pub const PART_SEND: u8 = 8;

/// One socket-call record: the parts [`CallRecord::parts`] says it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallRecord {
    /// [`PART_ENTER`] | [`PART_EXIT`] | [`PART_SOCK`] | [`PART_SEND`].
    pub parts: u8,
    /// The syscall ([`CallKind`] number); 0 for a socket event outside these syscalls.
    pub call: u8,
    /// Entry time (trace clock, ns).
    pub enter_ns: u64,
    /// Exit time.
    pub exit_ns: u64,
    /// Time of the socket event.
    pub sock_ns: u64,
    /// The socket event's `sk`.
    pub sk: u64,
    /// The syscall's first argument (the descriptor), as the entry event stores it.
    pub arg: i64,
    /// The syscall's return value.
    pub ret: i64,
    /// Process of the thread.
    pub tgid: i32,
    /// The thread.
    pub tid: i32,
    /// The socket event's `ret`.
    pub sock_ret: i32,
    /// The socket event's `flags`.
    pub sock_flags: i32,
    /// The socket event's `family`.
    pub family: u16,
    /// The socket event's `protocol`.
    pub protocol: u16,
    /// CPU of the entry.
    pub enter_cpu: u16,
    /// CPU of the exit.
    pub exit_cpu: u16,
    /// CPU of the socket event.
    pub sock_cpu: u16,
}

impl CallRecord {
    /// Whether the record holds `part` (one of the `PART_*` bits).
    pub fn has(&self, part: u8) -> bool {
        self.parts & part != 0
    }

    /// The syscall, if the record is one's.
    pub fn kind(&self) -> Option<CallKind> {
        CallKind::from_number(self.call)
    }

    /// The time of its first part (what a time-ordered reader sorts records by).
    pub fn first_ns(&self) -> u64 {
        let mut first = u64::MAX;
        for (part, ns) in [
            (PART_ENTER, self.enter_ns),
            (PART_SOCK, self.sock_ns),
            (PART_EXIT, self.exit_ns),
        ] {
            if self.has(part) {
                first = first.min(ns);
            }
        }
        first
    }

    /// The number of ftrace events the record stands for.
    pub fn events(&self) -> u32 {
        (self.parts & (PART_ENTER | PART_EXIT | PART_SOCK)).count_ones()
    }

    /// Appends the record to `out` ([`RECORD_LEN`] bytes).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.parts);
        out.push(self.call);
        for v in [self.enter_ns, self.exit_ns, self.sock_ns, self.sk] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [self.arg, self.ret] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [self.tgid, self.tid, self.sock_ret, self.sock_flags] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [
            self.family,
            self.protocol,
            self.enter_cpu,
            self.exit_cpu,
            self.sock_cpu,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Reads one record from the first [`RECORD_LEN`] bytes of `bytes`.
    pub fn decode(bytes: &[u8]) -> Option<CallRecord> {
        let mut r = Reader {
            data: bytes.get(..RECORD_LEN)?,
        };
        let [parts, call] = r.array()?;
        let mut u64s = [0u64; 4];
        for v in &mut u64s {
            *v = u64::from_le_bytes(r.array()?);
        }
        let mut i64s = [0i64; 2];
        for v in &mut i64s {
            *v = i64::from_le_bytes(r.array()?);
        }
        let mut i32s = [0i32; 4];
        for v in &mut i32s {
            *v = i32::from_le_bytes(r.array()?);
        }
        let mut u16s = [0u16; 5];
        for v in &mut u16s {
            *v = u16::from_le_bytes(r.array()?);
        }
        let [enter_ns, exit_ns, sock_ns, sk] = u64s;
        let [arg, ret] = i64s;
        let [tgid, tid, sock_ret, sock_flags] = i32s;
        let [family, protocol, enter_cpu, exit_cpu, sock_cpu] = u16s;
        Some(CallRecord {
            parts,
            call,
            enter_ns,
            exit_ns,
            sock_ns,
            sk,
            arg,
            ret,
            tgid,
            tid,
            sock_ret,
            sock_flags,
            family,
            protocol,
            enter_cpu,
            exit_cpu,
            sock_cpu,
        })
    }
}

/// A recording's socket-call records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredCalls {
    /// Whether the socket events were filtered as the default ftrace set filters them.
    pub sock_filtered: bool,
    /// Records the BPF ring buffer dropped (it was full).
    pub lost: u64,
    /// The records, in the order they were drained (roughly by exit time).
    pub records: Vec<CallRecord>,
}

impl StoredCalls {
    /// The option's bytes: the header, then `chunks` (back-to-back
    /// [`chunk_bytes`](crate::chunk_bytes) output of [`CallRecord::encode`]d records).
    pub fn option_bytes(sock_filtered: bool, lost: u64, chunks: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + chunks.len());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(u8::from(sock_filtered));
        out.extend_from_slice(&lost.to_le_bytes());
        out.extend_from_slice(chunks);
        out
    }

    /// Reads the option's bytes back.
    pub fn from_option(bytes: &[u8]) -> Result<StoredCalls, HeadsError> {
        let mut r = Reader { data: bytes };
        if r.take(4) != Some(MAGIC.as_slice()) || r.array::<1>() != Some([VERSION]) {
            return Err(HeadsError::CallsLayout);
        }
        let cut = || HeadsError::CallsDamaged("the header is cut short".into());
        let [flags] = r.array().ok_or_else(cut)?;
        let lost = u64::from_le_bytes(r.array().ok_or_else(cut)?);
        let mut records = Vec::new();
        for_each_chunk(r, "socket-call records", |raw| {
            if raw.len() % RECORD_LEN != 0 {
                return Err(HeadsError::Damaged("a record is cut short".into()));
            }
            records.extend(raw.chunks_exact(RECORD_LEN).filter_map(CallRecord::decode));
            Ok(())
        })
        .map_err(|e| match e {
            HeadsError::Damaged(m) => HeadsError::CallsDamaged(m),
            other => other,
        })?;
        Ok(StoredCalls {
            sock_filtered: flags & 1 != 0,
            lost,
            records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk_bytes;

    fn record(tid: i32) -> CallRecord {
        CallRecord {
            parts: PART_ENTER | PART_EXIT | PART_SOCK | PART_SEND,
            call: CallKind::Sendto as u8,
            enter_ns: 100,
            exit_ns: 300,
            sock_ns: 200,
            sk: 0xffff_8880_1234_5678,
            arg: 7,
            ret: 42,
            tgid: 10,
            tid,
            sock_ret: 42,
            sock_flags: 0,
            family: 2,
            protocol: 6,
            enter_cpu: 1,
            exit_cpu: 0,
            sock_cpu: 0,
        }
    }

    #[test]
    fn records_round_trip_through_the_option() {
        let records = vec![record(11), record(12)];
        let mut raw = Vec::new();
        records.iter().for_each(|r| r.encode(&mut raw));
        assert_eq!(raw.len(), 2 * RECORD_LEN);
        let bytes = StoredCalls::option_bytes(true, 5, &chunk_bytes(&raw).unwrap());
        let stored = StoredCalls::from_option(&bytes).unwrap();
        assert_eq!(
            stored,
            StoredCalls {
                sock_filtered: true,
                lost: 5,
                records
            }
        );
        assert_eq!(stored.records[0].first_ns(), 100);
        assert_eq!(stored.records[0].events(), 3);
        assert_eq!(stored.records[0].kind(), Some(CallKind::Sendto));
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let mut raw = Vec::new();
        record(1).encode(&mut raw);
        raw.pop();
        let bytes = StoredCalls::option_bytes(false, 0, &chunk_bytes(&raw).unwrap());
        assert_eq!(
            StoredCalls::from_option(&bytes).unwrap_err().to_string(),
            "the socket-call records are damaged (a record is cut short); analyse the \
             recording as if without them with --drop-event 'sys_*' or record it again"
        );
        for cut in 0..bytes.len() {
            assert!(StoredCalls::from_option(&bytes[..cut]).is_err() || cut == HEADER_LEN);
        }
        assert!(matches!(
            StoredCalls::from_option(b"KSPH\x01"),
            Err(HeadsError::CallsLayout)
        ));
        for kind in CallKind::ALL {
            assert_eq!(CallKind::from_number(kind as u8), Some(kind));
        }
        assert_eq!(CallKind::from_number(12), None);
    }
}
