//! `kspan analyze`: reads a recording, runs the engine over its events in time order, and
//! writes the traces through the chosen sink (tree text, OTLP JSON, SQLite or a Perfetto
//! timeline), and to an OTLP collector when asked, then the summary.

use crate::event_pattern::{any_matches, EventPattern};
use crate::feed::Feed;
use crate::heads_lines::{EVENT as HEADS_EVENT, HEADS_SYSTEM};
use crate::otlp_push::{self, PushArgs};
use crate::progress::ReadBar;
use anyhow::Context;
use clap::ValueEnum;
use kspan_capture::meta::{read_meta, RecordingMeta};
use kspan_engine::{ByteSource, Config, Engine, Event, EventNames, Summary, Trace, World};
use kspan_heads::HeadTable;
use kspan_ingest::bpftrace::{bpftrace_events, split_sums, BpftraceEvents, BPFTRACE_OPTION};
use kspan_ingest::{head_events, world_from_meta, CallEvents, Decoder, ExtraEvents, SumRequest};
use kspan_output::endpoints::EndpointSink;
use kspan_output::filter::FilteredSink;
use kspan_output::otlp::push::PushOutcome;
use kspan_output::otlp::OtlpJsonSink;
use kspan_output::perfetto::PerfettoSink;
use kspan_output::sqlite::SqliteSink;
use kspan_output::summary::write_summary;
use kspan_output::tree::TreeSink;
use kspan_output::{OutputContext, Tee, TraceFilter, TraceSink};
use kspan_tracedat::{EventFormats, TraceFile};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Output formats of `kspan analyze`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One indented tree per trace, with each span's kernel activity (for people).
    Tree,
    /// OpenTelemetry OTLP/JSON ExportTraceServiceRequest (for Jaeger, collectors, scripts;
    /// see docs/otlp.md).
    OtlpJson,
    /// A SQLite database of traces, spans, threads and events, for SQL (needs -o; see
    /// docs/sqlite.md).
    Sqlite,
    /// A timeline for ui.perfetto.dev or chrome://tracing (Chrome JSON trace events): a
    /// track per thread, a slice per span with its kernel activity, flows from caller to
    /// callee (see docs/perfetto.md).
    Perfetto,
    /// Only the summary: traces, spans, caveats.
    Summary,
}

/// What `--by` groups the spans by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    /// One line per endpoint: the spans of each service with the same kind and name
    /// (`GET /compose`, `SET`, `SELECT` from the payload heads, else `<service> server` or
    /// `<service> → <callee>`), root spans and calls alike, with their count, errors,
    /// p50/p99/max duration, the mean span's time in itself (SELF) and in the calls it
    /// waited for (CALLS, its child spans), and the kernel states it spent it in and the
    /// events met most often (`--count` narrows them).
    Endpoint,
}

/// When to colour the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Colour {
    /// When writing to a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Arguments of `kspan analyze`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  kspan analyze app.dat --slowest 5
  kspan analyze app.dat --service compose-post --min-duration 2ms
  kspan analyze app.dat --name 'GET /compose' --slowest 5
  kspan analyze app.dat --format otlp-json -o traces.json
  kspan analyze app.dat --format sqlite -o spans.db
  kspan analyze app.dat --format perfetto -o timeline.json
  kspan analyze app.dat --by endpoint
  kspan analyze app.dat --by endpoint --service compose-post --json -o endpoints.json
  kspan analyze app.dat --format summary --otlp-endpoint http://127.0.0.1:4318
  kspan analyze app.dat --sum block:block_rq_issue:bytes")]
pub struct AnalyzeArgs {
    /// The recording (trace.dat from `kspan record`, or from `trace-cmd extract`).
    pub file: PathBuf,
    /// Analyse as if these events had not been recorded (EVENT or SYSTEM:EVENT, globs as
    /// for `kspan dump --event`, payload_head for the payload heads; repeatable): how to
    /// choose a smaller event set. Compare the traces with and without (e.g. with
    /// `kspan check` against ground truth) before leaving the events out of `kspan
    /// record`; docs/engine.md lists what each event is evidence of.
    #[arg(long = "drop-event", value_name = "NAME")]
    pub drop_events: Vec<EventPattern>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// What to do with the traces: output format and file, selection, per-span counts and sums,
/// service names, OTLP push (`kspan analyze`, `import-psv` and `live`).
#[derive(clap::Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "tree")]
    pub format: Format,
    /// Write the traces to this file instead of standard output (replacing it).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Instead of the traces, one summary line per group of spans, written at the end
    /// (after the trace selection: `--service`, `--slowest`, …). `endpoint`: per service,
    /// kind and span name, slowest p99 first. Text, or JSON with `--json`; it replaces
    /// `--format` (an OTLP push still sends the traces).
    #[arg(long, value_enum, value_name = "GROUP")]
    pub by: Option<By>,
    /// With `--by`: write the summary as one JSON document (`{"endpoints": [...]}`, times
    /// in ns) instead of a table.
    #[arg(long, requires = "by")]
    pub json: bool,
    /// Only the trace whose id starts with this hex prefix.
    #[arg(long, value_name = "ID")]
    pub trace: Option<String>,
    /// Only the N slowest traces (by root span duration), slowest first.
    #[arg(long, value_name = "N")]
    pub slowest: Option<usize>,
    /// Only traces with a span of this service.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// Only traces with a span of this name, exactly as the outputs show it: `GET /compose`,
    /// `SELECT`, `INCR` (from the payload heads), else `<service> server` or
    /// `<service> → <callee>`.
    #[arg(long, value_name = "SPAN NAME")]
    pub name: Option<String>,
    /// Only traces lasting at least this long (e.g. 500us, 2ms, 1s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ns)]
    pub min_duration: Option<u64>,
    /// Only traces whose every link between spans has at least this confidence (0–1):
    /// 0.99 keeps the traces kspan is sure of, dropping those where a call's request was
    /// a guess among several in progress. Each span's link and confidence are in the
    /// tree output and in OTLP (`kspan.link`, `kspan.link.confidence`).
    #[arg(long, value_name = "P", value_parser = parse_confidence, default_value_t = 0.0)]
    pub min_confidence: f32,
    /// Show only these events' per-span counts (SYSTEM:EVENT, repeatable), with per-trace
    /// totals. Every event is counted either way.
    #[arg(long, value_name = "SYSTEM:EVENT")]
    pub count: Vec<String>,
    /// Sum a field of an event per span and per trace (SYSTEM:EVENT:FIELD, repeatable).
    #[arg(long, value_name = "SYSTEM:EVENT:FIELD")]
    pub sum: Vec<SumRequest>,
    /// Name the service of a process yourself (PID=NAME, repeatable); default names come from
    /// the process's cgroup, then its network namespace, then its command.
    #[arg(long, value_name = "PID=NAME", value_parser = parse_service_map)]
    pub service_map: Vec<(i32, String)>,
    /// Colour the tree.
    #[arg(long, value_enum, default_value = "auto")]
    pub colour: Colour,
    #[command(flatten)]
    pub push: PushArgs,
}

impl OutputArgs {
    /// Whether the traces are printed on a terminal while the analysis runs (the tree or
    /// JSON on standard output; `--by` writes only at the end).
    pub fn traces_on_terminal(&self) -> bool {
        self.output.is_none()
            && self.by.is_none()
            && self.format != Format::Summary
            && io::stdout().is_terminal()
    }
}

/// Parses `500us`, `2ms`, `1.5s`, `300ns` or a plain number of nanoseconds.
pub fn parse_duration_ns(s: &str) -> Result<u64, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 2ms"))?;
    let scale = match unit {
        "" | "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => {
            return Err(format!(
                "unknown unit `{unit}` in `{s}`: use ns, us, ms or s"
            ))
        }
    };
    Ok((value * scale) as u64)
}

/// Parses `PID=NAME` for `--service-map`; also used by `kspan report`.
pub fn parse_service_map(s: &str) -> Result<(i32, String), String> {
    let (pid, name) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not PID=NAME"))?;
    let pid = pid
        .parse()
        .map_err(|_| format!("`{pid}` is not a process id"))?;
    Ok((pid, name.to_string()))
}

/// The recording's kspan metadata, or `None` for files written by other tools.
fn recording_meta(file: &TraceFile) -> anyhow::Result<Option<RecordingMeta>> {
    file.metadata()
        .kspan_metadata()
        .map(|bytes| read_meta(bytes).context("the recording's kspan metadata is unreadable"))
        .transpose()
}

fn open_output(path: Option<&Path>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match path {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    })
}

/// An opened recording, ready to analyse: its events, metadata and decoder.
pub struct Recording {
    path: PathBuf,
    file: TraceFile,
    meta: Option<RecordingMeta>,
    decoder: Decoder,
    bpftrace: BpftraceEvents,
    heads: Option<Arc<HeadTable>>,
    /// The BPF backend's socket-call records (none with the ftrace backend).
    calls: CallEvents,
    /// The warning that only part of a recording still in progress is read.
    pub still_recording: Option<String>,
}

/// What an analysis produced besides its traces.
pub struct Outcome {
    /// The engine's summary (with the reader's warnings among its caveats).
    pub summary: Summary,
    /// Events the kernel counted as lost while recording (from the recording's metadata).
    pub lost_recorded: u64,
    /// Events lost according to the pages' missed-event flags.
    pub lost_in_pages: u64,
    /// Events bpftrace reported lost (`kspan record --bpftrace`).
    pub lost_bpftrace: u64,
    /// Socket-call records the BPF backend's ring buffer dropped (`--backend bpf`).
    pub lost_bpf_calls: u64,
}

impl Outcome {
    /// Total events lost, by either count of ftrace's, and the BPF backend's records.
    pub fn lost(&self) -> u64 {
        self.lost_recorded.max(self.lost_in_pages) + self.lost_bpf_calls
    }
}

impl Recording {
    /// Opens `path`, keeping the fields of `sums` for per-span aggregation.
    pub fn open(path: &Path, sums: &[SumRequest]) -> anyhow::Result<Recording> {
        let (file, still_recording) = crate::open_trace::open(path)?;
        let meta = recording_meta(&file)?;
        let (bpftrace_sums, ftrace_sums) = split_sums(sums);
        let mut decoder = Decoder::new(&file.metadata().formats, &ftrace_sums)?;
        let stored = file.metadata().option(BPFTRACE_OPTION);
        let bpftrace = bpftrace_events(stored, &bpftrace_sums)?;
        decoder.add_names(bpftrace.events.names());
        let heads = crate::heads_lines::head_table(file.metadata());
        let calls = CallEvents::load(file.metadata())
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Recording {
            path: path.to_path_buf(),
            file,
            meta,
            decoder,
            bpftrace,
            heads,
            calls,
            still_recording,
        })
    }

    /// Leaves the events `patterns` name out of the analysis, as if they had not been
    /// recorded (`--drop-event`); returns the names of the event types left out. A pattern
    /// that names no event of the recording is an error (a misspelt name would otherwise
    /// change nothing silently).
    pub fn drop_events(&mut self, patterns: &[EventPattern]) -> anyhow::Result<Vec<String>> {
        let formats = &self.file.metadata().formats;
        let heads = self.heads.is_some().then_some((HEADS_SYSTEM, HEADS_EVENT));
        let known: Vec<(&str, &str)> = formats
            .iter()
            .map(|f| (f.system.as_str(), f.name.as_str()))
            .chain(heads)
            .collect();
        if let Some(unknown) = patterns
            .iter()
            .find(|p| !known.iter().any(|(system, name)| p.matches(system, name)))
        {
            anyhow::bail!(
                "--drop-event {unknown}: {} has no such event; `kspan info` lists its events",
                self.path.display()
            );
        }
        let mut dropped = Vec::new();
        for f in formats
            .iter()
            .filter(|f| any_matches(patterns, &f.system, &f.name))
        {
            self.decoder.ignore(f.id);
            dropped.push(format!("{}:{}", f.system, f.name));
        }
        if self.heads.is_some() && any_matches(patterns, HEADS_SYSTEM, HEADS_EVENT) {
            self.heads = None;
            dropped.push(format!("{HEADS_SYSTEM}:{HEADS_EVENT}"));
        }
        Ok(dropped)
    }

    fn world(&self) -> World {
        match &self.meta {
            Some(meta) => world_from_meta(meta),
            None => World::default(),
        }
    }

    /// Where the engine learns byte counts: the `sock:sock_*_length` events (Linux 6.3+)
    /// when the recording has them, else the less precise syscall return values.
    fn byte_source(&self) -> ByteSource {
        let source = byte_source(&self.file.metadata().formats);
        if source == ByteSource::SyscallExits {
            eprintln!(
                "kspan: note: {} has no sock:sock_send_length/sock_recv_length events (Linux < 6.3): \
                 byte counts come from syscall return values, which is less precise",
                self.path.display()
            );
        }
        source
    }

    /// The comm of every thread the recording names: those that existed at its start, then
    /// the tracer's saved command lines.
    fn thread_names(&self) -> HashMap<i32, String> {
        let mut names = self.file.metadata().cmdlines.clone();
        for thread in self.world().threads {
            names.insert(thread.tid, thread.comm);
        }
        names
    }

    /// What sinks need to name events and convert times; `count` as for `--count`.
    pub fn output_context(&self, count: &[String]) -> anyhow::Result<OutputContext> {
        let clock_to_unix_ns = self.meta.as_ref().map_or(0, |m| m.clock_to_unix_ns);
        let mut context = OutputContext::new(self.decoder.names(), clock_to_unix_ns);
        context.count_only = count_filter(count, self.decoder.names())?;
        context.heads = self.heads.clone();
        context.thread_names = self.thread_names();
        Ok(context)
    }

    /// Runs the engine over every event, passing each complete trace to `sink`; draws a
    /// bar of the bytes read when `progress` (see [`crate::progress::wanted`]).
    pub fn analyze(
        &self,
        config: Config,
        sink: &mut dyn TraceSink,
        progress: bool,
    ) -> anyhow::Result<Outcome> {
        if self.meta.is_none() {
            eprintln!(
                "kspan: note: {} has no kspan metadata (not recorded by kspan): every thread is \
                 traced, services are named by process, and times are on the trace clock",
                self.path.display()
            );
        }
        let config = Config {
            bytes_from: self.byte_source(),
            ..config
        };
        let engine = Engine::new(self.world(), self.decoder.names().clone(), config);
        let heads = self.heads.as_deref().map(|t| head_events(t.heads()));
        let mut extra = self.bpftrace.events.clone().with(heads.unwrap_or_default());
        let mut feed = Feed::new(engine, &mut *sink);
        let mut calls = self.calls.clone();
        let sources = Sources {
            decoder: &self.decoder,
            extra: &mut extra,
            calls: &mut calls,
        };
        let report = drive(&self.file, sources, &mut feed, progress)?;
        let lost_in_pages = report.lost_in_pages;
        let summary = finish(feed, report)?;
        sink.finish(&summary).context("cannot write the traces")?;
        Ok(Outcome {
            summary,
            lost_recorded: crate::loss::kernel_lost(&self.file),
            lost_in_pages,
            lost_bpftrace: self.bpftrace.lost,
            lost_bpf_calls: self.calls.lost,
        })
    }
}

/// Where the engine learns byte counts from a recording with these event `formats`: the
/// `sock:sock_*_length` events (Linux 6.3+) when it has them, else syscall return values.
pub fn byte_source(formats: &EventFormats) -> ByteSource {
    let has = |name: &str| formats.iter().any(|f| f.system == "sock" && f.name == name);
    if has("sock_send_length") && has("sock_recv_length") {
        ByteSource::SockEvents
    } else {
        ByteSource::SyscallExits
    }
}

/// Runs `kspan analyze`.
pub fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    let mut recording = Recording::open(&args.file, &args.out.sum)?;
    if !args.drop_events.is_empty() {
        let dropped = recording.drop_events(&args.drop_events)?;
        eprintln!(
            "kspan: note: analysing as if {} event types had not been recorded: {}",
            dropped.len(),
            dropped.join(", ")
        );
    }
    let context = recording.output_context(&args.out.count)?;
    let (mut sink, push) = sink_for(&args.out, context)?;
    let config = Config {
        service_overrides: args.out.service_map.clone(),
        ..Config::default()
    };
    let progress = crate::progress::wanted(args.out.traces_on_terminal());
    let outcome = recording.analyze(config, &mut sink, progress)?;
    let mut err = io::stderr().lock();
    write_summary(&mut err, &outcome.summary)?;
    warn_lost(&args.file, &outcome, &mut err)?;
    otlp_push::report(push.as_ref(), &mut err)
}

/// The chosen output (and OTLP push), behind the user's trace selection.
pub type AnalysisSink = FilteredSink<Box<dyn TraceSink>>;

/// The sink `args` ask for (format, output file, colour, filters, OTLP push), and where the
/// push's report will be; also used by `kspan import-psv`.
pub fn sink_for(
    args: &OutputArgs,
    context: OutputContext,
) -> anyhow::Result<(AnalysisSink, Option<PushOutcome>)> {
    let filter = TraceFilter {
        trace_id_prefix: args.trace.clone(),
        service: args.service.clone(),
        name: args.name.clone().map(|name| (name, context.clone())),
        min_duration_ns: args.min_duration.unwrap_or(0),
        slowest: args.slowest,
        min_confidence: args.min_confidence,
    };
    let colour = match args.colour {
        Colour::Always => true,
        Colour::Never => false,
        Colour::Auto => args.output.is_none() && io::stdout().is_terminal(),
    };
    let push = otlp_push::push_sink(&args.push, context.clone())?;
    let sink: Box<dyn TraceSink> = match (args.by, args.format) {
        (Some(By::Endpoint), Format::Tree) => Box::new(EndpointSink::new(
            open_output(args.output.as_deref())?,
            context,
            args.json,
        )),
        (Some(_), format) => anyhow::bail!(
            "--by writes a table (or JSON with --json) instead of the traces: it does not go \
             with --format {}",
            format
                .to_possible_value()
                .expect("every format has a name")
                .get_name()
        ),
        (None, format) => format_sink(format, args, context, colour)?,
    };
    Ok(match push {
        Some((pusher, outcome)) => (
            FilteredSink::new(Box::new(Tee(sink, pusher)), filter),
            Some(outcome),
        ),
        None => (FilteredSink::new(sink, filter), None),
    })
}

/// The sink that writes the traces in `format`.
fn format_sink(
    format: Format,
    args: &OutputArgs,
    context: OutputContext,
    colour: bool,
) -> anyhow::Result<Box<dyn TraceSink>> {
    Ok(match format {
        Format::Tree => Box::new(TreeSink::new(
            open_output(args.output.as_deref())?,
            context,
            colour,
        )),
        Format::OtlpJson => Box::new(OtlpJsonSink::new(
            open_output(args.output.as_deref())?,
            context,
        )),
        Format::Sqlite => Box::new(sqlite_sink(args.output.as_deref(), context)?),
        Format::Perfetto => Box::new(PerfettoSink::new(
            open_output(args.output.as_deref())?,
            context,
        )),
        Format::Summary => Box::new(NoTraces),
    })
}

/// The SQLite database `-o` names (a database cannot go to standard output).
fn sqlite_sink(path: Option<&Path>, context: OutputContext) -> anyhow::Result<SqliteSink> {
    let path = path.context("--format sqlite writes a database file: name it with -o FILE")?;
    SqliteSink::create(path, context)
        .with_context(|| format!("cannot create the database {}", path.display()))
}

/// What the reader met besides events: warnings (torn pages) and losses flagged in pages.
struct ReadReport {
    warnings: Vec<String>,
    lost_in_pages: u64,
}

/// Events read between two moves of the progress bar.
const PROGRESS_EVERY_EVENTS: u64 = 1 << 16;

/// What is merged into a file's ftrace events: the decoder of its events, events of other
/// sources (bpftrace, payload heads) and the BPF backend's socket-call records.
struct Sources<'a> {
    decoder: &'a Decoder,
    extra: &'a mut ExtraEvents,
    calls: &'a mut CallEvents,
}

impl Sources<'_> {
    /// Passes every merged event stamped before `ts` to `push`, in time order; at equal
    /// times the socket-call events go first (a head is stamped at its syscall's entry or
    /// exit, which ftrace records before the head's BPF program runs).
    fn push_before(&mut self, ts: u64, push: &mut dyn FnMut(&Event)) {
        loop {
            let call = self.calls.next_ts();
            if call >= ts {
                self.extra.push_before(ts, push);
                return;
            }
            self.extra.push_before(call, push);
            self.calls.push_before(call + 1, self.decoder, push);
        }
    }

    /// Passes every merged event not yet pushed to `push`, in time order.
    fn push_rest(&mut self, push: &mut dyn FnMut(&Event)) {
        self.push_before(u64::MAX, push);
        self.calls.push_rest(self.decoder, push);
        self.extra.push_rest(push);
    }
}

/// Feeds every event of `file`, and the `sources`' events merged in time order, to `feed`;
/// draws a bar of the bytes read when `progress`.
fn drive(
    file: &TraceFile,
    mut sources: Sources<'_>,
    feed: &mut Feed,
    progress: bool,
) -> anyhow::Result<ReadReport> {
    let mut events = file.events();
    let bar = ReadBar::new(events.bytes_total(), progress);
    let mut count: u64 = 0;
    loop {
        let record = match events.next_event() {
            Ok(Some(record)) => record,
            Ok(None) => break,
            Err(e) => return Err(e).context("the recording is damaged"),
        };
        if let Some(event) = sources.decoder.decode(&record) {
            sources.push_before(event.ts, &mut |e| feed.push(e));
            feed.push(&event);
        }
        count += 1;
        if progress && count.is_multiple_of(PROGRESS_EVERY_EVENTS) {
            bar.set(events.bytes_read());
        }
    }
    drop(bar);
    sources.push_rest(&mut |e| feed.push(e));
    feed.check()?;
    let warnings = events.warnings().iter().map(|w| w.to_string()).collect();
    let lost_in_pages = events
        .lost_events()
        .iter()
        .map(|l| l.count + u64::from(l.unknown))
        .sum();
    Ok(ReadReport {
        warnings,
        lost_in_pages,
    })
}

/// Ends the engine's input, writes the traces still open, and adds the reader's warnings
/// to the summary's caveats.
fn finish(feed: Feed, report: ReadReport) -> anyhow::Result<Summary> {
    let (mut summary, _) = feed.finish()?;
    for warning in report.warnings {
        summary.caveats.push((warning, 1));
    }
    Ok(summary)
}

/// A sink for `--format summary`: traces are counted by the engine, not printed.
struct NoTraces;

impl TraceSink for NoTraces {
    fn trace(&mut self, _: &Trace) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self, _: &Summary) -> io::Result<()> {
        Ok(())
    }
}

/// The event type ids `--count` asks for (None: show every event's count), among `names`;
/// also used by `kspan import-psv`.
pub fn count_filter(events: &[String], names: &EventNames) -> anyhow::Result<Option<Vec<u32>>> {
    if events.is_empty() {
        return Ok(None);
    }
    let names = &names.names;
    events
        .iter()
        .map(|wanted| {
            names.iter().find(|(_, name)| name == wanted).map(|(id, _)| *id).with_context(|| {
                format!("--count {wanted}: the recording has no such event; `kspan info FILE` lists its events")
            })
        })
        .collect::<anyhow::Result<Vec<u32>>>()
        .map(Some)
}

/// Repeats the recording's loss warnings (the kernel's, the pages', bpftrace's): lost events
/// make traces incomplete.
pub fn warn_lost(path: &Path, outcome: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    crate::loss::warn(path, outcome.lost_recorded, outcome.lost_in_pages, out)?;
    if outcome.lost_bpf_calls > 0 {
        writeln!(
            out,
            "kspan: WARNING: {}: the BPF backend lost {} socket-call records while recording \
             (each a syscall's entry, socket event and exit): traces around the losses may be \
             incomplete or wrong; record with a larger --buffer-kb (its ring buffer holds \
             --buffer-kb per CPU)",
            path.display(),
            outcome.lost_bpf_calls,
        )?;
    }
    if outcome.lost_bpftrace > 0 {
        writeln!(
            out,
            "kspan: WARNING: {}: bpftrace lost {} events while recording: per-span counts of \
             bpftrace events are too low; record with a larger BPFTRACE_PERF_RB_PAGES",
            path.display(),
            outcome.lost_bpftrace,
        )?;
    }
    Ok(())
}

/// A probability between 0 and 1, for `--min-confidence`.
fn parse_confidence(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "{s:?} is not a confidence between 0 and 1 (e.g. 0.99)"
        )),
    }
}
