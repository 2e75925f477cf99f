//! Payload heads → engine events: every head that starts a request (what
//! [`kspan_protocol::parse`] recognises as one) becomes an [`EventKind::Head`] carrying the
//! request's endpoint signature, stamped at its syscall's exit; every send head made of
//! HTTP/2 frames an [`EventKind::Frames`], and every send or read head made of RESP values
//! (a pipeline's commands or replies) an [`EventKind::Messages`], stamped at its syscall's
//! entry.

use kspan_engine::{Event, EventKind, Frame, MessageHead};
use kspan_heads::{Direction, Head};
use kspan_protocol::resp::Size;

/// The type id of head events (never counted as kernel activity).
const HEAD_TYPE: u32 = u32::MAX;

/// The endpoint name of every HTTP/2 request: its `:path` is HPACK-coded, mostly by
/// reference to a table built since the connection started, so no more is known.
const H2_REQUEST: &str = "HTTP/2 request";

/// The engine events of `heads`: one [`EventKind::Head`] per request head, stamped at its
/// syscall's exit, one [`EventKind::Frames`] per send head made of HTTP/2 frames and one
/// [`EventKind::Messages`] per head made of RESP values, stamped at its syscall's entry;
/// in the heads' order.
pub fn head_events<'a>(heads: impl IntoIterator<Item = &'a Head>) -> Vec<Event> {
    let event = |h: &Head, ts, kind| Event {
        ts,
        cpu: 0,
        tid: h.tid,
        in_irq: false,
        type_id: HEAD_TYPE,
        kind,
    };
    let heads = heads.into_iter();
    let mut events = Vec::with_capacity(heads.size_hint().0);
    for h in heads {
        let send = h.kind.direction() == Direction::Send;
        if let Some(name) = kspan_protocol::parse(&h.bytes).and_then(|m| m.span_name()) {
            let kind = EventKind::Head {
                fd: i64::from(h.fd),
                send,
                sig: signature(&name),
            };
            events.push(event(h, h.exit_ns, kind));
        } else if let Some(pieces) = kspan_protocol::h2::pieces(&h.bytes).filter(|_| send) {
            let sig = pieces
                .iter()
                .any(|p| p.headers)
                .then(|| signature(H2_REQUEST));
            let frames = pieces
                .into_iter()
                .map(|p| Frame {
                    len: p.len,
                    stream: p.stream,
                    message: p.message,
                })
                .collect();
            let kind = EventKind::Frames {
                fd: i64::from(h.fd),
                frames,
                sig,
            };
            events.push(event(h, h.enter_ns, kind));
        }
        if let Some(messages) = resp_messages(&h.bytes) {
            let kind = EventKind::Messages {
                fd: i64::from(h.fd),
                send,
                messages,
            };
            events.push(event(h, h.enter_ns, kind));
        }
    }
    events
}

/// The RESP values `head` shows from its first byte, each with the signature of the
/// command it is (if it is one); `None` when it shows none.
fn resp_messages(head: &[u8]) -> Option<Vec<MessageHead>> {
    let mut at = 0usize;
    let mut out = Vec::new();
    for size in kspan_protocol::resp::values(head) {
        let sig = kspan_protocol::resp::parse(head.get(at..)?)
            .and_then(|m| m.span_name())
            .map(|name| signature(&name));
        let len = match size {
            Size::Known(n) => Some(n),
            Size::Unknown => None,
        };
        out.push(MessageHead { len, sig });
        at = at.saturating_add(usize::try_from(len.unwrap_or(u64::MAX)).unwrap_or(usize::MAX));
    }
    (!out.is_empty()).then_some(out)
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

    #[test]
    fn resp_heads_become_message_events_at_their_entry() {
        // SET k v and GET k whole, then INCR cut inside its argument's length line.
        let pipeline = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$4\r\nINCR\r\n$";
        let replies = b"+OK\r\n$1\r\nv\r\n:1\r\n";
        let heads = [
            head(SyscallKind::Write, pipeline),
            head(SyscallKind::Read, replies),
        ];
        let events = head_events(&heads);
        let messages: Vec<_> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Messages { send, messages, .. } => Some((e.ts, *send, messages)),
                _ => None,
            })
            .collect();
        let m = |len, name: Option<&str>| MessageHead {
            len,
            sig: name.map(signature),
        };
        assert_eq!(
            messages,
            vec![
                (
                    5,
                    true,
                    &vec![
                        m(Some(27), Some("SET")),
                        m(Some(20), Some("GET")),
                        m(None, Some("INCR"))
                    ]
                ),
                (
                    5,
                    false,
                    &vec![m(Some(5), None), m(Some(7), None), m(Some(4), None)]
                ),
            ]
        );
    }

    #[test]
    fn http2_sends_become_frame_events_at_their_entry() {
        // A gRPC request: HEADERS (32 B payload) of stream 5, its head cut after 24 bytes.
        let request =
            b"\x00\x00 \x01\x04\x00\x00\x00\x05\xc5\xc4\x83\x86\xc3\xc2\xc1\xbe\xbf\x00\x0cx-r";
        let ping = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00\x01\x02\x03\x04\x05\x06\x07\x08";
        let heads = [
            head(SyscallKind::Sendmsg, request),
            head(SyscallKind::Recvmsg, request),
            head(SyscallKind::Write, ping),
        ];
        let events = head_events(&heads);
        let got: Vec<_> = events.iter().map(|e| (e.ts, &e.kind)).collect();
        let frame = |len, stream, message| Frame {
            len,
            stream,
            message,
        };
        assert_eq!(
            got,
            vec![
                (
                    5,
                    &EventKind::Frames {
                        fd: 7,
                        frames: vec![frame(41, 5, true)],
                        sig: Some(signature(H2_REQUEST))
                    }
                ),
                (
                    5,
                    &EventKind::Frames {
                        fd: 7,
                        frames: vec![frame(17, 0, false)],
                        sig: None
                    }
                ),
            ]
        );
    }
}
