//! One test per reconstruction rule, on synthetic event sequences: exact trace trees.

mod dsl;
use dsl::*;
use kspan_engine::*;

const LG: Tid = 99; // an untraced load generator
const FRONT: Tid = 10;
const BACK: Tid = 20;

/// lg (10.0.0.9) → front (10.0.0.1:80): lg socket 0xA1, front socket 0xA2.
fn front_conn(r: &mut Rec, ts: u64) {
    r.connect(ts, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80));
}

/// front (10.0.0.1) → back (10.0.0.2:81): front socket 0xB1, back socket 0xB2.
fn back_conn(r: &mut Rec, ts: u64) {
    r.connect(ts, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 81));
}

fn two_services() -> Rec {
    let mut r = Rec::new();
    r.thread(FRONT, FRONT, "front").thread(BACK, BACK, "back");
    r
}

#[test]
fn thread_per_request_with_downstream_call() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    back_conn(&mut r, 20);
    r.send(100, LG, 0xA1, 100)
        .recv(110, FRONT, 0xA2, 100)
        .send(120, FRONT, 0xB1, 50)
        .recv(130, BACK, 0xB2, 50)
        .send(140, BACK, 0xB2, 70)
        .recv(150, FRONT, 0xB1, 70)
        .send(160, FRONT, 0xA2, 200)
        .recv(170, LG, 0xA1, 200);
    let (traces, summary) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..162
              Client front tid=10 120..152
                Server back tid=20 130..142
            ---"
        )
    );
    let root = &traces[0].spans[0];
    assert_eq!(root.peer, Some("10.0.0.9:5000".parse().unwrap()));
    assert_eq!(root.local, Some("10.0.0.1:80".parse().unwrap()));
    assert_eq!(
        (root.activity.bytes_in, root.activity.bytes_out),
        (100, 200)
    );
    let call = &traces[0].spans[1];
    assert_eq!(call.peer, Some("10.0.0.2:81".parse().unwrap()));
    assert_eq!((call.activity.bytes_in, call.activity.bytes_out), (70, 50));
    assert_eq!((summary.traces, summary.spans), (1, 3));
    assert!(summary.caveats.is_empty(), "{:?}", summary.caveats);
}

#[test]
fn partial_reads_and_writes_and_a_response_in_two_writes_on_a_keep_alive_connection() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    // Request 1 sent in two writes, read in two reads split differently.
    r.send(100, LG, 0xA1, 60)
        .send(103, LG, 0xA1, 40)
        .recv(110, FRONT, 0xA2, 30)
        .recv(120, FRONT, 0xA2, 70)
        // Response in two writes (headers, body): the span ends at the second.
        .send(130, FRONT, 0xA2, 20)
        .send(140, FRONT, 0xA2, 80)
        .recv(150, LG, 0xA1, 100)
        // Request 2 on the same connection.
        .send(200, LG, 0xA1, 10)
        .recv(210, FRONT, 0xA2, 10)
        .send(220, FRONT, 0xA2, 5)
        .recv(230, LG, 0xA1, 5);
    let (traces, summary) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..142
            ---
            Server front tid=10 210..222
            ---"
        )
    );
    let a = &traces[0].spans[0].activity;
    assert_eq!((a.bytes_in, a.bytes_out), (100, 100));
    assert_eq!(summary.traces, 2);
}

#[test]
fn read_stamped_before_the_send_that_carries_it_is_still_linked() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    back_conn(&mut r, 20);
    r.send(100, LG, 0xA1, 100).recv(110, FRONT, 0xA2, 100);
    // front enters its send at 120; back's read (123) comes before front's
    // sock_send_length (125) in time order.
    r.enter(120, FRONT, Syscall::Send)
        .enter(122, BACK, Syscall::Recv)
        .sock_recv(123, BACK, 0xB2, 50)
        .exit(124, BACK, Syscall::Recv)
        .sock_send(125, FRONT, 0xB1, 50)
        .exit(126, FRONT, Syscall::Send);
    r.send(140, BACK, 0xB2, 70)
        .recv(150, FRONT, 0xB1, 70)
        .send(160, FRONT, 0xA2, 200);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..162
              Client front tid=10 120..152
                Server back tid=20 122..142
            ---"
        )
    );
}

#[test]
fn read_before_any_send_from_an_untraced_sender_resolves_when_traced_senders_leave() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    // BACK is inside an unrelated send when front reads lg's request, whose
    // sock_send_length event is missing (lg's events are not recorded).
    r.enter(100, BACK, Syscall::Send)
        .recv(105, FRONT, 0xA2, 100)
        .exit(109, BACK, Syscall::Send)
        .send(120, FRONT, 0xA2, 10);
    let (traces, _) = r.run();
    assert_eq!(render(&traces), tree("Server front tid=10 105..122\n---"));
}

/// One request of front (the gateway) to back over a kept-alive connection, as nginx sends
/// FastCGI: the whole request in one send of 100 bytes, whose last 8 (the empty STDIN
/// record) back reads only after writing its response (PHP-FPM drains them then).
fn fastcgi_request(r: &mut Rec, ts: u64, tail_read_at: Option<u64>) {
    r.send(ts, LG, 0xA1, 50)
        .recv(ts + 10, FRONT, 0xA2, 50)
        .send(ts + 20, FRONT, 0xB1, 100)
        .recv(ts + 30, BACK, 0xB2, 8)
        .recv(ts + 35, BACK, 0xB2, 84)
        .send(ts + 40, BACK, 0xB2, 60);
    if let Some(at) = tail_read_at {
        r.recv(at, BACK, 0xB2, 8);
    }
    r.recv(ts + 60, FRONT, 0xB1, 60)
        .send(ts + 70, FRONT, 0xA2, 70)
        .recv(ts + 80, LG, 0xA1, 70);
}

#[test]
fn bytes_sent_with_a_request_and_read_after_its_response_are_that_request_s() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    back_conn(&mut r, 20);
    // Request 1's tail read at once after the response (its span still open); request 2's
    // only when request 3 arrives (request 2's trace already emitted).
    fastcgi_request(&mut r, 100, Some(150));
    fastcgi_request(&mut r, 200, None);
    r.recv(325, BACK, 0xB2, 8);
    fastcgi_request(&mut r, 300, None);
    r.recv(425, BACK, 0xB2, 8);
    let (traces, summary) = r.run();
    // Before: the tail opened a span of back of its own, linked by its bytes to the call
    // that sent it; the next request's bytes joined that span, in the previous trace.
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..172
              Client front tid=10 120..162
                Server back tid=20 130..142
            ---
            Server front tid=10 210..272
              Client front tid=10 220..262
                Server back tid=20 230..242
            ---
            Server front tid=10 310..372
              Client front tid=10 320..362
                Server back tid=20 330..342
            ---"
        )
    );
    // A tail read while its span is live counts there; once its trace was emitted (request
    // 2's), nowhere.
    let back_in: Vec<u64> = traces
        .iter()
        .map(|t| t.spans[2].activity.bytes_in)
        .collect();
    assert_eq!(back_in, [100, 92, 100]);
    assert!(summary.caveats.is_empty(), "{:?}", summary.caveats);
}

#[test]
fn bytes_sent_after_the_response_started_or_by_an_untraced_client_start_a_new_request() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    back_conn(&mut r, 20);
    // An untraced client's two requests sent before any answer (one run of bytes, no
    // boundary known): read order decides, two requests as before.
    r.send(100, LG, 0xA1, 50)
        .send(103, LG, 0xA1, 40)
        .recv(110, FRONT, 0xA2, 50)
        .send(120, FRONT, 0xA2, 10)
        .recv(130, FRONT, 0xA2, 40)
        .send(140, FRONT, 0xA2, 10);
    // A traced client that sends more without reading (one client span) after the server
    // started its response: a second request.
    r.send(200, FRONT, 0xB1, 50)
        .recv(210, BACK, 0xB2, 50)
        .send(220, BACK, 0xB2, 10)
        .send(230, FRONT, 0xB1, 20)
        .recv(240, BACK, 0xB2, 20)
        .send(250, BACK, 0xB2, 10)
        .recv(260, FRONT, 0xB1, 20);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..122
            ---
            Server front tid=10 130..142
            ---
            Client front tid=10 200..262
              Server back tid=20 210..222
              Server back tid=20 240..252
            ---"
        )
    );
}

#[test]
fn interleaved_connections_on_one_event_loop_thread() {
    let mut r = two_services();
    // Two clients (untraced) on front; front calls back on one connection each.
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80))
        .connect(20, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80))
        .connect(30, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 81))
        .connect(40, FRONT, 0xD1, sa(1, 6001), 0xD2, sa(2, 81));
    r.send(100, LG, 0xA1, 10)
        .send(101, LG, 0xC1, 11)
        .recv(110, FRONT, 0xA2, 10) // request A
        .send(120, FRONT, 0xB1, 5) // call for A
        .recv(130, FRONT, 0xC2, 11) // request C
        .send(140, FRONT, 0xD1, 6) // call for C
        .recv(150, BACK, 0xD2, 6) // back serves C's call first
        .send(160, BACK, 0xD2, 7)
        .recv(170, BACK, 0xB2, 5)
        .send(180, BACK, 0xB2, 8)
        .recv(190, FRONT, 0xD1, 7) // C's answer: front back in C's context
        .send(200, FRONT, 0xC2, 20)
        .recv(210, FRONT, 0xB1, 8) // A's answer
        .send(220, FRONT, 0xA2, 30);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..222
              Client front tid=10 120..212
                Server back tid=20 170..182
            ---
            Server front tid=10 130..202
              Client front tid=10 140..192
                Server back tid=20 150..162
            ---"
        )
    );
}

#[test]
fn an_event_loop_s_call_on_a_connection_it_opened_is_for_the_request_it_connected_for() {
    let mut r = two_services();
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80))
        .connect(20, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80));
    r.send(100, LG, 0xA1, 10)
        .send(101, LG, 0xC1, 11)
        .recv(110, FRONT, 0xA2, 10);
    // Request A read; a non-blocking connect for A (SYN_SENT in front's connect), then request C is read
    // before the connection is up and A's call is sent on it.
    r.connect(120, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 81))
        .recv(130, FRONT, 0xC2, 11) // request C: front's context is now C
        .send(140, FRONT, 0xB1, 5) // A's call, on the connection opened for A
        .send(150, FRONT, 0xB1, 5) // more of the same request
        .recv(160, BACK, 0xB2, 10)
        .send(170, BACK, 0xB2, 8)
        .recv(180, FRONT, 0xB1, 8) // A's answer: front back in A's context
        .send(190, FRONT, 0xA2, 30)
        .send(200, FRONT, 0xC2, 20);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..192
              Client front tid=10 140..182
                Server back tid=20 160..172
            ---
            Server front tid=10 130..202
            ---"
        )
    );
}

#[test]
fn an_event_loop_connects_for_the_reads_it_acts_on_in_order() {
    let mut r = two_services();
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80))
        .connect(20, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80));
    r.enter(90, FRONT, Syscall::Poll)
        .exit(95, FRONT, Syscall::Poll); // an event loop
                                         // Requests A and C read in one poll round; the handlers then run in the order of the
                                         // reads: A's connects, then C's; each call is written once both connections are up.
    r.send(100, LG, 0xA1, 10)
        .send(101, LG, 0xC1, 11)
        .recv(110, FRONT, 0xA2, 10)
        .recv(115, FRONT, 0xC2, 11)
        .connect(120, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 81))
        .connect(125, FRONT, 0xD1, sa(1, 6001), 0xD2, sa(2, 81));
    for (k, csk) in (0..).zip([0xB1, 0xD1]) {
        r.send(140 + 5 * k, FRONT, csk, 5 + k as i32)
            .recv(150 + 10 * k, BACK, csk + 1, 5 + k as i32)
            .send(155 + 10 * k, BACK, csk + 1, 8 + k as i32)
            .recv(170 + 5 * k, FRONT, csk, 8 + k as i32);
    }
    r.send(180, FRONT, 0xA2, 30).send(190, FRONT, 0xC2, 20);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..182
              Client front tid=10 140..172
                Server back tid=20 150..157
            ---
            Server front tid=10 115..192
              Client front tid=10 145..177
                Server back tid=20 160..167
            ---"
        )
    );
}

#[test]
fn a_connection_opened_for_one_request_and_reused_by_another_carries_each_ones_call() {
    const WORKER: Tid = 11;
    let mut r = two_services();
    r.thread(WORKER, FRONT, "front");
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80))
        .connect(20, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80));
    r.send(100, LG, 0xA1, 10).recv(110, FRONT, 0xA2, 10);
    // Front reads request A and connects for A; the first request on it is sent by another thread whose own
    // context is request C (an async task resumed on another worker).
    r.connect(120, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 81))
        .send(125, LG, 0xC1, 11)
        .recv(130, WORKER, 0xC2, 11) // request C on the worker
        .send(140, WORKER, 0xB1, 5) // A's call
        .recv(150, BACK, 0xB2, 5)
        .send(160, BACK, 0xB2, 8)
        .recv(170, WORKER, 0xB1, 8)
        .send(180, FRONT, 0xA2, 30)
        .send(185, WORKER, 0xC2, 20)
        // The pooled connection is reused for request D: that call is D's.
        .send(190, LG, 0xA1, 12)
        .recv(195, FRONT, 0xA2, 12)
        .send(200, FRONT, 0xB1, 6)
        .recv(210, BACK, 0xB2, 6)
        .send(220, BACK, 0xB2, 9)
        .recv(230, FRONT, 0xB1, 9)
        .send(240, FRONT, 0xA2, 40);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..182
              Client front tid=11 140..172
                Server back tid=20 150..162
            ---
            Server front tid=11 130..187
            ---
            Server front tid=10 195..242
              Client front tid=10 200..232
                Server back tid=20 210..222
            ---"
        )
    );
}

#[test]
fn a_connection_opened_with_no_request_in_progress_carries_the_senders_call() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    r.send(100, LG, 0xA1, 10).recv(110, FRONT, 0xA2, 10);
    r.send(120, FRONT, 0xA2, 30); // A answered: front connects afterwards, for no request
    r.connect(130, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 81))
        .send(140, LG, 0xA1, 11)
        .recv(150, FRONT, 0xA2, 11) // request C
        .send(160, FRONT, 0xB1, 5) // C's call on the connection opened before it
        .recv(170, BACK, 0xB2, 5)
        .send(180, BACK, 0xB2, 8)
        .recv(190, FRONT, 0xB1, 8)
        .send(200, FRONT, 0xA2, 20);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..122
            ---
            Server front tid=10 150..202
              Client front tid=10 160..192
                Server back tid=20 170..182
            ---"
        )
    );
}

#[test]
fn worker_pool_hand_off_via_wakeup_is_linked_and_an_unrelated_wakeup_is_not() {
    const WORKER: Tid = 11;
    const IDLE: Tid = 13;
    let mut r = two_services();
    r.thread(WORKER, FRONT, "front")
        .thread(IDLE, FRONT, "front");
    front_conn(&mut r, 10);
    back_conn(&mut r, 20);
    r.connect(30, IDLE, 0xE1, sa(1, 6002), 0xE2, sa(2, 81));
    // The worker waits on the queue's futex.
    r.enter(50, WORKER, Syscall::Futex).switch(51, WORKER, 1, 0);
    // The acceptor reads the request and queues it: futex wake of the worker.
    r.send(100, LG, 0xA1, 100)
        .recv(110, FRONT, 0xA2, 100)
        .enter(115, FRONT, Syscall::Futex)
        .waking(116, FRONT, WORKER)
        .exit(117, FRONT, Syscall::Futex)
        .exit(118, WORKER, Syscall::Futex)
        .send(120, WORKER, 0xB1, 50)
        .recv(130, BACK, 0xB2, 50)
        .send(140, BACK, 0xB2, 70)
        .recv(150, WORKER, 0xB1, 70)
        .send(160, WORKER, 0xA2, 200);
    // Afterwards the acceptor (its request answered) wakes another idle thread, which then
    // makes a call of its own: not part of the request.
    r.enter(170, FRONT, Syscall::Futex)
        .waking(171, FRONT, IDLE)
        .exit(172, FRONT, Syscall::Futex)
        .send(180, IDLE, 0xE1, 5)
        .recv(190, IDLE, 0xE1, 0) // ret 0: ignored
        .irq(195, EventKind::Waking { target: IDLE });
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..162
              Client front tid=11 120..152
                Server back tid=20 130..142
            ---
            Client front tid=13 180..195 partial
            ---"
        )
    );
    assert_eq!(traces[0].spans[0].threads, vec![FRONT, WORKER]);
}

#[test]
fn a_wakeup_does_not_move_a_thread_busy_with_its_own_request() {
    const OTHER: Tid = 11;
    let mut r = two_services();
    r.thread(OTHER, OTHER, "front");
    front_conn(&mut r, 10);
    r.connect(20, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80));
    back_conn(&mut r, 30);
    r.send(100, LG, 0xA1, 10)
        .send(101, LG, 0xC1, 10)
        .recv(110, FRONT, 0xA2, 10)
        .recv(111, OTHER, 0xC2, 10)
        // lock contention: FRONT (request A live) wakes OTHER (request C live)
        .enter(115, OTHER, Syscall::Futex)
        .waking(116, FRONT, OTHER)
        .exit(117, OTHER, Syscall::Futex)
        .send(120, OTHER, 0xB1, 5)
        .send(130, FRONT, 0xA2, 1)
        .recv(140, OTHER, 0xB1, 0)
        .send(150, OTHER, 0xC2, 1);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..132
            ---
            Server front tid=11 111..152
              Client front tid=11 120..152 partial
            ---"
        )
    );
}

#[test]
fn forked_child_inherits_the_request_context() {
    const CHILD: Tid = 15;
    let mut r = two_services();
    front_conn(&mut r, 10);
    r.send(100, LG, 0xA1, 100).recv(110, FRONT, 0xA2, 100);
    r.ev(
        115,
        FRONT,
        EventKind::NewTask {
            child: CHILD,
            clone_flags: 0x11,
        },
    )
    .ev(
        115,
        FRONT,
        EventKind::Fork {
            parent: FRONT,
            child: CHILD,
        },
    );
    r.connect(116, CHILD, 0xB1, sa(1, 6000), 0xB2, sa(2, 81));
    r.send(120, CHILD, 0xB1, 50)
        .recv(130, BACK, 0xB2, 50)
        .send(140, BACK, 0xB2, 70)
        .recv(150, CHILD, 0xB1, 70)
        .ev(155, CHILD, EventKind::Exit)
        .send(160, FRONT, 0xA2, 200);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..162
              Client front tid=15 120..152
                Server back tid=20 130..142
            ---"
        )
    );
    assert_eq!(traces[0].spans[1].pid, CHILD, "a process: its own tgid");
}

#[test]
fn untraced_callee_gives_a_leaf_client_span() {
    const STORE: Tid = 98; // untraced (e.g. redis)
    let mut r = two_services();
    front_conn(&mut r, 10);
    r.connect(20, FRONT, 0xF1, sa(1, 6100), 0xF2, sa(3, 6379));
    r.send(100, LG, 0xA1, 100)
        .recv(110, FRONT, 0xA2, 100)
        .send(120, FRONT, 0xF1, 30)
        .recv(130, STORE, 0xF2, 30)
        .send(140, STORE, 0xF2, 40)
        .recv(150, FRONT, 0xF1, 40)
        .send(160, FRONT, 0xA2, 200);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..162
              Client front tid=10 120..152
            ---"
        )
    );
    assert_eq!(
        traces[0].spans[1].peer,
        Some("10.0.0.3:6379".parse().unwrap())
    );
}

#[test]
fn connections_older_than_the_recording_give_partial_spans_never_mislinked() {
    let mut r = two_services();
    // A known old connection with 50 request bytes already queued for front.
    r.world.sockets.push(SocketInfo {
        sk: Some(0xA2),
        cookie: None,
        tuple: tuple(sa(1, 80), sa(9, 5000)),
        state: 1,
        server_side: true,
        send_queue: 0,
        recv_queue: 50,
    });
    back_conn(&mut r, 20);
    // front calls back while handling a request: its bytes are queued with the call.
    r.recv(100, FRONT, 0xA2, 50) // request sent before the recording: partial
        .send(110, FRONT, 0xA2, 5)
        // An old connection nobody told us about (0xC2, lg is untraced): first request
        // partial (may have started before), second complete.
        .enter(200, FRONT, Syscall::Recv)
        .ev(
            201,
            FRONT,
            EventKind::RcvSpace {
                sk: 0xC2,
                tuple: tuple(sa(1, 80), sa(9, 5001)),
                cookie: 7,
            },
        )
        .sock_recv(202, FRONT, 0xC2, 10)
        .exit(203, FRONT, Syscall::Recv)
        .send(210, FRONT, 0xC2, 5)
        .send(300, LG, 0xC1, 10)
        .recv(310, FRONT, 0xC2, 10)
        .send(320, FRONT, 0xC2, 5)
        // An answer to a call made before the recording, on back's connection: ignored.
        .recv(400, FRONT, 0xB1, 9);
    let (traces, summary) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 100..112 partial
            ---
            Server front tid=10 200..212 partial
            ---
            Server front tid=10 310..322
            ---"
        )
    );
    assert_eq!(
        summary.caveats,
        vec![
            (
                "connection older than the recording: client/server side inferred from its peer, \
                 its ports or who spoke first"
                    .to_string(),
                1
            ),
            (
                "answer bytes read for a call made before the recording started (ignored)"
                    .to_string(),
                1
            ),
        ]
    );
}

#[test]
fn events_of_untraced_threads_are_ignored_and_traced_ones_outside_spans_counted() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    r.ev(50, LG, EventKind::Other { values: vec![] }) // untraced: not counted anywhere
        .ev(60, FRONT, EventKind::Other { values: vec![] }) // traced, no span: unattributed
        .send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10) // enter (110) unattributed; recv, exit in span
        .ev(115, FRONT, EventKind::Other { values: vec![] })
        .send(120, FRONT, 0xA2, 10);
    let (traces, summary) = r.run();
    assert_eq!(render(&traces), tree("Server front tid=10 110..122\n---"));
    let counts = &traces[0].spans[0].activity.counts;
    assert_eq!(
        counts,
        &vec![
            (ty::ENTER, 1),
            (ty::EXIT, 2),
            (ty::SEND, 1),
            (ty::RECV, 1),
            (ty::OTHER, 1)
        ]
    );
    assert_eq!(summary.unattributed_events, 2);
    // 16 handshake events + 3 + 3 + 1 + 3 + the three single events.
    assert_eq!(summary.events, r.events.len() as u64);
}

#[test]
fn client_span_closed_with_its_connection_before_an_answer_reports_an_error() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    back_conn(&mut r, 20);
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10)
        .send(120, FRONT, 0xB1, 5)
        .close(130, 0xB1, tuple(sa(1, 6000), sa(2, 81)))
        .send(140, FRONT, 0xA2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..142
              Client front tid=10 120..130 error=connection closed before the answer
            ---"
        )
    );
}

#[test]
fn old_connection_first_seen_reading_an_answer_is_the_client_by_its_ephemeral_port() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    let old = tuple(sa(1, 40000), sa(2, 81));
    // The answer of a call made before the recording: front is the client (port 40000 is
    // ephemeral), the bytes are ignored rather than opening a server span.
    r.enter(50, FRONT, Syscall::Recv)
        .ev(
            51,
            FRONT,
            EventKind::RcvSpace {
                sk: 0xD1,
                tuple: old,
                cookie: 1,
            },
        )
        .sock_recv(52, FRONT, 0xD1, 9)
        .exit(53, FRONT, Syscall::Recv);
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10)
        .send(120, FRONT, 0xD1, 5)
        .recv(130, FRONT, 0xD1, 6)
        .send(140, FRONT, 0xA2, 7);
    let (traces, summary) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..142
              Client front tid=10 120..132
            ---"
        )
    );
    assert_eq!(
        summary.caveats.iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![1, 1]
    );
}

/// A read (with tcp_rcv_space_adjust naming the socket's tuple).
fn recv_bound(r: &mut Rec, ts: u64, tid: Tid, sk: u64, t: FourTuple, n: i32) {
    r.enter(ts, tid, Syscall::Recv)
        .ev(
            ts + 1,
            tid,
            EventKind::RcvSpace {
                sk,
                tuple: t,
                cookie: sk,
            },
        )
        .sock_recv(ts + 1, tid, sk, n)
        .exit(ts + 2, tid, Syscall::Recv);
}

#[test]
fn sends_on_a_socket_with_unknown_tuple_are_kept_and_linked_once_it_is_bound() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    // A keep-alive connection front → back older than the recording: no handshake, no
    // snapshot. front's socket gets its tuple only when it reads the answer.
    let call = tuple(sa(1, 6000), sa(2, 81));
    r.send(100, LG, 0xA1, 10).recv(110, FRONT, 0xA2, 10);
    r.send(120, FRONT, 0xB1, 50); // tuple unknown: kept
    recv_bound(&mut r, 130, BACK, 0xB2, call.mirrored(), 50); // nothing sent yet on it
    r.send(140, BACK, 0xB2, 70);
    recv_bound(&mut r, 150, FRONT, 0xB1, call, 70); // binds: the kept send is replayed
    r.send(160, FRONT, 0xA2, 20);
    let (traces, summary) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..162
              Client front tid=10 120..152
                Server back tid=20 130..142
            ---"
        )
    );
    // The call, opened before its socket's tuple was known, gets its addresses at binding.
    let call = &traces[0].spans[1];
    assert_eq!(
        (call.local, call.peer),
        (
            Some("10.0.0.1:6000".parse().unwrap()),
            Some("10.0.0.2:81".parse().unwrap())
        )
    );
    assert_eq!(
        summary.caveats.iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![2]
    );
}

#[test]
fn a_reused_socket_pointer_is_a_new_connection() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10)
        .send(120, FRONT, 0xA2, 20)
        .recv(130, LG, 0xA1, 20)
        .close(140, 0xA2, tuple(sa(1, 80), sa(9, 5000)))
        .close(141, 0xA1, tuple(sa(9, 5000), sa(1, 80)))
        .ev(142, 0, EventKind::SockDestroy { sk: 0xA2 });
    // Same pointers, new connection from another port; 5 bytes of the old connection's
    // stream must not shift the new one.
    r.connect(200, LG, 0xA1, sa(9, 5002), 0xA2, sa(1, 80))
        .send(210, LG, 0xA1, 7)
        .recv(220, FRONT, 0xA2, 7)
        .send(230, FRONT, 0xA2, 9);
    let (traces, summary) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..122
            ---
            Server front tid=10 220..232
            ---"
        )
    );
    assert_eq!(
        traces[1].spans[0].peer,
        Some("10.0.0.9:5002".parse().unwrap())
    );
    assert!(summary.caveats.is_empty(), "{:?}", summary.caveats);
}

#[test]
fn a_thread_already_blocked_in_its_read_when_recording_starts_starts_at_the_wakeup() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    // No syscall entry seen for FRONT: it was inside recv before the recording.
    r.send(100, LG, 0xA1, 10)
        .irq(105, EventKind::Waking { target: FRONT })
        .switch(107, 0, 0, FRONT)
        .sock_recv(110, FRONT, 0xA2, 10)
        .exit(111, FRONT, Syscall::Recv)
        .send(120, FRONT, 0xA2, 10);
    let (traces, _) = r.run();
    assert_eq!(render(&traces), tree("Server front tid=10 105..122\n---"));
    let a = &traces[0].spans[0].activity;
    // runnable 105..107 was before the span opened (110); on CPU 110..122
    assert_eq!((a.runnable_ns, a.on_cpu_ns), (0, 12));
}

#[test]
fn an_answer_still_arriving_when_the_input_ends_is_partial() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    back_conn(&mut r, 20);
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10)
        .send(120, FRONT, 0xB1, 5)
        .recv(130, BACK, 0xB2, 5)
        .send(140, BACK, 0xB2, 100) // headers
        .send(143, BACK, 0xB2, 16) // body (delayed by Nagle)
        .recv(150, FRONT, 0xB1, 100) // headers read, body not yet
        .enter(160, FRONT, Syscall::Recv);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..160 partial
              Client front tid=10 120..160 partial
                Server back tid=20 130..145
            ---"
        )
    );
}

#[test]
fn bytes_queued_at_the_snapshot_but_read_before_the_recording_do_not_shift_later_requests() {
    let mut r = two_services();
    // back's old connection from front: 50 bytes queued at the snapshot, which back read
    // between the snapshot and the start of the recording (no read seen).
    let call = tuple(sa(1, 40000), sa(2, 81));
    for (sk, t, server_side, recv_queue) in
        [(0xB1, call, false, 0), (0xB2, call.mirrored(), true, 50)]
    {
        r.world.sockets.push(SocketInfo {
            sk: Some(sk),
            cookie: None,
            tuple: t,
            state: 1,
            server_side,
            send_queue: 0,
            recv_queue,
        });
    }
    front_conn(&mut r, 10);
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10)
        .send(120, FRONT, 0xB1, 30)
        .recv(130, BACK, 0xB2, 30)
        .send(140, BACK, 0xB2, 7)
        .recv(150, FRONT, 0xB1, 7)
        .send(160, FRONT, 0xA2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..162
              Client front tid=10 120..152
                Server back tid=20 130..142
            ---"
        )
    );
}

#[test]
fn answer_bytes_read_before_any_send_was_seen_do_not_hide_an_incomplete_answer() {
    const CLIENT: Tid = 30;
    let mut r = two_services();
    r.thread(CLIENT, CLIENT, "client");
    // An old connection client → front, both ends in the snapshot, nothing queued.
    let conn = tuple(sa(9, 40000), sa(1, 80));
    for (sk, t, server_side) in [(0xA1, conn, false), (0xA2, conn.mirrored(), true)] {
        r.world.sockets.push(SocketInfo {
            sk: Some(sk),
            cookie: None,
            tuple: t,
            state: 1,
            server_side,
            send_queue: 0,
            recv_queue: 0,
        });
    }
    // The client reads the 16-byte tail of an answer sent before the recording.
    r.recv(50, CLIENT, 0xA1, 16)
        .send(100, CLIENT, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10)
        .send(120, FRONT, 0xA2, 100)
        .send(123, FRONT, 0xA2, 16)
        .recv(130, CLIENT, 0xA1, 100) // headers only: the body is still on its way
        .enter(140, CLIENT, Syscall::Recv);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Client client tid=30 100..140 partial
              Server front tid=10 110..125
            ---"
        )
    );
}

/// Two requests on front (acceptors 10 and 12), two pool workers (11, 13) blocked on a
/// queue futex at the start.
fn pool() -> Rec {
    let mut r = two_services();
    r.thread(11, FRONT, "front")
        .thread(12, FRONT, "front")
        .thread(13, FRONT, "front");
    front_conn(&mut r, 10);
    r.connect(11, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80));
    back_conn(&mut r, 20);
    r.connect(30, 13, 0xD1, sa(1, 6001), 0xD2, sa(2, 81));
    for w in [11, 13] {
        r.enter(40, w, Syscall::Futex).switch(41, w, 1, 0);
    }
    r
}

#[test]
fn a_worker_keeps_the_request_of_a_submitter_still_waiting_for_it() {
    let mut r = pool();
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10)
        .waking(115, FRONT, 11) // submit to worker 11
        .enter(116, FRONT, Syscall::Futex)
        .switch(117, FRONT, 1, 0) // the submitter waits for the result
        .send(120, LG, 0xC1, 10)
        .recv(125, 12, 0xC2, 10)
        .waking(130, 12, 11) // lock noise from the other request's acceptor
        .exit(131, 11, Syscall::Futex)
        .send(140, 11, 0xB1, 5)
        .recv(150, BACK, 0xB2, 5)
        .send(160, BACK, 0xB2, 5)
        .recv(170, 11, 0xB1, 5)
        .waking(175, 11, FRONT) // result ready
        .send(180, FRONT, 0xA2, 5)
        .send(190, 12, 0xC2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..182
              Client front tid=11 140..172
                Server back tid=20 150..162
            ---
            Server front tid=12 125..192
            ---"
        )
    );
}

#[test]
fn a_worker_back_from_a_call_takes_the_next_request_handed_to_it() {
    let mut r = pool();
    // Request A: worker 11 makes A's call; A's acceptor has not answered yet when
    // request C's acceptor hands worker 11 the next job.
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10)
        .waking(115, FRONT, 11)
        .exit(116, 11, Syscall::Futex)
        .send(120, 11, 0xB1, 5)
        .recv(125, BACK, 0xB2, 5)
        .send(130, BACK, 0xB2, 5)
        .recv(135, 11, 0xB1, 5) // back in A's context (A still unanswered)
        .enter(140, 11, Syscall::Futex)
        .switch(141, 11, 1, 0)
        .send(150, LG, 0xC1, 10)
        .recv(155, 12, 0xC2, 10)
        .waking(160, 12, 11) // C's job
        .exit(161, 11, Syscall::Futex)
        // a worker (13) woken by worker 11 does not get C: 11 did not read C
        .waking(162, 11, 13)
        .send(165, 11, 0xB1, 6)
        .recv(170, BACK, 0xB2, 6)
        .send(175, BACK, 0xB2, 6)
        .recv(180, 11, 0xB1, 6)
        .exit(185, 13, Syscall::Futex)
        .send(186, 13, 0xD1, 1)
        .send(190, FRONT, 0xA2, 5)
        .send(195, 12, 0xC2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..192
              Client front tid=11 120..137
                Server back tid=20 125..132
            ---
            Server front tid=12 155..197
              Client front tid=11 165..182
                Server back tid=20 170..177
            ---
            Client front tid=13 186..197 partial
            ---"
        )
    );
}

/// A pool worker whose call was linked only because one request was in progress then takes
/// its next job from the queue without a wakeup: that link says nothing about the next job.
/// The next call is an orphan until the worker hands its result back (a completion wakeup
/// to the thread serving C), not a "sole-request" link to A made with two candidates.
#[test]
fn a_worker_s_next_job_is_not_the_request_that_was_alone_at_its_previous_call() {
    let mut r = pool();
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10) // request A, alone in progress
        .send(120, 11, 0xB1, 5) // worker 11's call: no wakeup seen, A is the only request
        .recv(125, BACK, 0xB2, 5)
        .send(130, BACK, 0xB2, 5)
        .recv(135, 11, 0xB1, 5)
        .waking(138, 11, FRONT) // A's result
        .send(140, LG, 0xC1, 10)
        .recv(145, 12, 0xC2, 10) // request C
        .send(150, 11, 0xB1, 6) // the next queued job, taken without a wakeup: C's
        .recv(155, BACK, 0xB2, 6)
        .send(160, BACK, 0xB2, 6)
        .recv(165, 11, 0xB1, 6)
        .waking(170, 11, 12) // C's result
        .send(175, 12, 0xC2, 5)
        .send(185, FRONT, 0xA2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render_links(&traces),
        tree(
            "
            Server front tid=10 110..187
              Client front tid=11 120..137 link=sole-request/1
                Server back tid=20 125..132
            ---
            Server front tid=12 145..177
              Client front tid=11 150..167 link=completion/2
                Server back tid=20 155..162
            ---"
        )
    );
}

#[test]
fn a_worker_handing_back_its_result_moves_its_call_to_the_request_it_served() {
    let mut r = pool();
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10) // request A
        .send(111, LG, 0xC1, 10)
        .recv(112, 12, 0xC2, 10) // request C
        .waking(115, FRONT, 11) // A's job to worker 11 …
        .waking(117, 12, 11) // … then interpreter-lock noise from C's thread (A's thread is
        // not blocked yet, so the hand-off is taken: the worker is now believed to serve C)
        .enter(118, FRONT, Syscall::Futex)
        .switch(119, FRONT, 1, 0)
        .exit(120, 11, Syscall::Futex)
        .send(121, 11, 0xB1, 5)
        .recv(125, BACK, 0xB2, 5)
        .send(130, BACK, 0xB2, 5)
        .recv(135, 11, 0xB1, 5)
        .waking(140, 11, 13) // not a request thread: no effect
        .waking(141, 11, FRONT) // result handed back to A's thread: the call was A's
        .waking(142, 11, 12) // only the first counts
        .exit(145, FRONT, Syscall::Futex)
        .send(150, FRONT, 0xA2, 5)
        .send(160, 12, 0xC2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..152
              Client front tid=11 121..137
                Server back tid=20 125..132
            ---
            Server front tid=12 112..162
            ---"
        )
    );
}

#[test]
fn a_completion_wakeup_never_moves_a_call_to_a_request_that_started_after_it() {
    let mut r = pool();
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10) // request A
        .waking(115, FRONT, 11) // A's job to worker 11
        .exit(116, 11, Syscall::Futex)
        .send(121, 11, 0xB1, 5)
        .recv(125, BACK, 0xB2, 5)
        .send(126, LG, 0xC1, 10)
        .recv(127, 12, 0xC2, 10) // request C starts after A's call
        .send(130, BACK, 0xB2, 5)
        .recv(135, 11, 0xB1, 5)
        .waking(141, 11, 12) // lock noise towards C's thread: C cannot have caused the call
        .send(150, FRONT, 0xA2, 5)
        .send(160, 12, 0xC2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..152
              Client front tid=11 121..137
                Server back tid=20 125..132
            ---
            Server front tid=12 127..162
            ---"
        )
    );
}

#[test]
fn a_completion_wakeup_skips_a_thread_waiting_for_its_own_call() {
    let mut r = pool();
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10) // request A
        .send(111, LG, 0xC1, 10)
        .recv(112, 12, 0xC2, 10) // request C
        .waking(115, FRONT, 11) // A's job to worker 11
        .exit(116, 11, Syscall::Futex)
        .send(118, 12, 0xD1, 5) // C's thread makes its own call
        .send(121, 11, 0xB1, 5)
        .recv(125, BACK, 0xB2, 5)
        .send(130, BACK, 0xB2, 5)
        .recv(135, 11, 0xB1, 5)
        // An interpreter lock passed through C's thread's own condition variable: C's
        // thread waits for its own call's answer, not for the worker's result.
        .waking(141, 11, 12)
        .waking(142, 11, FRONT) // the result handed back to A's thread
        .recv(143, BACK, 0xD2, 5)
        .send(144, BACK, 0xD2, 5)
        .recv(146, 12, 0xD1, 5)
        .send(150, FRONT, 0xA2, 5)
        .send(160, 12, 0xC2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..152
              Client front tid=11 121..137
                Server back tid=20 125..132
            ---
            Server front tid=12 112..162
              Client front tid=12 118..148
                Server back tid=20 143..146
            ---"
        )
    );
}

#[test]
fn a_worker_that_answers_the_request_it_called_for_keeps_its_call_there() {
    let mut r = pool();
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10) // request A
        .waking(115, FRONT, 11) // A's job to worker 11
        .exit(116, 11, Syscall::Futex)
        .send(117, LG, 0xC1, 10)
        .recv(119, FRONT, 0xC2, 10) // request C, read by the same acceptor
        .waking(121, FRONT, 13) // C's job to worker 13
        .exit(122, 13, Syscall::Futex)
        .send(123, 11, 0xB1, 5) // A's call
        .recv(125, BACK, 0xB2, 5)
        .send(130, BACK, 0xB2, 5)
        .recv(135, 11, 0xB1, 5)
        .send(140, 11, 0xA2, 5) // worker 11 answers A itself
        // and then tells the acceptor (now in C's context) it is free: not a completion
        .waking(145, 11, FRONT)
        .send(150, 13, 0xC2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..142
              Client front tid=11 123..137
                Server back tid=20 125..132
            ---
            Server front tid=10 119..152
            ---"
        )
    );
}

#[test]
fn a_worker_that_takes_a_queued_job_without_a_wakeup_works_for_the_oldest_unclaimed_request() {
    let mut r = pool();
    r.connect(12, LG, 0xE1, sa(9, 5002), 0xE2, sa(1, 80));
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10) // request A
        .waking(115, FRONT, 11) // A's job to worker 11
        .exit(116, 11, Syscall::Futex)
        .send(120, 11, 0xB1, 5)
        .recv(125, BACK, 0xB2, 5)
        .send(130, BACK, 0xB2, 5)
        .recv(135, 11, 0xB1, 5)
        .send(140, 11, 0xA2, 5) // worker 11 answers A
        .send(145, LG, 0xC1, 10)
        .recv(150, FRONT, 0xC2, 10) // request C
        .waking(152, FRONT, 13) // C's job to worker 13
        .send(153, LG, 0xE1, 10)
        .recv(156, FRONT, 0xE2, 10) // request D, queued: no one to wake
        // Worker 11, never blocked since A, takes D from the queue and calls for it.
        .send(160, 11, 0xB1, 6)
        .recv(165, BACK, 0xB2, 6)
        .send(170, BACK, 0xB2, 6)
        .recv(175, 11, 0xB1, 6)
        .send(180, 11, 0xE2, 5)
        .send(185, 13, 0xC2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..142
              Client front tid=11 120..137
                Server back tid=20 125..132
            ---
            Server front tid=10 150..187
            ---
            Server front tid=10 156..182
              Client front tid=11 160..177
                Server back tid=20 165..172
            ---"
        )
    );
}

#[test]
fn an_event_loop_acts_on_a_batch_of_reads_in_the_order_it_read_them() {
    let mut r = two_services();
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80))
        .connect(20, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80))
        .connect(30, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 81))
        .connect(40, FRONT, 0xD1, sa(1, 6001), 0xD2, sa(2, 81));
    r.send(100, LG, 0xA1, 10)
        .enter(104, FRONT, Syscall::Poll)
        .exit(105, FRONT, Syscall::Poll)
        .recv(110, FRONT, 0xA2, 10) // request A
        .send(120, FRONT, 0xB1, 5) // A's call
        .recv(130, BACK, 0xB2, 5)
        .send(140, BACK, 0xB2, 8)
        .send(145, LG, 0xC1, 11)
        .enter(150, FRONT, Syscall::Poll)
        .exit(151, FRONT, Syscall::Poll)
        // One batch: request C, then A's answer; then C's call, then A's response (a
        // runtime that ran the work in the order the reads queued it).
        .recv(160, FRONT, 0xC2, 11)
        .recv(170, FRONT, 0xB1, 8)
        .send(180, FRONT, 0xD1, 6) // C's call
        .send(190, FRONT, 0xA2, 30) // A's response
        .enter(195, FRONT, Syscall::Poll)
        .recv(200, BACK, 0xD2, 6)
        .send(210, BACK, 0xD2, 7)
        .exit(215, FRONT, Syscall::Poll)
        .recv(220, FRONT, 0xD1, 7)
        .send(230, FRONT, 0xC2, 20);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..192
              Client front tid=10 120..172
                Server back tid=20 130..142
            ---
            Server front tid=10 160..232
              Client front tid=10 180..222
                Server back tid=20 200..212
            ---"
        )
    );
}

#[test]
fn an_event_loop_handles_a_new_request_of_a_batch_before_an_answers_caller() {
    let mut r = two_services();
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80))
        .connect(20, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80))
        .connect(30, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 81))
        .connect(40, FRONT, 0xD1, sa(1, 6001), 0xD2, sa(2, 81));
    r.send(100, LG, 0xA1, 10)
        .enter(104, FRONT, Syscall::Poll)
        .exit(105, FRONT, Syscall::Poll)
        .recv(110, FRONT, 0xA2, 10) // request A
        .send(120, FRONT, 0xB1, 5) // A's first call
        .recv(130, BACK, 0xB2, 5)
        .send(140, BACK, 0xB2, 8)
        .send(145, LG, 0xC1, 11)
        .enter(150, FRONT, Syscall::Poll)
        .exit(151, FRONT, Syscall::Poll)
        // One batch: A's answer, then request C; C's handler calls at once (on the
        // connection A's call just freed), A's caller makes its second call after.
        .recv(160, FRONT, 0xB1, 8)
        .recv(170, FRONT, 0xC2, 11)
        .send(180, FRONT, 0xB1, 6) // C's call
        .send(190, FRONT, 0xD1, 7) // A's second call
        .enter(195, FRONT, Syscall::Poll)
        .recv(200, BACK, 0xB2, 6)
        .send(205, BACK, 0xB2, 9)
        .recv(210, BACK, 0xD2, 7)
        .send(215, BACK, 0xD2, 9)
        .exit(220, FRONT, Syscall::Poll)
        .recv(225, FRONT, 0xB1, 9)
        .recv(230, FRONT, 0xD1, 9)
        .send(240, FRONT, 0xC2, 20)
        .send(250, FRONT, 0xA2, 30);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..252
              Client front tid=10 120..162
                Server back tid=20 130..142
              Client front tid=10 190..232
                Server back tid=20 210..217
            ---
            Server front tid=10 170..242
              Client front tid=10 180..227
                Server back tid=20 200..207
            ---"
        )
    );
}

#[test]
fn a_worker_woken_before_its_job_was_read_works_for_that_job_not_another_workers() {
    let mut r = pool();
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10) // request A
        .waking(115, FRONT, 11) // A's job to worker 11
        .exit(116, 11, Syscall::Futex)
        .waking(118, FRONT, 13) // worker 13 woken before the acceptor read C
        .exit(119, 13, Syscall::Futex)
        .send(120, LG, 0xC1, 10)
        .recv(125, FRONT, 0xC2, 10) // request C: worker 13's job
        .send(130, 11, 0xB1, 5) // A's call
        .send(135, 13, 0xD1, 6) // C's call
        .recv(140, BACK, 0xB2, 5)
        .send(145, BACK, 0xB2, 5)
        .recv(150, BACK, 0xD2, 6)
        .send(155, BACK, 0xD2, 6)
        .recv(160, 11, 0xB1, 5)
        .recv(165, 13, 0xD1, 6)
        .send(170, 11, 0xA2, 5)
        .send(175, 13, 0xC2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..172
              Client front tid=11 130..162
                Server back tid=20 140..147
            ---
            Server front tid=10 125..177
              Client front tid=13 135..167
                Server back tid=20 150..157
            ---"
        )
    );
}

#[test]
fn an_event_loop_s_request_handler_may_call_several_services_in_a_row() {
    const X: Tid = 98; // an untraced service
    let mut r = two_services();
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80))
        .connect(20, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80))
        .connect(30, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 81))
        .connect(40, FRONT, 0xE1, sa(1, 6001), 0xE2, sa(3, 82))
        .connect(50, FRONT, 0xF1, sa(1, 6002), 0xF2, sa(3, 82));
    r.send(100, LG, 0xA1, 10)
        .enter(104, FRONT, Syscall::Poll)
        .exit(105, FRONT, Syscall::Poll)
        .recv(110, FRONT, 0xA2, 10) // request A: calls back and X at once
        .send(120, FRONT, 0xB1, 5)
        .send(125, FRONT, 0xE1, 5)
        .recv(130, BACK, 0xB2, 5)
        .send(140, BACK, 0xB2, 8)
        .send(145, LG, 0xC1, 11)
        .enter(150, FRONT, Syscall::Poll)
        .exit(151, FRONT, Syscall::Poll)
        // One batch: back's answer for A (A still waits for X), then request C, whose
        // handler calls back and X in a row.
        .recv(160, FRONT, 0xB1, 8)
        .recv(170, FRONT, 0xC2, 11)
        .send(180, FRONT, 0xB1, 6)
        .send(185, FRONT, 0xF1, 6)
        .enter(190, FRONT, Syscall::Poll)
        .recv(200, BACK, 0xB2, 6)
        .send(205, BACK, 0xB2, 9)
        .send(206, X, 0xE2, 9)
        .send(207, X, 0xF2, 9)
        .exit(210, FRONT, Syscall::Poll)
        .recv(220, FRONT, 0xE1, 9) // A's last answer
        .send(225, FRONT, 0xA2, 30)
        .recv(230, FRONT, 0xB1, 9)
        .recv(235, FRONT, 0xF1, 9)
        .send(240, FRONT, 0xC2, 20);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..227
              Client front tid=10 120..162
                Server back tid=20 130..142
              Client front tid=10 125..222
            ---
            Server front tid=10 170..242
              Client front tid=10 180..232
                Server back tid=20 200..207
              Client front tid=10 185..237
            ---"
        )
    );
}

/// A connect() that fails (the callee is down: SYN_SENT → CLOSE, here on a RST in interrupt
/// context) is a call that failed: a client span of the connecting thread's request, from
/// the connect to the failure, with its error, and no callee span; the request then answers.
#[test]
fn a_failed_connect_is_a_failed_call_of_the_connecting_request() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    let t = tuple(sa(1, 6000), sa(2, 81));
    r.send(100, LG, 0xA1, 100).recv(110, FRONT, 0xA2, 100);
    r.ev(
        120,
        FRONT,
        EventKind::SockState {
            sk: 0xB1,
            old: 7,
            new: 2,
            tuple: tuple(sa(1, 0), sa(2, 81)),
        },
    )
    .irq(
        125,
        EventKind::SockState {
            sk: 0xB1,
            old: 2,
            new: 7,
            tuple: t,
        },
    )
    .send(130, FRONT, 0xA2, 40)
    .recv(140, LG, 0xA1, 40);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..132
              Client front tid=10 120..125 error=connect failed (refused, unreachable or timed out)
            ---"
        )
    );
    let call = &traces[0].spans[1];
    assert_eq!(call.peer, Some("10.0.0.2:81".parse().unwrap()));
}

/// A connect that succeeds is not a failed call, and a failed connect of a thread in no
/// request makes no span.
#[test]
fn a_failed_connect_outside_any_request_makes_no_span() {
    let mut r = two_services();
    r.ev(
        120,
        FRONT,
        EventKind::SockState {
            sk: 0xB1,
            old: 7,
            new: 2,
            tuple: tuple(sa(1, 0), sa(2, 81)),
        },
    )
    .irq(
        125,
        EventKind::SockState {
            sk: 0xB1,
            old: 2,
            new: 7,
            tuple: tuple(sa(1, 6000), sa(2, 81)),
        },
    );
    let (traces, summary) = r.run();
    assert!(traces.is_empty(), "{}", render(&traces));
    assert_eq!(summary.spans, 0);
}

/// The callee died while its connection sat in the caller's pool: the caller's next request
/// is sent on a socket whose reset arrives during the send (TCP_CLOSE is stamped before the
/// send's sock_send_length), then reads end of file. The call is still a client span of the
/// request, on that connection, ended with an error; the socket goes at tcp_destroy_sock.
#[test]
fn a_send_on_a_connection_reset_during_the_send_is_a_failed_call() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    back_conn(&mut r, 20);
    let t = tuple(sa(1, 6000), sa(2, 81));
    r.send(100, LG, 0xA1, 100)
        .recv(110, FRONT, 0xA2, 100)
        .enter(120, FRONT, Syscall::Send)
        .irq(
            121,
            EventKind::SockState {
                sk: 0xB1,
                old: 8,
                new: 7,
                tuple: t,
            },
        )
        .sock_send(122, FRONT, 0xB1, 48)
        .exit(123, FRONT, Syscall::Send)
        .recv(125, FRONT, 0xB1, 0)
        .ev(128, FRONT, EventKind::SockDestroy { sk: 0xB1 })
        .send(130, FRONT, 0xA2, 40)
        .recv(140, LG, 0xA1, 40);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..132
              Client front tid=10 120..123 error=connection closed before the answer
            ---"
        )
    );
    let call = &traces[0].spans[1];
    assert_eq!(call.local, Some("10.0.0.1:6000".parse().unwrap()));
    assert_eq!(call.activity.bytes_out, 48);
}

/// front's request thread 10, an event loop 11 (blocked in epoll) and a worker 13 (blocked
/// in futex) that writes the calls: an HTTP client library with a selector thread.
fn selector() -> Rec {
    let mut r = two_services();
    r.thread(11, FRONT, "front").thread(13, FRONT, "front");
    front_conn(&mut r, 10);
    r.connect(30, 13, 0xD1, sa(1, 6001), 0xD2, sa(2, 81));
    r.enter(40, 11, Syscall::Poll).switch(41, 11, 1, 0);
    r.enter(42, 13, Syscall::Futex).switch(43, 13, 1, 0);
    r
}

/// The request thread writes to the selector's eventfd: `eventfd_bytes` says whether that
/// write moved socket bytes (then it was a socket, here one kspan knows nothing of, and the
/// poller's wakeup is not a hand-off).
fn selector_relays_a_call(eventfd_bytes: bool) -> Vec<Trace> {
    let mut r = selector();
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10)
        .enter(120, FRONT, Syscall::Send)
        .waking(121, FRONT, 11);
    if eventfd_bytes {
        r.sock_send(122, FRONT, 0xE1, 8);
    }
    r.exit(123, FRONT, Syscall::Send)
        .enter(124, FRONT, Syscall::Futex)
        .switch(125, FRONT, 1, 0) // waits for its call's result
        .exit(126, 11, Syscall::Poll)
        .waking(127, 11, 13) // the selector hands the work to a worker
        .enter(128, 11, Syscall::Poll)
        .exit(129, 13, Syscall::Futex)
        .send(130, 13, 0xD1, 5)
        .recv(140, BACK, 0xD2, 5)
        .send(150, BACK, 0xD2, 5)
        .recv(160, 11, 0xD1, 5) // the selector reads the answer
        .send(170, FRONT, 0xA2, 5);
    r.run().0
}

#[test]
fn a_wakeup_channel_hands_the_request_to_an_event_loop_which_relays_it_to_its_worker() {
    assert_eq!(
        render(&selector_relays_a_call(false)),
        tree(
            "
            Server front tid=10 110..172
              Client front tid=13 130..162
                Server back tid=20 140..152
            ---"
        )
    );
}

#[test]
fn a_poller_woken_from_inside_a_socket_send_is_not_handed_the_request() {
    // The worker's call is not linked by the wakeup; with one request in progress in the
    // process it is that request's all the same, and says so.
    assert_eq!(
        render_links(&selector_relays_a_call(true)),
        tree(
            "
            Server front tid=10 110..172
              Client front tid=10 120..172 partial link=own-thread/1
              Client front tid=13 130..162 link=sole-request/1
                Server back tid=20 140..152
            ---"
        )
    );
}

#[test]
fn an_idle_worker_woken_again_takes_the_newer_request() {
    let mut r = pool();
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10)
        .waking(115, FRONT, 11) // a runtime waking an idle thread to look for work
        .enter(116, FRONT, Syscall::Futex)
        .switch(117, FRONT, 1, 0) // and parking itself
        .exit(118, 11, Syscall::Futex)
        .enter(119, 11, Syscall::Futex) // nothing to do: back to sleep, no socket I/O
        .switch(120, 11, 1, 0)
        .send(130, LG, 0xC1, 10)
        .recv(135, 12, 0xC2, 10)
        .waking(140, 12, 11) // C's work
        .exit(141, 11, Syscall::Futex)
        .send(150, 11, 0xB1, 5)
        .recv(160, BACK, 0xB2, 5)
        .send(170, BACK, 0xB2, 5)
        .recv(180, 11, 0xB1, 5)
        .send(190, 12, 0xC2, 5)
        .send(200, FRONT, 0xA2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..202
            ---
            Server front tid=12 135..192
              Client front tid=11 150..182
                Server back tid=20 160..172
            ---"
        )
    );
}

#[test]
fn reads_queued_across_a_poll_that_did_not_block_are_served_first_in_first_out() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    r.connect(11, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80));
    back_conn(&mut r, 20);
    r.connect(30, FRONT, 0xD1, sa(1, 6001), 0xD2, sa(2, 81));
    r.enter(100, FRONT, Syscall::Poll)
        .send(101, LG, 0xA1, 10)
        .exit(104, FRONT, Syscall::Poll)
        .recv(105, FRONT, 0xA2, 10) // request A
        .send(110, FRONT, 0xB1, 5) // A's first call
        .enter(115, FRONT, Syscall::Poll)
        .switch(116, FRONT, 1, 0) // idle
        .recv(120, BACK, 0xB2, 5)
        .send(125, BACK, 0xB2, 5)
        .send(126, LG, 0xC1, 10)
        .exit(130, FRONT, Syscall::Poll)
        .recv(131, FRONT, 0xB1, 5) // A's answer: A's task is queued
        .recv(135, FRONT, 0xC2, 10) // request B: B's task is queued after it
        .enter(140, FRONT, Syscall::Poll) // ready queue not empty: poll without blocking
        .exit(141, FRONT, Syscall::Poll)
        .send(145, FRONT, 0xD1, 6) // A's second call runs first
        .recv(150, BACK, 0xD2, 6)
        .send(155, BACK, 0xD2, 6)
        .send(160, FRONT, 0xB1, 7) // then B's call
        .recv(165, BACK, 0xB2, 7)
        .send(170, BACK, 0xB2, 7)
        .recv(175, FRONT, 0xD1, 6)
        .send(180, FRONT, 0xA2, 5)
        .recv(185, FRONT, 0xB1, 7)
        .send(190, FRONT, 0xC2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 105..182
              Client front tid=10 110..133
                Server back tid=20 120..127
              Client front tid=10 145..177
                Server back tid=20 150..157
            ---
            Server front tid=10 135..192
              Client front tid=10 160..187
                Server back tid=20 165..172
            ---"
        )
    );
}

#[test]
fn a_worker_that_wrote_a_call_and_sleeps_on_a_futex_takes_the_next_hand_off() {
    let mut r = pool();
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10)
        .waking(115, FRONT, 11)
        .exit(116, 11, Syscall::Futex)
        .send(120, 11, 0xB1, 5) // A's call: another thread reads its answer
        .enter(125, 11, Syscall::Futex)
        .switch(126, 11, 1, 0)
        .send(130, LG, 0xC1, 10)
        .recv(135, 12, 0xC2, 10)
        .waking(140, 12, 11) // C's job, while A's call is still in flight
        .exit(141, 11, Syscall::Futex)
        .send(145, 11, 0xD1, 6)
        .recv(150, BACK, 0xB2, 5)
        .send(155, BACK, 0xB2, 5)
        .recv(160, 13, 0xB1, 5)
        .send(170, FRONT, 0xA2, 5); // C and its call never answered: cut by the end
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..172
              Client front tid=11 120..162
                Server back tid=20 150..157
            ---
            Server front tid=12 135..172 partial
              Client front tid=11 145..172 partial
            ---"
        )
    );
}

#[test]
fn a_thread_that_finds_nothing_to_read_on_a_request_s_connection_works_for_that_request() {
    let mut r = two_services();
    r.thread(11, FRONT, "front");
    front_conn(&mut r, 10);
    back_conn(&mut r, 20);
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10)
        // Another OS thread runs the request's goroutine: it watches the connection
        // (a non-blocking read: EAGAIN), then sends the request's call.
        .recv(120, 11, 0xA2, -11)
        .send(130, 11, 0xB1, 5)
        .recv(140, BACK, 0xB2, 5)
        .send(150, BACK, 0xB2, 5)
        .recv(160, 11, 0xB1, 5)
        .send(170, FRONT, 0xA2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..172
              Client front tid=11 130..162
                Server back tid=20 140..152
            ---"
        )
    );
}

/// The confidence of the `own-thread` link of a call that thread 12 makes at 135 for the
/// request it read (C) while request A is in progress, when thread 11 watched A's
/// connection at `watch` (A's work moved to another thread than its reader) or never.
fn own_thread_confidence(watch: Option<u64>) -> f32 {
    let mut r = two_services();
    r.thread(11, FRONT, "front").thread(12, FRONT, "front");
    front_conn(&mut r, 10);
    back_conn(&mut r, 20);
    r.connect(11, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80))
        .connect(30, 12, 0xD1, sa(1, 6001), 0xD2, sa(2, 81));
    r.send(100, LG, 0xA1, 10).recv(110, FRONT, 0xA2, 10);
    r.send(125, LG, 0xC1, 10)
        .recv(130, 12, 0xC2, 10)
        .send(135, 12, 0xD1, 5);
    if let Some(at) = watch {
        r.recv(at, 11, 0xA2, -11);
    }
    let (traces, _) = r.run();
    let call = traces
        .iter()
        .flat_map(|t| &t.spans)
        .find(|s| s.tid == 12 && s.kind == SpanKind::Client)
        .expect("C's call");
    let link = call.link.expect("linked");
    assert_eq!((link.evidence, link.candidates), (Evidence::OwnThread, 2));
    link.confidence
}

#[test]
fn a_thread_s_own_request_is_not_sure_where_requests_work_moves_between_threads() {
    assert_eq!(own_thread_confidence(None), 0.99);
    assert_eq!(own_thread_confidence(Some(120)), 0.7);
}

#[test]
fn a_link_made_before_its_process_showed_moved_work_is_emitted_as_unsure() {
    // The watch that shows A's work moving comes after C's call was linked, before C's
    // trace is emitted: the trace says what was known by then.
    assert_eq!(own_thread_confidence(Some(140)), 0.7);
}

#[test]
fn a_hand_off_replaces_what_an_event_loop_thread_acted_on_last() {
    let mut r = pool();
    r.enter(50, 11, Syscall::Poll).exit(51, 11, Syscall::Poll); // 11 polls: a runtime thread
    r.send(60, LG, 0xC1, 10)
        .recv(65, 12, 0xC2, 10) // request C
        .waking(70, 12, 11)
        .send(75, 11, 0xB1, 5) // C's first call
        .recv(80, BACK, 0xB2, 5)
        .send(85, BACK, 0xB2, 5)
        .recv(90, 11, 0xB1, 5) // its answer: back in C
        .send(95, 11, 0xB1, 6) // C's second call: acted on that answer
        .enter(97, 11, Syscall::Futex)
        .switch(98, 11, 1, 0)
        .send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10) // request A
        .waking(115, FRONT, 11) // handed to 11
        .exit(116, 11, Syscall::Futex)
        .send(120, 11, 0xD1, 7) // A's call
        .recv(125, BACK, 0xB2, 6)
        .send(130, BACK, 0xB2, 6)
        .recv(135, 11, 0xB1, 6)
        .send(140, 12, 0xC2, 5); // A and its call never answered: cut by the end

    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=12 65..142
              Client front tid=11 75..92
                Server back tid=20 80..87
              Client front tid=11 95..137
                Server back tid=20 125..132
            ---
            Server front tid=10 110..142 partial
              Client front tid=11 120..142 partial
            ---"
        )
    );
}

#[test]
fn a_thread_that_checks_a_pooled_connection_gets_the_next_call_on_it_for_its_request() {
    let mut r = pool();
    r.send(100, LG, 0xA1, 10)
        .recv(110, FRONT, 0xA2, 10)
        // The request's thread checks the kept-alive connection before reusing it (a
        // one-byte non-blocking read: nothing there), then leaves the call to a worker.
        .recv(115, FRONT, 0xD1, -11)
        .enter(118, FRONT, Syscall::Futex)
        .switch(119, FRONT, 1, 0)
        .irq(120, EventKind::Waking { target: 13 }) // the worker is woken by a timer
        .exit(121, 13, Syscall::Futex)
        .send(130, 13, 0xD1, 5)
        .recv(140, BACK, 0xD2, 5)
        .send(150, BACK, 0xD2, 5)
        .recv(160, 13, 0xD1, 5)
        .send(170, FRONT, 0xA2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..172
              Client front tid=13 130..162
                Server back tid=20 140..152
            ---"
        )
    );
}

#[test]
fn a_thread_with_a_call_in_flight_that_watches_another_request_s_connection_works_for_it() {
    let mut r = two_services();
    r.thread(11, FRONT, "front");
    front_conn(&mut r, 10);
    r.connect(11, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80));
    back_conn(&mut r, 20);
    r.connect(30, 11, 0xD1, sa(1, 6001), 0xD2, sa(2, 81));
    r.send(100, LG, 0xC1, 10)
        .recv(105, 11, 0xC2, 10) // request C, read by thread 11
        .send(110, 11, 0xD1, 5) // C's call; its answer will come later
        .send(120, LG, 0xA1, 10)
        .recv(125, FRONT, 0xA2, 10) // request A
        // Thread 11 runs A's next piece of work while C's call waits (a runtime thread):
        // it watches A's connection (EAGAIN), then sends A's call.
        .recv(130, 11, 0xA2, -11)
        .send(135, 11, 0xB1, 6)
        .recv(140, BACK, 0xB2, 6)
        .send(145, BACK, 0xB2, 6)
        .recv(150, BACK, 0xD2, 5)
        .send(155, BACK, 0xD2, 5)
        .recv(160, 11, 0xB1, 6)
        .recv(165, 11, 0xD1, 5)
        .send(170, FRONT, 0xA2, 5)
        .send(175, 11, 0xC2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=11 105..177
              Client front tid=11 110..167
                Server back tid=20 150..157
            ---
            Server front tid=10 125..172
              Client front tid=11 135..162
                Server back tid=20 140..147
            ---"
        )
    );
}

#[test]
fn a_thread_that_watches_the_connection_of_a_request_it_read_earlier_works_for_it_again() {
    let mut r = two_services();
    r.thread(11, FRONT, "front");
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80))
        .connect(11, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80));
    back_conn(&mut r, 20);
    r.connect(30, 11, 0xD1, sa(1, 6001), 0xD2, sa(2, 81))
        .connect(31, 11, 0xE1, sa(1, 6002), 0xE2, sa(2, 81));
    r.enter(90, 11, Syscall::Poll).exit(95, 11, Syscall::Poll); // a runtime thread
    r.send(100, LG, 0xA1, 10)
        .send(101, LG, 0xC1, 10)
        .recv(105, 11, 0xA2, 10) // request A
        .send(108, 11, 0xB1, 6) // A's first call
        .recv(110, 11, 0xC2, 10) // request C: the thread runs C's work now
        .send(115, 11, 0xD1, 5) // C's call
        // Then A's again: the thread watches A's connection (EAGAIN), sends A's second call.
        .recv(120, 11, 0xA2, -11)
        .send(125, 11, 0xE1, 7);
    // Back answers the three calls in turn; the thread reads the answers, then responds.
    for (k, (sk, n)) in (0..).zip([(0xB1, 6), (0xD1, 5), (0xE1, 7)]) {
        r.recv(130 + 4 * k, BACK, sk + 1, n)
            .send(132 + 4 * k, BACK, sk + 1, n);
        r.recv(150 + 2 * k, 11, sk, n);
    }
    r.send(160, 11, 0xA2, 5).send(165, 11, 0xC2, 5);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=11 105..162
              Client front tid=11 108..152
                Server back tid=20 130..134
              Client front tid=11 125..156
                Server back tid=20 138..142
            ---
            Server front tid=11 110..167
              Client front tid=11 115..154
                Server back tid=20 134..138
            ---"
        )
    );
}

#[test]
fn a_message_with_no_answer_ends_where_each_side_closes_its_end() {
    let mut r = two_services();
    front_conn(&mut r, 10);
    back_conn(&mut r, 20);
    let back = tuple(sa(1, 6000), sa(2, 81));
    r.send(100, LG, 0xA1, 10)
        .recv(105, FRONT, 0xA2, 10)
        .send(110, FRONT, 0xB1, 5) // a message that expects no answer (Terminate)
        .recv(115, BACK, 0xB2, 5)
        // the caller closes its end (inside its close(): process context)
        .ev(
            120,
            FRONT,
            EventKind::SockState {
                sk: 0xB1,
                old: 1,
                new: 4,
                tuple: back,
            },
        )
        // the callee reads the end of the stream and closes its end (inside its close())
        .ev(
            125,
            BACK,
            EventKind::SockState {
                sk: 0xB2,
                old: 8,
                new: 9,
                tuple: back.mirrored(),
            },
        )
        .send(130, FRONT, 0xA2, 5)
        .close(150, 0xB1, back); // the connection is gone, later
    assert_eq!(
        render(&r.run().0),
        tree(
            "
            Server front tid=10 105..132
              Client front tid=10 110..120
                Server back tid=20 115..125
            ---"
        )
    );
}
