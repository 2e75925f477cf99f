//! Streaming: the engine's live state follows requests in flight, not recording length.

mod dsl;
use dsl::*;
use kspan_engine::*;

const LG: Tid = 99;
const FRONT: Tid = 10;
const BACK: Tid = 20;

/// `n` requests, 4 in flight at a time: each on a new lg→front connection (closed after
/// the answer), each calling back over one keep-alive connection.
fn workload(n: u64) -> Rec {
    workload_on(n, false)
}

/// [`workload`]; with `http2`, the keep-alive connection is an HTTP/2 one, each call on a
/// stream of its own (payload heads showing the frames).
fn workload_on(n: u64, http2: bool) -> Rec {
    let mut r = Rec::new();
    r.thread(FRONT, FRONT, "front").thread(BACK, BACK, "back");
    r.connect(1, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 81));
    for i in 0..n {
        let t = 100 + i * 100;
        let (csk, ssk) = (0x1000 + 2 * (i % 8), 0x1001 + 2 * (i % 8));
        let port = 10_000 + (i % 50_000) as u16;
        let ct = tuple(sa(9, port), sa(1, 80));
        r.connect(t, LG, csk, sa(9, port), ssk, sa(1, 80))
            .send(t + 10, LG, csk, 100)
            .recv(t + 20, FRONT, ssk, 100)
            .send(t + 30, FRONT, 0xB1, 50)
            .recv(t + 40, BACK, 0xB2, 50)
            .send(t + 50, BACK, 0xB2, 70)
            .recv(t + 60, FRONT, 0xB1, 70);
        if http2 {
            let stream = 2 * i as u32 + 1;
            r.frames(t + 30, FRONT, &[(41, stream, true)], None).frames(
                t + 50,
                BACK,
                &[(12, stream, true)],
                None,
            );
        }
        r.send(t + 70, FRONT, ssk, 200)
            .recv(t + 80, LG, csk, 200)
            // closed a while later, with three more requests in flight meanwhile
            .close(t + 390, ssk, ct.mirrored())
            .close(t + 391, csk, ct);
    }
    r
}

/// Runs the workload and returns (traces, the largest footprint seen).
fn peak(n: u64) -> (u64, Footprint) {
    peak_of(&workload(n))
}

/// Runs `r` and returns (traces, the largest footprint seen).
fn peak_of(r: &Rec) -> (u64, Footprint) {
    let mut events = r.events.clone();
    events.sort_by_key(|e| e.ts);
    let mut engine = Engine::new(r.world.clone(), r.names.clone(), Config::default());
    let mut traces = 0;
    let mut max = Footprint::default();
    for ev in &events {
        engine.push(ev, &mut |_| traces += 1);
        let f = engine.footprint();
        max = Footprint {
            endpoints: max.endpoints.max(f.endpoints),
            streams: max.streams.max(f.streams),
            segments: max.segments.max(f.segments),
            spans: max.spans.max(f.spans),
            traces: max.traces.max(f.traces),
            threads: max.threads.max(f.threads),
        };
    }
    engine.finish(&mut |_| traces += 1);
    (traces, max)
}

#[test]
fn trace_and_span_ids_are_unique_and_non_zero() {
    let r = workload(300);
    let (traces, _) = r.run();
    let mut trace_ids: Vec<u128> = traces.iter().map(|t| t.id.0).collect();
    let mut span_ids: Vec<u64> = traces
        .iter()
        .flat_map(|t| t.spans.iter().map(|s| s.id.0))
        .collect();
    trace_ids.sort_unstable();
    trace_ids.dedup();
    span_ids.sort_unstable();
    span_ids.dedup();
    assert_eq!((trace_ids.len(), span_ids.len()), (300, 900));
    assert!(trace_ids[0] != 0 && span_ids[0] != 0);
}

#[test]
fn peak_state_does_not_grow_with_the_number_of_requests() {
    let (t1, small) = peak(200);
    let (t2, large) = peak(2_000);
    assert_eq!((t1, t2), (200, 2_000));
    assert_eq!(
        small, large,
        "peak live state must not depend on the request count"
    );
    // 4 lg→front connections in flight + the keep-alive pair (2 sockets and 2 streams
    // each); 4 traces of 3 spans (each kept until its connection closes or the next call
    // on the keep-alive connection ends its call); one run of bytes queued at most.
    let expected = Footprint {
        endpoints: 10,
        streams: 10,
        segments: 1,
        spans: 12,
        traces: 4,
        threads: 2,
    };
    assert_eq!(large, expected);
}

#[test]
fn streams_of_one_http2_connection_do_not_accumulate() {
    let (t1, small) = peak_of(&workload_on(200, true));
    let (t2, large) = peak_of(&workload_on(2_000, true));
    assert_eq!((t1, t2), (200, 2_000));
    assert_eq!(
        small, large,
        "peak live state must not depend on the request count"
    );
    // Each stream's pair of sockets and byte streams goes once its span is closed, when a
    // later stream starts: beside the 4 lg connections and the HTTP/2 connection itself
    // (10 sockets), the 4 streams of the requests in flight (2 sockets each); 4 traces of
    // 3 spans.
    let expected = Footprint {
        endpoints: 18,
        streams: 20,
        segments: 2,
        spans: 12,
        traces: 4,
        threads: 2,
    };
    assert_eq!(large, expected);
}

/// One request through front (its lg connection kept alive afterwards) calling back over
/// a keep-alive connection, then silence: nothing closes either connection.
fn one_request_then_idle() -> Rec {
    let mut r = Rec::new();
    r.thread(FRONT, FRONT, "front").thread(BACK, BACK, "back");
    r.connect(1, FRONT, 0xB1, sa(1, 6000), 0xB2, sa(2, 81))
        .connect(2, LG, 0xC1, sa(9, 5000), 0xC2, sa(1, 80))
        .send(100, LG, 0xC1, 100)
        .recv(110, FRONT, 0xC2, 100)
        .send(120, FRONT, 0xB1, 50)
        .recv(130, BACK, 0xB2, 50)
        .send(140, BACK, 0xB2, 70)
        .recv(150, FRONT, 0xB1, 70)
        .send(160, FRONT, 0xC2, 200)
        .recv(170, LG, 0xC1, 200);
    r
}

/// Pushes `r`'s events, then tells the engine nothing comes before `advance`: the traces
/// emitted by then, and after the end of input.
fn emitted_by(r: &Rec, config: Config, advance: u64) -> (usize, usize) {
    let mut engine = Engine::new(r.world.clone(), r.names.clone(), config);
    let mut traces = 0;
    for ev in &r.events {
        engine.push(ev, &mut |_| traces += 1);
    }
    engine.advance(advance, &mut |_| traces += 1);
    let before_end = traces;
    engine.finish(&mut |_| traces += 1);
    (before_end, traces)
}

#[test]
fn an_idle_keep_alive_trace_is_emitted_after_the_idle_timeout() {
    let r = one_request_then_idle();
    let config = Config {
        idle_close_ns: 1_000,
        ..Config::default()
    };
    // 1.25 × the timeout after the last span's end at 170: emitted without more input.
    assert_eq!(emitted_by(&r, config.clone(), 170 + 1_300), (1, 1));
    // Not before the timeout.
    assert_eq!(emitted_by(&r, config, 170 + 900), (0, 1));
    // Without a timeout it waits for the end of input.
    let never = Config {
        idle_close_ns: 0,
        ..Config::default()
    };
    assert_eq!(emitted_by(&r, never, u64::MAX), (0, 1));
}

#[test]
fn idle_traces_are_the_same_whether_time_passes_by_events_or_by_advance() {
    let r = one_request_then_idle();
    let config = Config {
        idle_close_ns: 1_000,
        ..Config::default()
    };
    let run = |advance: bool| {
        let mut engine = Engine::new(r.world.clone(), r.names.clone(), config.clone());
        let mut traces = Vec::new();
        for ev in &r.events {
            engine.push(ev, &mut |t| traces.push(t));
        }
        if advance {
            engine.advance(5_000, &mut |t| traces.push(t));
        }
        let late = Event {
            ts: 5_000,
            cpu: 0,
            tid: BACK,
            in_irq: false,
            type_id: 0,
            kind: EventKind::Other { values: vec![] },
        };
        engine.push(&late, &mut |t| traces.push(t));
        engine.finish(&mut |t| traces.push(t));
        traces
    };
    assert_eq!(render(&run(true)), render(&run(false)));
    assert_eq!(run(true).len(), 1);
}
