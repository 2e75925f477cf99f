//! The original MiSeRTrace system's pipe-separated trace lines → engine events (the
//! engine's fallback input: no `sock_*_length` events, byte counts from syscall return
//! values, see [`ByteSource::SyscallExits`](kspan_engine::ByteSource)).
//!
//! A line is `comm|tid|nsecs|cpu|probe|details` (details optional), each field optionally in
//! double quotes as the original's script printed them; `probe` may carry the original's `MT:`
//! prefix; `details` are space-separated `key=value` pairs. The accepted probes and keys are
//! documented in `docs/bpftrace.md`; lines that are not in this format are counted and skipped.

use crate::decode::{DecodeError, SumRequest};
use crate::syscalls::{classify, split_event_name};
use kspan_engine::{Event, EventKind, EventNames, EventTypeId, FourTuple, ThreadInfo, World};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddrV6};

/// TCP states as the kernel numbers them (`include/net/tcp_states.h`).
const TCP_SYN_SENT: i32 = 2;
const TCP_CLOSE: i32 = 7;
/// Type ids: engine events by kind, then other probes by name.
const FIRST_OTHER_ID: EventTypeId = 1 << 16;

/// An imported PSV file, ready for the engine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PsvImport {
    /// Events in time order.
    pub events: Vec<Event>,
    /// Names of the event types and summed fields.
    pub names: EventNames,
    /// Every thread seen in a traced-thread record (not in the unfiltered socket-state
    /// records), named by its comm (each its own process: the format has no pids).
    pub world: World,
    /// Lines that are not PSV records (bpftrace's own messages, garbage).
    pub skipped_lines: u64,
    /// `tcp:tcp_probe` records dropped (packet receive in softirq: not about the thread shown).
    pub dropped_tcp_probe: u64,
    /// Syscall exits without `ret=`: their bytes are unknown.
    pub exits_without_ret: u64,
    /// Records of probes the engine understands that lack keys it needs: dropped.
    pub incomplete_records: u64,
}

/// One parsed line.
struct Line<'a> {
    comm: &'a str,
    tid: i32,
    ts: u64,
    cpu: u32,
    probe: &'a str,
    details: Vec<(&'a str, &'a str)>,
}

fn unquote(field: &str) -> &str {
    let f = field.trim();
    f.strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(f)
}

fn parse_line(line: &str) -> Option<Line<'_>> {
    let mut fields = line.splitn(6, '|').map(unquote);
    let comm = fields.next()?;
    let tid = fields.next()?.parse().ok()?;
    let ts = fields.next()?.parse().ok()?;
    let cpu = fields.next()?.parse().ok()?;
    let probe = fields.next()?;
    let probe = probe.strip_prefix("MT:").unwrap_or(probe);
    let details = fields
        .next()
        .unwrap_or("")
        .split_ascii_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect();
    (!probe.is_empty()).then_some(Line {
        comm,
        tid,
        ts,
        cpu,
        probe,
        details,
    })
}

impl Line<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.details
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    fn int(&self, key: &str) -> Option<i64> {
        let v = self.get(key)?;
        match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok().map(|u| u as i64),
            None => v.parse().ok(),
        }
    }

    /// The socket's 4-tuple from `saddr`/`sport` (local) and `daddr`/`dport` (remote).
    fn tuple(&self) -> Option<FourTuple> {
        let addr = |a: &str, p: &str| -> Option<SocketAddrV6> {
            let ip: Ipv6Addr = match self.get(a)?.parse::<IpAddr>().ok()? {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            Some(SocketAddrV6::new(ip, self.int(p)? as u16, 0, 0))
        };
        Some(FourTuple {
            local: addr("saddr", "sport")?,
            remote: addr("daddr", "dport")?,
        })
    }

    /// The socket: `skaddr` when printed, else a stable stand-in derived from the 4-tuple
    /// (top bit set: never a kernel address).
    fn sk(&self, tuple: &FourTuple) -> u64 {
        self.int("skaddr").map_or_else(
            || {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                tuple.hash(&mut h);
                h.finish() | 1 << 63
            },
            |sk| sk as u64,
        )
    }
}

/// The engine's meaning of a probe (`None`: not an engine event, counted by name).
fn engine_kind(line: &Line<'_>, exits_without_ret: &mut u64) -> Option<(EventKind, bool)> {
    let name = line.probe.rsplit(':').next().unwrap_or(line.probe);
    Some(match name {
        "sched_process_fork" => (
            EventKind::Fork {
                parent: line.int("parent_pid")? as i32,
                child: line.int("child_pid")? as i32,
            },
            false,
        ),
        "sched_process_exit" => (EventKind::Exit, false),
        "tcp_rcv_space_adjust" | "tcp_send" => {
            let tuple = line.tuple()?;
            let sk = line.sk(&tuple);
            let cookie = line.int("sock_cookie").map_or(sk, |c| c as u64);
            (EventKind::RcvSpace { sk, tuple, cookie }, false)
        }
        "tcp_destroy_sock" => {
            let tuple = line.tuple()?;
            (
                EventKind::SockDestroy {
                    sk: line.sk(&tuple),
                },
                true,
            )
        }
        "inet_sock_set_state" => {
            let tuple = line.tuple()?;
            let (old, new) = (line.int("oldstate")? as i32, line.int("newstate")? as i32);
            // Only connect()'s CLOSE → SYN_SENT surely runs in the socket owner's context;
            // the format has no interrupt flag, so every other change is treated as softirq.
            let in_irq = !(old == TCP_CLOSE && new == TCP_SYN_SENT);
            let sk = line.sk(&tuple);
            (
                EventKind::SockState {
                    sk,
                    old,
                    new,
                    tuple,
                },
                in_irq,
            )
        }
        _ => {
            let (enter, call) = split_event_name(name)?;
            let call = classify(call, 0);
            if enter {
                (
                    EventKind::SyscallEnter {
                        call,
                        arg: line.int("fd").or_else(|| line.int("uaddr")),
                    },
                    false,
                )
            } else {
                let ret = line.int("ret").unwrap_or_else(|| {
                    *exits_without_ret += 1;
                    0
                });
                (EventKind::SyscallExit { call, ret }, false)
            }
        }
    })
}

/// True for probes [`engine_kind`] turns into engine events when their keys are present.
fn is_engine_probe(probe: &str) -> bool {
    let name = probe.rsplit(':').next().unwrap_or(probe);
    matches!(
        name,
        "sched_process_fork"
            | "tcp_rcv_space_adjust"
            | "tcp_send"
            | "tcp_destroy_sock"
            | "inet_sock_set_state"
    )
}

/// The name under which a probe is counted: `system:event` for tracepoints (as ftrace names
/// them, so `--count` works alike), the probe as printed otherwise.
fn event_name(probe: &str) -> &str {
    probe.strip_prefix("tracepoint:").unwrap_or(probe)
}

/// Reads PSV `text`, keeping the fields of `sums` (`--sum PROBE_NAME:KEY`).
pub fn import_psv(text: &str, sums: &[SumRequest]) -> Result<PsvImport, DecodeError> {
    let mut out = PsvImport::default();
    let lines: Vec<Line<'_>> = text
        .lines()
        .filter_map(|l| {
            let parsed = parse_line(l);
            out.skipped_lines += u64::from(parsed.is_none() && !l.trim().is_empty());
            parsed
        })
        .collect();
    let mut ids: BTreeMap<&str, EventTypeId> = BTreeMap::new();
    for line in &lines {
        let next = FIRST_OTHER_ID + ids.len() as EventTypeId;
        ids.entry(event_name(line.probe)).or_insert(next);
    }
    out.names.names = ids.iter().map(|(n, id)| (*id, n.to_string())).collect();
    let mut kept: BTreeMap<EventTypeId, Vec<String>> = BTreeMap::new();
    for sum in sums {
        let id = *ids.get(sum.event.as_str()).ok_or_else(|| {
            DecodeError::UnknownEvent(format!("{}:{}", sum.event, sum.field), sum.event.clone())
        })?;
        kept.entry(id).or_default().push(sum.field.clone());
    }
    out.names.field_names = kept
        .iter()
        .map(|(id, keys)| {
            let event = &ids.iter().find(|(_, i)| *i == id).expect("named").0;
            (*id, keys.iter().map(|k| format!("{event}:{k}")).collect())
        })
        .collect();
    let mut threads: BTreeMap<i32, &str> = BTreeMap::new();
    for line in &lines {
        let name = line.probe.rsplit(':').next().unwrap_or(line.probe);
        match name {
            "tcp_probe" => {
                out.dropped_tcp_probe += 1;
                continue;
            }
            // Recorded for every socket, in whatever thread was running.
            "inet_sock_set_state" | "tcp_destroy_sock" => {}
            _ => {
                threads.entry(line.tid).or_insert(line.comm);
            }
        }
        let type_id = ids[event_name(line.probe)];
        let (kind, in_irq) = match (
            kept.get(&type_id),
            engine_kind(line, &mut out.exits_without_ret),
        ) {
            (None, Some(engine)) => engine,
            // An engine probe without the keys it needs (e.g. a line whose halves, printed by
            // two printf calls, were split by another CPU's line): not an event at all.
            (None, None) if is_engine_probe(line.probe) => {
                out.incomplete_records += 1;
                continue;
            }
            (keys, _) => {
                let values = keys.map_or_else(Vec::new, |keys| {
                    keys.iter().map(|k| line.int(k).unwrap_or(0)).collect()
                });
                (EventKind::Other { values }, false)
            }
        };
        out.events.push(Event {
            ts: line.ts,
            cpu: line.cpu,
            tid: line.tid,
            in_irq,
            type_id,
            kind,
        });
    }
    out.events.sort_by_key(|e| e.ts);
    out.world.threads = threads
        .into_iter()
        .map(|(tid, comm)| ThreadInfo {
            tid,
            tgid: tid,
            comm: comm.to_string(),
            service: comm.to_string(),
        })
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kspan_engine::Syscall;

    #[test]
    fn original_and_extended_lines_become_engine_events() {
        let text = "Attaching 20 probes...\n\
            \"srv\"|\"10\"|\"300\"|\"1\"|\"MT:tracepoint:syscalls:sys_exit_recvfrom\"|\"ret=20\"\n\
            \"srv\"|\"10\"|\"100\"|\"1\"|\"MT:tracepoint:syscalls:sys_enter_recvfrom\"|\"fd=4\"\n\
            srv|10|200|1|tracepoint:tcp:tcp_rcv_space_adjust|sport=80 dport=5000 saddr=10.0.0.1 daddr=10.0.0.2 skaddr=0xff01 sock_cookie=9\n\
            \"srv\"|\"10\"|\"400\"|\"0\"|\"MT:tracepoint:syscalls:sys_exit_write\"\n\
            \"srv\"|\"10\"|\"450\"|\"0\"|\"MT:tracepoint:tcp:tcp_probe\"|\"sport=1\"\n\
            \"srv\"|\"10\"|\"500\"|\"0\"|\"tracepoint:exceptions:page_fault_user\"|\"address=4096\"\n\
            \"srv\"|\"10\"|\"600\"|\"0\"|\"MT:tracepoint:sock:inet_sock_set_state\"|\n";
        let sums = vec!["exceptions:page_fault_user:address".parse().unwrap()];
        let got = import_psv(text, &sums).unwrap();
        let kinds: Vec<(u64, EventKind, bool)> = got
            .events
            .iter()
            .map(|e| (e.ts, e.kind.clone(), e.in_irq))
            .collect();
        let v4 = |a: [u8; 4], p| {
            SocketAddrV6::new(std::net::Ipv4Addr::from(a).to_ipv6_mapped(), p, 0, 0)
        };
        assert_eq!(
            kinds,
            vec![
                (
                    100,
                    EventKind::SyscallEnter {
                        call: Syscall::Recv,
                        arg: Some(4)
                    },
                    false
                ),
                (
                    200,
                    EventKind::RcvSpace {
                        sk: 0xff01,
                        tuple: FourTuple {
                            local: v4([10, 0, 0, 1], 80),
                            remote: v4([10, 0, 0, 2], 5000)
                        },
                        cookie: 9
                    },
                    false
                ),
                (
                    300,
                    EventKind::SyscallExit {
                        call: Syscall::Recv,
                        ret: 20
                    },
                    false
                ),
                (
                    400,
                    EventKind::SyscallExit {
                        call: Syscall::Send,
                        ret: 0
                    },
                    false
                ),
                (500, EventKind::Other { values: vec![4096] }, false),
            ]
        );
        assert_eq!(
            (
                got.skipped_lines,
                got.dropped_tcp_probe,
                got.exits_without_ret,
                got.incomplete_records
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(got.world.threads.len(), 1);
        assert_eq!(
            got.names.field_names[0].1,
            vec!["exceptions:page_fault_user:address".to_string()]
        );
    }
}
