//! A small builder for readable engine tests: synthetic kernel event sequences, run
//! through the engine, and traces rendered as indented text for exact comparison.
#![allow(dead_code)] // each test file uses a different subset of the builder

use kspan_engine::*;
use std::net::{Ipv4Addr, SocketAddrV6};

/// Event type ids the builder stamps on each kind (one per kind, like ftrace ids).
pub mod ty {
    pub const SWITCH: u32 = 1;
    pub const WAKING: u32 = 2;
    pub const ENTER: u32 = 3;
    pub const EXIT: u32 = 4;
    pub const SEND: u32 = 5;
    pub const RECV: u32 = 6;
    pub const STATE: u32 = 7;
    pub const RCVSPACE: u32 = 8;
    pub const OTHER: u32 = 9;
    pub const TASK: u32 = 10;
    pub const DESTROY: u32 = 11;
    pub const PROC_EXIT: u32 = 12;
}

/// A recording under construction.
#[derive(Default)]
pub struct Rec {
    pub events: Vec<Event>,
    pub world: World,
    pub names: EventNames,
}

/// `10.0.0.<host>:<port>` as the engine stores it.
pub fn sa(host: u8, port: u16) -> SocketAddrV6 {
    SocketAddrV6::new(Ipv4Addr::new(10, 0, 0, host).to_ipv6_mapped(), port, 0, 0)
}

/// The tuple of a connection from `client` to `server` as the client sees it.
pub fn tuple(client: SocketAddrV6, server: SocketAddrV6) -> FourTuple {
    FourTuple {
        local: client,
        remote: server,
    }
}

fn type_of(kind: &EventKind) -> u32 {
    match kind {
        EventKind::Switch { .. } => ty::SWITCH,
        EventKind::Waking { .. } | EventKind::WakeupNew { .. } => ty::WAKING,
        EventKind::SyscallEnter { .. } => ty::ENTER,
        EventKind::SyscallExit { .. } => ty::EXIT,
        EventKind::SockSend { .. } => ty::SEND,
        EventKind::SockRecv { .. } => ty::RECV,
        EventKind::SockState { .. } => ty::STATE,
        EventKind::RcvSpace { .. } => ty::RCVSPACE,
        EventKind::NewTask { .. } | EventKind::Fork { .. } | EventKind::Exec { .. } => ty::TASK,
        EventKind::SockDestroy { .. } => ty::DESTROY,
        EventKind::Exit => ty::PROC_EXIT,
        EventKind::Other { .. }
        | EventKind::Head { .. }
        | EventKind::Frames { .. }
        | EventKind::Messages { .. } => ty::OTHER,
    }
}

impl Rec {
    pub fn new() -> Rec {
        Rec::default()
    }

    /// Declares a traced thread in the world snapshot.
    pub fn thread(&mut self, tid: Tid, tgid: i32, service: &str) -> &mut Self {
        self.world.threads.push(ThreadInfo {
            tid,
            tgid,
            comm: service.to_string(),
            service: service.to_string(),
        });
        self
    }

    /// An event in process context.
    pub fn ev(&mut self, ts: u64, tid: Tid, kind: EventKind) -> &mut Self {
        let type_id = type_of(&kind);
        self.events.push(Event {
            ts,
            cpu: 0,
            tid,
            in_irq: false,
            type_id,
            kind,
        });
        self
    }

    /// An event in interrupt context (its tid is meaningless).
    pub fn irq(&mut self, ts: u64, kind: EventKind) -> &mut Self {
        let type_id = type_of(&kind);
        self.events.push(Event {
            ts,
            cpu: 0,
            tid: 0,
            in_irq: true,
            type_id,
            kind,
        });
        self
    }

    /// A TCP handshake from `client_tid`'s socket `csk` (address `c`) to the accepted
    /// socket `ssk` (address `s`): events at ts..ts+3.
    pub fn connect(
        &mut self,
        ts: u64,
        client_tid: Tid,
        csk: u64,
        c: SocketAddrV6,
        ssk: u64,
        s: SocketAddrV6,
    ) -> &mut Self {
        let ct = tuple(c, s);
        let unbound = tuple(SocketAddrV6::new(*c.ip(), 0, 0, 0), s);
        self.ev(
            ts,
            client_tid,
            EventKind::SockState {
                sk: csk,
                old: 7,
                new: 2,
                tuple: unbound,
            },
        )
        .irq(
            ts + 1,
            EventKind::SockState {
                sk: ssk,
                old: 10,
                new: 3,
                tuple: ct.mirrored(),
            },
        )
        .irq(
            ts + 2,
            EventKind::SockState {
                sk: ssk,
                old: 3,
                new: 1,
                tuple: ct.mirrored(),
            },
        )
        .irq(
            ts + 3,
            EventKind::SockState {
                sk: csk,
                old: 2,
                new: 1,
                tuple: ct,
            },
        )
    }

    /// A socket reaching TCP_CLOSE (in interrupt context).
    pub fn close(&mut self, ts: u64, sk: u64, t: FourTuple) -> &mut Self {
        self.irq(
            ts,
            EventKind::SockState {
                sk,
                old: 1,
                new: 7,
                tuple: t,
            },
        )
    }

    pub fn enter(&mut self, ts: u64, tid: Tid, call: Syscall) -> &mut Self {
        self.enter_on(ts, tid, call, 3)
    }

    /// `tid` enters `call` on descriptor (or futex word) `arg`.
    pub fn enter_on(&mut self, ts: u64, tid: Tid, call: Syscall, arg: i64) -> &mut Self {
        self.ev(
            ts,
            tid,
            EventKind::SyscallEnter {
                call,
                arg: Some(arg),
            },
        )
    }

    /// `tid` wakes `target` from inside `futex()` on word `addr`: enter, waking, exit at
    /// ts..ts+2.
    pub fn futex_wake(&mut self, ts: u64, tid: Tid, addr: i64, target: Tid) -> &mut Self {
        let enter = EventKind::SyscallEnter {
            call: Syscall::Futex,
            arg: Some(addr),
        };
        self.ev(ts, tid, enter)
            .waking(ts + 1, tid, target)
            .exit(ts + 2, tid, Syscall::Futex)
    }

    pub fn exit(&mut self, ts: u64, tid: Tid, call: Syscall) -> &mut Self {
        self.ev(ts, tid, EventKind::SyscallExit { call, ret: 0 })
    }

    pub fn sock_send(&mut self, ts: u64, tid: Tid, sk: u64, n: i32) -> &mut Self {
        self.ev(
            ts,
            tid,
            EventKind::SockSend {
                sk,
                family: 10,
                protocol: 6,
                ret: n,
                flags: 0,
            },
        )
    }

    pub fn sock_recv(&mut self, ts: u64, tid: Tid, sk: u64, n: i32) -> &mut Self {
        self.ev(
            ts,
            tid,
            EventKind::SockRecv {
                sk,
                family: 10,
                protocol: 6,
                ret: n,
                flags: 0,
            },
        )
    }

    /// A whole send syscall: entry at ts, sock_send_length at ts+1, exit at ts+2.
    pub fn send(&mut self, ts: u64, tid: Tid, sk: u64, n: i32) -> &mut Self {
        self.enter(ts, tid, Syscall::Send)
            .sock_send(ts + 1, tid, sk, n)
            .exit(ts + 2, tid, Syscall::Send)
    }

    /// A payload head at ts: the message `tid`'s last send (`send`) or read on descriptor 3
    /// (every syscall here acts on 3) starts a request with endpoint signature `sig`.
    pub fn head(&mut self, ts: u64, tid: Tid, send: bool, sig: u64) -> &mut Self {
        self.ev(ts, tid, EventKind::Head { fd: 3, send, sig })
    }

    /// A payload head at ts (a send's entry): `tid`'s send on descriptor 3 is made of
    /// `frames` (HTTP/2), as (size, stream, carries a message); it opens a request of
    /// signature `sig`, if any.
    pub fn frames(
        &mut self,
        ts: u64,
        tid: Tid,
        frames: &[(u64, u32, bool)],
        sig: Option<u64>,
    ) -> &mut Self {
        let frames = frames
            .iter()
            .map(|&(len, stream, message)| Frame {
                len,
                stream,
                message,
            })
            .collect();
        self.ev(ts, tid, EventKind::Frames { fd: 3, frames, sig })
    }

    /// A whole send syscall of HTTP/2 `frames` (see [`Rec::frames`]): its head at ts,
    /// entry at ts, sock_send_length at ts+1, exit at ts+2.
    pub fn send_frames(
        &mut self,
        ts: u64,
        tid: Tid,
        sk: u64,
        n: i32,
        frames: &[(u64, u32, bool)],
    ) -> &mut Self {
        self.frames(ts, tid, frames, None).send(ts, tid, sk, n)
    }

    /// A payload head at ts (a syscall's entry): `tid`'s send (`send`) or read on
    /// descriptor 3 shows RESP messages, as (size if shown, signature of the command).
    pub fn messages(
        &mut self,
        ts: u64,
        tid: Tid,
        send: bool,
        messages: &[(Option<u64>, Option<u64>)],
    ) -> &mut Self {
        let messages = messages
            .iter()
            .map(|&(len, sig)| MessageHead { len, sig })
            .collect();
        let kind = EventKind::Messages {
            fd: 3,
            send,
            messages,
        };
        self.ev(ts, tid, kind)
    }

    /// A whole recv syscall: entry at ts, sock_recv_length at ts+1, exit at ts+2.
    pub fn recv(&mut self, ts: u64, tid: Tid, sk: u64, n: i32) -> &mut Self {
        self.enter(ts, tid, Syscall::Recv)
            .sock_recv(ts + 1, tid, sk, n)
            .exit(ts + 2, tid, Syscall::Recv)
    }

    pub fn switch(&mut self, ts: u64, prev: Tid, prev_state: i64, next: Tid) -> &mut Self {
        self.ev(
            ts,
            prev,
            EventKind::Switch {
                prev,
                prev_state,
                next,
            },
        )
    }

    pub fn waking(&mut self, ts: u64, waker: Tid, target: Tid) -> &mut Self {
        self.ev(ts, waker, EventKind::Waking { target })
    }

    /// Runs the engine over the events (stably sorted by time) and returns the traces
    /// sorted by their root's start, and the summary.
    /// Drops the events after `ts`: the state evidence so far leaves.
    pub fn until(&mut self, ts: u64) -> &mut Self {
        self.events.retain(|e| e.ts <= ts);
        self
    }

    pub fn run(&self) -> (Vec<Trace>, Summary) {
        self.run_with(Config::default())
    }

    pub fn run_with(&self, config: Config) -> (Vec<Trace>, Summary) {
        let mut events = self.events.clone();
        events.sort_by_key(|e| e.ts);
        let mut engine = Engine::new(self.world.clone(), self.names.clone(), config);
        let mut traces = Vec::new();
        for ev in &events {
            engine.push(ev, &mut |t| traces.push(t));
        }
        let summary = engine.finish(&mut |t| traces.push(t));
        traces.sort_by_key(|t| t.spans[0].start);
        (traces, summary)
    }
}

/// Renders traces as indented trees, one span a line:
/// `Server front tid=10 110..162 [partial]`, children indented by two spaces; traces
/// separated by `---`.
pub fn render(traces: &[Trace]) -> String {
    render_as(traces, false)
}

/// As [`render`], with each call's link evidence and candidate count
/// (`link=own-thread/2`): what decided its parent among how many requests.
pub fn render_links(traces: &[Trace]) -> String {
    render_as(traces, true)
}

fn render_as(traces: &[Trace], links: bool) -> String {
    let mut out = Vec::new();
    for t in traces {
        for s in &t.spans {
            let depth = depth_of(t, s);
            let kind = match s.kind {
                SpanKind::Server => "Server",
                SpanKind::Client => "Client",
            };
            let mut line = format!(
                "{}{} {} tid={} {}..{}",
                "  ".repeat(depth),
                kind,
                s.service,
                s.tid,
                s.start,
                s.end
            );
            if s.partial {
                line.push_str(" partial");
            }
            if let Some(e) = &s.error {
                line.push_str(&format!(" error={e}"));
            }
            if let (true, SpanKind::Client, Some(l)) = (links, s.kind, s.link) {
                line.push_str(&format!(" link={}/{}", l.evidence.name(), l.candidates));
            }
            out.push(line);
        }
        out.push("---".to_string());
    }
    out.join("\n")
}

fn depth_of(t: &Trace, s: &Span) -> usize {
    let mut depth = 0;
    let mut cur = s.parent;
    while let Some(p) = cur {
        depth += 1;
        cur = t.spans.iter().find(|x| x.id == p).and_then(|x| x.parent);
    }
    depth
}

/// Strips the common indentation of an expected tree written inline.
pub fn tree(s: &str) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let indent = lines
        .iter()
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| &l[indent..])
        .collect::<Vec<_>>()
        .join("\n")
}
