//! `kspan live`: records like `kspan record` and analyses while recording, writing each
//! trace as soon as it is complete to the outputs of `kspan analyze`.
//!
//! One path with a file's analysis: the drainers hand every page they move into the page
//! files to [`LiveMerge`] too, which decodes them with the same [`Decoder`] and releases
//! the events in the order a replay of the trace.dat gives, once every CPU was drained past
//! them (at most [`MAX_WAIT`] behind the clock); the same engine [`Feed`] turns them into
//! traces, and [`Feed::advance`] lets idle traces out when no event comes. The recording
//! itself is `kspan record`'s, with all its guarantees; `--save` also writes its trace.dat.
//!
//! A subcommand rather than `kspan record --live`: its `-o` is the traces' output, as for
//! `kspan analyze`, while `kspan record -o` names the trace.dat.

use crate::analyze_cmd::{byte_source, count_filter, sink_for, OutputArgs};
use crate::delays::Delays;
use crate::feed::Feed;
use crate::record_cmd::{self, CaptureArgs, LOOP_TICK};
use anyhow::Context;
use kspan_capture::clock;
use kspan_capture::tap::LivePages;
use kspan_capture::{FileVersion, Recording};
use kspan_engine::{Config, Engine, Timestamp};
use kspan_ingest::live::{LiveCounts, LiveMerge};
use kspan_ingest::{world_from_meta, Decoder};
use kspan_output::summary::write_summary;
use kspan_output::{OutputContext, TraceSink};
use kspan_tracedat::{EventFormat, EventFormats, HeaderPage};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// Longest an event waits for a CPU that was not drained past it: after this, it is
/// released anyway (that CPU's older events, if any turn up, are counted as late).
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// Arguments of `kspan live`.
#[derive(clap::Args)]
#[command(
    after_help = "Each trace is written as soon as it is complete: when its \
requests were answered and their connections carried the next request or closed, or after \
1 s without activity; the delay from a trace's end to its output is in the summary. Payload \
heads are not recorded live, so spans are named without their protocol's words.

Examples:
  kspan live --netns web --netns db                         # trees on the terminal, Ctrl-C to stop
  kspan live --netns web --format otlp-json -o traces.json --duration 60
  kspan live --netns web --format summary --otlp-endpoint http://127.0.0.1:4318
  kspan live --netns web --save app.dat -- ./load.sh        # also keep the trace.dat"
)]
pub struct LiveArgs {
    /// Also write the recording as a trace.dat file (as `kspan record -o` does), for a
    /// later `kspan analyze` or `kspan report`.
    #[arg(long, value_name = "FILE.dat")]
    save: Option<PathBuf>,
    #[command(flatten)]
    what: CaptureArgs,
    #[command(flatten)]
    out: OutputArgs,
}

/// Runs `kspan live`.
pub fn run(args: LiveArgs) -> anyhow::Result<()> {
    // Without --save the pages still go to a file meanwhile (what a killed recorder's
    // guardian salvages), in the temporary directory.
    let dat = args.save.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("kspan-live-{}.dat", std::process::id()))
    });
    let root = record_cmd::prepare(&dat)?;
    let mut options = args.what.options(&dat, &root)?;
    options.live = true;
    let duration = args.what.duration()?;
    // Declared before the recording so that it is dropped (told "finished") after it.
    let _guardian = record_cmd::guardian(&root, &options.temp_parent)?;
    let mut recording = Recording::start(options)?;
    let pages = recording
        .take_live_pages()
        .context("the recorder gave no live pages; this is a bug in kspan, please report it")?;
    let (decoder, merge) = live_merge(&recording, &args.out, &pages)?;
    let meta = recording.start_meta();
    let mut context = OutputContext::new(decoder.names(), meta.clock_to_unix_ns);
    context.count_only = count_filter(&args.out.count, decoder.names())?;
    let world = world_from_meta(&meta);
    context.thread_names = world
        .threads
        .iter()
        .map(|t| (t.tid, t.comm.clone()))
        .collect();
    let (mut sink, push) = sink_for(&args.out, context)?;
    let mut delays = Delays::new(&mut sink);
    let config = Config {
        service_overrides: args.out.service_map.clone(),
        bytes_from: byte_source(merge.formats()),
        ..Config::default()
    };
    let engine = Engine::new(world, decoder.names().clone(), config);
    let mut live = Live {
        feed: Feed::new(engine, &mut delays),
        merge,
        pages,
    };
    record_cmd::announce(&recording);
    let started = Instant::now();
    let progress = crate::progress::wanted(args.out.traces_on_terminal());
    let reason =
        record_cmd::wait_for_stop(&mut recording, started, duration, progress, &mut || {
            live.pump()
        });
    let elapsed = started.elapsed();
    let capture = recording.finish()?;
    let counts = live.drain_rest();
    let skipped = live.pages.skipped_pages.load(Ordering::Relaxed);
    let (summary, partial) = live.feed.finish()?;
    let histogram = delays.histogram;
    sink.finish(&summary).context("cannot write the traces")?;
    match &args.save {
        Some(path) => record_cmd::save(capture, path, FileVersion::V7Zstd, elapsed, reason)?,
        None => eprintln!(
            "kspan: recorded {:.2} s of {} ({reason})",
            elapsed.as_secs_f64(),
            capture.meta.target
        ),
    }
    let mut err = io::stderr().lock();
    write_summary(&mut err, &summary)?;
    let (traces, max) = histogram.count_and_max();
    writeln!(
        err,
        "kspan: live: {traces} traces written {} ms (p50), {} ms (p99), {max} ms (max) after \
         their last span ended; {partial} of them partial (spans cut short by the recording's \
         start or its stop, marked partial)",
        histogram.percentile(0.5),
        histogram.percentile(0.99),
    )?;
    warn_live_losses(&counts, skipped, &mut err)?;
    crate::otlp_push::report(push.as_ref(), &mut err)
}

/// The decoder and the merge of the recording's live pages, from the kernel's formats.
fn live_merge(
    recording: &Recording,
    out: &OutputArgs,
    pages: &LivePages,
) -> anyhow::Result<(Decoder, LiveMerge)> {
    let kernel = recording.kernel_texts()?;
    let mut formats = EventFormats::new();
    for f in &kernel.formats {
        let format = EventFormat::parse(&f.system, &f.text).with_context(|| {
            format!("cannot read the kernel's format of {}:{}", f.system, f.name)
        })?;
        formats.insert(format);
    }
    let layout = HeaderPage::parse(&kernel.header_page)
        .context("cannot read the kernel's events/header_page")?;
    let decoder = Decoder::new(&formats, &out.sum)?;
    let merge = LiveMerge::new(
        decoder.clone(),
        formats,
        layout,
        kernel.page_size,
        &pages.sources,
    );
    Ok((decoder, merge))
}

/// The live analysis: drained pages in, traces out.
struct Live<'s> {
    feed: Feed<'s>,
    merge: LiveMerge,
    pages: LivePages,
}

impl Live<'_> {
    /// Takes the drain passes that arrive within [`LOOP_TICK`], releases what every CPU
    /// (or the bounded wait) allows, and lets idle traces out; `Some(reason)` when the
    /// traces cannot be written any more.
    fn pump(&mut self) -> Option<String> {
        match self.pages.receiver.recv_timeout(LOOP_TICK) {
            Ok(pass) => self.merge.add(&pass),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
        while let Ok(pass) = self.pages.receiver.try_recv() {
            self.merge.add(&pass);
        }
        let now = clock::now_ns(libc::CLOCK_BOOTTIME) as Timestamp;
        let floor = now.saturating_sub(MAX_WAIT.as_nanos() as Timestamp);
        self.release(floor);
        self.feed.flush();
        self.feed
            .check()
            .err()
            .map(|e| format!("writing the traces failed ({e:#})"))
    }

    /// Releases every event the merge allows (at least those before `floor`).
    fn release(&mut self, floor: Timestamp) {
        let feed = &mut self.feed;
        let to = self.merge.release(floor, &mut |e| feed.push(e));
        if to < Timestamp::MAX {
            feed.advance(to);
        }
    }

    /// After the recording finished: takes the last passes and releases everything.
    fn drain_rest(&mut self) -> LiveCounts {
        while let Ok(pass) = self.pages.receiver.recv() {
            self.merge.add(&pass);
        }
        self.release(Timestamp::MAX);
        self.merge.counts()
    }
}

/// Says what the live analysis missed: lost events, late events, skipped pages.
fn warn_live_losses(counts: &LiveCounts, skipped: u64, out: &mut dyn Write) -> io::Result<()> {
    let lost = counts.lost_in_pages + counts.lost_unknown_pages;
    if lost > 0 {
        writeln!(
            out,
            "kspan: WARNING: the kernel lost events ({} counted, {} pages without a count): \
             traces may be incomplete; raise --buffer-kb",
            counts.lost_in_pages, counts.lost_unknown_pages
        )?;
    }
    if counts.late > 0 || skipped > 0 || counts.damaged_pages > 0 {
        writeln!(
            out,
            "kspan: WARNING: the live analysis left out {} events drained more than {} ms \
             late, {skipped} pages it fell behind on and {} damaged pages (the trace.dat of \
             --save has them all: `kspan analyze` it for complete traces)",
            counts.late,
            MAX_WAIT.as_millis(),
            counts.damaged_pages
        )?;
    }
    Ok(())
}
