//! Multiplexed connections (HTTP/2, `engine/mux.rs`): each stream's frames are a connection
//! of their own, control frames belong to no message.

mod dsl;
use dsl::*;
use kspan_engine::*;

const LG: Tid = 99; // an untraced load generator
const FRONT: Tid = 10;
const FRONT2: Tid = 11;
const READER: Tid = 12; // the front's thread reading the shared connection's answers
const BACK: Tid = 20;

/// HEADERS (41 B) opening stream `s`; the rest of the send is past the head.
fn headers(s: u32) -> [(u64, u32, bool); 1] {
    [(41, s, true)]
}

/// A PING (or PING ACK): control.
const PING: [(u64, u32, bool); 1] = [(17, 0, false)];

/// Two thread-per-request front threads reading one request each (from lg on 0xA1/0xA2
/// and 0xC1/0xC2), with one HTTP/2 connection to the back (0xB1/0xB2) opened at startup.
fn shared_connection() -> Rec {
    let mut r = Rec::new();
    r.thread(FRONT, FRONT, "front")
        .thread(FRONT2, FRONT, "front")
        .thread(READER, FRONT, "front")
        .thread(BACK, BACK, "back");
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80))
        .connect(14, LG, 0xC1, sa(9, 5001), 0xC2, sa(1, 80))
        .connect(20, READER, 0xB1, sa(1, 6000), 0xB2, sa(2, 81));
    r.send(100, LG, 0xA1, 100)
        .send(105, LG, 0xC1, 100)
        .recv(110, FRONT, 0xA2, 100)
        .recv(115, FRONT2, 0xC2, 100);
    r
}

/// The two requests' responses and their reads by lg.
fn respond(r: &mut Rec, ts: u64) {
    r.send(ts, FRONT, 0xA2, 200)
        .send(ts + 10, FRONT2, 0xC2, 200)
        .recv(ts + 20, LG, 0xA1, 200)
        .recv(ts + 30, LG, 0xC1, 200);
}

const TWO_TRACES: &str = "
    Server front tid=10 110..202
      Client front tid=10 120..182
        Server back tid=20 140..172
    ---
    Server front tid=11 115..212
      Client front tid=11 130..182
        Server back tid=20 140..162
    ---";

#[test]
fn requests_sent_before_any_answer_on_one_connection_are_calls_of_their_own() {
    let mut r = shared_connection();
    // Both calls go out before any answer, on streams 1 and 3; the back reads them in one
    // read, pings, answers stream 3 first, and the front's reader reads all at once.
    r.send_frames(120, FRONT, 0xB1, 50, &headers(1))
        .send_frames(130, FRONT2, 0xB1, 50, &headers(3))
        .recv(140, BACK, 0xB2, 100)
        .send_frames(150, BACK, 0xB2, 17, &PING)
        .send_frames(160, BACK, 0xB2, 60, &[(12, 3, true)])
        .send_frames(170, BACK, 0xB2, 70, &[(12, 1, true)])
        .recv(180, READER, 0xB1, 147);
    respond(&mut r, 200);
    let (traces, summary) = r.run();
    assert_eq!(render(&traces), tree(TWO_TRACES));
    let call = &traces[1].spans[1];
    assert_eq!((call.activity.bytes_out, call.activity.bytes_in), (50, 60));
    assert_eq!(summary.traces, 2);
}

#[test]
fn frames_longer_than_their_send_make_no_connection_multiplexed() {
    let mut r = shared_connection();
    // MariaDB's OK packet `07 00 00 01 00 01 00 02 00 00 00` passes for the header of a
    // HEADERS frame of 458,752 bytes on stream 16777728, in an 11-byte send: two commands
    // on the connection stay two calls, each answered.
    let ok = [(458_761, 16_777_728, true)];
    r.send(120, FRONT, 0xB1, 25)
        .recv(125, BACK, 0xB2, 25)
        .send_frames(130, BACK, 0xB2, 11, &ok)
        .recv(135, FRONT, 0xB1, 11)
        .send(140, FRONT, 0xB1, 30)
        .recv(145, BACK, 0xB2, 30)
        .send_frames(150, BACK, 0xB2, 11, &ok)
        .recv(155, FRONT, 0xB1, 11);
    respond(&mut r, 200);
    let (traces, _) = r.run();
    let calls: Vec<(u64, u64)> = traces[0]
        .spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .map(|s| (s.activity.bytes_out, s.activity.bytes_in))
        .collect();
    assert_eq!(calls, vec![(25, 11), (30, 11)]);
}

#[test]
fn control_frames_open_extend_and_answer_nothing() {
    let mut r = shared_connection();
    // The back pings the idle connection and the front acks it (with a WINDOW_UPDATE past
    // its head): no span. The back's PING after its answer does not extend its span, and
    // the front's ack is no new call.
    r.send_frames(116, BACK, 0xB2, 17, &PING)
        .recv(117, READER, 0xB1, 17)
        .send_frames(118, READER, 0xB1, 30, &PING)
        .recv(119, BACK, 0xB2, 30)
        .send_frames(120, FRONT, 0xB1, 50, &headers(1))
        .send_frames(130, FRONT2, 0xB1, 50, &headers(3))
        .recv(140, BACK, 0xB2, 100)
        .send_frames(160, BACK, 0xB2, 60, &[(12, 3, true)])
        .send_frames(170, BACK, 0xB2, 70, &[(12, 1, true)])
        .recv(180, READER, 0xB1, 130)
        .send_frames(190, BACK, 0xB2, 17, &PING)
        .recv(194, READER, 0xB1, 17)
        .send_frames(196, READER, 0xB1, 30, &PING)
        .recv(198, BACK, 0xB2, 30);
    respond(&mut r, 200);
    let (traces, _) = r.run();
    assert_eq!(render(&traces), tree(TWO_TRACES));
}

#[test]
fn a_stream_read_before_its_send_event_still_finds_its_caller() {
    let mut r = shared_connection();
    r.send_frames(120, FRONT, 0xB1, 50, &headers(1));
    // FRONT2's send enters at 130 (its head read there); the back reads both calls at 133,
    // before FRONT2's sock_send_length (135).
    r.frames(130, FRONT2, &headers(3), None)
        .enter(130, FRONT2, Syscall::Send)
        .enter(132, BACK, Syscall::Recv)
        .sock_recv(133, BACK, 0xB2, 100)
        .exit(134, BACK, Syscall::Recv)
        .sock_send(135, FRONT2, 0xB1, 50)
        .exit(136, FRONT2, Syscall::Send)
        .send_frames(160, BACK, 0xB2, 60, &[(12, 3, true)])
        .send_frames(170, BACK, 0xB2, 70, &[(12, 1, true)])
        .recv(180, READER, 0xB1, 130);
    respond(&mut r, 200);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..202
              Client front tid=10 120..182
                Server back tid=20 132..172
            ---
            Server front tid=11 115..212
              Client front tid=11 130..182
                Server back tid=20 132..162
            ---"
        )
    );
}

#[test]
fn without_frames_the_connection_keeps_one_message_per_turn() {
    let mut r = shared_connection();
    // No payload heads (recorded with --payload-bytes 0): the two calls are one message.
    r.send(120, FRONT, 0xB1, 50)
        .send(130, FRONT2, 0xB1, 50)
        .recv(140, BACK, 0xB2, 100)
        .send(160, BACK, 0xB2, 60)
        .send(170, BACK, 0xB2, 70)
        .recv(180, READER, 0xB1, 130);
    respond(&mut r, 200);
    let (traces, _) = r.run();
    let spans: usize = traces.iter().map(|t| t.spans.len()).sum();
    assert_eq!(spans, 4, "{}", render(&traces));
}

#[test]
fn a_stream_never_answered_ends_partial_once_many_later_streams_are_open() {
    let mut r = shared_connection();
    // 300 calls, none answered (their answers lost in other bytes): the oldest streams go
    // once 256 are open, their spans partial, with no error: the connection is not closed.
    for i in 0..300u64 {
        let t = 1_000 + 10 * i;
        r.send_frames(t, FRONT, 0xB1, 50, &headers(2 * i as u32 + 1))
            .recv(t + 5, BACK, 0xB2, 50);
    }
    let (traces, summary) = r.run();
    let first = traces
        .iter()
        .flat_map(|t| &t.spans)
        .find(|s| s.kind == SpanKind::Client && s.start == 1_000)
        .expect("the first call");
    assert!(first.partial && first.error.is_none(), "{first:?}");
    assert!(
        summary.caveats.iter().all(|(c, _)| !c.contains("closed")),
        "{:?}",
        summary.caveats
    );
}
