//! Pipelined connections (RESP): one span per command.
//!
//! A Redis client may write several commands before reading any reply (a pipeline); the
//! server answers them in order. The turn rule ("a message is what one side sends before
//! the other answers") makes one span of them all. With payload heads the engine sees
//! where each command of a send ends ([`EventKind::Messages`], RESP being length-prefixed),
//! and where each reply ends in the server's sends or, when the server is not traced, in
//! the client's reads. Such a connection is divided like an HTTP/2 one ([`super::mux`]),
//! its messages numbered in order: the k-th command sent and the k-th reply go to the
//! stream socket of k, where every connection rule applies (a client span per command, its
//! server span by bytes, each ended by its own reply).
//!
//! The commands of one write are one piece of work of one thread: the first that opens a
//! call is linked like any call, the later ones *ride* on it (the engine keeps them as its
//! children, so that they follow every change of its link, and emits them as its
//! siblings), and their answers move nothing but their own span (no context hand-off, no
//! evidence): the rules that count calls and answers (endpoint patterns, event-loop
//! batches, the response rule) see one call per write, as without division.
//!
//! Only what the bytes prove is divided: a message whose end lies past the head runs to
//! the end of its syscall's bytes at least, and bytes past the last message a head shows
//! go with it (the next message's start is not known), so commands a head does not show
//! stay in one span with the last one it shows.

use super::mux::{Sending, Shown};
use super::*;
use crate::event::{Frame, MessageHead};

impl Engine {
    /// A payload head: thread `tid`'s send (`send`) or read on `fd`, entered at `now`,
    /// shows `messages` of a pipelined protocol.
    pub(super) fn on_messages(
        &mut self,
        tid: Tid,
        fd: i64,
        send: bool,
        messages: &[MessageHead],
        now: Timestamp,
    ) {
        let head = Sending {
            fd,
            at: now,
            shown: Shown::Messages(messages.to_vec()),
            sig: None,
        };
        let map = if send {
            &mut self.mux.sending
        } else {
            &mut self.mux.reading
        };
        map.insert(tid, head);
    }

    /// True when `id` is a rider (a later command of a pipelined write).
    pub(super) fn rides(&self, id: Option<SpanId>) -> bool {
        id.and_then(|id| self.spans.get(id))
            .is_some_and(|s| s.rides)
    }

    /// Thread `tid` writes a later command of a pipelined write on the stream socket
    /// `sk` (tuple `tuple`): a client span riding on the write's first call.
    pub(super) fn open_rider(
        &mut self,
        tid: Tid,
        sk: SockAddr,
        tuple: Option<FourTuple>,
        now: Timestamp,
    ) -> SpanId {
        let call = self.mux.rides_on;
        let start = self.call_start(tid, now);
        let mut span = self.new_span(SpanKind::Client, call, tid, start, tuple);
        span.link = call
            .and_then(|c| self.spans.get(c))
            .and_then(|c| c.span.link);
        let id = self.spans.open(span);
        if let Some(s) = self.spans.get_mut(id) {
            s.rides = true;
        }
        self.sockets.endpoint(sk).span = Some(id);
        id
    }

    /// Thread `tid` reads `n` bytes of the answer of rider `id`: they end it at the
    /// syscall's exit, and change nothing else.
    pub(super) fn rider_answered(&mut self, tid: Tid, id: SpanId, n: u64) {
        if let Some(s) = self.spans.get_mut(id) {
            s.answered = true;
            s.main.a.bytes_in += n;
        }
        if let Some(th) = self.threads.map.get_mut(&tid) {
            th.end_on_exit = Some(id);
        }
    }

    /// True when `messages`, shown by traced thread `tid`'s send (`send`) or read of `n`
    /// bytes on `sk`, make its connection pipelined: requests (the first is one) sent by a
    /// client or read by a server, every one shown ending within the `n` bytes.
    pub(super) fn opens_pipeline(
        &mut self,
        tid: Tid,
        sk: SockAddr,
        send: bool,
        messages: &[MessageHead],
        n: u64,
    ) -> bool {
        let requests = messages.first().is_some_and(|m| m.sig.is_some());
        let shown: u64 = messages.iter().filter_map(|m| m.len).sum();
        if !requests || shown > n || !self.threads.map.contains_key(&tid) {
            return false;
        }
        let side = self.side_of(sk, send);
        side == if send { Side::Client } else { Side::Server }
    }
}

/// The frames of `messages`, shown by a send or read of `n` bytes from offset `at` on a
/// pipelined connection whose last message ended, or ends, at `last.0` and is numbered
/// `last.1`: numbered on from it, never past `cap` (replies: the last command known to
/// this end; a head that ran past the end of several commands showed them as one, and
/// their replies all go to it), each with the signature of the request it is. A message
/// whose end is not shown runs to the end of the `n` bytes. None when the bytes start
/// inside the last message (their head is not a message's start).
pub(super) fn numbered(
    last: (u64, u32),
    messages: &[MessageHead],
    (at, n): (u64, u64),
    cap: Option<u32>,
) -> Vec<(Frame, Option<u64>)> {
    let end = at + n;
    let mut seq = last.1;
    let mut pos = at;
    let mut out = Vec::new();
    if last.0 > at {
        return out;
    }
    for m in messages {
        if pos >= end {
            break;
        }
        seq = seq.wrapping_add(1).max(1).min(cap.unwrap_or(u32::MAX));
        let len = m.len.unwrap_or(end - pos).max(1);
        out.push((
            Frame {
                len,
                stream: seq,
                message: true,
            },
            m.sig,
        ));
        pos += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(len: Option<u64>, sig: Option<u64>) -> MessageHead {
        MessageHead { len, sig }
    }

    #[test]
    fn messages_are_numbered_on_from_the_last() {
        let frame = |len, stream| Frame {
            len,
            stream,
            message: true,
        };
        // Two commands shown whole, the third's end past the head: the rest of the send.
        let shown = [
            message(Some(27), Some(1)),
            message(Some(30), Some(2)),
            message(None, Some(3)),
        ];
        assert_eq!(
            numbered((100, 4), &shown, (100, 90), None),
            vec![
                (frame(27, 5), Some(1)),
                (frame(30, 6), Some(2)),
                (frame(33, 7), Some(3))
            ]
        );
        // A send that starts inside the last message shows no message's start.
        assert_eq!(numbered((150, 4), &shown, (100, 90), None), vec![]);
        // Messages past the bytes moved are not numbered.
        assert_eq!(
            numbered((0, 0), &shown[..2], (0, 20), None),
            vec![(frame(27, 1), Some(1))]
        );
        // Five replies to three commands, the third of which hid two more past its head:
        // the replies past the third go to it.
        let reply = |len| message(Some(len), None);
        let replies = [reply(5), reply(7), reply(4), reply(4), reply(7)];
        let got: Vec<(u64, u32)> = numbered((0, 0), &replies, (0, 27), Some(3))
            .into_iter()
            .map(|(f, _)| (f.len, f.stream))
            .collect();
        assert_eq!(got, vec![(5, 1), (7, 2), (4, 3), (4, 3), (7, 3)]);
    }
}
