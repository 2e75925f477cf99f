//! Endpoint signatures (payload heads) as evidence (docs/engine.md, "Endpoint patterns"):
//! the calls each endpoint makes, fitted from the recording's requests and calls (here a
//! stretch of one request at a time; `patterns::fit` covers overlapping ones), place a call
//! its read order put under a request that has already made all calls of its kind.

mod dsl;
use dsl::*;
use kspan_engine::*;

const LG: Tid = 99; // an untraced load generator
const FRONT: Tid = 10; // a single-threaded event loop
const BACK: Tid = 20;

/// Endpoint signatures: requests `P` (calls X then Y) and `Q` (calls Y).
const P: u64 = 1;
const Q: u64 = 2;
const X: u64 = 11;
const Y: u64 = 12;

/// Client connections of the load generator (A, C) and of front to back (B for X, D and
/// F for Y).
fn connections() -> Rec {
    let mut r = Rec::new();
    r.thread(FRONT, FRONT, "front").thread(BACK, BACK, "back");
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80))
        .connect(14, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80))
        .connect(20, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 81))
        .connect(24, FRONT, 0xD1, sa(1, 6001), 0xD2, sa(2, 81))
        .connect(28, FRONT, 0xF1, sa(1, 6002), 0xF2, sa(2, 81));
    r
}

/// Front writes a call with signature `sig` on `csk` at `ts`; back answers it at ts+10;
/// front reads the answer at ts+15.
fn typed_call(r: &mut Rec, ts: u64, csk: u64, ssk: u64, sig: u64) {
    r.send(ts, FRONT, csk, 5)
        .head(ts + 2, FRONT, true, sig)
        .recv(ts + 5, BACK, ssk, 5)
        .send(ts + 10, BACK, ssk, 5)
        .recv(ts + 15, FRONT, csk, 5);
}

/// `n` requests of each endpoint, one at a time on connection A: P's calls X (on B) and Y
/// (on D), Q's call Y (on D). Ends before 100 + 200·n·2.
fn quiet_phase(r: &mut Rec, n: u64) {
    quiet_phase_from(r, n, 100);
}

/// [`quiet_phase`] from `start`: ends before `start + 200·n·2`.
fn quiet_phase_from(r: &mut Rec, n: u64, start: u64) {
    for i in 0..2 * n {
        quiet_request(r, start + 200 * i, if i < n { P } else { Q });
    }
}

/// One request of endpoint `sig` on connection A at `t`, alone: P's calls X (on B) and Y (on
/// D), Q's call Y (on D). Ends before `t + 200`.
fn quiet_request(r: &mut Rec, t: u64, sig: u64) {
    r.enter(t, FRONT, Syscall::Poll)
        .exit(t + 1, FRONT, Syscall::Poll)
        .send(t + 5, LG, 0xA1, 10)
        .recv(t + 10, FRONT, 0xA2, 10)
        .head(t + 12, FRONT, false, sig);
    if sig == P {
        typed_call(r, t + 20, 0xB1, 0xB2, X);
    }
    typed_call(r, t + 60, 0xD1, 0xD2, Y);
    r.send(t + 100, FRONT, 0xA2, 5).recv(t + 110, LG, 0xA1, 5);
}

/// After the quiet phase, the loop reads A (a P) and writes its X and Y (its handler runs
/// inline), then reads C (a Q), whose Y waits for a free connection (a client's queue). A's
/// Y answer frees D (the loop was idle meanwhile), and the loop writes the waiting Y on D
/// right after reading it: read order says A's.
fn queued_call(n: u64) -> Rec {
    let mut r = connections();
    quiet_phase(&mut r, n);
    contention(&mut r, 100 + 400 * n);
    r
}

/// From `t`, the loop reads A (a P) and writes its X (on B) and Y (on D) inline, then reads
/// C (endpoint `c`).
fn reads_a_then_c(r: &mut Rec, t: u64, c: u64) {
    r.enter(t, FRONT, Syscall::Poll)
        .exit(t + 1, FRONT, Syscall::Poll)
        .send(t + 2, LG, 0xA1, 10)
        .send(t + 3, LG, 0xC1, 10)
        .recv(t + 10, FRONT, 0xA2, 10)
        .head(t + 12, FRONT, false, P)
        .send(t + 14, FRONT, 0xB1, 5)
        .head(t + 16, FRONT, true, X)
        .send(t + 18, FRONT, 0xD1, 5)
        .head(t + 20, FRONT, true, Y)
        .recv(t + 24, FRONT, 0xC2, 10)
        .head(t + 26, FRONT, false, c);
}

/// The events of [`queued_call`] after its quiet phase, from `t`.
fn contention(r: &mut Rec, t: u64) {
    reads_a_then_c(r, t, Q);
    r.recv(t + 30, BACK, 0xB2, 5)
        .recv(t + 32, BACK, 0xD2, 5)
        .enter(t + 34, FRONT, Syscall::Poll)
        .switch(t + 35, FRONT, 1, 0)
        .send(t + 40, BACK, 0xD2, 5)
        .switch(t + 45, 0, 0, FRONT)
        .exit(t + 46, FRONT, Syscall::Poll)
        .recv(t + 50, FRONT, 0xD1, 5)
        .send(t + 55, FRONT, 0xD1, 5)
        .head(t + 57, FRONT, true, Y)
        .recv(t + 60, BACK, 0xD2, 5)
        .send(t + 70, BACK, 0xB2, 5)
        .recv(t + 75, FRONT, 0xB1, 5)
        .send(t + 80, FRONT, 0xA2, 5)
        .send(t + 90, BACK, 0xD2, 5)
        .recv(t + 95, FRONT, 0xD1, 5)
        .send(t + 100, FRONT, 0xC2, 5);
}

/// A's trace once answered in `queued_call`: its own X and Y (times from `t`, see [`at`]).
const A_ANSWERED: &str = "
            Server front tid=10 @10..@82
              Client front tid=10 @14..@77 link=own-thread/1
                Server back tid=20 @30..@72
              Client front tid=10 @18..@52 link=own-thread/1
                Server back tid=20 @32..@42
            ---";

/// A's trace in `queued_call` up to the waiting Y's head: its own X (unanswered) and Y.
const A_WAITING: &str = "
            Server front tid=10 @10..@60 partial
              Client front tid=10 @14..@60 partial link=own-thread/1
                Server back tid=20 @30..@60 partial
              Client front tid=10 @18..@52 link=own-thread/1
                Server back tid=20 @32..@42";

/// Quiet requests of each endpoint that make a first stretch (its patterns are fitted when
/// it is full), and one fewer.
const LEARNT: u64 = 8;
const UNLEARNT: u64 = LEARNT - 1;

/// `text` with every `@N` replaced by `t + N`: span times relative to a test's start.
fn at(t: u64, text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('@') {
        out.push_str(&rest[..i]);
        let digits: String = rest[i + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        out.push_str(&(t + digits.parse::<u64>().unwrap_or(0)).to_string());
        rest = &rest[i + 1 + digits.len()..];
    }
    out.push_str(rest);
    out
}

/// The links of the last two traces (A's and C's) after `n` quiet requests of each
/// endpoint, up to just after the waiting Y's head (`head_only`) or to the end.
fn contended_links(n: u64, head_only: bool) -> String {
    let mut r = queued_call(n);
    if head_only {
        r.until(100 + 400 * n + 60);
    }
    let traces = r.run().0;
    render_links(&traces[traces.len() - 2..])
}

#[test]
fn a_call_goes_to_the_only_request_whose_endpoint_still_makes_one_of_its_kind() {
    // A (P) has made its Y; C (Q) has made none: the waiting Y is C's, decided when its
    // head is read.
    assert_eq!(
        contended_links(LEARNT, true),
        tree(&at(
            100 + 400 * LEARNT,
            &format!(
                "{A_WAITING}
            ---
            Server front tid=10 @24..@60 partial
              Client front tid=10 @55..@60 partial link=pattern/2
            ---"
            )
        ))
    );
    // C's response, written after that call's answer alone, confirms it.
    assert_eq!(
        contended_links(LEARNT, false),
        tree(&at(
            100 + 400 * LEARNT,
            &format!(
                "{A_ANSWERED}
            Server front tid=10 @24..@102
              Client front tid=10 @55..@97 link=response/1
                Server back tid=20 @60..@92
            ---"
            )
        ))
    );
}

#[test]
fn no_pattern_is_used_before_its_endpoint_was_seen_often_enough() {
    // One quiet request fewer is not enough: read order keeps the waiting
    // Y with A, the request whose answer the loop read last.
    assert_eq!(
        contended_links(UNLEARNT, true),
        tree(&at(
            100 + 400 * UNLEARNT,
            &format!(
                "{A_WAITING}
              Client front tid=10 @55..@60 partial link=event-loop/2
            ---
            Server front tid=10 @24..@60 partial
            ---"
            )
        ))
    );
}

/// Endpoints of a loop that runs handlers a round after their read (asyncio): `G` starts
/// two sub-tasks that call a round later still (`gather`), `O` calls in its own step.
const G: u64 = 3;
const O: u64 = 4;

/// The load generator sends a request with signature `sig` on its socket `client` at `ts`;
/// the loop reads it at `ts + 8` on the socket whose client end is `client` (`0xA1` → `0xA2`).
fn read_request(r: &mut Rec, ts: u64, client: u64, sig: u64) {
    r.send(ts, LG, client, 10)
        .recv(ts + 8, FRONT, client + 1, 10)
        .head(ts + 10, FRONT, false, sig);
}

/// A poll that returns at once (the loop has work queued): a new round.
fn round(r: &mut Rec, ts: u64) {
    r.enter(ts, FRONT, Syscall::Poll)
        .exit(ts + 1, FRONT, Syscall::Poll);
}

/// `n` requests of `G` then `n` of `O`, one at a time on connection A; `G` writes two calls
/// (on D and F) two rounds after its read, `O` one (on D) one round after; their answers are
/// read a round later, the response in the round after that.
fn quiet_loop(r: &mut Rec, n: u64) {
    for i in 0..2 * n {
        let t = 100 + 300 * i;
        let gather = i < n;
        round(r, t);
        r.send(t + 5, LG, 0xA1, 10)
            .recv(t + 10, FRONT, 0xA2, 10)
            .head(t + 12, FRONT, false, if gather { G } else { O });
        round(r, t + 20);
        let mut sockets = vec![(0xD1, 0xD2)];
        if gather {
            round(r, t + 40);
            sockets.push((0xF1, 0xF2));
        }
        for (k, &(csk, ssk)) in (0..).zip(&sockets) {
            r.send(t + 60 + 10 * k, FRONT, csk, 5)
                .head(t + 62 + 10 * k, FRONT, true, Y)
                .recv(t + 80 + k, BACK, ssk, 5)
                .send(t + 90 + k, BACK, ssk, 5);
        }
        round(r, t + 140);
        for (k, &(csk, _)) in (0..).zip(&sockets) {
            r.recv(t + 145 + k, FRONT, csk, 5);
        }
        round(r, t + 160);
        r.send(t + 200, FRONT, 0xA2, 5).recv(t + 210, LG, 0xA1, 5);
    }
}

/// After the quiet phase the loop reads A (a `G`) and C (an `O`) in one round; the next
/// round writes C's call (A's step only starts its sub-tasks), the one after A's two.
fn gather_after(n: u64) -> Vec<Trace> {
    let mut r = connections();
    quiet_loop(&mut r, n);
    let t = 100 + 600 * n;
    round(&mut r, t);
    r.send(t + 2, LG, 0xA1, 10)
        .send(t + 3, LG, 0xC1, 10)
        .recv(t + 10, FRONT, 0xA2, 10)
        .head(t + 12, FRONT, false, G)
        .recv(t + 14, FRONT, 0xC2, 10)
        .head(t + 16, FRONT, false, O);
    round(&mut r, t + 20);
    r.send(t + 25, FRONT, 0xB1, 5).head(t + 27, FRONT, true, Y);
    round(&mut r, t + 30);
    r.send(t + 35, FRONT, 0xD1, 5)
        .head(t + 37, FRONT, true, Y)
        .send(t + 40, FRONT, 0xF1, 5)
        .head(t + 42, FRONT, true, Y);
    r.until(t + 45);
    let traces = r.run().0;
    traces[traces.len() - 2..].to_vec()
}

/// The loop's last two traces, unfinished at `end` (times from `t`): A (read at `a[0]`) with
/// the calls written at `a[1]` and `a[2]`, C (read at `c[0]`) with the call written at `c[1]`,
/// all linked by the loop's read order.
fn two_and_one(t: u64, end: u64, a: [u64; 3], c: [u64; 2]) -> String {
    let call = |ts: u64| format!("  Client front tid=10 @{ts}..@{end} partial link=event-loop/2\n");
    let server = |ts: u64| format!("Server front tid=10 @{ts}..@{end} partial\n");
    tree(&at(
        t,
        &format!(
            "{}{}{}---\n{}{}---",
            server(a[0]),
            call(a[1]),
            call(a[2]),
            server(c[0]),
            call(c[1])
        ),
    ))
}

#[test]
fn a_request_whose_endpoint_calls_later_does_not_take_this_round_s_call() {
    // Learnt: G's first call comes two rounds after its read, O's one. The first write
    // after the read round is C's, not the older A's; the next round's two are A's.
    assert_eq!(
        render_links(&gather_after(LEARNT)),
        two_and_one(100 + 600 * LEARNT, 42, [10, 35, 40], [14, 25])
    );
    // Not learnt yet (one request fewer): first in, first out gives A the first write.
    let unlearnt = render_links(&gather_after(UNLEARNT));
    assert!(
        unlearnt.starts_with(&at(
            100 + 600 * UNLEARNT,
            "Server front tid=10 @10..@42 partial\n  Client front tid=10 @25..@42"
        )),
        "{unlearnt}"
    );
}

/// The quiet phase, then a round that reads A (a `G`) and the start of the next round; with
/// the time `t` of the first.
fn gather_read() -> (Rec, u64) {
    let mut r = connections();
    quiet_loop(&mut r, LEARNT);
    let t = 100 + 600 * LEARNT;
    round(&mut r, t);
    read_request(&mut r, t + 2, 0xA1, G);
    round(&mut r, t + 20);
    (r, t)
}

/// After the quiet phase the loop reads A (a `G`), and C (an `O`) in the next round; the
/// round after runs A's two sub-tasks (started by A's step, before C's read woke C's
/// handler) then C's handler: three calls, on D, F and B.
fn wave_then_next() -> Vec<Trace> {
    let (mut r, t) = gather_read();
    read_request(&mut r, t + 22, 0xC1, O);
    round(&mut r, t + 40);
    write_y_calls(&mut r, t + 45, &[0xD1, 0xF1, 0xB1]);
    let traces = r.run().0;
    traces[traces.len() - 2..].to_vec()
}

/// Front writes a call of signature `Y` on each of `sockets`, 5 apart from `t`.
fn write_y_calls(r: &mut Rec, t: u64, sockets: &[u64]) {
    for (k, &csk) in (0..).zip(sockets) {
        let ts = t + 5 * k;
        r.send(ts, FRONT, csk, 5).head(ts + 2, FRONT, true, Y);
    }
}

#[test]
fn a_handler_s_first_wave_of_calls_is_all_its_own() {
    // Learnt from the quiet rounds: G writes two calls in its first-call round, O one. The
    // second write of the round is A's too, not C's (the next read due then).
    assert_eq!(
        render_links(&wave_then_next()),
        two_and_one(100 + 600 * LEARNT, 57, [10, 45, 50], [30, 55])
    );
}

/// The loop's last two traces, unfinished at `end` (times from `t`): A (read at `a[0]`) with
/// its one call written at `a[1]` and answered at `a[2]` (back served it from `a[3]` to
/// `a[4]`), linked while A was the only request; C (read at `c[0]`) with the call written at
/// `c[1]`, linked by the loop's read order.
fn answered_and_waiting(t: u64, end: u64, a: [u64; 5], c: [u64; 2]) -> String {
    tree(&at(
        t,
        &format!(
            "
            Server front tid=10 @{}..@{end} partial
              Client front tid=10 @{}..@{} link=own-thread/1
                Server back tid=20 @{}..@{}
            ---
            Server front tid=10 @{}..@{end} partial
              Client front tid=10 @{}..@{end} partial link=event-loop/2
            ---",
            a[0], a[1], a[2], a[3], a[4], c[0], c[1]
        ),
    ))
}

#[test]
fn an_answer_the_next_round_did_not_act_on_does_not_take_a_later_call() {
    // After the quiet phase the loop reads A (a `G`); its wave writes one call only (on D,
    // the other sub-task waits for something kspan does not see), whose answer the loop
    // reads. The next round reads C (an `O`) and writes nothing: A's task did not act on
    // its answer then. The call written the round after is C's, not A's.
    let (mut r, t) = gather_read();
    round(&mut r, t + 40);
    r.send(t + 45, FRONT, 0xD1, 5)
        .head(t + 47, FRONT, true, Y)
        .recv(t + 50, BACK, 0xD2, 5)
        .send(t + 55, BACK, 0xD2, 5);
    round(&mut r, t + 60);
    r.recv(t + 65, FRONT, 0xD1, 5);
    round(&mut r, t + 80);
    read_request(&mut r, t + 82, 0xC1, O);
    round(&mut r, t + 100);
    r.send(t + 105, FRONT, 0xB1, 5)
        .head(t + 107, FRONT, true, Y);
    let traces = r.run().0;
    assert_eq!(
        render_links(&traces[traces.len() - 2..]),
        answered_and_waiting(t, 107, [10, 45, 67, 50, 57], [90, 105])
    );
}

#[test]
fn an_orphan_goes_to_the_first_request_with_room_to_answer_when_several_have() {
    // As `queued_call`, with a second Q request E read after C: the waiting Y could be C's
    // or E's, so it stays with A until A answers without its answer (an orphan), and still
    // waits once its answer is read. The loop then goes idle and polls three times more
    // (no response follows the answer: neither `response` nor `resumed` says whose it is),
    // and C answers first:
    // C takes it (the deadline-first split), decided after the call.
    let mut r = queued_call(LEARNT);
    let t = 100 + 400 * LEARNT;
    r.connect(t - 50, LG, 0xE1, sa(9, 5002), 0xE2, sa(1, 80))
        .send(t + 4, LG, 0xE1, 10)
        .recv(t + 28, FRONT, 0xE2, 10)
        .head(t + 30, FRONT, false, Q)
        .until(t + 96);
    r.enter(t + 100, FRONT, Syscall::Poll)
        .switch(t + 101, FRONT, 1, 0)
        .switch(t + 105, 0, 0, FRONT)
        .exit(t + 106, FRONT, Syscall::Poll);
    for i in 1..4 {
        round(&mut r, t + 100 + 10 * i);
    }
    r.send(t + 140, FRONT, 0xC2, 5).until(t + 145);
    let traces = r.run().0;
    let links = render_links(&traces[traces.len() - 3..]);
    assert_eq!(
        links,
        tree(&at(
            t,
            &format!(
                "{A_ANSWERED}
            Server front tid=10 @24..@142
              Client front tid=10 @55..@106 link=split/2
                Server back tid=20 @60..@92
            ---
            Server front tid=10 @28..@142 partial
            ---"
            )
        ))
    );
}

/// The start of a recording: as [`an_orphan_goes_to_the_first_request_with_room_to_answer_when_several_have`]
/// with a second Q request E read after C, where the Y handed the connection A's answer freed
/// is an orphan once A answers without its answer, and could be C's or E's. When `more`, a
/// third Q request G is read after E, and the loop writes E's own Y on the connection that
/// orphan's answer freed, in the same round, then G's own Y on the connection E's answer
/// freed (both handed on: read order puts them under C). Every answer is followed by a
/// blocking poll (no response or resumed read names any call); C answers, then E (and G),
/// all before the process's first ledger is fitted; quiet requests of both endpoints in turn
/// follow (the first ledger, 16 requests, holds 8 of each or more). Returns the traces of C,
/// E (and G).
fn before_counts(more: bool) -> Vec<Trace> {
    let mut r = connections();
    let t = 100;
    r.connect(t - 50, LG, 0xE1, sa(9, 5002), 0xE2, sa(1, 80))
        .connect(t - 40, LG, 0x71, sa(9, 5003), 0x72, sa(1, 80));
    contention(&mut r, t);
    r.send(t + 4, LG, 0xE1, 10)
        .recv(t + 28, FRONT, 0xE2, 10)
        .head(t + 30, FRONT, false, Q);
    if more {
        r.send(t + 5, LG, 0x71, 10)
            .recv(t + 31, FRONT, 0x72, 10)
            .head(t + 32, FRONT, false, Q);
    }
    r.until(t + 97);
    // (E's or G's Y written at `w` on D, served by back, its answer read at `a`.)
    let calls: &[(u64, u64)] = if more { &[(98, 110), (113, 125)] } else { &[] };
    for &(w, _) in calls {
        r.send(t + w, FRONT, 0xD1, 5)
            .head(t + w + 1, FRONT, true, Y)
            .recv(t + w + 1, BACK, 0xD2, 5)
            .send(t + w + 4, BACK, 0xD2, 5);
    }
    for (enter, back) in [(105, 108), (120, 123), (130, 133)] {
        r.enter(t + enter, FRONT, Syscall::Poll)
            .switch(t + enter + 1, FRONT, 1, 0)
            .switch(t + back, 0, 0, FRONT)
            .exit(t + back + 1, FRONT, Syscall::Poll);
    }
    for &(_, a) in calls {
        r.recv(t + a, FRONT, 0xD1, 5);
    }
    for i in 4..9 {
        round(&mut r, t + 100 + 10 * i);
    }
    r.send(t + 195, FRONT, 0xC2, 5)
        .send(t + 198, FRONT, 0xE2, 5);
    if more {
        r.send(t + 201, FRONT, 0x72, 5);
    }
    for k in 0..3 {
        quiet_phase_from(&mut r, 3, t + 300 + 1200 * k);
    }
    let traces = r.run().0;
    [t + 24, t + 28, t + 31]
        .iter()
        .filter_map(|&start| traces.iter().find(|tr| tr.spans[0].start == start))
        .cloned()
        .collect()
}

/// C's trace in [`before_counts`] once the first split after the fit gave it the orphan.
const C_TAKES_THE_ORPHAN: &str = "
            Server front tid=10 @24..@197
              Client front tid=10 @55..@97 link=split/1
                Server back tid=20 @60..@92
            ---";

#[test]
fn an_orphan_answered_before_the_first_counts_waits_for_them_with_its_candidates() {
    // The split can only decide with counts: C's and E's traces wait with the orphan's, and
    // the first split after the fit (at the next response) gives it to C, the oldest with
    // room. Before, the orphan was let go when its last candidate answered: a root of its
    // own.
    assert_eq!(
        render_links(&before_counts(false)),
        tree(&at(
            100,
            &format!(
                "{C_TAKES_THE_ORPHAN}
            Server front tid=10 @28..@200
            ---"
            )
        ))
    );
}

#[test]
fn calls_handed_on_before_the_first_counts_are_moved_by_them_when_they_contradict_them() {
    // E's and G's Ys, handed on and put under C by read order, make C's Ys one more than Q's
    // count once fitted: in the first split after the fit they are movable, and first in,
    // first out the orphan (written first) goes to C, E's Y to E, G's to G. Before, the
    // orphan was a root and C kept both; with them kept there, the orphan would have gone to
    // E.
    assert_eq!(
        render_links(&before_counts(true)),
        tree(&at(
            100,
            &format!(
                "{C_TAKES_THE_ORPHAN}
            Server front tid=10 @28..@200
              Client front tid=10 @98..@112 link=split/1
                Server back tid=20 @99..@104
            ---
            Server front tid=10 @31..@203
              Client front tid=10 @113..@127 link=split/1
                Server back tid=20 @114..@119
            ---"
            )
        ))
    );
}

#[test]
fn a_request_answering_before_the_first_counts_with_a_handed_on_call_waits_for_them() {
    // At the start of a recording the loop reads A (a P), writes its X and Y, reads C (a P
    // too), writes C's X on F; C's Y waits for a free connection. A's Y answer frees D; the
    // loop writes C's Y on it (handed on: read order says A's), and reads its answer after
    // an idle poll, while A still waits for X: A answers with two Ys. No orphan waits for a
    // split then, but the first counts may contradict A's handed-on Y: A's trace is held,
    // and the first split after the fit (15 quiet Ps; C still in progress) moves that Y to
    // C. Before, A's trace came out with it.
    let mut r = connections();
    let t = 100;
    reads_a_then_c(&mut r, t, P);
    r.send(t + 28, FRONT, 0xF1, 5)
        .head(t + 30, FRONT, true, X)
        .recv(t + 32, BACK, 0xB2, 5)
        .recv(t + 34, BACK, 0xD2, 5)
        .recv(t + 36, BACK, 0xF2, 5);
    for (enter, back) in [(40, 45), (66, 70), (76, 80)] {
        r.enter(t + enter, FRONT, Syscall::Poll)
            .switch(t + enter + 1, FRONT, 1, 0)
            .switch(t + back, 0, 0, FRONT)
            .exit(t + back + 1, FRONT, Syscall::Poll);
    }
    r.send(t + 42, BACK, 0xD2, 5)
        .recv(t + 50, FRONT, 0xD1, 5)
        .send(t + 55, FRONT, 0xD1, 5)
        .head(t + 57, FRONT, true, Y)
        .recv(t + 58, BACK, 0xD2, 5)
        .send(t + 62, BACK, 0xD2, 5)
        .recv(t + 72, FRONT, 0xD1, 5)
        .send(t + 74, BACK, 0xF2, 5)
        .send(t + 78, BACK, 0xB2, 5)
        .recv(t + 85, FRONT, 0xB1, 5)
        .send(t + 90, FRONT, 0xA2, 5)
        .recv(t + 93, FRONT, 0xF1, 5);
    for i in 0..15 {
        quiet_request(&mut r, t + 300 + 200 * i, P);
    }
    r.send(t + 3400, FRONT, 0xC2, 5);
    let traces = r.run().0;
    // (The quiet requests' X calls, written while C is in progress before any count, go to
    // C by read order: left out, not this test's subject.)
    let mut a_and_c: Vec<Trace> = [t + 10, t + 24]
        .into_iter()
        .filter_map(|start| traces.iter().find(|tr| tr.spans[0].start == start))
        .cloned()
        .collect();
    for tr in &mut a_and_c {
        tr.spans.retain(|s| s.start < t + 300);
    }
    assert_eq!(
        render_links(&a_and_c),
        tree(&at(
            t,
            "
            Server front tid=10 @10..@92
              Client front tid=10 @14..@87 link=own-thread/1
                Server back tid=20 @32..@80
              Client front tid=10 @18..@52 link=own-thread/1
                Server back tid=20 @34..@44
            ---
            Server front tid=10 @24..@3402
              Client front tid=10 @28..@95 link=event-loop/2
                Server back tid=20 @36..@76
              Client front tid=10 @55..@74 link=split/1
                Server back tid=20 @58..@64
            ---"
        ))
    );
}

/// A second thread of the front's process: it reads a request too, so the process's
/// requests are read by several threads (a runtime such as Go's or tokio's, where any of them
/// may run a task another read).
const FRONT2: Tid = 11;

/// After the quiet phase, the loop reads A (a P) and writes A's X; FRONT2 reads E, whose
/// endpoint kspan cannot tell (no head: the counts cannot say E has no room, so they place
/// nothing at write time); the loop reads C (a Q) and writes A's Y (a task of A's that ran
/// late) and, when `c_calls`, C's Y. Read order puts both Y under C, the loop's last read.
/// Every answer is read in one batch before A answers, so no later evidence (`response`,
/// `resumed`) names A's Y.
fn late_task(n: u64, c_calls: bool) -> Vec<Trace> {
    let mut r = connections();
    r.thread(FRONT2, FRONT, "front");
    quiet_phase(&mut r, n);
    let t = 100 + 400 * n;
    r.connect(t - 80, LG, 0xE1, sa(9, 5002), 0xE2, sa(1, 80))
        .connect(t - 70, FRONT, 0x71, sa(1, 6003), 0x72, sa(2, 81));
    round(&mut r, t);
    r.send(t + 2, LG, 0xA1, 10)
        .send(t + 3, LG, 0xC1, 10)
        .send(t + 4, LG, 0xE1, 10)
        .recv(t + 10, FRONT, 0xA2, 10)
        .head(t + 12, FRONT, false, P)
        .send(t + 14, FRONT, 0xB1, 5)
        .head(t + 16, FRONT, true, X)
        .recv(t + 18, FRONT2, 0xE2, 10);
    round(&mut r, t + 20);
    r.recv(t + 22, FRONT, 0xC2, 10)
        .head(t + 24, FRONT, false, Q)
        .send(t + 30, FRONT, 0xD1, 5)
        .head(t + 32, FRONT, true, Y);
    let mut calls = vec![(0xB1, 0xB2), (0xD1, 0xD2)];
    if c_calls {
        r.send(t + 38, FRONT, 0x71, 5).head(t + 40, FRONT, true, Y);
        calls.push((0x71, 0x72));
    }
    for (i, &(_, ssk)) in calls.iter().enumerate() {
        let ts = t + 42 + 6 * i as u64;
        r.recv(ts, BACK, ssk, 5).send(ts + 3, BACK, ssk, 5);
    }
    round(&mut r, t + 70);
    for (i, &(csk, _)) in calls.iter().enumerate() {
        r.recv(t + 72 + 3 * i as u64, FRONT, csk, 5);
    }
    r.send(t + 90, FRONT, 0xA2, 5)
        .send(t + 95, FRONT, 0xC2, 5)
        .until(t + 99);
    let traces = r.run().0;
    traces[traces.len() - 3..].to_vec()
}

/// A's trace and E's in `late_task` once A answered: A's X and its late Y, moved to it by
/// counting (times from `t`, see [`at`]).
const A_LATE_ANSWERED: &str = "
            Server front tid=10 @10..@92
              Client front tid=10 @14..@74 link=own-thread/1
                Server back tid=20 @42..@47
              Client front tid=10 @30..@77 link=split/3
                Server back tid=20 @48..@53
            ---
            Server front tid=11 @18..@97 partial
            ---";

#[test]
fn a_request_with_more_calls_than_its_endpoint_makes_gives_a_weak_one_to_a_request_with_room() {
    // C's two Y calls contradict Q's count of one. When A answers, the read-order links of
    // C's Y calls (several threads read this process's requests: read order is the weakest
    // evidence there) are matched first in, first out with the requests that have room: the
    // older Y to A, the newer to C.
    let t = 100 + 400 * LEARNT;
    assert_eq!(
        render_links(&late_task(LEARNT, true)),
        tree(&at(
            t,
            &format!(
                "{A_LATE_ANSWERED}
            Server front tid=10 @22..@97
              Client front tid=10 @38..@80 link=event-loop/3
                Server back tid=20 @54..@59
            ---"
            )
        ))
    );
}

/// After the quiet phase the loop reads A (a Q) and writes its Y; in one later round it reads
/// that Y's answer and a new request C (a Q); in the next round it writes a call before A's
/// response (A answers two rounds after its answer, as a task waiting on a sub-task does).
/// Up to that call's head.
fn answer_then_new_request(n: u64) -> Vec<Trace> {
    let mut r = connections();
    quiet_phase(&mut r, n);
    let t = 100 + 400 * n;
    round(&mut r, t);
    read_request(&mut r, t + 2, 0xA1, Q);
    round(&mut r, t + 20);
    r.send(t + 22, FRONT, 0xD1, 5)
        .head(t + 24, FRONT, true, Y)
        .recv(t + 26, BACK, 0xD2, 5)
        .send(t + 30, BACK, 0xD2, 5)
        .send(t + 32, LG, 0xC1, 10);
    round(&mut r, t + 40);
    r.recv(t + 42, FRONT, 0xD1, 5)
        .recv(t + 45, FRONT, 0xC2, 10)
        .head(t + 47, FRONT, false, Q);
    round(&mut r, t + 60);
    r.send(t + 62, FRONT, 0xF1, 5)
        .head(t + 64, FRONT, true, Y)
        .until(t + 66);
    let traces = r.run().0;
    traces[traces.len() - 2..].to_vec()
}

#[test]
fn an_answer_whose_request_made_all_its_calls_does_not_take_the_next_call() {
    // A has made its one Y: the answer read first leads to A's response, not to a call.
    // The call goes to C, the other read of that round, not to the oldest read (A's answer).
    let t = 100 + 400 * LEARNT;
    assert_eq!(
        render_links(&answer_then_new_request(LEARNT)),
        answered_and_waiting(t, 64, [10, 22, 44, 26, 32], [45, 62])
    );
}

#[test]
fn a_request_answering_with_fewer_calls_than_its_endpoint_makes_takes_the_one_that_can_be_its() {
    // As above, but C writes no call of its own before A answers: C is not over-full. A
    // answers with its X alone where P makes a Y too, and the only Y that could be A's
    // (written after A was read, answered, linked to C by read order in a process whose
    // requests several threads read) is A's.
    let t = 100 + 400 * LEARNT;
    assert_eq!(
        render_links(&late_task(LEARNT, false)),
        tree(&at(
            t,
            &format!(
                "{A_LATE_ANSWERED}
            Server front tid=10 @22..@97
            ---"
            )
        ))
    );
}

/// After the quiet phase (O's first call comes a round after its read) the loop reads A, an
/// `O`, connects a new socket (E), reads C, an `O`, connects another (G), and in the next
/// round writes one call on each (nginx without upstream keep-alive).
fn connect_in_the_read_round() -> Vec<Trace> {
    let mut r = connections();
    quiet_loop(&mut r, LEARNT);
    let t = 100 + 600 * LEARNT;
    round(&mut r, t);
    read_request(&mut r, t + 2, 0xA1, O);
    r.connect(t + 14, FRONT, 0xE1, sa(1, 6003), 0xE2, sa(2, 81));
    read_request(&mut r, t + 20, 0xC1, O);
    r.connect(t + 32, FRONT, 0x61, sa(1, 6004), 0x62, sa(2, 81));
    round(&mut r, t + 40);
    write_y_calls(&mut r, t + 45, &[0xE1, 0x61]);
    let traces = r.run().0;
    traces[traces.len() - 2..].to_vec()
}

#[test]
fn a_loop_connects_for_the_request_it_just_read_before_its_first_call_s_round() {
    // The connect comes in the read's round, before the round O's first write was learnt
    // at: each connection is for the request read just before it, and its call follows it.
    let call = |ts: u64| format!("  Client front tid=10 @{ts}..@52 partial link=connection/2\n");
    let server = |ts: u64| format!("Server front tid=10 @{ts}..@52 partial\n");
    assert_eq!(
        render_links(&connect_in_the_read_round()),
        tree(&at(
            100 + 600 * LEARNT,
            &format!(
                "{}{}---\n{}{}---",
                server(10),
                call(45),
                server(28),
                call(50)
            )
        ))
    );
}

/// After the quiet phase, thread 10 reads A (a Q, one Y call) and thread 11 of the same
/// process reads C (a Q); thread 10 writes A's Y. Thread 11 then watches A's connection
/// (EAGAIN: a runtime thread ran A's work) and writes a Y (the runtime ran C's task next).
/// Back answers both; each reader answers its request.
fn watched_beyond_count(n: u64) -> Vec<Trace> {
    let mut r = connections();
    r.thread(FRONT2, FRONT, "front");
    quiet_phase(&mut r, n);
    let t = 100 + 400 * n;
    r.send(t + 2, LG, 0xA1, 10)
        .send(t + 3, LG, 0xC1, 10)
        .recv(t + 10, FRONT, 0xA2, 10)
        .head(t + 11, FRONT, false, Q)
        .recv(t + 12, FRONT2, 0xC2, 10)
        .head(t + 13, FRONT2, false, Q)
        .send(t + 14, FRONT, 0xD1, 5)
        .head(t + 16, FRONT, true, Y)
        .recv(t + 20, FRONT2, 0xA2, -11)
        .send(t + 24, FRONT2, 0xF1, 5)
        .head(t + 26, FRONT2, true, Y)
        .recv(t + 30, BACK, 0xD2, 5)
        .send(t + 32, BACK, 0xD2, 5)
        .recv(t + 34, BACK, 0xF2, 5)
        .send(t + 36, BACK, 0xF2, 5)
        .recv(t + 40, FRONT, 0xD1, 5)
        .recv(t + 42, FRONT2, 0xF1, 5)
        .send(t + 50, FRONT, 0xA2, 5)
        .send(t + 55, FRONT2, 0xC2, 5)
        .until(t + 60);
    let traces = r.run().0;
    traces[traces.len() - 2..].to_vec()
}

#[test]
fn a_watched_connection_does_not_give_its_request_more_calls_than_its_endpoint_makes() {
    // A already made the one Y its endpoint makes when thread 11 watched its connection:
    // the Y thread 11 writes next is not A's, and C is the only request with room for it.
    let t = 100 + 400 * LEARNT;
    assert_eq!(
        render_links(&watched_beyond_count(LEARNT)),
        tree(&at(
            t,
            "
            Server front tid=10 @10..@52
              Client front tid=10 @14..@42 link=own-thread/2
                Server back tid=20 @30..@34
            ---
            Server front tid=11 @12..@57
              Client front tid=11 @24..@44 link=pattern/2
                Server back tid=20 @34..@38
            ---"
        ))
    );
}

#[test]
fn a_completion_wakeup_skips_a_request_that_has_made_all_its_calls_of_that_kind() {
    // Workers 12 and 13 make calls for requests other threads read: 13 C's Y, handed back to
    // C's thread (FRONT2); then 12 A's Y, whose first wakeup after its answer reaches C's
    // thread again (a lock passed on), then A's. C has made the one Y its endpoint makes: the
    // call is A's.
    let mut r = connections();
    r.thread(FRONT2, FRONT, "front")
        .thread(12, FRONT, "front")
        .thread(13, FRONT, "front");
    quiet_phase(&mut r, LEARNT);
    let t = 100 + 400 * LEARNT;
    round(&mut r, t);
    r.send(t + 2, LG, 0xA1, 10)
        .send(t + 3, LG, 0xC1, 10)
        .recv(t + 10, FRONT, 0xA2, 10)
        .head(t + 12, FRONT, false, P)
        .recv(t + 14, FRONT2, 0xC2, 10)
        .head(t + 16, FRONT2, false, Q)
        .send(t + 18, 13, 0xF1, 5)
        .head(t + 19, 13, true, Y)
        .recv(t + 20, BACK, 0xF2, 5)
        .send(t + 22, BACK, 0xF2, 5)
        .recv(t + 24, 13, 0xF1, 5)
        .waking(t + 26, 13, FRONT2)
        .send(t + 30, 12, 0xD1, 5)
        .head(t + 31, 12, true, Y)
        .recv(t + 32, BACK, 0xD2, 5)
        .send(t + 34, BACK, 0xD2, 5)
        .recv(t + 36, 12, 0xD1, 5)
        .waking(t + 40, 12, FRONT2)
        .waking(t + 41, 12, FRONT)
        .send(t + 50, FRONT, 0xA2, 5)
        .send(t + 55, FRONT2, 0xC2, 5)
        .until(t + 60);
    let traces = r.run().0;
    assert_eq!(
        render_links(&traces[traces.len() - 2..]),
        tree(&at(
            t,
            "
            Server front tid=10 @10..@52
              Client front tid=12 @30..@38 link=completion/2
                Server back tid=20 @32..@36
            ---
            Server front tid=11 @14..@57
              Client front tid=13 @18..@26 link=completion/2
                Server back tid=20 @20..@24
            ---"
        ))
    );
}
