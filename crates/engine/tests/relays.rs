//! Results handed back to an event loop through a wakeup channel (docs/engine.md, "A
//! thread's context", relayed results): a worker's call is the request whose response the
//! loop writes after reading the worker's channel write.

mod dsl;
use dsl::*;
use kspan_engine::*;

const LG: Tid = 99; // an untraced load generator
const LOOP: Tid = 10;
const WORKER: Tid = 12;
const BACK: Tid = 20;
/// The descriptor the worker writes (one end of the loop's self-pipe).
const WRITE_END: i64 = 7;
/// The descriptor the loop reads (the other end).
const READ_END: i64 = 8;

/// front (pid 10: event loop 10, worker 12) reads requests A and C (and E, when `e`) on its
/// loop thread in one round, then blocks in its poll; back (pid 20) serves the worker's calls
/// on B and D.
fn loop_with_a_worker(e: bool) -> Rec {
    let mut r = Rec::new();
    r.thread(LOOP, LOOP, "front")
        .thread(WORKER, LOOP, "front")
        .thread(BACK, BACK, "back");
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80))
        .connect(14, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80))
        .connect(20, WORKER, 0xB1, sa(1, 6000), 0xB2, sa(2, 81))
        .connect(24, WORKER, 0xD1, sa(1, 6001), 0xD2, sa(2, 81))
        .connect(28, LG, 0xE1, sa(9, 5002), 0xE2, sa(1, 80))
        .connect(32, LG, 0xF1, sa(9, 5003), 0xF2, sa(1, 80));
    r.enter(90, LOOP, Syscall::Poll)
        .exit(91, LOOP, Syscall::Poll);
    r.send(100, LG, 0xA1, 10)
        .recv(105, LOOP, 0xA2, 10)
        .send(110, LG, 0xC1, 10)
        .recv(115, LOOP, 0xC2, 10);
    if e {
        r.send(112, LG, 0xE1, 10).recv(116, LOOP, 0xE2, 10);
    }
    r.enter(118, LOOP, Syscall::Poll).switch(119, LOOP, 1, 0);
    r
}

/// The worker calls back on `csk` (server end `ssk`) at `ts`, answered at ts+15.
fn worker_call(r: &mut Rec, ts: u64, csk: u64, ssk: u64) {
    r.send(ts, WORKER, csk, 5)
        .recv(ts + 5, BACK, ssk, 5)
        .send(ts + 10, BACK, ssk, 5)
        .recv(ts + 15, WORKER, csk, 5);
}

/// The worker writes its end of the channel at `ts`, waking the loop (blocked in its poll)
/// when `wakes`; events at ts..ts+2.
fn write_channel(r: &mut Rec, ts: u64, wakes: bool) {
    r.enter_on(ts, WORKER, Syscall::Send, WRITE_END);
    if wakes {
        r.waking(ts + 1, WORKER, LOOP);
    }
    r.exit(ts + 2, WORKER, Syscall::Send);
}

/// The loop reads its end of the channel at `ts` (ts..ts+1).
fn read_channel(r: &mut Rec, ts: u64) {
    r.enter_on(ts, LOOP, Syscall::Recv, READ_END)
        .exit(ts + 1, LOOP, Syscall::Recv);
}

#[test]
fn a_result_the_worker_wakes_the_loop_with_is_the_request_the_loop_answers_next() {
    let mut r = loop_with_a_worker(false);
    worker_call(&mut r, 130, 0xB1, 0xB2);
    write_channel(&mut r, 150, true);
    r.exit(155, LOOP, Syscall::Poll);
    read_channel(&mut r, 156);
    // The loop read C last; the result it was woken with completes A.
    r.send(160, LOOP, 0xA2, 5).send(170, LOOP, 0xC2, 5);
    assert_eq!(
        render_links(&r.run().0),
        tree(
            "
            Server front tid=10 105..162
              Client front tid=12 130..147 link=response/2
                Server back tid=20 135..142
            ---
            Server front tid=10 115..172
            ---"
        )
    );
}

#[test]
fn a_result_written_while_the_loop_is_busy_is_read_with_the_channel() {
    let mut r = loop_with_a_worker(true);
    // A first result wakes the loop: the channel's two ends are learnt from it.
    worker_call(&mut r, 130, 0xB1, 0xB2);
    write_channel(&mut r, 150, true);
    r.exit(155, LOOP, Syscall::Poll);
    read_channel(&mut r, 156);
    r.send(160, LOOP, 0xC2, 5);
    // The second result is written while the loop runs (nobody to wake); the loop finds it
    // at its next poll, and answers A (E, read with it, later).
    worker_call(&mut r, 170, 0xD1, 0xD2);
    write_channel(&mut r, 190, false);
    r.enter(195, LOOP, Syscall::Poll)
        .exit(196, LOOP, Syscall::Poll);
    read_channel(&mut r, 197);
    r.send(200, LOOP, 0xA2, 5).send(210, LOOP, 0xE2, 5);
    assert_eq!(
        render_links(&r.run().0),
        tree(
            "
            Server front tid=10 105..202
              Client front tid=12 170..187 link=response/2
                Server back tid=20 175..182
            ---
            Server front tid=10 115..162
              Client front tid=12 130..147 link=response/3
                Server back tid=20 135..142
            ---
            Server front tid=10 116..212
            ---"
        )
    );
}

#[test]
fn an_event_loop_hands_a_worker_the_work_of_its_oldest_read_not_acted_on() {
    // The loop read A and C in one round; its first hand-off is the handler of A, which ran
    // first, not of C, which it read last. That is read order, not a request the waker
    // serves alone (`event-loop`, not `wakeup`).
    let mut r = loop_with_a_worker(false);
    r.exit(125, LOOP, Syscall::Poll);
    r.futex_wake(126, LOOP, 0x700, WORKER);
    worker_call(&mut r, 130, 0xB1, 0xB2);
    r.send(170, LOOP, 0xA2, 5).send(175, LOOP, 0xC2, 5);
    assert_eq!(
        render_links(&r.run().0),
        tree(
            "
            Server front tid=10 105..172
              Client front tid=12 130..147 link=event-loop/2
                Server back tid=20 135..142
            ---
            Server front tid=10 115..177
            ---"
        )
    );
}

#[test]
fn a_response_resumed_from_relayed_results_is_not_reported_sure() {
    // After a result relayed to the loop, the loop's own calls and the workers' that
    // `resumed` names are reported below sure: a result written before the channel's ends
    // were known is never seen by the loop, and its window may leave the wrong call alone.
    let mut r = loop_with_a_worker(true);
    // The loop hands A's work to the worker (read order) and blocks again.
    r.exit(120, LOOP, Syscall::Poll)
        .futex_wake(121, LOOP, 0x700, WORKER)
        .enter(127, LOOP, Syscall::Poll)
        .switch(128, LOOP, 1, 0);
    worker_call(&mut r, 130, 0xB1, 0xB2);
    write_channel(&mut r, 150, true);
    r.exit(155, LOOP, Syscall::Poll);
    read_channel(&mut r, 156);
    // A request read since: the next response is decided by its window (`resumed`).
    r.send(158, LG, 0xF1, 10).recv(159, LOOP, 0xF2, 10);
    r.send(160, LOOP, 0xA2, 5)
        .send(170, LOOP, 0xC2, 5)
        .send(175, LOOP, 0xE2, 5)
        .send(180, LOOP, 0xF2, 5);
    let (traces, _) = r.run();
    let links: Vec<(String, f32)> = traces
        .iter()
        .flat_map(|t| t.spans.iter())
        .filter(|s| s.kind == SpanKind::Client)
        .filter_map(|s| {
            s.link
                .map(|l| (l.evidence.name().to_string(), l.confidence))
        })
        .collect();
    assert_eq!(links, vec![("resumed".to_string(), 0.95)]);
}
