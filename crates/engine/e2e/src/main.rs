//! Runs the engine over a real recording and prints what it found: each distinct trace
//! shape with its count, the summary, and children not inside their parent's interval.
//!
//! Usage: `kspan-engine-e2e FILE.dat [verbose]`; environment: `MULTI=1` (print traces with
//! several calls, and orphans), `DTID`, `DFROM`, `DTO` (print one thread's events in a time
//! window). See README.md.

use kspan_engine::{Config, Engine, Event, EventKind, Span, SpanKind, Trace};
use std::collections::BTreeMap;

/// How far a child's end may pass its parent's: a callee's last send can return after the
/// caller already read the answer.
const END_SLACK_NS: u64 = 100_000;

fn depth(t: &Trace, s: &Span) -> usize {
    let mut depth = 0;
    let mut cur = s.parent;
    while let Some(p) = cur {
        depth += 1;
        cur = t.spans.iter().find(|x| x.id == p).and_then(|x| x.parent);
    }
    depth
}

/// The trace as an indented list of kinds and services, ids and times left out.
fn shape(t: &Trace) -> String {
    let lines: Vec<String> = t
        .spans
        .iter()
        .map(|s| {
            let partial = if s.partial { " partial" } else { "" };
            format!(
                "{}{:?} {}{partial}",
                "  ".repeat(depth(t, s)),
                s.kind,
                s.service
            )
        })
        .collect();
    lines.join("\n")
}

/// Children that start before their parent or end (beyond the slack) after it.
fn containment_violations(traces: &[Trace]) -> usize {
    let mut bad = 0;
    for t in traces {
        for s in &t.spans {
            let Some(p) = s.parent.and_then(|p| t.spans.iter().find(|x| x.id == p)) else {
                continue;
            };
            let ends_inside = s.end <= p.end + END_SLACK_NS || s.partial || p.partial;
            if s.start < p.start || !ends_inside {
                bad += 1;
            }
        }
    }
    bad
}

/// `DTID`/`DFROM`/`DTO` from the environment, when all are set.
fn debug_window() -> Option<(i32, u64, u64)> {
    let var = |name| std::env::var(name).ok()?.parse::<u64>().ok();
    Some((var("DTID")? as i32, var("DFROM")?, var("DTO")?))
}

fn mentions(ev: &Event, tid: i32) -> bool {
    ev.tid == tid
        || matches!(ev.kind, EventKind::Switch { prev, next, .. } if prev == tid || next == tid)
        || matches!(ev.kind, EventKind::Waking { target } if target == tid)
}

fn print_span(s: &Span) {
    let a = &s.activity;
    println!(
        "  {:?} {} tid={} {}..{} ({} us) partial={} in={} out={} cpu={} net={}",
        s.kind,
        s.service,
        s.tid,
        s.start,
        s.end,
        (s.end - s.start) / 1000,
        s.partial,
        a.bytes_in,
        a.bytes_out,
        a.on_cpu_ns,
        a.blocked_net_ns
    );
}

/// Checks thread-pool hand-offs against front_pool.py's log (`handler worker t_submit` per
/// request): a trace is right when it has exactly one call, made by the logged worker after
/// the submit.
fn pool_accuracy(traces: &[Trace], log: &str) {
    let truth: Vec<(i32, i32, u64)> = log
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().map(|x| x.parse::<u64>().ok());
            Some((f.next()?? as i32, f.next()?? as i32, f.next()??))
        })
        .collect();
    let (mut right, mut wrong, mut unmatched) = (0, 0, 0);
    for t in traces {
        let root = &t.spans[0];
        if root.kind != SpanKind::Server {
            continue;
        }
        let Some(&(_, worker, t0)) = truth
            .iter()
            .find(|&&(h, _, t0)| h == root.tid && (root.start..=root.end).contains(&t0))
        else {
            unmatched += 1;
            continue;
        };
        let calls: Vec<&Span> = t
            .spans
            .iter()
            .filter(|s| s.kind == SpanKind::Client)
            .collect();
        if calls.len() == 1 && calls[0].tid == worker && calls[0].start >= t0 {
            right += 1;
        } else {
            wrong += 1;
        }
    }
    println!(
        "pool truth: {} requests logged; right {right}, wrong {wrong}, unmatched {unmatched}",
        truth.len()
    );
}

/// With the pool log: each worker's k-th call (by start) is its k-th job (by submit time,
/// FIFO queue). Prints how often the engine's parent and the "completion wake" (the first
/// request thread the worker wakes after reading its answer) name the true handler.
fn completion_agreement(traces: &[Trace], wakings: &[(u64, i32, i32)], log: &str) {
    let mut truth: Vec<(i32, i32, u64)> = log
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().map(|x| x.parse::<u64>().ok());
            Some((f.next()?? as i32, f.next()?? as i32, f.next()??))
        })
        .collect();
    truth.sort_by_key(|&(_, _, t0)| t0);
    let roots: std::collections::HashSet<i32> = traces.iter().map(|t| t.spans[0].tid).collect();
    let mut calls: Vec<(u64, i32, u64, i32)> = Vec::new(); // start, worker, end, engine root
    for t in traces {
        for c in t.spans.iter().filter(|s| s.kind == SpanKind::Client) {
            calls.push((c.start, c.tid, c.end, t.spans[0].tid));
        }
    }
    calls.sort_unstable();
    let (mut engine_right, mut wake_right, mut n) = (0, 0, 0);
    let workers: std::collections::BTreeSet<i32> = truth.iter().map(|t| t.1).collect();
    for w in workers {
        let jobs = truth.iter().filter(|t| t.1 == w);
        let mine = calls.iter().filter(|c| c.1 == w);
        for (&(handler, _, _), &(_, _, end, engine_root)) in jobs.zip(mine) {
            n += 1;
            engine_right += usize::from(engine_root == handler);
            let woken = wakings
                .iter()
                .skip_while(|x| x.0 < end)
                .find(|x| x.1 == w && roots.contains(&x.2));
            wake_right += usize::from(woken.is_some_and(|x| x.2 == handler));
        }
    }
    println!("calls {n}: engine parent right {engine_right}, completion wake right {wake_right}");
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: kspan-engine-e2e FILE.dat [verbose]");
    let verbose = std::env::args().nth(2).is_some();
    let file = kspan_tracedat::read::TraceFile::open(&path).expect("readable trace.dat");
    let meta = file.metadata();
    let rec_meta = kspan_capture::read_meta(meta.kspan_metadata().expect("a kspan recording"))
        .expect("valid kspan metadata");
    let world = kspan_ingest::world_from_meta(&rec_meta);
    eprintln!(
        "world: {} threads, {} sockets",
        world.threads.len(),
        world.sockets.len()
    );
    let decoder = kspan_ingest::Decoder::new(&meta.formats, &[]).expect("decodable formats");
    let mut engine = Engine::new(world, decoder.names().clone(), Config::default());
    let window = debug_window();
    let mut traces = Vec::new();
    let mut wakings: Vec<(u64, i32, i32)> = Vec::new();
    let mut peak = (0, 0, 0);
    let mut events = file.events();
    while let Some(rec) = events.next_event().expect("readable events") {
        let Some(ev) = decoder.decode(&rec) else {
            continue;
        };
        if let Some((tid, from, to)) = window {
            if mentions(&ev, tid) && (from..=to).contains(&ev.ts) {
                eprintln!("{} tid={} irq={} {:?}", ev.ts, ev.tid, ev.in_irq, ev.kind);
            }
        }
        if let EventKind::Waking { target } = ev.kind {
            if !ev.in_irq {
                wakings.push((ev.ts, ev.tid, target));
            }
        }
        engine.push(&ev, &mut |t| traces.push(t));
        let f = engine.footprint();
        peak = (
            peak.0.max(f.spans),
            peak.1.max(f.streams),
            peak.2.max(f.segments),
        );
    }
    let summary = engine.finish(&mut |t| traces.push(t));
    eprintln!("lost-event records: {}", events.lost_events().len());

    let mut shapes: BTreeMap<String, u64> = BTreeMap::new();
    for t in &traces {
        *shapes.entry(shape(t)).or_default() += 1;
    }
    for (s, c) in &shapes {
        println!("{c} ×\n{s}\n");
    }
    println!("summary: {summary:?}");
    println!(
        "peak live state: {} spans, {} stream directions, {} queued runs of bytes",
        peak.0, peak.1, peak.2
    );
    println!(
        "containment violations: {}",
        containment_violations(&traces)
    );

    if let Ok(path) = std::env::var("POOL_TRUTH") {
        pool_accuracy(
            &traces,
            &std::fs::read_to_string(path).expect("readable pool log"),
        );
    }
    if let Ok(path) = std::env::var("POOL_TRUTH") {
        completion_agreement(
            &traces,
            &wakings,
            &std::fs::read_to_string(path).expect("log"),
        );
    }
    traces.sort_by_key(|t| t.spans[0].start);
    if verbose {
        let last = traces.len().saturating_sub(3);
        for t in traces.iter().take(3).chain(traces.iter().skip(last)) {
            t.spans.iter().for_each(print_span);
            println!("--");
        }
    }
    if std::env::var("MULTI").is_ok() {
        let calls = |t: &&Trace| {
            t.spans
                .iter()
                .filter(|s| s.kind == SpanKind::Client)
                .count()
        };
        for t in traces.iter().filter(|t| calls(t) > 1).take(2) {
            t.spans.iter().for_each(print_span);
            println!("--");
        }
        for t in traces.iter().filter(|t| t.spans.len() == 1).take(3) {
            print!("orphan:");
            print_span(&t.spans[0]);
        }
    }
}
