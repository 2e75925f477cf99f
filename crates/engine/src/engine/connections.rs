//! Sockets: TCP state changes, binding to 4-tuples, closing, and which side is which.

use super::messages::addr;
use super::*;

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
        let replaced = match (old, new) {
            (_, TCP_SYN_SENT) => {
                let replaced = self.sockets.fresh_endpoint(sk, Side::Client);
                let ctx = thread
                    .and_then(|tid| self.threads.map.get(&tid))
                    .and_then(|th| th.ctx);
                self.sockets.endpoint(sk).opened_for = ctx;
                replaced
            }
            (_, TCP_SYN_RECV) => self.sockets.fresh_endpoint(sk, Side::Server),
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
            (_, TCP_CLOSE) => {
                self.drop_socket(sk);
                return;
            }
            _ => None,
        };
        if let Some(ep) = replaced {
            self.end_endpoint(ep);
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

    pub(super) fn drop_socket(&mut self, sk: SockAddr) {
        if let Some(ep) = self.sockets.remove(sk) {
            self.end_endpoint(ep);
        }
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
        let Some(id) = ep.span else { return };
        let unanswered = self.spans.get(id).is_some_and(|s| !s.answered && !s.closed);
        if unanswered {
            self.caveat(Caveat::ClosedBeforeAnswer);
            if let Some(s) = self.spans.get_mut(id) {
                s.span.error = Some(Caveat::ClosedBeforeAnswer.text().to_string());
            }
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
