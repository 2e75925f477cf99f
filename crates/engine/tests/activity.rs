//! Per-span kernel activity: exact time per scheduler state, counts, sums, and the handler.

mod dsl;
use dsl::*;
use kspan_engine::*;
use std::sync::{Arc, Mutex};

const LG: Tid = 99;
const FRONT: Tid = 10;

/// One request on front whose thread runs, blocks on a futex, is woken, preempted and
/// answers; then waits for the next request (that idle time must not be charged).
fn one_request() -> Rec {
    let mut r = Rec::new();
    r.thread(FRONT, FRONT, "front");
    r.names
        .field_names
        .push((ty::OTHER, vec!["x:y:len".to_string()]));
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80));
    r.send(900, LG, 0xA1, 100)
        .switch(1000, 0, 0, FRONT) // running from 1000 (no span yet)
        .recv(1000, FRONT, 0xA2, 100) // span opens at 1001 (start = entry, 1000)
        .ev(1010, FRONT, EventKind::Other { values: vec![7] })
        .enter(1020, FRONT, Syscall::Futex)
        .switch(1030, FRONT, 1, 0) // on CPU 1001..1030 = 29; blocked on futex
        .irq(1080, EventKind::Waking { target: FRONT }) // futex 1030..1080 = 50
        .switch(1100, 0, 0, FRONT) // runnable 1080..1100 = 20
        .exit(1110, FRONT, Syscall::Futex)
        .switch(1120, FRONT, 0, 0) // preempted: on CPU 1100..1120 = 20
        .switch(1150, 0, 0, FRONT) // runnable 1120..1150 = 30
        .send(1160, FRONT, 0xA2, 200) // on CPU 1150..1162 = 12; ends at 1162
        .enter(1200, FRONT, Syscall::Recv) // waiting for the next request: not charged
        .switch(1210, FRONT, 1, 0)
        .ev(1300, LG, EventKind::Other { values: vec![1] });
    r
}

#[test]
fn time_counts_and_sums_are_exact() {
    let (traces, summary) = one_request().run();
    assert_eq!(render(&traces), tree("Server front tid=10 1000..1162\n---"));
    let a = &traces[0].spans[0].activity;
    assert_eq!(
        a,
        &Activity {
            on_cpu_ns: 29 + 20 + 12,
            runnable_ns: 20 + 30,
            blocked_net_ns: 0,
            blocked_io_ns: 0,
            blocked_futex_ns: 50,
            blocked_other_ns: 0,
            bytes_in: 100,
            bytes_out: 200,
            // recv: sock_recv + exit; futex enter/exit; two switches of FRONT as prev;
            // send: enter, sock_send, exit; one Other.
            counts: vec![
                (ty::SWITCH, 2),
                (ty::ENTER, 2),
                (ty::EXIT, 3),
                (ty::SEND, 1),
                (ty::RECV, 1),
                (ty::OTHER, 1)
            ],
            sums: vec![7],
        }
    );
    // Unattributed: the recv entry before the span, and the idle recv entry and switch
    // after the last response write.
    assert_eq!(summary.unattributed_events, 3);
}

#[test]
fn blocked_time_is_classified_by_syscall_and_state() {
    let mut r = Rec::new();
    r.thread(FRONT, FRONT, "front");
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80));
    r.connect(20, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 81));
    r.send(900, LG, 0xA1, 100)
        .switch(1000, 0, 0, FRONT)
        .recv(1000, FRONT, 0xA2, 100)
        .switch(1010, FRONT, 2, 0) // D state: io 1010..1040
        .irq(1040, EventKind::Waking { target: FRONT })
        .switch(1040, 0, 0, FRONT)
        .enter(1050, FRONT, Syscall::Other(35)) // nanosleep: other 1051..1071
        .switch(1051, FRONT, 1, 0)
        .irq(1071, EventKind::Waking { target: FRONT })
        .switch(1071, 0, 0, FRONT)
        .exit(1072, FRONT, Syscall::Other(35))
        .send(1080, FRONT, 0xB1, 10) // a call: its wait is the call's
        .enter(1090, FRONT, Syscall::Recv)
        .switch(1091, FRONT, 1, 0) // net 1091..1191, charged to the call
        .irq(1191, EventKind::Waking { target: FRONT })
        .switch(1191, 0, 0, FRONT)
        .sock_recv(1192, FRONT, 0xB1, 10)
        .exit(1193, FRONT, Syscall::Recv)
        .send(1200, FRONT, 0xA2, 10);
    let (traces, _) = r.run();
    let server = &traces[0].spans[0].activity;
    let call = &traces[0].spans[1].activity;
    assert_eq!(
        (
            server.blocked_io_ns,
            server.blocked_other_ns,
            server.blocked_net_ns
        ),
        (30, 20, 0)
    );
    assert_eq!(
        (call.blocked_net_ns, call.on_cpu_ns, call.runnable_ns),
        (100, 10 + 1, 0)
    );
    // server on CPU: 1001..1010, 1040..1051, 1071..1081 (call opens at the
    // sock_send_length, 1081), 1192..1202 = 9 + 11 + 10 + 10
    assert_eq!(server.on_cpu_ns, 40);
}

#[derive(Default)]
struct Recorder {
    events: Vec<(SpanId, u32)>,
    ended: Vec<(SpanId, u64)>,
}

struct Shared(Arc<Mutex<Recorder>>);

impl SpanHandler for Shared {
    fn on_event(&mut self, span: SpanId, ev: &Event) {
        self.0.lock().unwrap().events.push((span, ev.type_id));
    }
    fn on_span_end(&mut self, span: &Span) {
        self.0.lock().unwrap().ended.push((span.id, span.end));
    }
}

#[test]
fn handler_sees_each_attributed_event_and_each_final_span() {
    let r = one_request();
    let mut events = r.events.clone();
    events.sort_by_key(|e| e.ts);
    let rec = Arc::new(Mutex::new(Recorder::default()));
    let mut engine = Engine::new(r.world.clone(), r.names.clone(), Config::default());
    engine.set_handler(Box::new(Shared(rec.clone())));
    let mut traces = Vec::new();
    for ev in &events {
        engine.push(ev, &mut |t| traces.push(t));
    }
    engine.finish(&mut |t| traces.push(t));
    let rec = rec.lock().unwrap();
    let id = traces[0].spans[0].id;
    assert_eq!(rec.ended, vec![(id, 1162)]);
    // The 10 events counted in the span, plus the 2 after its end (reported, then dropped).
    assert_eq!(rec.events.len(), 12);
    assert!(rec.events.iter().all(|&(s, _)| s == id));
}
