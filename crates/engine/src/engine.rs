//! The reconstruction engine: consumes events in time order and emits traces.
//!
//! The rules it applies are written for users in `docs/engine.md`.

use crate::activity::{Bucket, Layout};
use crate::config::{ByteSource, Config};
use crate::event::{Event, EventKind, FourTuple, SockAddr, Syscall, TcpState, Tid, Timestamp};
use crate::fds::FdTable;
use crate::handler::SpanHandler;
use crate::model::{Activity, EventNames, Span, SpanId, SpanKind, Summary, Trace};
use crate::sockets::{Endpoint, Phase, Side, Sockets, StreamId};
use crate::spans::Spans;
use crate::stream::{Origin, PendingRead};
use crate::threads::{CtxSource, Sched, Threads};
use crate::world::World;
use std::net::{SocketAddr, SocketAddrV6};

const TCP_ESTABLISHED: TcpState = 1;
const TCP_SYN_SENT: TcpState = 2;
const TCP_SYN_RECV: TcpState = 3;
const TCP_CLOSE: TcpState = 7;
const IPPROTO_TCP: u16 = 6;
const MSG_PEEK: i32 = 2;
const CLONE_THREAD: u64 = 0x10000;
/// Stands in a pending read's waiting list for "sends on sockets whose tuple is not known
/// yet": the read may consume them once they are bound.
const UNBOUND_SENDERS: Tid = -1;
/// `prev_state` bit the kernel sets for a preempted task ("R+").
const TASK_REPORT_MAX: i64 = 0x100;

/// Sizes of the engine's live state, to check that memory follows requests in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Footprint {
    /// Sockets tracked.
    pub endpoints: usize,
    /// Connection directions tracked.
    pub streams: usize,
    /// Runs of bytes queued in them.
    pub segments: usize,
    /// Spans not yet emitted.
    pub spans: usize,
    /// Traces not yet emitted.
    pub traces: usize,
    /// Threads tracked.
    pub threads: usize,
}

/// Accuracy caveats the engine counts (the text is what the summary prints).
#[derive(Debug, Clone, Copy)]
enum Caveat {
    SideInferred,
    AnswerBeforeRecording,
    ResponseBeforeRecording,
    ParentGone,
    ClosedBeforeAnswer,
    SyscallBytes,
}

impl Caveat {
    const ALL: usize = 6;
    fn text(self) -> &'static str {
        match self {
            Caveat::SideInferred => {
                "connection older than the recording: client/server side inferred from its peer, \
                 its ports or who spoke first"
            }
            Caveat::AnswerBeforeRecording => {
                "answer bytes read for a call made before the recording started (ignored)"
            }
            Caveat::ResponseBeforeRecording => {
                "bytes written by a server with no request read first (a greeting, or the \
                 answer to a request read before the recording; ignored)"
            }
            Caveat::ParentGone => {
                "request bytes whose sending span was already emitted: started a new trace"
            }
            Caveat::ClosedBeforeAnswer => "connection closed before the answer",
            Caveat::SyscallBytes => {
                "send/recv syscalls whose bytes came from their return value (kernel without \
                 sock_send_length): less precise, sockets unknown until their first read or connect"
            }
        }
    }
}

/// Reconstructs request traces from kernel events. Pure: no I/O, clock or threads.
pub struct Engine {
    config: Config,
    layout: Layout,
    threads: Threads,
    sockets: Sockets,
    spans: Spans,
    /// No thread list in the world: every thread is traced.
    trace_all: bool,
    /// Traced threads inside a send syscall.
    in_send: Vec<Tid>,
    /// Streams holding a pending read.
    pending: Vec<StreamId>,
    /// Descriptor → socket, for [`ByteSource::SyscallExits`].
    fds: FdTable,
    caveats: [u64; Caveat::ALL],
    events: u64,
    /// Time of the last event.
    now: Timestamp,
    unattributed: u64,
    traces_out: u64,
    spans_out: u64,
    handler: Option<Box<dyn SpanHandler>>,
}

impl Engine {
    /// An engine for a recording that started in `world`; `names` tells which fields of
    /// [`EventKind::Other`] events are summed per span.
    pub fn new(world: World, names: EventNames, config: Config) -> Engine {
        let mut engine = Engine {
            layout: Layout::new(&names),
            threads: Threads::default(),
            sockets: Sockets::default(),
            spans: Spans::default(),
            trace_all: world.threads.is_empty(),
            in_send: Vec::new(),
            pending: Vec::new(),
            fds: FdTable::default(),
            caveats: [0; Caveat::ALL],
            events: 0,
            now: 0,
            unattributed: 0,
            traces_out: 0,
            spans_out: 0,
            handler: None,
            config,
        };
        for t in &world.threads {
            let name = engine
                .service_name(t.tgid)
                .unwrap_or(&t.service)
                .to_string();
            let service = engine.threads.service(&name);
            engine.threads.add(t.tid, t.tgid, service, 0);
        }
        for s in &world.sockets {
            let Some(sk) = s.sk else { continue };
            engine.sockets.endpoint(sk).side = if s.server_side {
                Side::Server
            } else {
                Side::Client
            };
            engine
                .sockets
                .bind(sk, s.tuple, engine.config.max_segments_per_stream);
            if s.recv_queue > 0 {
                let inp = engine.sockets.endpoints[&sk].inp.expect("bound just above");
                let max = engine.config.max_segments_per_stream;
                engine
                    .sockets
                    .stream(inp)
                    .push(s.recv_queue, Origin::BeforeRecording, max);
            }
        }
        engine
    }

    /// Sets the handler that sees every attributed event and every finished span.
    pub fn set_handler(&mut self, handler: Box<dyn SpanHandler>) {
        self.handler = Some(handler);
    }

    fn service_name(&self, tgid: i32) -> Option<&str> {
        self.config
            .service_overrides
            .iter()
            .find(|(p, _)| *p == tgid)
            .map(|(_, n)| n.as_str())
    }

    /// Consumes one event (events must come in time order) and calls `emit` for every
    /// trace that became complete.
    pub fn push(&mut self, ev: &Event, emit: &mut dyn FnMut(Trace)) {
        self.events += 1;
        let ts = ev.ts;
        self.now = ts;
        if self.trace_all && !ev.in_irq && ev.tid > 0 && !self.threads.map.contains_key(&ev.tid) {
            let service = self.threads.service(&format!("pid {}", ev.tid));
            self.threads.add(ev.tid, ev.tid, service, ts);
        }
        match &ev.kind {
            EventKind::SockState {
                sk,
                old,
                new,
                tuple,
            } => {
                self.learn_fd(ev, *sk);
                self.on_state(*sk, *old, *new, *tuple)
            }
            EventKind::RcvSpace { sk, tuple, .. } => {
                self.learn_fd(ev, *sk);
                self.bind(*sk, *tuple)
            }
            EventKind::SockDestroy { sk } => self.drop_socket(*sk),
            EventKind::NewTask { child, clone_flags } if !ev.in_irq => {
                self.spawn(ev.tid, *child, clone_flags & CLONE_THREAD != 0, ts)
            }
            EventKind::Fork { parent, child } => self.spawn(*parent, *child, false, ts),
            EventKind::Switch {
                prev,
                prev_state,
                next,
            } => self.on_switch(*prev, *prev_state, *next, ts),
            EventKind::Waking { target } => self.on_waking(ev.tid, ev.in_irq, *target, ts),
            EventKind::WakeupNew { target } => self.set_sched(*target, Sched::Runnable, ts),
            EventKind::SyscallEnter { call, fd } if !ev.in_irq => {
                self.on_enter(ev.tid, *call, *fd, ts)
            }
            EventKind::SyscallExit { call, ret } if !ev.in_irq => {
                self.attribute(ev);
                if self.config.bytes_from == ByteSource::SyscallExits {
                    self.syscall_bytes(ev.tid, *call, *ret, ts);
                }
                self.on_exit(ev.tid, *call, ts);
                self.drain(emit);
                return;
            }
            EventKind::SockSend {
                sk,
                protocol,
                ret,
                flags,
                ..
            } if !ev.in_irq && self.sock_bytes(*protocol, *ret, *flags) => {
                self.on_send(ev.tid, *sk, *ret as u64, ts)
            }
            EventKind::SockRecv {
                sk,
                protocol,
                ret,
                flags,
                ..
            } if !ev.in_irq && self.sock_bytes(*protocol, *ret, *flags) => {
                self.on_recv(ev.tid, *sk, *ret as u64, ts)
            }
            EventKind::Exit if !ev.in_irq => {
                self.attribute(ev);
                self.flush(ev.tid, ts);
                self.threads.map.remove(&ev.tid);
                self.in_send.retain(|&t| t != ev.tid);
                self.drain(emit);
                return;
            }
            _ => {}
        }
        self.attribute(ev);
        self.drain(emit);
    }

    /// End of input: resolves what is still pending, emits every open trace (spans whose
    /// answer never started are marked partial) and returns the summary.
    pub fn finish(mut self, emit: &mut dyn FnMut(Trace)) -> Summary {
        for id in std::mem::take(&mut self.pending) {
            if let Some(p) = self.sockets.stream_opt(id).and_then(|s| s.pending.take()) {
                self.resolve(p, Origin::Untraced);
            }
        }
        for id in self.sockets.incomplete_answers() {
            self.spans.cut(id, self.now);
        }
        let tids: Vec<Tid> = self.threads.map.keys().copied().collect();
        let end = self.now;
        for tid in tids {
            self.flush(tid, end);
        }
        self.spans.finish(end);
        self.drain(emit);
        self.caveats[Caveat::SyscallBytes as usize] = self.fds.used;
        let mut caveats: Vec<(String, u64)> = Vec::new();
        for (i, &n) in self.caveats.iter().enumerate() {
            if n > 0 {
                caveats.push((CAVEATS[i].text().to_string(), n));
            }
        }
        Summary {
            traces: self.traces_out,
            spans: self.spans_out,
            events: self.events,
            unattributed_events: self.unattributed + self.spans.dropped_tail_events,
            caveats,
        }
    }

    /// Sizes of the live state (for memory checks and diagnostics).
    pub fn footprint(&self) -> Footprint {
        let (streams, segments) = self.sockets.footprint();
        let (spans, traces) = self.spans.footprint();
        Footprint {
            endpoints: self.sockets.endpoints.len(),
            streams,
            segments,
            spans,
            traces,
            threads: self.threads.map.len(),
        }
    }

    fn caveat(&mut self, c: Caveat) {
        self.caveats[c as usize] += 1;
    }

    fn drain(&mut self, emit: &mut dyn FnMut(Trace)) {
        if self.spans.ready.is_empty() {
            return;
        }
        for ready in self.spans.ready.drain(..) {
            let trace = ready.into_trace(&self.layout);
            if let Some(h) = self.handler.as_mut() {
                for span in &trace.spans {
                    h.on_span_end(span);
                }
            }
            self.traces_out += 1;
            self.spans_out += trace.spans.len() as u64;
            emit(trace);
        }
    }

    /// Counts `ev` in the span its thread works for, or as unattributed.
    fn attribute(&mut self, ev: &Event) {
        if ev.in_irq {
            return;
        }
        let Some(th) = self.threads.map.get(&ev.tid) else {
            return;
        };
        let target = th.target();
        let live = target
            .and_then(|id| self.spans.get_mut(id))
            .filter(|s| !s.closed);
        let Some(span) = live else {
            self.unattributed += 1;
            return;
        };
        let values: &[i64] = match &ev.kind {
            EventKind::Other { values } => values,
            _ => &[],
        };
        self.layout.record(span.sink(), ev.type_id, values);
        if let (Some(h), Some(id)) = (self.handler.as_mut(), target) {
            h.on_event(id, ev);
        }
    }

    /// Charges the thread's time since its last change to its target span.
    fn flush(&mut self, tid: Tid, now: Timestamp) {
        flush(&mut self.threads, &mut self.spans, tid, now);
    }

    /// Changes what a thread works for (flushing its time first).
    fn retarget(
        &mut self,
        tid: Tid,
        now: Timestamp,
        ctx: Option<SpanId>,
        call: Option<SpanId>,
        src: CtxSource,
    ) {
        self.flush(tid, now);
        let Some(th) = self.threads.map.get_mut(&tid) else {
            return;
        };
        th.ctx = ctx;
        th.call = call;
        th.ctx_src = src;
        if let Some(s) = th.target().and_then(|id| self.spans.get_mut(id)) {
            if !s.span.threads.contains(&tid) {
                s.span.threads.push(tid);
            }
        }
    }

    fn set_sched(&mut self, tid: Tid, sched: Sched, now: Timestamp) {
        self.flush(tid, now);
        if let Some(th) = self.threads.map.get_mut(&tid) {
            th.sched = sched;
        }
    }

    fn spawn(&mut self, parent: Tid, child: Tid, thread: bool, now: Timestamp) {
        if self.threads.map.contains_key(&child) {
            return;
        }
        let Some(p) = self.threads.map.get(&parent) else {
            return;
        };
        let (tgid, service, ctx) = (if thread { p.tgid } else { child }, p.service, p.ctx);
        self.threads.add(child, tgid, service, now);
        self.retarget(child, now, ctx, None, CtxSource::Returned);
    }

    fn on_switch(&mut self, prev: Tid, prev_state: i64, next: Tid, now: Timestamp) {
        if let Some(th) = self.threads.map.get(&prev) {
            let sched = if prev_state == 0 || prev_state & TASK_REPORT_MAX != 0 {
                Sched::Runnable
            } else {
                Sched::Blocked(th.block_bucket(prev_state))
            };
            self.set_sched(prev, sched, now);
        }
        self.set_sched(next, Sched::Running, now);
    }

    fn on_waking(&mut self, waker: Tid, in_irq: bool, target: Tid, now: Timestamp) {
        let Some(th) = self.threads.map.get_mut(&target) else {
            return;
        };
        // A thread whose state is still unknown (recording just started) is being woken
        // from a block too.
        if matches!(th.sched, Sched::Blocked(_) | Sched::Unknown) {
            th.avail = Some(now);
            self.set_sched(target, Sched::Runnable, now);
        }
        if !in_irq {
            self.hand_off(waker, target, now);
        }
    }

    /// A wakeup from process context passes the waker's live request context to the woken
    /// thread (a worker pool fed by a queue), unless that would be a false link.
    fn hand_off(&mut self, waker: Tid, target: Tid, now: Timestamp) {
        let Some(w) = self.threads.map.get(&waker) else {
            return;
        };
        let Some(ctx) = w.ctx else { return };
        let waker_sending = w.sys == Some(Syscall::Send);
        let Some(t) = self.threads.map.get(&target) else {
            return;
        };
        if t.ctx == Some(ctx) || waker == target {
            return;
        }
        // Socket wakeups: the woken thread will read the bytes, which carry the context.
        match t.sys {
            Some(Syscall::Recv | Syscall::Accept | Syscall::Connect) => return,
            Some(Syscall::Poll) if waker_sending => return,
            _ => {}
        }
        let live_unanswered = |id: Option<SpanId>| {
            id.and_then(|id| self.spans.get(id))
                .is_some_and(|s| !s.answered && !s.closed)
        };
        // The waker's request must still be in progress, and the waker must be the thread
        // that read it (a worker that got it handed over, or a thread back from a call made
        // for it, wakes others for its own reasons: lock and GIL noise).
        let own = w.ctx_src == CtxSource::Read
            || self.spans.get(ctx).is_some_and(|s| s.span.tid == waker);
        if !own || !live_unanswered(Some(ctx)) {
            return;
        }
        // The woken thread must not be busy with a request of its own: one it read, a call
        // it is waiting for, or one handed over by a thread that is still blocked waiting
        // for it (a submitter waiting on a future: later wakeups are lock noise).
        let busy = match t.ctx_src {
            _ if t.call.is_some() && live_unanswered(t.call) => true,
            CtxSource::Read => live_unanswered(t.ctx),
            CtxSource::HandOff(by) => {
                live_unanswered(t.ctx)
                    && self.threads.map.get(&by).is_some_and(|b| {
                        b.sys == Some(Syscall::Futex) && matches!(b.sched, Sched::Blocked(_))
                    })
            }
            CtxSource::Returned => false,
        };
        if busy {
            return;
        }
        self.retarget(target, now, Some(ctx), None, CtxSource::HandOff(waker));
    }

    /// True for a TCP send/recv event that moved bytes (not an error, not a MSG_PEEK),
    /// when byte counts come from these events.
    fn sock_bytes(&self, protocol: u16, ret: i32, flags: i32) -> bool {
        self.config.bytes_from == ByteSource::SockEvents
            && protocol == IPPROTO_TCP
            && ret > 0
            && flags & MSG_PEEK == 0
    }

    /// Fallback: a socket event inside a syscall on a descriptor says which socket the
    /// descriptor is.
    fn learn_fd(&mut self, ev: &Event, sk: SockAddr) {
        if ev.in_irq || self.config.bytes_from != ByteSource::SyscallExits {
            return;
        }
        if let Some(th) = self.threads.map.get(&ev.tid) {
            if let (Some(_), Some(fd)) = (th.sys, th.sys_fd) {
                self.fds.learn(th.tgid, fd, sk);
            }
        }
    }

    /// Fallback: a send/recv syscall on a known socket descriptor moved `ret` bytes.
    fn syscall_bytes(&mut self, tid: Tid, call: Syscall, ret: i64, now: Timestamp) {
        let Some(th) = self.threads.map.get(&tid) else {
            return;
        };
        let Some(fd) = th.sys_fd else { return };
        if call == Syscall::Close {
            self.fds.forget(th.tgid, fd);
            return;
        }
        let Some(sk) = self.fds.socket(th.tgid, fd) else {
            return;
        };
        if ret <= 0 {
            return;
        }
        match call {
            Syscall::Send => self.on_send(tid, sk, ret as u64, now),
            Syscall::Recv => self.on_recv(tid, sk, ret as u64, now),
            _ => return,
        }
        self.fds.used += 1;
    }

    fn on_enter(&mut self, tid: Tid, call: Syscall, fd: Option<i64>, now: Timestamp) {
        let Some(th) = self.threads.map.get_mut(&tid) else {
            return;
        };
        th.sys = Some(call);
        th.sys_fd = fd;
        th.sys_enter = now;
        th.avail = Some(now);
        if call == Syscall::Send {
            self.in_send.push(tid);
        }
    }

    fn on_exit(&mut self, tid: Tid, call: Syscall, now: Timestamp) {
        self.flush(tid, now);
        let Some(th) = self.threads.map.get_mut(&tid) else {
            return;
        };
        th.sys = None;
        if let Some(id) = th.end_on_exit.take() {
            self.spans.extend(id, now);
        }
        if call == Syscall::Send {
            self.in_send.retain(|&t| t != tid);
            self.sender_left(tid);
        }
    }

    /// `tid` left a send syscall: pending reads that waited only for it have an untraced
    /// sender.
    fn sender_left(&mut self, tid: Tid) {
        if self.pending.is_empty() {
            return;
        }
        let mut resolved = Vec::new();
        self.pending.retain(|&id| {
            let Some(stream) = self.sockets.stream_opt(id) else {
                return false;
            };
            let Some(p) = stream.pending.as_mut() else {
                return false;
            };
            p.waiting.retain(|&t| t != tid);
            if p.waiting.is_empty() {
                stream.sender_untraced = true;
                resolved.extend(stream.pending.take());
                return false;
            }
            true
        });
        for p in resolved {
            self.resolve(p, Origin::Untraced);
        }
    }

    /// A pending read learnt where its first byte came from.
    fn resolve(&mut self, p: PendingRead, origin: Origin) {
        match origin {
            Origin::Span(parent) => {
                if !self.spans.adopt(p.span, parent) {
                    self.caveat(Caveat::ParentGone);
                }
            }
            Origin::Untraced | Origin::BeforeRecording => {
                if origin == Origin::BeforeRecording || p.suspect {
                    if let Some(s) = self.spans.get_mut(p.span) {
                        s.span.partial = true;
                    }
                }
            }
        }
    }

    fn on_state(&mut self, sk: SockAddr, old: TcpState, new: TcpState, tuple: FourTuple) {
        let replaced = match (old, new) {
            (_, TCP_SYN_SENT) => self.sockets.fresh_endpoint(sk, Side::Client),
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

    fn bind(&mut self, sk: SockAddr, tuple: FourTuple) {
        let max = self.config.max_segments_per_stream;
        for (p, origin) in self.sockets.bind(sk, tuple, max) {
            self.resolve(p, origin);
        }
        self.check_unbound();
    }

    fn drop_socket(&mut self, sk: SockAddr) {
        if let Some(ep) = self.sockets.remove(sk) {
            self.end_endpoint(ep);
        }
        self.check_unbound();
    }

    /// Once no unbound socket holds sends, pending reads stop waiting for them.
    fn check_unbound(&mut self) {
        if self.sockets.unbound_senders == 0 {
            self.sender_left(UNBOUND_SENDERS);
        }
    }

    /// A socket is gone: its current span is final.
    fn end_endpoint(&mut self, ep: Endpoint) {
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
    fn side_of(&mut self, sk: SockAddr, first_op_is_send: bool) -> Side {
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

    fn on_send(&mut self, tid: Tid, sk: SockAddr, n: u64, now: Timestamp) {
        let origin = if self.threads.map.contains_key(&tid) {
            match self.side_of(sk, true) {
                Side::Server => self.response_bytes(tid, sk, n),
                _ => self.request_bytes(tid, sk, n, now),
            }
        } else {
            Origin::Untraced
        };
        let max = self.config.max_segments_per_stream;
        match self.sockets.endpoint(sk).out {
            Some(out) => {
                if let Some((p, o)) = self.sockets.stream(out).push(n, origin, max) {
                    self.pending.retain(|&id| id != out);
                    self.resolve(p, o);
                }
            }
            None => self.sockets.queue_early(sk, n, origin),
        }
    }

    /// A traced thread writes on the server side: the response of the current request.
    fn response_bytes(&mut self, tid: Tid, sk: SockAddr, n: u64) -> Origin {
        let ep = self.sockets.endpoint(sk);
        let Some(id) = ep.span else {
            self.caveat(Caveat::ResponseBeforeRecording);
            return Origin::BeforeRecording;
        };
        ep.phase = Phase::Answer;
        if let Some(s) = self.spans.get_mut(id) {
            s.answered = true;
            s.main.a.bytes_out += n;
        }
        if let Some(th) = self.threads.map.get_mut(&tid) {
            th.end_on_exit = Some(id);
        }
        Origin::Span(id)
    }

    /// A traced thread writes on the client side: a call in its current context.
    fn request_bytes(&mut self, tid: Tid, sk: SockAddr, n: u64, now: Timestamp) -> Origin {
        let ep = self.sockets.endpoint(sk);
        let id = match (ep.phase, ep.span) {
            (Phase::Request, Some(id)) => id,
            (_, old) => {
                ep.phase = Phase::Request;
                ep.requests += 1;
                let tuple = ep.tuple;
                if let Some(old) = old {
                    self.spans.close(old);
                }
                let th = &self.threads.map[&tid];
                let start = if th.sys == Some(Syscall::Send) {
                    th.sys_enter
                } else {
                    now
                };
                let span = self.new_span(SpanKind::Client, th.ctx, tid, start, tuple);
                let id = self.spans.open(span);
                self.sockets.endpoint(sk).span = Some(id);
                let ctx = self.threads.map[&tid].ctx;
                let src = self.threads.map[&tid].ctx_src;
                self.retarget(tid, now, ctx, Some(id), src);
                id
            }
        };
        if let Some(s) = self.spans.get_mut(id) {
            s.main.a.bytes_out += n;
        }
        Origin::Span(id)
    }

    fn new_span(
        &self,
        kind: SpanKind,
        parent: Option<SpanId>,
        tid: Tid,
        start: Timestamp,
        tuple: Option<FourTuple>,
    ) -> Span {
        let th = &self.threads.map[&tid];
        Span {
            id: SpanId(0),
            parent,
            kind,
            service: self.threads.services[th.service as usize].clone(),
            pid: th.tgid,
            tid,
            threads: vec![tid],
            start,
            end: start,
            local: tuple.map(|t| addr(t.local)),
            peer: tuple.map(|t| addr(t.remote)),
            partial: false,
            error: None,
            activity: Activity::default(),
        }
    }

    fn on_recv(&mut self, tid: Tid, sk: SockAddr, n: u64, now: Timestamp) {
        let traced = self.threads.map.contains_key(&tid);
        let side = if traced {
            self.side_of(sk, false)
        } else {
            Side::Unknown
        };
        let ep = self.sockets.endpoint(sk);
        // A read that starts a new message (a request on the server side, an answer on the
        // client side) comes after a turn of the conversation.
        let turn = match side {
            Side::Server => ep.phase != Phase::Request,
            Side::Client => ep.phase == Phase::Request,
            Side::Unknown => false,
        };
        let (first, origin) = match ep.inp {
            Some(inp) => {
                let stream = self.sockets.stream(inp);
                if turn {
                    stream.realign_at_turn();
                }
                let first = stream.read_offset();
                (Some((inp, first)), stream.read(n))
            }
            None => {
                ep.early_read += n;
                (None, Some(Origin::BeforeRecording))
            }
        };
        match side {
            Side::Client => self.answer_bytes(tid, sk, n, now),
            Side::Server => self.request_read(tid, sk, n, now, first, origin),
            Side::Unknown => {}
        }
    }

    /// A traced thread reads the answer of its call: back in the call's parent context.
    fn answer_bytes(&mut self, tid: Tid, sk: SockAddr, n: u64, now: Timestamp) {
        let ep = self.sockets.endpoint(sk);
        let Some(id) = ep.span else {
            self.caveat(Caveat::AnswerBeforeRecording);
            return;
        };
        ep.phase = Phase::Answer;
        let Some(s) = self.spans.get_mut(id) else {
            return;
        };
        s.answered = true;
        s.main.a.bytes_in += n;
        let parent = s.span.parent;
        self.retarget(tid, now, parent, None, CtxSource::Returned);
        if let Some(th) = self.threads.map.get_mut(&tid) {
            th.end_on_exit = Some(id);
        }
    }

    /// A traced thread reads on the server side: a new request opens a server span.
    fn request_read(
        &mut self,
        tid: Tid,
        sk: SockAddr,
        n: u64,
        now: Timestamp,
        first: Option<(StreamId, u64)>,
        origin: Option<Origin>,
    ) {
        let ep = self.sockets.endpoint(sk);
        let id = match (ep.phase, ep.span) {
            (Phase::Request, Some(id)) => id,
            (_, old) => {
                ep.phase = Phase::Request;
                ep.requests += 1;
                // The first request on a connection older than the recording may have
                // started before it.
                let suspect = !ep.fresh && ep.requests == 1;
                let tuple = ep.tuple;
                if let Some(old) = old {
                    self.spans.close(old);
                }
                let parent = match origin {
                    Some(Origin::Span(p)) => Some(p),
                    _ => None,
                };
                let start = self.threads.map[&tid].avail.unwrap_or(now);
                let mut span = self.new_span(SpanKind::Server, parent, tid, start, tuple);
                span.partial = match origin {
                    Some(Origin::Span(_)) => false,
                    Some(Origin::BeforeRecording) => true,
                    Some(Origin::Untraced) => suspect,
                    // Decided when the sender is known (see `resolve`).
                    None => false,
                };
                if parent.is_some() && self.spans.get(parent.unwrap_or(SpanId(0))).is_none() {
                    self.caveat(Caveat::ParentGone);
                }
                let id = self.spans.open(span);
                self.sockets.endpoint(sk).span = Some(id);
                if let (None, Some((inp, at))) = (origin, first) {
                    self.wait_for_sender(tid, inp, at, id, suspect);
                }
                id
            }
        };
        if let Some(s) = self.spans.get_mut(id) {
            s.main.a.bytes_in += n;
        }
        self.retarget(tid, now, Some(id), None, CtxSource::Read);
    }

    /// A new request's first byte was not sent yet in event order: wait for the traced
    /// threads now inside a send syscall, unless the stream is known to have no traced
    /// sender.
    fn wait_for_sender(
        &mut self,
        reader: Tid,
        inp: StreamId,
        at: u64,
        span: SpanId,
        suspect: bool,
    ) {
        let mut waiting: Vec<Tid> = self
            .in_send
            .iter()
            .copied()
            .filter(|&t| t != reader)
            .collect();
        if self.sockets.unbound_senders > 0 {
            waiting.push(UNBOUND_SENDERS);
        }
        let read = PendingRead {
            at,
            span,
            waiting,
            suspect,
        };
        let stream = self.sockets.stream(inp);
        if read.waiting.is_empty() || stream.sender_untraced {
            stream.sender_untraced = true;
            self.resolve(read, Origin::Untraced);
            return;
        }
        if let Some(old) = stream.pending.replace(read) {
            self.resolve(old, Origin::Untraced);
        } else {
            self.pending.push(inp);
        }
    }
}

const CAVEATS: [Caveat; Caveat::ALL] = [
    Caveat::SideInferred,
    Caveat::AnswerBeforeRecording,
    Caveat::ResponseBeforeRecording,
    Caveat::ParentGone,
    Caveat::ClosedBeforeAnswer,
    Caveat::SyscallBytes,
];

/// True for ports in Linux's default ephemeral range (`ip_local_port_range`), which
/// connecting sockets get.
fn ephemeral(port: u16) -> bool {
    (32768..=60999).contains(&port)
}

/// An address for output: IPv4-mapped addresses as plain IPv4.
fn addr(a: SocketAddrV6) -> SocketAddr {
    match a.ip().to_ipv4_mapped() {
        Some(v4) => SocketAddr::new(v4.into(), a.port()),
        None => SocketAddr::V6(a),
    }
}

/// Charges a thread's time since its last change to its target span.
fn flush(threads: &mut Threads, spans: &mut Spans, tid: Tid, now: Timestamp) {
    let Some(th) = threads.map.get_mut(&tid) else {
        return;
    };
    let dt = now.saturating_sub(th.since);
    th.since = now;
    let bucket = match th.sched {
        Sched::Unknown => return,
        Sched::Running => Bucket::OnCpu,
        Sched::Runnable => Bucket::Runnable,
        Sched::Blocked(b) => b,
    };
    if dt == 0 {
        return;
    }
    if let Some(s) = th
        .target()
        .and_then(|id| spans.get_mut(id))
        .filter(|s| !s.closed)
    {
        s.sink().add_time(bucket, dt);
    }
}
