//! The BPF backend's socket-call capture (bpf/calls.bpf.c): loads and attaches the
//! programs, drains their ring buffer into socket-call records (and payload heads, which
//! the same programs read when asked), and at the end adds the syscalls still in progress
//! as entries without an exit, as ftrace would have recorded them.

use crate::drain::{ChunkFile, Chunks, Drainer, Sink};
use crate::error::BpfError;
use crate::programs::{load, Config, HeadsRecorded, Programs, MAX_HEAD_BYTES};
use kspan_heads::calls::{PART_ENTER, PART_SEND, PART_SOCK};
use kspan_heads::{encode_record, CallRecord, Head};
use libbpf_rs::{MapCore, MapFlags, MapHandle};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The compiled programs (built by build.rs).
const OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/calls.bpf.o"));

/// Offset of the head bytes in a ring-buffer record (`HEAD_OFFSET` in calls.bpf.c).
const HEAD_OFFSET: usize = 80;
/// Size of `struct pending` in calls.bpf.c.
const PENDING_LEN: usize = 72;
/// `PIDFD_THREAD` (= `O_EXCL`): a pidfd of one thread rather than of a process (Linux 6.9).
const PIDFD_THREAD: libc::c_long = libc::O_EXCL as libc::c_long;
/// Smallest ring buffer (bytes).
pub const MIN_RING_BYTES: u64 = 1 << 20;

/// How to capture socket calls.
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// Bytes of payload head kept per TCP message (0: none; at most [`MAX_HEAD_BYTES`]).
    pub head_bytes: u32,
    /// Capture every process but this one (a recording without pid filter).
    pub trace_all: bool,
    /// The traced processes (tgids) known at the start; their forks join by themselves.
    pub processes: Vec<i32>,
    /// Keep only the socket events the default ftrace set keeps (its kernel filters).
    pub sock_filter: bool,
    /// Size of the ring buffer in bytes (rounded up to a power of two, at least
    /// [`MIN_RING_BYTES`]).
    pub ring_bytes: u64,
    /// File for the compressed record chunks (in the recording's temporary directory).
    pub calls_path: PathBuf,
    /// File for the compressed head chunks.
    pub heads_path: PathBuf,
}

/// What a capture produced.
#[derive(Debug)]
pub struct CallsRecorded {
    /// Records dropped because the ring buffer was full (each one syscall, with its head).
    pub lost: u64,
    /// Records stored.
    pub records: u64,
    /// The ftrace events the records stand for (entries, exits, socket events).
    pub events: u64,
    /// Whether the socket events were filtered as the default ftrace set filters them.
    pub sock_filtered: bool,
    /// The file of stored record chunks (`kspan_heads::calls` layout, without the header).
    pub calls_path: PathBuf,
    /// The payload heads read by the same programs (`None` without heads).
    pub heads: Option<HeadsRecorded>,
}

/// Native-endian fields of a record the kernel wrote, by offset.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        self.0.get(at..at + N)?.try_into().ok()
    }
    fn u64(&self, at: usize) -> Option<u64> {
        self.bytes(at).map(u64::from_ne_bytes)
    }
    fn i32(&self, at: usize) -> Option<i32> {
        self.bytes(at).map(i32::from_ne_bytes)
    }
    fn u16(&self, at: usize) -> Option<u16> {
        self.bytes(at).map(u16::from_ne_bytes)
    }
}

/// Decodes one ring-buffer record: the socket-call record and its head bytes.
pub fn parse_sample(sample: &[u8]) -> Option<(CallRecord, &[u8])> {
    let f = Fields(sample);
    let (u64_at, i32_at, u16_at) = (|at| f.u64(at), |at| f.i32(at), |at| f.u16(at));
    let record = CallRecord {
        enter_ns: u64_at(0)?,
        exit_ns: u64_at(8)?,
        sock_ns: u64_at(16)?,
        sk: u64_at(24)?,
        arg: u64_at(32)? as i64,
        ret: u64_at(40)? as i64,
        tgid: i32_at(48)?,
        tid: i32_at(52)?,
        sock_ret: i32_at(56)?,
        sock_flags: i32_at(60)?,
        family: u16_at(64)?,
        protocol: u16_at(66)?,
        enter_cpu: u16_at(68)?,
        exit_cpu: u16_at(70)?,
        sock_cpu: u16_at(72)?,
        call: *sample.get(74)?,
        parts: *sample.get(75)?,
    };
    let head_len = usize::from(u16_at(76)?);
    Some((record, sample.get(HEAD_OFFSET..HEAD_OFFSET + head_len)?))
}

/// An entry still waiting for its exit (`struct pending` of calls.bpf.c, of thread `tid`).
fn parse_pending(tid: i32, value: &[u8]) -> Option<CallRecord> {
    let f = Fields(value);
    let (u64_at, i32_at, u16_at) = (|at| f.u64(at), |at| f.i32(at), |at| f.u16(at));
    if value.len() < PENDING_LEN {
        return None;
    }
    Some(CallRecord {
        enter_ns: u64_at(0)?,
        sock_ns: u64_at(8)?,
        sk: u64_at(16)?,
        arg: u64_at(24)? as i64,
        sock_ret: i32_at(48)?,
        sock_flags: i32_at(52)?,
        family: u16_at(56)?,
        protocol: u16_at(58)?,
        enter_cpu: u16_at(60)?,
        sock_cpu: u16_at(62)?,
        call: value[64],
        parts: value[65] & (PART_ENTER | PART_SOCK | PART_SEND),
        tgid: i32_at(68)?,
        tid,
        ..CallRecord::default()
    })
}

/// The numeric entries of directory `dir` (processes in /proc, threads in /proc/PID/task).
fn numbered_dirs(dir: &Path) -> Vec<i32> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// Records → the calls chunk file; heads → the heads chunk file.
#[derive(Debug)]
struct CallSink {
    calls: ChunkFile,
    heads: Option<ChunkFile>,
    events: u64,
    encoded: Vec<u8>,
}

impl CallSink {
    fn store(&mut self, record: &CallRecord, head: &[u8]) {
        self.encoded.clear();
        record.encode(&mut self.encoded);
        self.calls.push(&self.encoded);
        self.events += u64::from(record.events());
        let kind = record.kind().and_then(|k| k.head_kind());
        if let (Some(heads), Some(kind), false) = (self.heads.as_mut(), kind, head.is_empty()) {
            let head = Head {
                enter_ns: record.enter_ns,
                exit_ns: record.exit_ns,
                ret: record.ret,
                tgid: record.tgid,
                tid: record.tid,
                fd: record.arg as i32,
                kind,
                bytes: head.to_vec(),
            };
            self.encoded.clear();
            encode_record(&head, &mut self.encoded);
            heads.push(&self.encoded);
        }
    }
}

impl Sink for CallSink {
    type Output = CallSink;

    fn push(&mut self, sample: &[u8]) {
        // Samples that do not decode are skipped (never expected).
        if let Some((record, head)) = parse_sample(sample) {
            self.store(&record, head);
        }
    }

    fn finish(self) -> Result<CallSink, BpfError> {
        Ok(self)
    }
}

/// Attached programs and their drainer.
#[derive(Debug)]
pub struct CallCapture {
    programs: Programs,
    inflight: MapHandle,
    drainer: Option<Drainer<CallSink>>,
    head_bytes: u32,
    sock_filter: bool,
    trace_all: bool,
}

impl CallCapture {
    /// Loads and attaches the programs, fills the process filter and starts draining.
    /// On an error nothing stays attached.
    pub fn start(options: &CallOptions) -> Result<CallCapture, BpfError> {
        CallCapture::load(options).map_err(|e| match e {
            BpfError::Load(message) => BpfError::LoadBackend(message),
            other => other,
        })
    }

    fn load(options: &CallOptions) -> Result<CallCapture, BpfError> {
        let config = Config {
            head_cap: options.head_bytes.min(MAX_HEAD_BYTES),
            trace_all: options.trace_all,
            sock_filter: options.sock_filter,
        };
        let ring = options.ring_bytes.max(MIN_RING_BYTES).next_power_of_two();
        let ring = u32::try_from(ring).map_err(|_| {
            BpfError::Load(format!("a ring buffer of {ring} bytes is more than 4 GiB"))
        })?;
        let object = load(OBJECT, config, |open| {
            let mut map = open
                .maps_mut()
                .find(|m| m.name() == "calls")
                .ok_or_else(|| BpfError::Load("the object has no map `calls`".into()))?;
            map.set_max_entries(ring)
                .map_err(|e| BpfError::Load(e.to_string()))
        })?;
        let programs = Programs::attach(object, &options.processes)?;
        let inflight = programs.map("inflight")?;
        let heads = match config.head_cap {
            0 => None,
            _ => Some(ChunkFile::create(&options.heads_path)?),
        };
        let sink = CallSink {
            calls: ChunkFile::create(&options.calls_path)?,
            heads,
            events: 0,
            encoded: Vec::new(),
        };
        let drainer = Drainer::start(programs.map("calls")?, sink, "kspan-calls")?;
        Ok(CallCapture {
            programs,
            inflight,
            drainer: Some(drainer),
            head_bytes: config.head_cap,
            sock_filter: options.sock_filter,
            trace_all: options.trace_all,
        })
    }

    /// The attached programs.
    pub fn programs(&self) -> &Programs {
        &self.programs
    }

    /// The syscalls still waiting for their exit (threads whose storage holds an entry):
    /// each thread of the traced processes (of every process when tracing all) is looked up
    /// in the task storage by a pidfd of it.
    fn waiting(&self) -> Vec<CallRecord> {
        let tgids: Vec<i32> = match self.trace_all {
            true => numbered_dirs(Path::new("/proc")),
            false => self
                .programs
                .map("traced")
                .map(|m| {
                    m.keys()
                        .filter_map(|k| Some(i32::from_ne_bytes(k.as_slice().try_into().ok()?)))
                        .collect()
                })
                .unwrap_or_default(),
        };
        // The fork program adds new threads' ids too, whose /proc/TID/task lists their whole
        // thread group again: each thread once.
        let tids: std::collections::BTreeSet<i32> = tgids
            .into_iter()
            .flat_map(|tgid| numbered_dirs(&Path::new("/proc").join(tgid.to_string()).join("task")))
            .collect();
        tids.into_iter()
            .filter_map(|tid| self.waiting_of(tid))
            .collect()
    }

    /// The entry thread `tid` waits in, if any.
    fn waiting_of(&self, tid: i32) -> Option<CallRecord> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, tid, PIDFD_THREAD) };
        let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
        // SAFETY: `fd` was just opened by pidfd_open and is owned here alone.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd) };
        let key = pidfd.as_raw_fd().to_ne_bytes();
        let value = self.inflight.lookup(&key, MapFlags::ANY).ok()??;
        parse_pending(tid, &value).filter(|r| r.has(PART_ENTER))
    }

    /// Detaches the programs, drains the rest of the ring buffer, adds the syscalls still
    /// in progress (entries without an exit) and returns what was stored.
    pub fn finish(mut self) -> Result<CallsRecorded, BpfError> {
        let lost = self.programs.detach();
        let drainer = self.drainer.take().expect("drainer present until finish");
        let mut sink = drainer.finish()?;
        let mut waiting = self.waiting();
        waiting.sort_by_key(|r| (r.enter_ns, r.tid));
        for record in &waiting {
            sink.store(record, &[]);
        }
        let CallSink {
            calls,
            heads,
            events,
            ..
        } = sink;
        let Chunks {
            path: calls_path,
            records,
        } = calls.finish()?;
        let heads = match heads {
            Some(file) => {
                let Chunks { path, records } = file.finish()?;
                Some(HeadsRecorded {
                    head_bytes: self.head_bytes,
                    lost,
                    heads: records,
                    chunks_path: path,
                })
            }
            None => None,
        };
        Ok(CallsRecorded {
            lost,
            records,
            events,
            sock_filtered: self.sock_filter,
            calls_path,
            heads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kspan_heads::calls::PART_EXIT;
    use kspan_heads::CallKind;

    #[test]
    fn a_sample_decodes_with_its_head_and_a_short_one_is_refused() {
        let mut s = Vec::new();
        for v in [100u64, 300, 200, 0xabc, 5, 4] {
            s.extend_from_slice(&v.to_ne_bytes());
        }
        for v in [7i32, 8, 4, 0] {
            s.extend_from_slice(&v.to_ne_bytes());
        }
        for v in [2u16, 6, 1, 0, 1] {
            s.extend_from_slice(&v.to_ne_bytes());
        }
        s.push(CallKind::Write as u8);
        s.push(PART_ENTER | PART_EXIT | PART_SOCK | PART_SEND);
        s.extend_from_slice(&4u16.to_ne_bytes());
        s.extend_from_slice(&0u16.to_ne_bytes());
        assert_eq!(s.len(), HEAD_OFFSET);
        s.extend_from_slice(b"PING");
        let (record, head) = parse_sample(&s).unwrap();
        assert_eq!(head, b"PING");
        assert_eq!(
            (record.enter_ns, record.sock_ns, record.exit_ns),
            (100, 200, 300)
        );
        assert_eq!(
            (record.arg, record.ret, record.tgid, record.tid),
            (5, 4, 7, 8)
        );
        assert_eq!(
            (record.family, record.protocol, record.enter_cpu),
            (2, 6, 1)
        );
        assert_eq!(record.kind(), Some(CallKind::Write));
        assert_eq!(record.events(), 3);
        assert!(parse_sample(&s[..s.len() - 1]).is_none());
    }
}
