//! How a call finds its request (docs/engine.md, "How a call finds its request"): one test
//! per kind of evidence and per hard window, on synthetic event sequences, with each call's
//! link evidence and candidate count in the expected tree.

mod dsl;
use dsl::*;
use kspan_engine::*;

const LG: Tid = 99; // an untraced load generator
const FRONT: Tid = 10;
const BACK: Tid = 20;

/// front (pid 10: threads 10, 11, 12) with requests A (read by 10) and C (read by 11) from
/// the load generator, and connections to back (pid 20) from 0xB1 and 0xD1.
fn two_requests() -> Rec {
    let mut r = Rec::new();
    r.thread(FRONT, FRONT, "front")
        .thread(11, FRONT, "front")
        .thread(12, FRONT, "front")
        .thread(BACK, BACK, "back");
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80))
        .connect(14, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80))
        .connect(20, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 81))
        .connect(24, FRONT, 0xD1, sa(1, 6001), 0xD2, sa(2, 81));
    r.send(100, LG, 0xA1, 10)
        .recv(105, FRONT, 0xA2, 10)
        .send(110, LG, 0xC1, 10)
        .recv(115, 11, 0xC2, 10);
    r
}

/// `tid` calls back on `csk` (server end `ssk`) at `ts`, answered at ts+15.
fn call(r: &mut Rec, ts: u64, tid: Tid, csk: u64, ssk: u64) {
    r.send(ts, tid, csk, 5)
        .recv(ts + 5, BACK, ssk, 5)
        .send(ts + 10, BACK, ssk, 5)
        .recv(ts + 15, tid, csk, 5);
}

#[test]
fn a_thread_back_from_a_call_still_serves_the_request_it_read() {
    for polls in [false, true] {
        thread_back_from_a_call(polls);
    }
}

/// A's thread (polling its socket before reading, like CPython's socket timeouts, when
/// `polls`: it still serves one request at a time) makes two calls.
fn thread_back_from_a_call(polls: bool) {
    let mut r = two_requests();
    if polls {
        r.enter(101, FRONT, Syscall::Poll)
            .exit(102, FRONT, Syscall::Poll)
            .enter(140, FRONT, Syscall::Poll)
            .exit(141, FRONT, Syscall::Poll);
    }
    call(&mut r, 120, FRONT, 0xB1, 0xB2);
    // The thread of request C wakes A's thread through a word it never waited on (not a
    // lock): A's thread serves A all the same, its next call is A's.
    r.futex_wake(140, 11, 0x600, FRONT);
    call(&mut r, 150, FRONT, 0xD1, 0xD2);
    r.send(170, FRONT, 0xA2, 5).send(175, 11, 0xC2, 5);
    assert_eq!(
        render_links(&r.run().0),
        tree(
            "
            Server front tid=10 105..172
              Client front tid=10 120..137 link=own-thread/2
                Server back tid=20 125..132
              Client front tid=10 150..167 link=own-thread/2
                Server back tid=20 155..162
            ---
            Server front tid=11 115..177
            ---"
        )
    );
}

#[test]
fn a_wakeup_through_a_lock_the_waker_waited_for_hands_nothing_over() {
    let mut r = two_requests();
    // C's thread once waited on word 0x400 and A's thread released it to C's thread.
    r.futex_wake(120, FRONT, 0x400, 11);
    // A's thread hands A to worker 12 through a queue word.
    r.futex_wake(130, FRONT, 0x500, 12);
    // C's thread releases the lock to the worker: it passes a lock on, not request C.
    r.futex_wake(140, 11, 0x400, 12);
    call(&mut r, 150, 12, 0xB1, 0xB2);
    r.send(170, FRONT, 0xA2, 5).send(175, 11, 0xC2, 5);
    let with_lock_rule = tree(
        "
        Server front tid=10 105..172
          Client front tid=12 150..167 link=wakeup/2
            Server back tid=20 155..162
        ---
        Server front tid=11 115..177
        ---",
    );
    assert_eq!(render_links(&r.run().0), with_lock_rule);

    // The same wakeup through a word C's thread never waited on is a hand-off of C.
    let mut r = two_requests();
    r.futex_wake(120, FRONT, 0x400, 11);
    r.futex_wake(130, FRONT, 0x500, 12);
    r.futex_wake(140, 11, 0x700, 12);
    call(&mut r, 150, 12, 0xB1, 0xB2);
    r.send(170, FRONT, 0xA2, 5).send(175, 11, 0xC2, 5);
    assert_ne!(render_links(&r.run().0), with_lock_rule);
}

#[test]
fn a_call_written_after_its_request_was_answered_is_not_that_request_s() {
    let mut r = two_requests();
    r.send(120, FRONT, 0xA2, 5);
    call(&mut r, 130, FRONT, 0xB1, 0xB2);
    r.send(175, 11, 0xC2, 5);
    assert_eq!(
        render_links(&r.run().0),
        tree(
            "
            Server front tid=10 105..122
            ---
            Server front tid=11 115..177
            ---
            Client front tid=10 130..147
              Server back tid=20 135..142
            ---"
        )
    );
}

#[test]
fn a_call_with_no_evidence_is_linked_only_when_one_request_is_in_progress() {
    // Two requests in progress: the worker's call (no hand-off seen) stays a root.
    let mut r = two_requests();
    call(&mut r, 130, 12, 0xB1, 0xB2);
    r.send(170, FRONT, 0xA2, 5).send(175, 11, 0xC2, 5);
    let (traces, summary) = r.run();
    assert_eq!(
        render_links(&traces),
        tree(
            "
            Server front tid=10 105..172
            ---
            Server front tid=11 115..177
            ---
            Client front tid=12 130..147
              Server back tid=20 135..142
            ---"
        )
    );
    assert_eq!(summary.links, vec![(Evidence::Bytes, 1, 0)]);

    // C answered before the call: A is the only request in progress.
    let mut r = two_requests();
    r.send(120, 11, 0xC2, 5);
    call(&mut r, 130, 12, 0xB1, 0xB2);
    r.send(170, FRONT, 0xA2, 5);
    let (traces, summary) = r.run();
    assert_eq!(
        render_links(&traces),
        tree(
            "
            Server front tid=10 105..172
              Client front tid=12 130..147 link=sole-request/1
                Server back tid=20 135..142
            ---
            Server front tid=11 115..122
            ---"
        )
    );
    let confidence = traces[0].spans[1].link.expect("linked").confidence;
    assert!(confidence >= 0.99, "one candidate: {confidence}");
    assert_eq!(
        summary.links,
        vec![(Evidence::Bytes, 1, 0), (Evidence::SoleRequest, 1, 0)]
    );
}

/// An event loop (front, one thread) that read requests A (at 105) and C (at 108) in one
/// round; connections for a third request E and to back (0xB1) are ready.
fn event_loop_read_a_and_c() -> Rec {
    let mut r = Rec::new();
    r.thread(FRONT, FRONT, "front").thread(BACK, BACK, "back");
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80))
        .connect(14, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80))
        .connect(16, LG, 0xE1, sa(9, 5002), 0xE2, sa(1, 80))
        .connect(20, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 81));
    r.send(100, LG, 0xA1, 10)
        .send(100, LG, 0xC1, 10)
        .enter(101, FRONT, Syscall::Poll)
        .exit(102, FRONT, Syscall::Poll)
        .recv(105, FRONT, 0xA2, 10)
        .recv(108, FRONT, 0xC2, 10);
    r
}

/// An event loop (front, one thread) reads requests A and C in one round and writes a call
/// (by read order, A's), goes idle, reads the call's answer, optionally reads request E,
/// then writes C's response, then A's.
fn loop_call_then_response(read_e_between: bool) -> Rec {
    let mut r = event_loop_read_a_and_c();
    r.send(120, FRONT, 0xB1, 5)
        .recv(125, BACK, 0xB2, 5)
        .enter(126, FRONT, Syscall::Poll)
        .switch(127, FRONT, 1, 0)
        .send(130, BACK, 0xB2, 5)
        .switch(133, 0, 0, FRONT)
        .exit(134, FRONT, Syscall::Poll)
        .recv(135, FRONT, 0xB1, 5);
    if read_e_between {
        r.send(141, LG, 0xE1, 10).recv(145, FRONT, 0xE2, 10);
    }
    r.send(150, FRONT, 0xC2, 5).send(170, FRONT, 0xA2, 5);
    r
}

#[test]
fn the_response_written_right_after_a_call_s_answer_is_the_request_the_call_was_for() {
    // Nothing read between the answer and C's response: the call was C's (evidence that
    // comes after the call overrides the read order).
    assert_eq!(
        render_links(&loop_call_then_response(false).run().0),
        tree(
            "
            Server front tid=10 105..172
            ---
            Server front tid=10 108..152
              Client front tid=10 120..137 link=response/2
                Server back tid=20 125..132
            ---"
        )
    );
    // Another message read in between (request E) could be what C's response waited for
    // (C made no call: it may be answered on a timer): the call keeps its read-order link
    // to A, which A's response confirms (the answer is the only read since the loop went
    // idle that can be A's).
    let traces = loop_call_then_response(true).run().0;
    assert_eq!(
        render_links(&traces),
        tree(
            "
            Server front tid=10 105..172
              Client front tid=10 120..137 link=resumed/2
                Server back tid=20 125..132
            ---
            Server front tid=10 108..152
            ---
            Server front tid=10 145..172 partial
            ---"
        )
    );
}

/// The confidence of the `resumed` link of [`loop_call_then_response`] (E read between),
/// in a process where, when `moves`, thread 13 had written the response of an earlier
/// request G that the loop read (requests' work moves between threads).
fn resumed_confidence(moves: bool) -> f32 {
    let mut r = loop_call_then_response(true);
    if moves {
        r.thread(13, FRONT, "front");
        r.connect(18, LG, 0xF1, sa(9, 5003), 0xF2, sa(1, 80));
        r.send(40, LG, 0xF1, 10)
            .recv(45, FRONT, 0xF2, 10)
            .send(50, 13, 0xF2, 5)
            .recv(55, LG, 0xF1, 5);
    }
    let (traces, _) = r.run();
    let link = traces
        .iter()
        .flat_map(|t| &t.spans)
        .find_map(|s| s.link.filter(|l| l.evidence == Evidence::Resumed))
        .expect("a resumed link");
    assert_eq!(link.candidates, 2);
    link.confidence
}

#[test]
fn a_resumed_answer_is_not_sure_where_requests_work_moves_between_threads() {
    // A loop's own reads: sure with two candidates. In a runtime whose threads run
    // whichever request's task is ready (Go, Erlang), the answer a response resumed may
    // have been read by another thread.
    assert_eq!(resumed_confidence(false), 0.99);
    assert_eq!(resumed_confidence(true), 0.98);
}

#[test]
fn a_response_resumes_the_only_answer_of_its_rounds_that_can_be_its_request_s() {
    // The loop reads A and C in one round and writes two calls, X (0xB1) and Y (0xD1): by
    // read order X is A's and Y is C's. It goes idle, reads Y's answer and request E, and
    // writes A's response: of what it read since going idle only Y's answer can be A's (E
    // is E's), so Y was A's, though read order said C (evidence after the call). X, still
    // unanswered when A answers, leaves A; when its answer is read, C is the only request
    // still in progress that started before it.
    let mut r = event_loop_read_a_and_c();
    r.connect(24, FRONT, 0xD1, sa(1, 6001), 0xD2, sa(2, 81));
    r.send(120, FRONT, 0xB1, 5)
        .recv(121, BACK, 0xB2, 5)
        .send(122, FRONT, 0xD1, 5)
        .recv(123, BACK, 0xD2, 5)
        .send(125, BACK, 0xD2, 5)
        .enter(126, FRONT, Syscall::Poll)
        .switch(127, FRONT, 1, 0)
        .switch(133, 0, 0, FRONT)
        .exit(134, FRONT, Syscall::Poll)
        .recv(135, FRONT, 0xD1, 5)
        .send(141, LG, 0xE1, 10)
        .recv(145, FRONT, 0xE2, 10)
        .send(150, FRONT, 0xA2, 5)
        .send(155, BACK, 0xB2, 5)
        .recv(160, FRONT, 0xB1, 5)
        .send(170, FRONT, 0xC2, 5);
    assert_eq!(
        render_links(&r.run().0),
        tree(
            "
            Server front tid=10 105..152
              Client front tid=10 122..137 link=resumed/3
                Server back tid=20 123..127
            ---
            Server front tid=10 108..172
              Client front tid=10 120..162 link=sole-request/2
                Server back tid=20 121..157
            ---
            Server front tid=10 145..172 partial
            ---"
        )
    );
}

/// A's thread hands A to worker 12 (a wakeup: weak evidence), the worker writes a call, A
/// is answered while the call is still waiting for its answer, and C's thread reads that
/// answer (after going idle in a poll when `c_idles`), closes the connection, and writes
/// C's response next.
fn handed_call_answered_after_its_request(c_idles: bool) -> Rec {
    let mut r = two_requests();
    r.futex_wake(120, FRONT, 0x500, 12);
    r.send(130, 12, 0xB1, 5)
        .recv(135, BACK, 0xB2, 5)
        .send(140, BACK, 0xB2, 5)
        .send(145, FRONT, 0xA2, 5);
    if c_idles {
        r.enter(147, 11, Syscall::Poll)
            .switch(148, 11, 1, 0)
            .switch(150, 0, 0, 11)
            .exit(151, 11, Syscall::Poll);
    }
    r.recv(155, 11, 0xB1, 5)
        .close(160, 0xB1, tuple(sa(1, 6000), sa(2, 81)))
        .send(165, 11, 0xC2, 5);
    r
}

#[test]
fn a_call_still_unanswered_when_its_request_answers_was_not_that_request_s() {
    // A handler answers after its calls' answers: the call leaves A. Its answer is the only
    // thing C's thread read before C's response: C adopts it (the orphan's trace waited,
    // though its connection closed first).
    assert_eq!(
        render_links(&handed_call_answered_after_its_request(true).run().0),
        tree(
            "
            Server front tid=10 105..147
            ---
            Server front tid=11 115..167
              Client front tid=12 130..157 link=response/1
                Server back tid=20 135..142
            ---"
        )
    );
    // Without that evidence (C's thread read its request, then the answer, with no idle
    // between), the call stays an orphan rather than A's.
    assert_eq!(
        render_links(&handed_call_answered_after_its_request(false).run().0),
        tree(
            "
            Server front tid=10 105..147
            ---
            Server front tid=11 115..167
            ---
            Client front tid=12 130..157
              Server back tid=20 135..142
            ---"
        )
    );
}

#[test]
fn an_event_loop_serving_its_process_alone_works_through_its_requests_in_order() {
    // The only thread reading front's requests reads A then C, polls on (their handlers
    // wait for something kspan does not see: a lock, a timer), then writes a call that no
    // recent read explains: its requests are served first in, first out, so it is A's.
    let mut r = event_loop_read_a_and_c();
    for round in 0..3 {
        r.enter(110 + 2 * round, FRONT, Syscall::Poll)
            .exit(111 + 2 * round, FRONT, Syscall::Poll);
    }
    call(&mut r, 120, FRONT, 0xB1, 0xB2);
    r.send(150, FRONT, 0xA2, 5).send(170, FRONT, 0xC2, 5);
    assert_eq!(
        render_links(&r.run().0),
        tree(
            "
            Server front tid=10 105..152
              Client front tid=10 120..137 link=event-loop/2
                Server back tid=20 125..132
            ---
            Server front tid=10 108..172
            ---"
        )
    );
}

#[test]
fn a_job_taken_from_a_queue_shared_by_threads_serving_one_request_each_is_not_the_submitter_s() {
    // A's thread hands A to worker 12 (one request at a time: a ThreadPoolExecutor's
    // submitter), then reads its next request A2. The worker, with no wakeup, takes the next
    // job from the shared queue and calls: C's thread (11) submitted it. A thread that serves
    // one request at a time has no queue of its own, so nothing says whose job it is: an
    // orphan, not A2's.
    let mut r = two_requests();
    r.futex_wake(120, FRONT, 0x500, 12);
    call(&mut r, 130, 12, 0xB1, 0xB2);
    r.futex_wake(150, 12, 0x540, FRONT)
        .send(155, FRONT, 0xA2, 5)
        .send(160, LG, 0xA1, 10)
        .recv(165, FRONT, 0xA2, 10);
    call(&mut r, 170, 12, 0xD1, 0xD2);
    r.send(195, 11, 0xC2, 5).send(200, FRONT, 0xA2, 5);
    assert_eq!(
        render_links(&r.run().0),
        tree(
            "
            Server front tid=10 105..157
              Client front tid=12 130..147 link=completion/2
                Server back tid=20 135..142
            ---
            Server front tid=11 115..197
            ---
            Server front tid=10 165..202
            ---
            Client front tid=12 170..187
              Server back tid=20 175..182
            ---"
        )
    );
}

#[test]
fn an_event_loop_s_orphan_call_goes_to_the_only_request_left_that_could_have_made_it() {
    // The loop reads A and C, writes a call (by read order A's), and answers A while the call
    // is still waiting: the call was not A's. When its answer comes, C is the only request in
    // progress that started before the call: by elimination, C's. (Request E, read after the
    // call, could not have made it.)
    let mut r = event_loop_read_a_and_c();
    r.send(120, FRONT, 0xB1, 5)
        .send(125, FRONT, 0xA2, 5)
        .recv(127, BACK, 0xB2, 5)
        .send(130, LG, 0xE1, 10)
        .send(131, BACK, 0xB2, 5)
        .recv(133, FRONT, 0xE2, 10)
        .recv(137, FRONT, 0xB1, 5)
        .send(150, FRONT, 0xC2, 5)
        .send(160, FRONT, 0xE2, 5);
    assert_eq!(
        render_links(&r.run().0),
        tree(
            "
            Server front tid=10 105..127
            ---
            Server front tid=10 108..152
              Client front tid=10 120..139 link=sole-request/2
                Server back tid=20 127..133
            ---
            Server front tid=10 133..162
            ---"
        )
    );
}

#[test]
fn a_worker_handed_another_request_takes_it_while_the_first_submitter_waits() {
    // A's thread hands A to worker 12, which writes A's call (its answer comes late) and
    // waits for more work; A's thread waits for the result, blocked in a futex. C's thread
    // then hands C to the worker, through a word it never waited on: the worker's next
    // call is C's, though A's submitter is still blocked (an asynchronous client's
    // executor, as Java's `HttpClient`).
    let mut r = two_requests();
    r.futex_wake(120, FRONT, 0x500, 12);
    r.enter(125, FRONT, Syscall::Futex).switch(126, FRONT, 1, 0);
    r.send(130, 12, 0xB1, 5).recv(135, BACK, 0xB2, 5);
    r.enter(140, 12, Syscall::Futex).switch(141, 12, 1, 0);
    r.futex_wake(150, 11, 0x510, 12);
    r.switch(151, 0, 0, 12).exit(152, 12, Syscall::Futex);
    call(&mut r, 155, 12, 0xD1, 0xD2);
    r.send(175, BACK, 0xB2, 5).recv(180, 12, 0xB1, 5);
    r.switch(184, 0, 0, FRONT).exit(185, FRONT, Syscall::Futex);
    r.send(190, FRONT, 0xA2, 5).send(195, 11, 0xC2, 5);
    assert_eq!(
        render_links(&r.run().0),
        tree(
            "
            Server front tid=10 105..192
              Client front tid=12 130..182 link=wakeup/2
                Server back tid=20 135..177
            ---
            Server front tid=11 115..197
              Client front tid=12 155..172 link=wakeup/2
                Server back tid=20 160..167
            ---"
        )
    );
}

/// How a test process shows that requests' work moves between its threads.
#[derive(Clone, Copy)]
enum Moves {
    /// It does not.
    No,
    /// Thread 13 watches the connection of A, which thread 10 read (Go's net/http).
    Watched,
    /// Thread 13 writes the response of an earlier request E, which thread 10 read (an
    /// Erlang process, run by whichever scheduler thread is free, answers it).
    Answered,
}

/// Worker 12 makes a call no evidence places (two requests in progress), then wakes C's
/// thread after its answer.
fn completion_where_work_migrates(moves: Moves) -> String {
    let mut r = two_requests();
    r.thread(13, FRONT, "front");
    match moves {
        Moves::No => {}
        Moves::Watched => {
            r.recv(118, 13, 0xA2, -11);
        }
        Moves::Answered => {
            r.connect(26, LG, 0xE1, sa(9, 5002), 0xE2, sa(1, 80));
            r.send(60, LG, 0xE1, 10)
                .recv(65, FRONT, 0xE2, 10)
                .send(70, 13, 0xE2, 5)
                .recv(75, LG, 0xE1, 5);
        }
    }
    call(&mut r, 130, 12, 0xB1, 0xB2);
    r.futex_wake(150, 12, 0x540, 11);
    r.send(170, FRONT, 0xA2, 5).send(175, 11, 0xC2, 5);
    let out = render_links(&r.run().0);
    // E's trace, when there is one, comes first.
    out.split_once("---\n")
        .filter(|_| matches!(moves, Moves::Answered))
        .map_or(out.clone(), |(_, rest)| rest.trim_start().to_string())
}

#[test]
fn a_completion_wakeup_names_no_request_where_requests_work_moves_between_threads() {
    // A thread that serves the request it read: the wakeup after the answer is the result
    // handed back to it.
    assert_eq!(
        completion_where_work_migrates(Moves::No),
        tree(
            "
            Server front tid=10 105..172
            ---
            Server front tid=11 115..177
              Client front tid=12 130..147 link=completion/2
                Server back tid=20 135..142
            ---"
        )
    );
    // An M:N runtime (Go, Erlang): the woken thread runs whichever task is ready, not the
    // request it read last, so the wakeup says nothing and the call stays unplaced.
    for moves in [Moves::Watched, Moves::Answered] {
        assert_eq!(
            completion_where_work_migrates(moves),
            tree(
                "
                Server front tid=10 105..172
                ---
                Server front tid=11 115..177
                ---
                Client front tid=12 130..147
                  Server back tid=20 135..142
                ---"
            )
        );
    }
}
