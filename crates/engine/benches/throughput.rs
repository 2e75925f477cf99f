//! Engine throughput on a large synthetic event stream with a realistic mix (mostly
//! scheduler and syscall events, some socket events): 8 front workers serving keep-alive
//! connections from an untraced load generator, each request calling one of 4 back
//! workers over a keep-alive connection.
//!
//! Run: `cargo bench -p kspan-engine --bench throughput [-- REQUESTS]`. Only
//! `Engine::push`/`finish` are timed; events are generated in chunks outside the clock.

use kspan_engine::*;
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV6};
use std::time::{Duration, Instant};

/// This thread's time on a CPU so far (first field of /proc/thread-self/schedstat, in
/// ns): the figure that stays meaningful on a shared, loaded machine.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

const LG: Tid = 99;
const FRONTS: i32 = 8;
const BACKS: i32 = 4;
const CONNS: u64 = 64;
const CHUNK: u64 = 10_000;

fn sa(host: u8, port: u16) -> SocketAddrV6 {
    SocketAddrV6::new(Ipv4Addr::new(10, 0, 0, host).to_ipv6_mapped(), port, 0, 0)
}

fn ev(out: &mut Vec<Event>, ts: u64, tid: Tid, in_irq: bool, type_id: u32, kind: EventKind) {
    out.push(Event {
        ts,
        cpu: 0,
        tid,
        in_irq,
        type_id,
        kind,
    });
}

/// Appends one syscall (entry and exit, and the socket event between for sends/recvs).
fn syscall(
    out: &mut Vec<Event>,
    t: &mut u64,
    tid: Tid,
    call: Syscall,
    sock: Option<(bool, u64, i32)>,
) {
    *t += 100;
    ev(
        out,
        *t,
        tid,
        false,
        3,
        EventKind::SyscallEnter { call, arg: Some(5) },
    );
    if let Some((send, sk, n)) = sock {
        *t += 100;
        let kind = if send {
            EventKind::SockSend {
                sk,
                family: 10,
                protocol: 6,
                ret: n,
                flags: 0,
            }
        } else {
            EventKind::SockRecv {
                sk,
                family: 10,
                protocol: 6,
                ret: n,
                flags: 0,
            }
        };
        ev(out, *t, tid, false, if send { 5 } else { 6 }, kind);
    }
    *t += 100;
    ev(
        out,
        *t,
        tid,
        false,
        4,
        EventKind::SyscallExit { call, ret: 0 },
    );
}

fn run_on_cpu(out: &mut Vec<Event>, t: &mut u64, tid: Tid) {
    *t += 50;
    ev(out, *t, 0, true, 2, EventKind::Waking { target: tid });
    *t += 50;
    ev(
        out,
        *t,
        0,
        false,
        1,
        EventKind::Switch {
            prev: 0,
            prev_state: 0,
            next: tid,
        },
    );
}

fn block(out: &mut Vec<Event>, t: &mut u64, tid: Tid) {
    *t += 50;
    ev(
        out,
        *t,
        tid,
        false,
        1,
        EventKind::Switch {
            prev: tid,
            prev_state: 1,
            next: 0,
        },
    );
}

fn busy(out: &mut Vec<Event>, t: &mut u64, tid: Tid) {
    for k in 0..10 {
        syscall(out, t, tid, Syscall::Other(k), None);
    }
    *t += 100;
    ev(
        out,
        *t,
        tid,
        false,
        9,
        EventKind::Other { values: vec![4096] },
    );
}

/// The handshakes of every connection, once.
fn setup(out: &mut Vec<Event>) {
    let mut t = 1;
    let mut state = |sk: u64, old: i32, new: i32, tuple: FourTuple, out: &mut Vec<Event>| {
        t += 1;
        ev(
            out,
            t,
            0,
            true,
            7,
            EventKind::SockState {
                sk,
                old,
                new,
                tuple,
            },
        );
    };
    for c in 0..CONNS {
        let tuple = FourTuple {
            local: sa(9, 10_000 + c as u16),
            remote: sa(1, 80),
        };
        state(0x1_0000 + 2 * c, 2, 1, tuple, out);
        state(0x1_0001 + 2 * c, 3, 1, tuple.mirrored(), out);
    }
    for w in 0..FRONTS as u64 {
        let tuple = FourTuple {
            local: sa(1, 20_000 + w as u16),
            remote: sa(2, 81),
        };
        state(0x2_0000 + 2 * w, 2, 1, tuple, out);
        state(0x2_0001 + 2 * w, 3, 1, tuple.mirrored(), out);
    }
}

/// Request `i`: about 75 events.
fn request(out: &mut Vec<Event>, i: u64) {
    let mut t = 1_000_000 + i * 20_000;
    let front = 10 + (i % FRONTS as u64) as Tid;
    let back = 100 + (i % BACKS as u64) as Tid;
    let (lg_sk, front_sk) = (0x1_0000 + 2 * (i % CONNS), 0x1_0001 + 2 * (i % CONNS));
    let w = (front - 10) as u64;
    let (call_sk, serve_sk) = (0x2_0000 + 2 * w, 0x2_0001 + 2 * w);
    syscall(out, &mut t, LG, Syscall::Send, Some((true, lg_sk, 120)));
    run_on_cpu(out, &mut t, front);
    syscall(out, &mut t, front, Syscall::Poll, None);
    syscall(
        out,
        &mut t,
        front,
        Syscall::Recv,
        Some((false, front_sk, 120)),
    );
    busy(out, &mut t, front);
    syscall(out, &mut t, front, Syscall::Send, Some((true, call_sk, 60)));
    block(out, &mut t, front);
    run_on_cpu(out, &mut t, back);
    syscall(
        out,
        &mut t,
        back,
        Syscall::Recv,
        Some((false, serve_sk, 60)),
    );
    busy(out, &mut t, back);
    syscall(
        out,
        &mut t,
        back,
        Syscall::Send,
        Some((true, serve_sk, 300)),
    );
    block(out, &mut t, back);
    run_on_cpu(out, &mut t, front);
    syscall(
        out,
        &mut t,
        front,
        Syscall::Recv,
        Some((false, call_sk, 300)),
    );
    syscall(
        out,
        &mut t,
        front,
        Syscall::Send,
        Some((true, front_sk, 500)),
    );
    block(out, &mut t, front);
    syscall(out, &mut t, LG, Syscall::Recv, Some((false, lg_sk, 500)));
}

fn main() {
    let requests: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(140_000);
    let mut world = World::default();
    for tid in (10..10 + FRONTS).chain(100..100 + BACKS) {
        let service = if tid < 100 { "front" } else { "back" };
        world.threads.push(ThreadInfo {
            tid,
            tgid: if tid < 100 { 10 } else { 100 },
            comm: service.into(),
            service: service.into(),
        });
    }
    let mut engine = Engine::new(world, EventNames::default(), Config::default());
    let mut traces = 0u64;
    let mut spans = 0u64;
    let mut events = 0u64;
    let mut elapsed = Duration::ZERO;
    let mut cpu = Duration::ZERO;
    let mut chunk = Vec::new();
    setup(&mut chunk);
    let mut next = 0;
    while next < requests {
        let end = (next + CHUNK).min(requests);
        for i in next..end {
            request(&mut chunk, i);
        }
        next = end;
        events += chunk.len() as u64;
        let start = Instant::now();
        let cpu_start = cpu_time();
        for e in &chunk {
            engine.push(e, &mut |t| {
                traces += 1;
                spans += t.spans.len() as u64;
                black_box(&t);
            });
        }
        elapsed += start.elapsed();
        cpu += cpu_time() - cpu_start;
        chunk.clear();
    }
    let start = Instant::now();
    let cpu_start = cpu_time();
    let summary = engine.finish(&mut |t| {
        traces += 1;
        spans += t.spans.len() as u64;
    });
    elapsed += start.elapsed();
    cpu += cpu_time() - cpu_start;
    assert_eq!(summary.traces, requests, "every request is one trace");
    println!(
        "engine: {events} events, {requests} requests, {traces} traces, {spans} spans; \
         wall {:.3} s ({:.2} M events/s), on CPU {:.3} s ({:.2} M events/s)",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64() / 1e6,
        cpu.as_secs_f64(),
        events as f64 / cpu.as_secs_f64() / 1e6
    );
}
