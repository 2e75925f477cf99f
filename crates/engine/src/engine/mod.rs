//! The reconstruction engine: consumes events in time order and emits traces.
//!
//! The rules it applies are written for users in `docs/engine.md`. The engine's methods are
//! grouped by concern: [`sched`] (threads, scheduler time, context hand-off),
//! [`connections`] (sockets, tuples, sides), [`messages`] (bytes, requests, answers and the
//! spans they open), [`mux`] (HTTP/2 streams as connections of their own), [`pipelined`]
//! (one span per command of a RESP pipeline) and [`fallback`] (byte counts from syscalls
//! on old kernels).

mod caveat;
mod connections;
mod endpoints;
mod fallback;
mod handon;
mod links;
mod messages;
mod mux;
mod pipelined;
mod relays;
mod resumed;
mod sched;
mod split;

use crate::activity::{Bucket, Layout};
use crate::calibration::Calibration;
use crate::config::{ByteSource, Config};
use crate::event::{Event, EventKind, FourTuple, SockAddr, Syscall, TcpState, Tid, Timestamp};
use crate::fds::FdTable;
use crate::futexes::Futexes;
use crate::handler::SpanHandler;
use crate::model::{Activity, EventNames, Evidence, Link, Span, SpanId, SpanKind, Summary, Trace};
use crate::patterns::{CallPatterns, Interval, Lag, LoopNote};
use crate::readers::RequestReaders;
use crate::sockets::{Endpoint, Phase, Side, Sockets, StreamId};
use crate::spans::Spans;
use crate::stream::{Origin, PendingRead};
use crate::threads::{BatchRead, CtxSource, ReadSince, RecentRead, Sched, Thread, Threads};
use crate::world::World;
use std::net::{SocketAddr, SocketAddrV6};

use caveat::{Caveat, CAVEATS};
use handon::HandOns;
use mux::Mux;
use relays::Relays;

const TCP_ESTABLISHED: TcpState = 1;
const TCP_SYN_SENT: TcpState = 2;
const TCP_SYN_RECV: TcpState = 3;
const TCP_FIN_WAIT1: TcpState = 4;
const TCP_CLOSE_WAIT: TcpState = 8;
const TCP_LAST_ACK: TcpState = 9;
const TCP_CLOSE: TcpState = 7;
const IPPROTO_TCP: u16 = 6;
const MSG_PEEK: i32 = 2;
/// `-ret` of a non-blocking read that found no data.
const EAGAIN: i32 = 11;
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

/// Reconstructs request traces from kernel events. Pure: no I/O, clock or threads.
pub struct Engine {
    config: Config,
    layout: Layout,
    threads: Threads,
    sockets: Sockets,
    spans: Spans,
    /// No thread list in the world: every thread is traced.
    trace_all: bool,
    /// From the world: seeds the ids.
    clock_to_unix_ns: i64,
    /// Traced threads inside a send syscall.
    in_send: Vec<Tid>,
    /// Sockets that reached TCP_CLOSE while traced threads were inside a send syscall:
    /// kept (with their tuple) until those threads leave it, since such a send's event
    /// comes after the state change (the peer's reset arrived during the send).
    closing: Vec<(SockAddr, Vec<Tid>)>,
    /// Streams holding a pending read.
    pending: Vec<StreamId>,
    /// Descriptor → socket, for [`ByteSource::SyscallExits`].
    fds: FdTable,
    /// Which futex words are locks and which carry work.
    futexes: Futexes,
    /// Which threads of each process read requests.
    readers: RequestReaders,
    /// The calls each endpoint was seen making (from payload heads).
    patterns: CallPatterns,
    /// Orphan calls waiting for the first of their candidates with room to answer (`split`).
    split_waiting: Vec<SpanId>,
    /// Requests that started their response before their process's first fit while a
    /// waiting orphan could be theirs: (request, its process, when its response started),
    /// held until the first split with counts (`split`).
    split_held: Vec<(SpanId, i32, Timestamp)>,
    /// How often each evidence agreed, per process, with the evidence decided after the call.
    calibration: Calibration,
    /// Calls handed a connection an answer had just freed, and what each process's say.
    hand_ons: HandOns,
    /// Results handed back to event loops through wakeup channels.
    relays: Relays,
    /// Multiplexed connections' streams.
    mux: Mux,
    caveats: [u64; Caveat::ALL],
    events: u64,
    /// Time of the last event.
    now: Timestamp,
    /// Event time of the next look for idle traces ([`Config::idle_close_ns`]).
    next_idle_check: Timestamp,
    unattributed: u64,
    traces_out: u64,
    spans_out: u64,
    /// Links emitted, per evidence (indexed by `Evidence as usize`): (all, unsure).
    links_out: [(u64, u64); Evidence::ALL.len()],
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
            clock_to_unix_ns: world.clock_to_unix_ns,
            in_send: Vec::new(),
            closing: Vec::new(),
            pending: Vec::new(),
            fds: FdTable::default(),
            futexes: Futexes::default(),
            readers: RequestReaders::default(),
            patterns: CallPatterns::default(),
            split_waiting: Vec::new(),
            split_held: Vec::new(),
            calibration: Calibration::default(),
            hand_ons: HandOns::default(),
            relays: Relays::default(),
            mux: Mux::default(),
            caveats: [0; Caveat::ALL],
            events: 0,
            now: 0,
            next_idle_check: Timestamp::MAX,
            unattributed: 0,
            traces_out: 0,
            spans_out: 0,
            links_out: Default::default(),
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
        if self.events == 1 {
            // Ids differ between recordings (first timestamp, boot offset) and are stable
            // for one recording.
            self.spans
                .seed_ids(ev.ts ^ (self.clock_to_unix_ns as u64).rotate_left(32));
            self.next_idle_check = self.idle_step().map_or(Timestamp::MAX, |s| ev.ts + s);
        }
        let ts = ev.ts;
        if ts > self.next_idle_check {
            self.close_idle(ts, emit);
        }
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
                let thread = (!ev.in_irq).then_some(ev.tid);
                self.on_state(*sk, *old, *new, *tuple, thread)
            }
            EventKind::RcvSpace { sk, tuple, .. } => {
                self.learn_fd(ev, *sk);
                self.bind(*sk, *tuple)
            }
            EventKind::SockDestroy { sk } => {
                self.closing.retain(|&(s, _)| s != *sk);
                self.drop_socket(*sk)
            }
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
            EventKind::SyscallEnter { call, arg } if !ev.in_irq => {
                self.on_enter(ev.tid, *call, *arg, ts)
            }
            EventKind::SyscallExit { call, ret } if !ev.in_irq => {
                self.attribute(ev);
                if self.config.bytes_from == ByteSource::SyscallExits {
                    self.syscall_bytes(ev.tid, *call, *ret, ts);
                }
                self.on_exit(ev.tid, *call, ts);
                self.streams_exit(ev.tid, ts);
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
                self.socket_io(ev.tid, *sk);
                self.on_send(ev.tid, *sk, *ret as u64, ts)
            }
            EventKind::SockRecv {
                sk,
                protocol,
                ret,
                flags,
                ..
            } if !ev.in_irq && self.sock_bytes(*protocol, *ret, *flags) => {
                self.socket_io(ev.tid, *sk);
                self.on_recv(ev.tid, *sk, *ret as u64, ts)
            }
            EventKind::SockRecv { sk, ret, .. }
                if !ev.in_irq
                    && *ret == -EAGAIN
                    && self.config.bytes_from == ByteSource::SockEvents =>
            {
                self.empty_read(ev.tid, *sk, ts)
            }
            EventKind::Head { fd, send, sig } => {
                self.on_head(ev.tid, *fd, *send, *sig);
                return;
            }
            EventKind::Frames { fd, frames, sig } => {
                self.on_frames(ev.tid, *fd, frames, *sig, ts);
                return;
            }
            EventKind::Messages { fd, send, messages } => {
                self.on_messages(ev.tid, *fd, *send, messages, ts);
                return;
            }
            EventKind::Exit if !ev.in_irq => {
                self.attribute(ev);
                self.set_read_since(ev.tid, ReadSince::Nothing);
                self.recent_forget(ev.tid);
                self.flush(ev.tid, ts);
                self.mux.forget(ev.tid);
                if let Some(th) = self.threads.map.remove(&ev.tid) {
                    self.patterns.forget(ev.tid, th.tgid);
                    if ev.tid == th.tgid {
                        self.calibration.forget(th.tgid);
                        self.hand_ons.forget(th.tgid);
                        self.relays_forget(th.tgid);
                        self.release_held(th.tgid, true);
                    }
                }
                self.in_send.retain(|&t| t != ev.tid);
                self.left_send(ev.tid);
                self.drain(emit);
                return;
            }
            _ => {}
        }
        self.attribute(ev);
        self.drain(emit);
    }

    /// Tells the engine that no event stamped before `ts` is still to come (a live
    /// recording drained every CPU past it): traces idle for [`Config::idle_close_ns`] by
    /// then are emitted, exactly as the next event would have them.
    pub fn advance(&mut self, ts: Timestamp, emit: &mut dyn FnMut(Trace)) {
        if ts > self.next_idle_check {
            self.close_idle(ts, emit);
        }
    }

    /// The period of the look for idle traces, `None` when they wait for their connections.
    fn idle_step(&self) -> Option<Timestamp> {
        (self.config.idle_close_ns > 0).then(|| (self.config.idle_close_ns / 4).max(1))
    }

    /// Looks for idle traces at the last check time before `ts` (a grid fixed by the first
    /// event, so a file's analysis and a live one look at the same times) and emits them.
    #[cold]
    fn close_idle(&mut self, ts: Timestamp, emit: &mut dyn FnMut(Trace)) {
        let Some(step) = self.idle_step() else {
            return;
        };
        let at = self.next_idle_check + (ts - 1 - self.next_idle_check) / step * step;
        self.spans
            .close_idle(at.saturating_sub(self.config.idle_close_ns));
        self.next_idle_check = at + step;
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
            links: Evidence::ALL
                .iter()
                .zip(self.links_out)
                .filter(|(_, (n, _))| *n > 0)
                .map(|(&e, (n, unsure))| (e, n, unsure))
                .collect(),
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

    /// Emits the traces that became complete (checked after every event: inlined, so that
    /// the common case, none, costs one compare).
    #[inline]
    fn drain(&mut self, emit: &mut dyn FnMut(Trace)) {
        if !self.spans.ready.is_empty() {
            self.emit_ready(emit);
        }
    }

    fn emit_ready(&mut self, emit: &mut dyn FnMut(Trace)) {
        // Taken out (and put back, to keep its allocation) so that the loop can read the
        // engine's state.
        let mut ready_traces = std::mem::take(&mut self.spans.ready);
        for ready in ready_traces.drain(..) {
            let mut trace = ready.into_trace(&self.layout);
            for span in &mut trace.spans {
                if let Some(link) = span.link.as_mut().filter(|l| l.candidates > 1) {
                    link.confidence = self.calibration.cap(
                        span.pid,
                        link.evidence,
                        self.emitted_confidence(span.pid, link),
                    );
                }
            }
            if let Some(h) = self.handler.as_mut() {
                for span in &trace.spans {
                    h.on_span_end(span);
                }
            }
            self.traces_out += 1;
            self.spans_out += trace.spans.len() as u64;
            for link in trace.spans.iter().filter_map(|s| s.link) {
                let count = &mut self.links_out[link.evidence as usize];
                count.0 += 1;
                count.1 += u64::from(link.confidence < Link::SURE);
            }
            emit(trace);
        }
        self.spans.ready = ready_traces;
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
}
