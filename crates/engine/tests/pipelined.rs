//! Pipelined connections (RESP, `engine/pipelined.rs`): the commands a client writes before
//! reading any reply are calls of their own, answered by their replies in order.

mod dsl;
use dsl::*;
use kspan_engine::*;

const LG: Tid = 99; // an untraced load generator
const FRONT: Tid = 10;
const STORE: Tid = 20;

/// A client request from lg to the front (0xA1/0xA2), read at 110, and the front's
/// connection to the store (0xB1/0xB2) opened at startup; `store` traced or not.
fn front_and_store(store: bool) -> Rec {
    let mut r = Rec::new();
    r.thread(FRONT, FRONT, "front");
    if store {
        r.thread(STORE, STORE, "store");
    }
    r.connect(10, LG, 0xA1, sa(9, 5000), 0xA2, sa(1, 80))
        .connect(20, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 6379));
    r.send(100, LG, 0xA1, 100).recv(110, FRONT, 0xA2, 100);
    r
}

/// SET (27 bytes), GET (20), INCR (21): their sizes and signatures as a head shows them.
const THREE: [(Option<u64>, Option<u64>); 3] = [
    (Some(27), Some(1)),
    (Some(20), Some(2)),
    (Some(21), Some(3)),
];

/// Their replies: `+OK`, a bulk string, an integer.
const REPLIES: [(Option<u64>, Option<u64>); 3] =
    [(Some(5), None), (Some(7), None), (Some(4), None)];

/// The front's response at ts, read by lg.
fn respond(r: &mut Rec, ts: u64) {
    r.send(ts, FRONT, 0xA2, 200).recv(ts + 10, LG, 0xA1, 200);
}

/// (bytes out, bytes in) of every client span of the first trace, in order.
fn call_bytes(traces: &[Trace]) -> Vec<(u64, u64)> {
    traces[0]
        .spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .map(|s| (s.activity.bytes_out, s.activity.bytes_in))
        .collect()
}

#[test]
fn each_command_of_a_pipelined_write_is_a_call_with_its_own_server_span() {
    let mut r = front_and_store(true);
    r.messages(120, FRONT, true, &THREE)
        .send(120, FRONT, 0xB1, 68)
        .recv(130, STORE, 0xB2, 68)
        .messages(140, STORE, true, &REPLIES)
        .send(140, STORE, 0xB2, 16)
        .recv(150, FRONT, 0xB1, 16);
    respond(&mut r, 160);
    let (traces, summary) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..162
              Client front tid=10 120..152
                Server store tid=20 130..142
              Client front tid=10 120..152
                Server store tid=20 130..142
              Client front tid=10 120..152
                Server store tid=20 130..142
            ---"
        )
    );
    assert_eq!(call_bytes(&traces), vec![(27, 5), (20, 7), (21, 4)]);
    let offsets: Vec<u64> = traces[0].spans.iter().map(|s| s.opening_offset).collect();
    assert_eq!(offsets, vec![0, 0, 0, 27, 27, 47, 47]);
    assert!(summary.caveats.is_empty(), "{:?}", summary.caveats);
}

#[test]
fn commands_a_head_does_not_show_stay_with_the_last_it_shows_and_their_replies_too() {
    let mut r = front_and_store(true);
    // The head shows SET whole and where GET starts, not where it ends: GET and INCR are
    // one call. The store's three replies: the second and third go to it.
    r.messages(120, FRONT, true, &[(Some(27), Some(1)), (None, Some(2))])
        .send(120, FRONT, 0xB1, 68)
        .recv(130, STORE, 0xB2, 68)
        .messages(140, STORE, true, &REPLIES)
        .send(140, STORE, 0xB2, 16)
        .recv(150, FRONT, 0xB1, 16);
    // The next command on the connection gets its own reply: the numbering held.
    r.messages(154, FRONT, true, &THREE[2..])
        .send(154, FRONT, 0xB1, 21)
        .recv(157, STORE, 0xB2, 21)
        .messages(160, STORE, true, &REPLIES[2..])
        .send(160, STORE, 0xB2, 4)
        .recv(163, FRONT, 0xB1, 4);
    respond(&mut r, 170);
    let (traces, summary) = r.run();
    assert_eq!(call_bytes(&traces), vec![(27, 5), (41, 11), (21, 4)]);
    assert_eq!(traces[0].spans.len(), 7);
    assert!(summary.caveats.is_empty(), "{:?}", summary.caveats);
}

#[test]
fn an_untraced_store_s_replies_are_divided_by_the_client_s_own_reads() {
    let mut r = front_and_store(false);
    // Each command its own write; the replies read in two reads.
    r.messages(120, FRONT, true, &THREE[..1])
        .send(120, FRONT, 0xB1, 27)
        .messages(123, FRONT, true, &THREE[1..2])
        .send(123, FRONT, 0xB1, 20)
        .messages(126, FRONT, true, &THREE[2..])
        .send(126, FRONT, 0xB1, 21)
        .messages(150, FRONT, false, &REPLIES[..1])
        .recv(150, FRONT, 0xB1, 5)
        .messages(153, FRONT, false, &REPLIES[1..])
        .recv(153, FRONT, 0xB1, 11);
    respond(&mut r, 160);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server front tid=10 110..162
              Client front tid=10 120..152
              Client front tid=10 123..155
              Client front tid=10 126..155
            ---"
        )
    );
    assert_eq!(call_bytes(&traces), vec![(27, 5), (20, 7), (21, 4)]);
}

#[test]
fn without_heads_a_pipeline_stays_one_exchange() {
    let mut r = front_and_store(true);
    r.send(120, FRONT, 0xB1, 68)
        .recv(130, STORE, 0xB2, 68)
        .send(140, STORE, 0xB2, 16)
        .recv(150, FRONT, 0xB1, 16);
    respond(&mut r, 160);
    let (traces, _) = r.run();
    assert_eq!(call_bytes(&traces), vec![(68, 16)]);
}

#[test]
fn replies_read_before_the_store_s_send_event_are_divided_by_the_client_s_own_head() {
    let mut r = front_and_store(true);
    // The store's first reply on the connection: its send enters at 140, the front reads
    // the replies at 143..145, before the store's sock_send_length (146).
    r.messages(120, FRONT, true, &THREE)
        .send(120, FRONT, 0xB1, 68)
        .recv(130, STORE, 0xB2, 68)
        .messages(140, STORE, true, &REPLIES)
        .enter(140, STORE, Syscall::Send)
        .messages(143, FRONT, false, &REPLIES)
        .enter(143, FRONT, Syscall::Recv)
        .sock_recv(144, FRONT, 0xB1, 16)
        .exit(145, FRONT, Syscall::Recv)
        .sock_send(146, STORE, 0xB2, 16)
        .exit(147, STORE, Syscall::Send);
    respond(&mut r, 160);
    let (traces, _) = r.run();
    assert_eq!(call_bytes(&traces), vec![(27, 5), (20, 7), (21, 4)]);
    assert_eq!(traces[0].spans.len(), 7);
}

#[test]
fn a_traced_store_divides_an_untraced_client_s_pipeline_by_its_own_reads() {
    let mut r = Rec::new();
    r.thread(STORE, STORE, "store");
    r.connect(10, LG, 0xD1, sa(9, 7000), 0xD2, sa(2, 6379));
    // lg writes SET and GET in one send; the store reads them at once and answers both.
    r.send(100, LG, 0xD1, 47)
        .messages(110, STORE, false, &THREE[..2])
        .recv(110, STORE, 0xD2, 47)
        .messages(120, STORE, true, &REPLIES[..2])
        .send(120, STORE, 0xD2, 12);
    let (traces, _) = r.run();
    assert_eq!(
        render(&traces),
        tree(
            "
            Server store tid=20 110..122
            ---
            Server store tid=20 110..122
            ---"
        )
    );
    let bytes: Vec<(u64, u64)> = traces
        .iter()
        .map(|t| (t.spans[0].activity.bytes_in, t.spans[0].activity.bytes_out))
        .collect();
    assert_eq!(bytes, vec![(27, 5), (20, 7)]);
}

#[test]
fn a_head_stamped_before_its_syscall_s_entry_event_is_still_that_syscall_s() {
    // INCR and its reply, twice on one connection. The head and the entry event of a
    // syscall are stamped by two programs on the same tracepoint, in no fixed order: the
    // store's second reply's head is stamped 3 µs before its write's entry event (the
    // thread interrupted between them), after the store's previous syscall ended. It is
    // that write's head: the reply is the second command's, not more of the first's.
    const INCR: [(Option<u64>, Option<u64>); 1] = [(Some(29), Some(3))];
    const ONE: [(Option<u64>, Option<u64>); 1] = [(Some(7), None)];
    let mut r = front_and_store(true);
    r.messages(1_000, FRONT, true, &INCR)
        .send(1_000, FRONT, 0xB1, 29)
        .recv(2_000, STORE, 0xB2, 29)
        .messages(3_000, STORE, true, &ONE)
        .send(3_000, STORE, 0xB2, 7)
        .recv(4_000, FRONT, 0xB1, 7)
        .messages(5_000, FRONT, true, &INCR)
        .send(5_000, FRONT, 0xB1, 29)
        .recv(6_000, STORE, 0xB2, 29)
        .messages(7_000, STORE, true, &ONE)
        .send(10_000, STORE, 0xB2, 7)
        .recv(11_000, FRONT, 0xB1, 7);
    respond(&mut r, 12_000);
    let (traces, summary) = r.run();
    assert_eq!(call_bytes(&traces), vec![(29, 7), (29, 7)]);
    let store: Vec<(u64, u64)> = traces[0]
        .spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server && s.service == "store")
        .map(|s| (s.start, s.end))
        .collect();
    assert_eq!(store, vec![(2_000, 3_002), (6_000, 10_002)]);
    assert!(summary.caveats.is_empty(), "{:?}", summary.caveats);
}
