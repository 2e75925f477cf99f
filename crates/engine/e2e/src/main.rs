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
        engine.push(&ev, &mut |t| traces.push(t));
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
        "containment violations: {}",
        containment_violations(&traces)
    );

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
