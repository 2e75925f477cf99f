//! Payload heads → engine events: every head that starts a request (what
//! [`kspan_protocol::parse`] recognises as one) becomes an [`EventKind::Head`] carrying the
//! request's endpoint signature, stamped at its syscall's exit.

use kspan_engine::{Event, EventKind};
use kspan_heads::{Direction, Head};

/// The type id of head events (never counted as kernel activity).
const HEAD_TYPE: u32 = u32::MAX;

/// The engine events of `heads`: one per request head, in the heads' order.
pub fn head_events<'a>(heads: impl IntoIterator<Item = &'a Head>) -> Vec<Event> {
    heads
        .into_iter()
        .filter_map(|h| {
            let message = kspan_protocol::parse(&h.bytes)?;
            let name = message.span_name()?;
            Some(Event {
                ts: h.exit_ns,
                cpu: 0,
                tid: h.tid,
                in_irq: false,
                type_id: HEAD_TYPE,
                kind: EventKind::Head {
                    fd: i64::from(h.fd),
                    send: h.kind.direction() == Direction::Send,
                    sig: signature(&name),
                },
            })
        })
        .collect()
}

/// A stable 64-bit FNV-1a hash of an endpoint's name (`GET /par`): the same name gives
/// the same signature in every run.
fn signature(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kspan_heads::SyscallKind;

    fn head(kind: SyscallKind, bytes: &[u8]) -> Head {
        Head {
            enter_ns: 5,
            exit_ns: 9,
            ret: bytes.len() as i64,
            tgid: 1,
            tid: 2,
            fd: 7,
            kind,
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn requests_become_head_events_and_responses_none() {
        let heads = [
            head(SyscallKind::Sendto, b"GET /par?x=1 HTTP/1.1\r\n"),
            head(SyscallKind::Recvfrom, b"HTTP/1.1 200 OK\r\n"),
            head(SyscallKind::Read, b"GET /par HTTP/1.1\r\nHost: a\r\n"),
            head(SyscallKind::Write, b"\x00\x01garbage"),
        ];
        let events = head_events(&heads);
        let kinds: Vec<_> = events.iter().map(|e| (e.ts, e.tid, &e.kind)).collect();
        let sig = signature("GET /par");
        assert_eq!(
            kinds,
            vec![
                (
                    9,
                    2,
                    &EventKind::Head {
                        fd: 7,
                        send: true,
                        sig
                    }
                ),
                (
                    9,
                    2,
                    &EventKind::Head {
                        fd: 7,
                        send: false,
                        sig
                    }
                ),
            ]
        );
        assert_ne!(signature("GET /one"), sig);
    }
}
