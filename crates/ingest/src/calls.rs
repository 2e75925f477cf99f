//! The BPF backend's socket-call records (`kspan record --backend bpf`) → the ftrace
//! records they stand for → engine events. Each part of a record (the syscall's entry, its
//! socket event, its exit) is written out as the ftrace record of that event would have
//! been, in the layout of its format stored in the recording, and decoded by the same
//! [`Decoder`] as the file's ftrace events: the engine, `--drop-event`, `--sum` and every
//! output see exactly what the ftrace backend gives them.
//!
//! The records are kept in memory (76 bytes each, sorted by their first part's time) and
//! expanded one part at a time, in time order, as the file's events are read.

use crate::decode::Decoder;
use kspan_engine::{Event, Timestamp};
use kspan_heads::calls::{PART_ENTER, PART_EXIT, PART_SEND, PART_SOCK};
use kspan_heads::{CallKind, CallRecord, HeadsError, StoredCalls, CALLS_OPTION};
use kspan_tracedat::{Endian, EventFormat, EventFormats, Metadata, Record};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The layout of one event's record, as its format stores it: its type, length and the
/// offset and size of each field a part fills.
#[derive(Debug, Clone)]
struct Template {
    format: EventFormat,
    len: usize,
    fields: Vec<Option<(usize, usize)>>,
}

impl Template {
    fn new(format: &EventFormat, names: &[&str]) -> Template {
        let len = format
            .fields
            .iter()
            .map(|f| (f.offset + f.size) as usize)
            .max()
            .unwrap_or(8)
            .max(8);
        let fields = names
            .iter()
            .map(|n| {
                format
                    .field(n)
                    .map(|f| (f.offset as usize, f.size as usize))
            })
            .collect();
        Template {
            format: format.clone(),
            len,
            fields,
        }
    }

    /// The record of this event by thread `tid` with `values` in the template's fields.
    fn fill(&self, tid: i32, values: &[u64], out: &mut Vec<u8>) {
        out.clear();
        out.resize(self.len, 0);
        out[0..2].copy_from_slice(&(self.format.id as u16).to_le_bytes());
        out[4..8].copy_from_slice(&tid.to_le_bytes());
        for (field, value) in self.fields.iter().zip(values) {
            if let Some((offset, size)) = *field {
                let bytes = value.to_le_bytes();
                let size = size.min(8);
                out[offset..offset + size].copy_from_slice(&bytes[..size]);
            }
        }
    }
}

/// One part of a record: 0 its entry, 1 its socket event, 2 its exit (in this order at
/// equal times).
type Part = u8;

/// The events of a recording's socket-call records, in time order, for merging into the
/// stream of its ftrace events.
#[derive(Debug, Clone, Default)]
pub struct CallEvents {
    records: Vec<CallRecord>,
    next: usize,
    /// Parts of records already started: (time, record, part).
    due: BinaryHeap<Reverse<(Timestamp, usize, Part)>>,
    /// Per [`CallKind`] number: the entry's and the exit's template.
    syscalls: Vec<Option<(Template, Template)>>,
    /// `sock_send_length`'s and `sock_recv_length`'s templates.
    sock: Option<(Template, Template)>,
    /// Records the ring buffer dropped while recording.
    pub lost: u64,
    /// Records in the recording.
    pub count: usize,
    scratch: Vec<u8>,
}

/// Fields of a socket event a record fills, in [`CallEvents::sock_values`] order.
const SOCK_FIELDS: [&str; 5] = ["sk", "family", "protocol", "ret", "flags"];

impl CallEvents {
    /// The socket-call records of the recording with metadata `meta` (none when it was
    /// recorded with the ftrace backend).
    pub fn load(meta: &Metadata) -> Result<CallEvents, HeadsError> {
        match meta.option(CALLS_OPTION) {
            None => Ok(CallEvents::default()),
            Some(bytes) => Ok(CallEvents::new(
                StoredCalls::from_option(bytes)?,
                &meta.formats,
            )),
        }
    }

    /// The events of `stored`, written as the events of `formats` (a record part whose
    /// event has no format there is left out).
    pub fn new(stored: StoredCalls, formats: &EventFormats) -> CallEvents {
        let syscalls = std::iter::once(None)
            .chain(CallKind::ALL.iter().map(|c| {
                let enter = formats.by_name(&format!("syscalls:sys_enter_{}", c.name()))?;
                let exit = formats.by_name(&format!("syscalls:sys_exit_{}", c.name()))?;
                Some((Template::new(enter, &["fd"]), Template::new(exit, &["ret"])))
            }))
            .collect();
        let sock = formats
            .by_name("sock:sock_send_length")
            .zip(formats.by_name("sock:sock_recv_length"))
            .map(|(s, r)| {
                (
                    Template::new(s, &SOCK_FIELDS),
                    Template::new(r, &SOCK_FIELDS),
                )
            });
        let mut records = stored.records;
        records.sort_by_key(|r| (r.first_ns(), r.tid));
        CallEvents {
            count: records.len(),
            records,
            next: 0,
            due: BinaryHeap::new(),
            syscalls,
            sock,
            lost: stored.lost,
            scratch: Vec::new(),
        }
    }

    /// Time of the next event not yet pushed, `Timestamp::MAX` when none is left.
    pub fn next_ts(&self) -> Timestamp {
        let record = self
            .records
            .get(self.next)
            .map_or(Timestamp::MAX, CallRecord::first_ns);
        let due = self
            .due
            .peek()
            .map_or(Timestamp::MAX, |Reverse((ts, _, _))| *ts);
        record.min(due)
    }

    /// Passes every event stamped before `ts` to `push`, in time order, decoded by
    /// `decoder` (which leaves out the events it ignores).
    pub fn push_before(&mut self, ts: Timestamp, decoder: &Decoder, push: &mut dyn FnMut(&Event)) {
        loop {
            while let Some(r) = self.records.get(self.next).filter(|r| r.first_ns() < ts) {
                for (part, bit, at) in [
                    (0, PART_ENTER, r.enter_ns),
                    (1, PART_SOCK, r.sock_ns),
                    (2, PART_EXIT, r.exit_ns),
                ] {
                    if r.has(bit) {
                        self.due.push(Reverse((at, self.next, part)));
                    }
                }
                self.next += 1;
            }
            match self.due.peek() {
                Some(Reverse((at, _, _))) if *at < ts => {}
                _ => return,
            }
            let Some(Reverse((at, index, part))) = self.due.pop() else {
                return;
            };
            if let Some(event) = self.event(at, index, part, decoder) {
                push(&event);
            }
        }
    }

    /// Passes every event not yet pushed to `push`, in time order.
    pub fn push_rest(&mut self, decoder: &Decoder, push: &mut dyn FnMut(&Event)) {
        self.push_before(Timestamp::MAX, decoder, push);
        while let Some(Reverse((at, index, part))) = self.due.pop() {
            if let Some(event) = self.event(at, index, part, decoder) {
                push(&event);
            }
        }
    }

    /// Part `part` of record `index`, stamped `at`, as its ftrace event decodes.
    fn event(
        &mut self,
        at: Timestamp,
        index: usize,
        part: Part,
        decoder: &Decoder,
    ) -> Option<Event> {
        let r = &self.records[index];
        let (template, cpu, values): (&Template, u16, [u64; 5]) = match part {
            0 | 2 => {
                let (enter, exit) = self.syscalls.get(usize::from(r.call))?.as_ref()?;
                match part {
                    0 => (enter, r.enter_cpu, [r.arg as u64, 0, 0, 0, 0]),
                    _ => (exit, r.exit_cpu, [r.ret as u64, 0, 0, 0, 0]),
                }
            }
            _ => {
                let (send, recv) = self.sock.as_ref()?;
                let values = [
                    r.sk,
                    u64::from(r.family),
                    u64::from(r.protocol),
                    i64::from(r.sock_ret) as u64,
                    i64::from(r.sock_flags) as u64,
                ];
                let template = if r.has(PART_SEND) { send } else { recv };
                (template, r.sock_cpu, values)
            }
        };
        template.fill(r.tid, &values, &mut self.scratch);
        let record = Record::new(
            at,
            u32::from(cpu),
            0,
            &self.scratch,
            Some(&template.format),
            Endian::Little,
        );
        decoder.decode(&record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kspan_engine::{EventKind, Syscall};

    const FORMATS: &str = "name: sys_enter_sendto\nID: 10\nformat:\n\
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
        \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
        \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
        \tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\
        \tfield:int fd;\toffset:16;\tsize:8;\tsigned:0;\n\n\
        print fmt: \"\"\n";

    fn formats() -> EventFormats {
        let mut formats = EventFormats::new();
        let enter = EventFormat::parse("syscalls", FORMATS).unwrap();
        let exit_text = FORMATS
            .replace("sys_enter_sendto", "sys_exit_sendto")
            .replace("ID: 10", "ID: 11")
            .replace("int fd;", "long ret;");
        let exit = EventFormat::parse("syscalls", &exit_text).unwrap();
        let sock_text = "name: sock_send_length\nID: 20\nformat:\n\
            \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
            \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
            \tfield:void * sk;\toffset:8;\tsize:8;\tsigned:0;\n\
            \tfield:__u16 family;\toffset:16;\tsize:2;\tsigned:0;\n\
            \tfield:__u16 protocol;\toffset:18;\tsize:2;\tsigned:0;\n\
            \tfield:int ret;\toffset:20;\tsize:4;\tsigned:1;\n\
            \tfield:int flags;\toffset:24;\tsize:4;\tsigned:1;\n\n\
            print fmt: \"\"\n";
        let send = EventFormat::parse("sock", sock_text).unwrap();
        let recv_text = sock_text
            .replace("sock_send_length", "sock_recv_length")
            .replace("ID: 20", "ID: 21");
        let recv = EventFormat::parse("sock", &recv_text).unwrap();
        for f in [enter, exit, send, recv] {
            formats.insert(f);
        }
        formats
    }

    /// A `sendto` of thread `tid` from `enter_ns` to 10 ns later, its socket event at
    /// 5 ns (a read that found nothing, -EAGAIN: as in a record, not a real syscall).
    fn record(tid: i32, enter_ns: u64, parts: u8) -> CallRecord {
        let mut r = CallRecord {
            parts,
            call: CallKind::Sendto as u8,
            tid,
            tgid: 1,
            ..CallRecord::default()
        };
        (r.enter_ns, r.sock_ns, r.exit_ns) = (enter_ns, enter_ns + 5, enter_ns + 10);
        (r.sk, r.family, r.protocol) = (0xffff_0000_0000_1000, 2, 6);
        (r.arg, r.ret, r.sock_ret, r.sock_flags) = (7, -11, -11, 64);
        (r.enter_cpu, r.exit_cpu, r.sock_cpu) = (1, 0, 0);
        r
    }

    #[test]
    fn records_become_the_ftrace_events_they_replace_in_time_order() {
        let formats = formats();
        let decoder = Decoder::new(&formats, &[]).unwrap();
        let all = PART_ENTER | PART_EXIT | PART_SOCK;
        let stored = StoredCalls {
            sock_filtered: true,
            lost: 2,
            // The second thread's call runs inside the first's; one exit comes alone.
            records: vec![
                record(9, 100, all),
                record(8, 103, all | PART_SEND),
                record(7, 90, PART_EXIT),
            ],
        };
        let mut calls = CallEvents::new(stored, &formats);
        assert_eq!((calls.count, calls.lost), (3, 2));
        assert_eq!(calls.next_ts(), 100);
        let mut got = Vec::new();
        calls.push_before(106, &decoder, &mut |e| got.push(e.clone()));
        calls.push_rest(&decoder, &mut |e| got.push(e.clone()));
        let summary: Vec<(u64, i32, u32, u32)> = got
            .iter()
            .map(|e| (e.ts, e.tid, e.type_id, e.cpu))
            .collect();
        assert_eq!(
            summary,
            vec![
                (100, 7, 11, 0),
                (100, 9, 10, 1),
                (103, 8, 10, 1),
                (105, 9, 21, 0),
                (108, 8, 20, 0),
                (110, 9, 11, 0),
                (113, 8, 11, 0),
            ]
        );
        assert_eq!(
            got[1].kind,
            EventKind::SyscallEnter {
                call: Syscall::Send,
                arg: Some(7)
            }
        );
        assert_eq!(
            got[3].kind,
            EventKind::SockRecv {
                sk: 0xffff_0000_0000_1000,
                family: 2,
                protocol: 6,
                ret: -11,
                flags: 64
            }
        );
        assert_eq!(
            got[5].kind,
            EventKind::SyscallExit {
                call: Syscall::Send,
                ret: -11
            }
        );
        assert!(got.iter().all(|e| !e.in_irq));
        assert_eq!(calls.next_ts(), Timestamp::MAX);
    }

    #[test]
    fn an_ignored_event_type_is_left_out() {
        let formats = formats();
        let mut decoder = Decoder::new(&formats, &[]).unwrap();
        decoder.ignore(21);
        let stored = StoredCalls {
            sock_filtered: true,
            lost: 0,
            records: vec![record(9, 100, PART_ENTER | PART_SOCK | PART_EXIT)],
        };
        let mut calls = CallEvents::new(stored, &formats);
        let mut types = Vec::new();
        calls.push_rest(&decoder, &mut |e| types.push(e.type_id));
        assert_eq!(types, vec![10, 11]);
    }
}
