//! ftrace records → engine events. Every field the engine needs is resolved to a
//! [`FieldHandle`] once per event type, so decoding an event is a table lookup and a few
//! fixed-offset reads: no string compare, no allocation (but for `exec` file names).

use crate::syscalls::{classify, split_event_name};
use kspan_engine::{Event, EventKind, EventNames, FourTuple, Syscall};
use kspan_tracedat::{EventFormat, EventFormats, FieldHandle, Record};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};

/// `common_flags` bits of interrupt context: hard irq, soft irq, NMI.
const IRQ_FLAGS: u8 = 0x08 | 0x10 | 0x40;
/// The IPv6 address family as the kernel numbers it (anything else is read as IPv4).
const AF_INET6: u64 = 10;

/// A field to sum per span: `system:event:field`, from the user's `--sum`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumRequest {
    /// `system:event`.
    pub event: String,
    /// The field's name.
    pub field: String,
}

impl std::str::FromStr for SumRequest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.rsplit_once(':') {
            Some((event, field)) if event.contains(':') && !field.is_empty() => Ok(SumRequest {
                event: event.to_string(),
                field: field.to_string(),
            }),
            _ => Err(format!(
                "`{s}` is not SYSTEM:EVENT:FIELD (e.g. block:block_rq_issue:bytes)"
            )),
        }
    }
}

/// Why a decoder could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A `--sum` names an event the recording does not have.
    #[error("--sum {0}: the recording has no event `{1}`; `kspan info FILE` lists its events")]
    UnknownEvent(String, String),
    /// A `--sum` names a field the event does not have.
    #[error("--sum {0}: event `{1}` has no field `{2}`; its fields are: {3}")]
    UnknownField(String, String, String, String),
    /// The recording's bpftrace section is unreadable.
    #[error(transparent)]
    Bpftrace(#[from] kspan_bpftrace::BpftraceError),
}

/// The 4-tuple fields of `inet_sock_set_state`, `tcp_rcv_space_adjust` and friends.
#[derive(Debug, Clone, Copy)]
struct TupleFields {
    family: FieldHandle,
    sport: FieldHandle,
    dport: FieldHandle,
    saddr: FieldHandle,
    daddr: FieldHandle,
    saddr6: FieldHandle,
    daddr6: FieldHandle,
}

/// How to decode one event type.
#[derive(Debug, Clone)]
enum Kind {
    Switch {
        prev: FieldHandle,
        state: FieldHandle,
        next: FieldHandle,
    },
    Waking {
        pid: FieldHandle,
    },
    WakeupNew {
        pid: FieldHandle,
    },
    Fork {
        parent: FieldHandle,
        child: FieldHandle,
    },
    Exec {
        filename: FieldHandle,
    },
    Exit,
    NewTask {
        pid: FieldHandle,
        flags: FieldHandle,
    },
    SysEnter {
        call: Syscall,
        /// `fd`, or `uaddr` for futex.
        arg: Option<FieldHandle>,
    },
    SysExit {
        call: Syscall,
        ret: FieldHandle,
    },
    SockLen {
        send: bool,
        sk: FieldHandle,
        family: FieldHandle,
        protocol: FieldHandle,
        ret: FieldHandle,
        flags: FieldHandle,
    },
    SetState {
        sk: FieldHandle,
        old: FieldHandle,
        new: FieldHandle,
        tuple: TupleFields,
    },
    RcvSpace {
        sk: FieldHandle,
        cookie: FieldHandle,
        tuple: TupleFields,
    },
    Destroy {
        sk: FieldHandle,
    },
    Other {
        sums: Vec<FieldHandle>,
    },
}

/// Converts records of one recording into engine events.
#[derive(Debug, Clone)]
pub struct Decoder {
    /// Indexed by event id.
    kinds: Vec<Option<Kind>>,
    names: EventNames,
}

fn tuple_fields(f: &EventFormat) -> Option<TupleFields> {
    let h = |name| FieldHandle::new(f, name);
    Some(TupleFields {
        family: h("family")?,
        sport: h("sport")?,
        dport: h("dport")?,
        saddr: h("saddr")?,
        daddr: h("daddr")?,
        saddr6: h("saddr_v6")?,
        daddr6: h("daddr_v6")?,
    })
}

/// The engine's decoding of `f`, or `None` when it is not one the engine understands (or
/// its format lacks a field the engine needs, as on another kernel version).
fn engine_kind(f: &EventFormat) -> Option<Kind> {
    let h = |name| FieldHandle::new(f, name);
    Some(match (f.system.as_str(), f.name.as_str()) {
        ("sched", "sched_switch") => Kind::Switch {
            prev: h("prev_pid")?,
            state: h("prev_state")?,
            next: h("next_pid")?,
        },
        ("sched", "sched_waking") => Kind::Waking { pid: h("pid")? },
        ("sched", "sched_wakeup_new") => Kind::WakeupNew { pid: h("pid")? },
        ("sched", "sched_process_fork") => Kind::Fork {
            parent: h("parent_pid")?,
            child: h("child_pid")?,
        },
        ("sched", "sched_process_exec") => Kind::Exec {
            filename: h("filename")?,
        },
        ("sched", "sched_process_exit") => Kind::Exit,
        ("task", "task_newtask") => Kind::NewTask {
            pid: h("pid")?,
            flags: h("clone_flags")?,
        },
        ("sock", "sock_send_length") | ("sock", "sock_recv_length") => Kind::SockLen {
            send: f.name == "sock_send_length",
            sk: h("sk")?,
            family: h("family")?,
            protocol: h("protocol")?,
            ret: h("ret")?,
            flags: h("flags")?,
        },
        ("sock", "inet_sock_set_state") => Kind::SetState {
            sk: h("skaddr")?,
            old: h("oldstate")?,
            new: h("newstate")?,
            tuple: tuple_fields(f)?,
        },
        ("tcp", "tcp_rcv_space_adjust") => Kind::RcvSpace {
            sk: h("skaddr")?,
            cookie: h("sock_cookie")?,
            tuple: tuple_fields(f)?,
        },
        ("tcp", "tcp_destroy_sock") => Kind::Destroy { sk: h("skaddr")? },
        ("syscalls", name) => {
            let (enter, call) = split_event_name(name)?;
            // Syscalls the engine does not tell apart are all `Other(0)`: their event
            // type already says which one they are.
            let call = classify(call, 0);
            if enter {
                let arg = match call {
                    Syscall::Futex => h("uaddr"),
                    _ => h("fd"),
                };
                Kind::SysEnter { call, arg }
            } else {
                Kind::SysExit {
                    call,
                    ret: h("ret")?,
                }
            }
        }
        _ => return None,
    })
}

impl Decoder {
    /// A decoder for the event types in `formats`, keeping the fields of `sums` for
    /// per-span aggregation.
    pub fn new(formats: &EventFormats, sums: &[SumRequest]) -> Result<Decoder, DecodeError> {
        let mut kinds: Vec<Option<Kind>> = Vec::new();
        let mut names = EventNames::default();
        let mut sum_handles: Vec<(u32, Vec<FieldHandle>, Vec<String>)> = Vec::new();
        for request in sums {
            let format = formats
                .iter()
                .find(|f| format!("{}:{}", f.system, f.name) == request.event)
                .ok_or_else(|| {
                    DecodeError::UnknownEvent(
                        format!("{}:{}", request.event, request.field),
                        request.event.clone(),
                    )
                })?;
            let field = FieldHandle::new(format, &request.field).ok_or_else(|| {
                let fields: Vec<&str> = format
                    .fields
                    .iter()
                    .filter(|f| !f.is_common)
                    .map(|f| f.name.as_str())
                    .collect();
                DecodeError::UnknownField(
                    format!("{}:{}", request.event, request.field),
                    request.event.clone(),
                    request.field.clone(),
                    fields.join(", "),
                )
            })?;
            let label = format!("{}:{}", request.event, request.field);
            match sum_handles.iter_mut().find(|(id, _, _)| *id == format.id) {
                Some((_, handles, labels)) => {
                    handles.push(field);
                    labels.push(label);
                }
                None => sum_handles.push((format.id, vec![field], vec![label])),
            }
        }
        for format in formats.iter() {
            let id = format.id as usize;
            if kinds.len() <= id {
                kinds.resize(id + 1, None);
            }
            names
                .names
                .push((format.id, format!("{}:{}", format.system, format.name)));
            let summed = sum_handles.iter().find(|(sid, _, _)| *sid == format.id);
            kinds[id] = Some(match (engine_kind(format), summed) {
                // A summed engine event is counted as `Other` so that its fields are kept.
                (Some(kind), None) => kind,
                (_, Some((_, handles, _))) => Kind::Other {
                    sums: handles.clone(),
                },
                (None, None) => Kind::Other { sums: Vec::new() },
            });
        }
        names.field_names = sum_handles
            .into_iter()
            .map(|(id, _, labels)| (id, labels))
            .collect();
        Ok(Decoder { kinds, names })
    }

    /// Names of the event types and of the summed fields, for the engine and the outputs.
    pub fn names(&self) -> &EventNames {
        &self.names
    }

    /// Decodes no event of type `type_id` any more, as if the recording had none
    /// (`kspan analyze --drop-event`: how the engine fares without an event kind).
    pub fn ignore(&mut self, type_id: u32) {
        if let Some(kind) = self.kinds.get_mut(type_id as usize) {
            *kind = None;
        }
    }

    /// Adds the names of another source's events (bpftrace's), merged into this stream.
    pub fn add_names(&mut self, other: &EventNames) {
        self.names.names.extend(other.names.iter().cloned());
        self.names
            .field_names
            .extend(other.field_names.iter().cloned());
    }

    /// The engine event of `rec`, or `None` when the recording has no format for its type.
    pub fn decode(&self, rec: &Record<'_>) -> Option<Event> {
        let type_id = rec.event_id();
        let kind = self.kinds.get(type_id as usize)?.as_ref()?;
        let u = |h: &FieldHandle| rec.u64(*h).unwrap_or(0);
        let i = |h: &FieldHandle| rec.i64(*h).unwrap_or(0);
        let kind = match kind {
            Kind::Switch { prev, state, next } => EventKind::Switch {
                prev: i(prev) as i32,
                prev_state: i(state),
                next: i(next) as i32,
            },
            Kind::Waking { pid } => EventKind::Waking {
                target: i(pid) as i32,
            },
            Kind::WakeupNew { pid } => EventKind::WakeupNew {
                target: i(pid) as i32,
            },
            Kind::Fork { parent, child } => EventKind::Fork {
                parent: i(parent) as i32,
                child: i(child) as i32,
            },
            Kind::Exec { filename } => EventKind::Exec {
                filename: rec.str(*filename).unwrap_or("").to_string(),
            },
            Kind::Exit => EventKind::Exit,
            Kind::NewTask { pid, flags } => EventKind::NewTask {
                child: i(pid) as i32,
                clone_flags: u(flags),
            },
            Kind::SysEnter { call, arg } => EventKind::SyscallEnter {
                call: *call,
                arg: arg.as_ref().map(i),
            },
            Kind::SysExit { call, ret } => EventKind::SyscallExit {
                call: *call,
                ret: i(ret),
            },
            Kind::SockLen {
                send,
                sk,
                family,
                protocol,
                ret,
                flags,
            } => {
                let (sk, family, protocol) = (u(sk), u(family) as u16, u(protocol) as u16);
                let (ret, flags) = (i(ret) as i32, i(flags) as i32);
                if *send {
                    EventKind::SockSend {
                        sk,
                        family,
                        protocol,
                        ret,
                        flags,
                    }
                } else {
                    EventKind::SockRecv {
                        sk,
                        family,
                        protocol,
                        ret,
                        flags,
                    }
                }
            }
            Kind::SetState {
                sk,
                old,
                new,
                tuple,
            } => EventKind::SockState {
                sk: u(sk),
                old: i(old) as i32,
                new: i(new) as i32,
                tuple: read_tuple(rec, tuple),
            },
            Kind::RcvSpace { sk, cookie, tuple } => EventKind::RcvSpace {
                sk: u(sk),
                tuple: read_tuple(rec, tuple),
                cookie: u(cookie),
            },
            Kind::Destroy { sk } => EventKind::SockDestroy { sk: u(sk) },
            Kind::Other { sums } => EventKind::Other {
                values: sums.iter().map(i).collect(),
            },
        };
        Some(Event {
            ts: rec.timestamp,
            cpu: rec.cpu,
            tid: rec.pid(),
            in_irq: rec.flags() & IRQ_FLAGS != 0,
            type_id,
            kind,
        })
    }
}

/// The 4-tuple of a socket event, IPv4 as IPv4-mapped IPv6.
fn read_tuple(rec: &Record<'_>, t: &TupleFields) -> FourTuple {
    let port = |h: &FieldHandle| rec.u64(*h).unwrap_or(0) as u16;
    let addr = |v4: &FieldHandle, v6: &FieldHandle| -> Ipv6Addr {
        let family = rec.u64(t.family).unwrap_or(0);
        if family == AF_INET6 {
            let bytes: [u8; 16] = rec
                .bytes(*v6)
                .and_then(|b| b.try_into().ok())
                .unwrap_or([0; 16]);
            Ipv6Addr::from(bytes)
        } else {
            let bytes: [u8; 4] = rec
                .bytes(*v4)
                .and_then(|b| b.try_into().ok())
                .unwrap_or([0; 4]);
            Ipv4Addr::from(bytes).to_ipv6_mapped()
        }
    };
    FourTuple {
        local: SocketAddrV6::new(addr(&t.saddr, &t.saddr6), port(&t.sport), 0, 0),
        remote: SocketAddrV6::new(addr(&t.daddr, &t.daddr6), port(&t.dport), 0, 0),
    }
}
