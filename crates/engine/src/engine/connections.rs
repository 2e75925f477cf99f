//! Sockets: TCP state changes, binding to 4-tuples, closing, and which side is which.

use super::messages::addr;
use super::*;

/// The error of a call whose connection could not be established.
const CONNECT_FAILED: &str = "connect failed (refused, unreachable or timed out)";

impl Engine {
    /// A TCP state change of socket `sk`; `thread` is the thread it fired in, when in
    /// process context (a connect fires SYN_SENT inside the connecting thread's syscall).
    pub(super) fn on_state(
        &mut self,
        sk: SockAddr,
        old: TcpState,
        new: TcpState,
        tuple: FourTuple,
        thread: Option<Tid>,
    ) {
        if matches!(new, TCP_SYN_SENT | TCP_SYN_RECV) {
            self.closing.retain(|&(s, _)| s != sk);
        }
        let replaced = match (old, new) {
            (_, TCP_SYN_SENT) => {
                let replaced = self.sockets.fresh_endpoint(sk, Side::Client);
                // An event loop connects for the handler it runs: the read its order says it
                // acts on now, as for a call it writes; another thread for its context.
                let ctx = thread.and_then(|tid| {
                    self.batch_take(tid, true)
                        .or_else(|| self.threads.map.get(&tid).and_then(|th| th.ctx))
                });
                let now = self.now;
                let ep = self.sockets.endpoint(sk);
                ep.opened_for = ctx;
                ep.connecting = thread.filter(|_| ctx.is_some()).map(|tid| (tid, now));
                replaced
            }
            (_, TCP_SYN_RECV) => self.sockets.fresh_endpoint(sk, Side::Server),
            (TCP_SYN_SENT, TCP_CLOSE) => {
                self.failed_connect(sk, tuple);
                self.drop_socket(sk);
                return;
            }
            (TCP_SYN_RECV, TCP_ESTABLISHED) | (TCP_SYN_SENT, TCP_ESTABLISHED) => {
                let side = if old == TCP_SYN_RECV {
                    Side::Server
                } else {
                    Side::Client
                };
                if !self.sockets.endpoints.contains_key(&sk) {
                    self.sockets.fresh_endpoint(sk, side);
                }
                let ep = self.sockets.endpoint(sk);
                ep.side = side;
                None
            }
            (TCP_ESTABLISHED, TCP_FIN_WAIT1) | (TCP_CLOSE_WAIT, TCP_LAST_ACK)
                if thread.is_some() =>
            {
                self.closed_unanswered(sk);
                None
            }
            (_, TCP_CLOSE) => {
                // The connection is over and its current span ends here. A send already in
                // its syscall when the peer's reset arrived still lands on the socket, and
                // its event comes after this state change: while traced threads are inside
                // a send, the socket (and its tuple) is kept until they leave it.
                let span = self
                    .sockets
                    .endpoints
                    .get_mut(&sk)
                    .and_then(|ep| ep.span.take());
                self.end_span(span);
                if self.in_send.is_empty() {
                    self.drop_socket(sk);
                } else {
                    self.closing.push((sk, self.in_send.clone()));
                }
                return;
            }
            _ => None,
        };
        if let Some(ep) = replaced {
            self.end_endpoint(ep);
            self.drop_streams(sk);
            self.check_unbound();
        }
        if new != TCP_SYN_SENT && tuple.local.port() != 0 && tuple.remote.port() != 0 {
            self.bind(sk, tuple);
        }
    }

    pub(super) fn bind(&mut self, sk: SockAddr, tuple: FourTuple) {
        let max = self.config.max_segments_per_stream;
        for (p, origin) in self.sockets.bind(sk, tuple, max) {
            self.resolve(p, origin);
        }
        // A span opened on the socket before its tuple was known (a call on a connection
        // older than the recording, named by its first read) gets its addresses now.
        let span = self.sockets.endpoints.get(&sk).and_then(|ep| ep.span);
        if let Some(s) = span.and_then(|id| self.spans.get_mut(id)) {
            if s.span.local.is_none() {
                s.span.local = Some(addr(tuple.local));
                s.span.peer = Some(addr(tuple.remote));
            }
        }
        self.check_unbound();
    }

    /// A connect that never reached ESTABLISHED (refused, unreachable, timed out) is a call
    /// that failed: a client span of the connecting thread's request, from `connect()` to
    /// the failure, with the error, and no callee.
    fn failed_connect(&mut self, sk: SockAddr, tuple: FourTuple) {
        let Some(ep) = self.sockets.endpoints.get_mut(&sk) else {
            return;
        };
        let (Some(parent), Some((tid, start))) = (ep.opened_for.take(), ep.connecting.take())
        else {
            return;
        };
        if !self.threads.map.contains_key(&tid) || self.spans.get(parent).is_none() {
            return;
        }
        let mut span = self.new_span(SpanKind::Client, Some(parent), tid, start, Some(tuple));
        span.end = self.now;
        span.error = Some(CONNECT_FAILED.to_string());
        let id = self.spans.open(span);
        self.spans.close(id);
    }

    /// `tid` left its send syscall (or exited): sockets closed during it can go now.
    pub(super) fn left_send(&mut self, tid: Tid) {
        if self.closing.is_empty() {
            return;
        }
        let mut gone = Vec::new();
        self.closing.retain_mut(|(sk, waiting)| {
            waiting.retain(|&t| t != tid);
            let done = waiting.is_empty();
            if done {
                gone.push(*sk);
            }
            !done
        });
        for sk in gone {
            self.drop_socket(sk);
        }
    }

    pub(super) fn drop_socket(&mut self, sk: SockAddr) {
        if let Some(ep) = self.sockets.remove(sk) {
            self.end_endpoint(ep);
        }
        self.drop_streams(sk);
        self.check_unbound();
    }

    /// Once no unbound socket holds sends, pending reads stop waiting for them.
    pub(super) fn check_unbound(&mut self) {
        if self.sockets.unbound_senders == 0 {
            self.sender_left(UNBOUND_SENDERS);
        }
    }

    /// A socket is gone: its current span is final.
    pub(super) fn end_endpoint(&mut self, ep: Endpoint) {
        self.end_span(ep.span);
    }

    /// The current span of a connection that is over: final; when it was still waiting
    /// for its answer, with an error and lasting until now.
    fn end_span(&mut self, span: Option<SpanId>) {
        let Some(id) = span else { return };
        let unanswered = self.spans.get(id).is_some_and(|s| !s.answered && !s.closed);
        if unanswered {
            self.caveat(Caveat::ClosedBeforeAnswer);
            let now = self.now;
            if let Some(s) = self.spans.get_mut(id) {
                s.span.error = Some(Caveat::ClosedBeforeAnswer.text().to_string());
                // It lasted until the failure was known: the connection seen closed.
                s.span.end = s.span.end.max(now);
            }
        }
        self.spans.close(id);
    }

    /// A thread closed its end of a connection (ESTABLISHED → FIN_WAIT1, or CLOSE_WAIT →
    /// LAST_ACK, fire inside its `close()`: process context) while the connection's last
    /// message had no answer: a message that expects none (PostgreSQL's Terminate, a QUIT),
    /// since the caller no longer waits for one and the callee will never send it. Its
    /// spans end here, without an error, not when the other end closes too.
    fn closed_unanswered(&mut self, sk: SockAddr) {
        let Some(ep) = self.sockets.endpoints.get_mut(&sk) else {
            return;
        };
        if ep.side == Side::Unknown || ep.phase != Phase::Request {
            return;
        }
        let Some(id) = ep.span.take() else { return };
        if self.in_progress(id) {
            let now = self.now;
            if let Some(s) = self.spans.get_mut(id) {
                s.span.end = s.span.end.max(now);
            }
            self.spans.mark_answered(id);
        }
        self.spans.close(id);
    }

    /// Decides the side of a socket first used during the recording with no handshake
    /// seen: the opposite of its peer's when known; else the end whose local port is
    /// ephemeral (and the other's is not) is the client; else whoever speaks first is.
    pub(super) fn side_of(&mut self, sk: SockAddr, first_op_is_send: bool) -> Side {
        let ep = self.sockets.endpoint(sk);
        if ep.side != Side::Unknown {
            return ep.side;
        }
        let tuple = ep.tuple;
        let by_peer = tuple.and_then(|t| self.sockets.side_of_tuple(t.mirrored()));
        let side = match (by_peer, tuple) {
            (Some(Side::Server), _) => Side::Client,
            (Some(Side::Client), _) => Side::Server,
            (_, Some(t)) if ephemeral(t.local.port()) && !ephemeral(t.remote.port()) => {
                Side::Client
            }
            (_, Some(t)) if ephemeral(t.remote.port()) && !ephemeral(t.local.port()) => {
                Side::Server
            }
            _ if first_op_is_send => Side::Client,
            _ => Side::Server,
        };
        self.sockets.endpoint(sk).side = side;
        self.caveat(Caveat::SideInferred);
        side
    }
}

/// True for ports in Linux's default ephemeral range (`ip_local_port_range`), which
/// connecting sockets get.
fn ephemeral(port: u16) -> bool {
    (32768..=60999).contains(&port)
}
