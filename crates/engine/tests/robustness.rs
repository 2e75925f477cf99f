//! Bad or surprising input never panics: random event streams (pointer reuse, events out of
//! order, unknown threads, missing halves of syscalls, irq noise) run to completion.

use kspan_engine::*;
use std::net::{Ipv4Addr, SocketAddrV6};

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn addr(rng: &mut Rng) -> SocketAddrV6 {
    let host = 1 + rng.below(3) as u8;
    let port = [0, 80, 81, 40000, 40001][rng.below(5) as usize];
    SocketAddrV6::new(Ipv4Addr::new(10, 0, 0, host).to_ipv6_mapped(), port, 0, 0)
}

fn random_event(rng: &mut Rng, ts: u64) -> Event {
    let tid = rng.below(8) as i32;
    let sk = 0x100 + rng.below(6);
    let ret = rng.below(300) as i32 - 20;
    let call = [
        Syscall::Send,
        Syscall::Recv,
        Syscall::Futex,
        Syscall::Poll,
        Syscall::Close,
        Syscall::Other(1),
    ][rng.below(6) as usize];
    let tuple = FourTuple {
        local: addr(rng),
        remote: addr(rng),
    };
    let kind = match rng.below(15) {
        0 => EventKind::NewTask {
            child: 8 + rng.below(4) as i32,
            clone_flags: rng.below(2) * 0x10000,
        },
        1 => EventKind::Fork {
            parent: tid,
            child: 8 + rng.below(4) as i32,
        },
        2 => EventKind::Exit,
        3 => EventKind::Switch {
            prev: tid,
            prev_state: [0, 1, 2, 0x100][rng.below(4) as usize],
            next: rng.below(8) as i32,
        },
        4 => EventKind::Waking {
            target: rng.below(12) as i32,
        },
        5 => EventKind::SyscallEnter {
            call,
            arg: Some(rng.below(4) as i64),
        },
        6 => EventKind::SyscallExit {
            call,
            ret: i64::from(ret),
        },
        7 | 8 => EventKind::SockSend {
            sk,
            family: 2,
            protocol: 6,
            ret,
            flags: 0,
        },
        9 | 10 => EventKind::SockRecv {
            sk,
            family: 2,
            protocol: 6,
            ret,
            flags: (rng.below(4) == 0) as i32 * 2,
        },
        11 => EventKind::SockState {
            sk,
            old: rng.below(12) as i32,
            new: rng.below(12) as i32,
            tuple,
        },
        12 => EventKind::RcvSpace {
            sk,
            tuple,
            cookie: sk,
        },
        13 => EventKind::SockDestroy { sk },
        _ => EventKind::Other {
            values: vec![rng.below(10) as i64],
        },
    };
    Event {
        ts,
        cpu: 0,
        tid,
        in_irq: rng.below(10) == 0,
        type_id: rng.below(20) as u32,
        kind,
    }
}

#[test]
fn random_event_streams_never_panic() {
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let world = World {
            threads: (1..6)
                .map(|tid| ThreadInfo {
                    tid,
                    tgid: 1 + tid % 2,
                    comm: "svc".into(),
                    service: format!("svc{}", tid % 2),
                })
                .collect(),
            sockets: vec![SocketInfo {
                sk: Some(0x100),
                cookie: None,
                tuple: FourTuple {
                    local: addr(&mut rng),
                    remote: addr(&mut rng),
                },
                state: 1,
                server_side: true,
                send_queue: 0,
                recv_queue: 7,
            }],
            clock_to_unix_ns: 0,
        };
        let names = EventNames {
            names: Vec::new(),
            field_names: vec![(3, vec!["a:b:c".into()])],
        };
        let mut engine = Engine::new(world, names, Config::default());
        let mut spans = 0u64;
        let mut ts = 1_000u64;
        for _ in 0..20_000 {
            // Mostly forward, sometimes a little back in time (clock skew between CPUs).
            ts = (ts + rng.below(100)).saturating_sub(rng.below(5));
            let ev = random_event(&mut rng, ts);
            engine.push(&ev, &mut |t| spans += t.spans.len() as u64);
        }
        let summary = engine.finish(&mut |t| spans += t.spans.len() as u64);
        assert_eq!(summary.events, 20_000);
        assert_eq!(summary.spans, spans);
    }
}
