//! A timeline of the recording's threads for Perfetto (ui.perfetto.dev) and
//! chrome://tracing, in the Chrome JSON trace event format: one track per thread (named by
//! process and thread metadata events), every span a complete (`X`) slice on the thread that
//! started it with its OTLP attributes (kernel activity included) as args, and a flow
//! (`s` → `f`) from each span to each of its children. Spans of one thread that overlap
//! without nesting (an event loop serving several requests at once) go to extra tracks of
//! that thread ([`lanes`]). Times are the trace clock in microseconds, as in `kspan dump`.
//!
//! The format is read whole by the viewers, so the sink keeps every slice until
//! [`TraceSink::finish`] writes the file.

mod lanes;

use crate::names::{kind_name, span_id_hex, trace_id_hex, OutputContext};
use crate::otlp::{otlp_span, Value};
use crate::TraceSink;
use kspan_engine::{SpanId, Summary, Tid, Trace};
use serde::Serialize;
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

/// Tids are below 2^22 (the kernel's `PID_MAX_LIMIT`); lane `n` of thread `t` is the track
/// `t + n * LANE_STRIDE`.
const LANE_STRIDE: i64 = 1 << 22;

/// The category of every event kspan writes.
const CATEGORY: &str = "kspan";

/// One span, kept until the end.
struct Slice {
    id: SpanId,
    parent: Option<SpanId>,
    pid: i32,
    tid: Tid,
    start: u64,
    end: u64,
    name: String,
    args: Map<String, Json>,
}

/// One event of the Chrome JSON trace event format.
#[derive(Serialize)]
struct Event<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    cat: &'static str,
    ph: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    pid: i32,
    tid: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bp: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<&'a Map<String, Json>>,
}

/// Microseconds, the format's unit, of a trace-clock time in nanoseconds.
fn micros(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn json_value(value: Value) -> Json {
    match value {
        Value::Str(s) => Json::from(s),
        Value::Int(i) => Json::from(i),
        Value::Bool(b) => Json::from(b),
        Value::Double(d) => Json::from(d),
    }
}

/// Writes a Perfetto / chrome://tracing timeline (Chrome JSON trace event format).
pub struct PerfettoSink<W: Write> {
    out: W,
    context: OutputContext,
    slices: Vec<Slice>,
    services: HashMap<i32, String>,
}

impl<W: Write> PerfettoSink<W> {
    /// A sink writing to `out`; `context` names the threads and the events.
    pub fn new(out: W, context: OutputContext) -> Self {
        PerfettoSink {
            out,
            context,
            slices: Vec::new(),
            services: HashMap::new(),
        }
    }

    /// The span's args: its ids, kind and service, then every OTLP attribute.
    fn args(&self, trace: &Trace, span: &kspan_engine::Span) -> (String, Map<String, Json>) {
        let otlp = otlp_span(&self.context, trace, span);
        let mut args = Map::new();
        args.insert("trace_id".into(), trace_id_hex(trace.id).into());
        args.insert("span_id".into(), span_id_hex(span.id).into());
        if let Some(parent) = span.parent {
            args.insert("parent_span_id".into(), span_id_hex(parent).into());
        }
        args.insert("kind".into(), kind_name(span.kind).into());
        args.insert("service".into(), span.service.clone().into());
        if let Some(error) = otlp.error {
            args.insert("error".into(), error.into());
        }
        for attribute in otlp.attributes {
            args.insert(attribute.key, json_value(attribute.value));
        }
        (otlp.name, args)
    }

    fn write_event(&mut self, first: &mut bool, event: &Event) -> io::Result<()> {
        self.out.write_all(if *first { b"\n" } else { b",\n" })?;
        *first = false;
        serde_json::to_writer(&mut self.out, event)?;
        Ok(())
    }

    /// The process and thread names, one track per thread lane.
    fn write_metadata(
        &mut self,
        first: &mut bool,
        tracks: &BTreeMap<(i32, i64), String>,
    ) -> io::Result<()> {
        let mut pids: Vec<i32> = tracks.keys().map(|&(pid, _)| pid).collect();
        pids.dedup();
        for pid in pids {
            let service = self.services.get(&pid).cloned().unwrap_or_default();
            let mut args = Map::new();
            args.insert("name".into(), format!("{service} (pid {pid})").into());
            self.write_event(first, &metadata("process_name", pid, i64::from(pid), &args))?;
        }
        for (&(pid, track), name) in tracks {
            let mut args = Map::new();
            args.insert("name".into(), name.clone().into());
            self.write_event(first, &metadata("thread_name", pid, track, &args))?;
        }
        Ok(())
    }

    /// The name of lane `lane` of thread `tid`: `comm 1510`, then `comm 1510 (overlap 1)`.
    fn track_name(&self, tid: Tid, lane: usize) -> String {
        let comm = self
            .context
            .thread_names
            .get(&tid)
            .map_or("thread", String::as_str);
        match lane {
            0 => format!("{comm} {tid}"),
            n => format!("{comm} {tid} (overlap {n})"),
        }
    }
}

fn metadata<'a>(name: &'a str, pid: i32, tid: i64, args: &'a Map<String, Json>) -> Event<'a> {
    Event {
        name,
        cat: "",
        ph: "M",
        ts: None,
        dur: None,
        pid,
        tid,
        id: None,
        bp: None,
        args: Some(args),
    }
}

/// A flow event (`s` on the caller's track, `f` bound to the callee's slice) of the call
/// into span `callee`.
fn flow<'a>(ph: &'static str, ts: u64, pid: i32, track: i64, callee: SpanId) -> Event<'a> {
    Event {
        name: "call",
        cat: CATEGORY,
        ph,
        ts: Some(micros(ts)),
        dur: None,
        pid,
        tid: track,
        id: Some(span_id_hex(callee)),
        bp: (ph == "f").then_some("e"),
        args: None,
    }
}

impl<W: Write> TraceSink for PerfettoSink<W> {
    fn trace(&mut self, trace: &Trace) -> io::Result<()> {
        for span in &trace.spans {
            let (name, args) = self.args(trace, span);
            self.services
                .entry(span.pid)
                .or_insert_with(|| span.service.clone());
            self.slices.push(Slice {
                id: span.id,
                parent: span.parent,
                pid: span.pid,
                tid: span.tid,
                start: span.start,
                end: span.end.max(span.start),
                name,
                args,
            });
        }
        Ok(())
    }

    fn finish(&mut self, _summary: &Summary) -> io::Result<()> {
        let slices = std::mem::take(&mut self.slices);
        // Each slice's track: its thread's lane.
        let mut by_thread: HashMap<(i32, Tid), Vec<usize>> = HashMap::new();
        for (i, s) in slices.iter().enumerate() {
            by_thread.entry((s.pid, s.tid)).or_default().push(i);
        }
        let mut track = vec![0i64; slices.len()];
        let mut tracks = BTreeMap::new();
        for (&(pid, tid), members) in &by_thread {
            let times: Vec<(u64, u64)> = members
                .iter()
                .map(|&i| (slices[i].start, slices[i].end))
                .collect();
            for (&i, lane) in members.iter().zip(lanes::assign_lanes(&times)) {
                track[i] = i64::from(tid) + lane as i64 * LANE_STRIDE;
                tracks
                    .entry((pid, track[i]))
                    .or_insert_with(|| self.track_name(tid, lane));
            }
        }
        let index: HashMap<SpanId, usize> =
            slices.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
        let mut children: HashMap<SpanId, Vec<usize>> = HashMap::new();
        for (i, s) in slices.iter().enumerate() {
            if let Some(parent) = s.parent.filter(|p| index.contains_key(p)) {
                children.entry(parent).or_default().push(i);
            }
        }
        // In time order, so that each flow event follows the slice it binds to.
        let mut order: Vec<usize> = (0..slices.len()).collect();
        order.sort_by_key(|&i| {
            (
                slices[i].start,
                std::cmp::Reverse(slices[i].end),
                slices[i].id,
            )
        });
        self.out
            .write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[")?;
        let mut first = true;
        self.write_metadata(&mut first, &tracks)?;
        for i in order {
            let s = &slices[i];
            let slice = Event {
                name: &s.name,
                cat: CATEGORY,
                ph: "X",
                ts: Some(micros(s.start)),
                dur: Some(micros(s.end - s.start)),
                pid: s.pid,
                tid: track[i],
                id: None,
                bp: None,
                args: Some(&s.args),
            };
            self.write_event(&mut first, &slice)?;
            if s.parent.is_some_and(|p| index.contains_key(&p)) {
                self.write_event(&mut first, &flow("f", s.start, s.pid, track[i], s.id))?;
            }
            for &c in children.get(&s.id).into_iter().flatten() {
                self.write_event(
                    &mut first,
                    &flow("s", s.start, s.pid, track[i], slices[c].id),
                )?;
            }
        }
        self.out.write_all(b"\n]}\n")?;
        self.out.flush()
    }
}
