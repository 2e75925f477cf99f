//! A recording from start to [`Capture`]: sets up the two private instances (pid-filtered
//! main, unfiltered TCP-state net), starts the target command gated, drains the buffers,
//! follows late joiners, and collects everything at the end. Every early return and drop
//! removes the instances.
//!
//! Buffer sizing: the main buffer has [`MAIN_BUFFER_KB`] per CPU (or `--buffer-kb`), the
//! net buffer [`NET_BUFFER_KB`], for the whole recording. A buffer is never resized while
//! tracing: the kernel stops recording into it while it resizes it (tens of milliseconds)
//! and counts the events it refused then nowhere, so a resize would lose events silently
//! (a 4 KiB buffer resized once under a million-call burst lost 55,000-77,000 events that
//! no `stats` counter showed).

use crate::capture::{
    temp_dir_name, BufferCapture, Capture, CpuCapture, EventFormat, KernelTexts, TempDir,
};
use crate::child::GatedChild;
use crate::clock::{self, ClockOffset, TRACE_CLOCK};
use crate::drain::{CpuCounters, Drainer};
use crate::error::{CaptureError, Result};
use crate::event_set::{recorded_by_bpf, Backend, EventSet};
use crate::events::{self, EventRequest, EventSpec, NET_EVENTS};
use crate::meta::{
    instance_suffix, BufferMeta, RecordingMeta, MAIN_BUFFER, META_VERSION, NET_BUFFER,
};
use crate::procfs;
use crate::salvage::Manifest;
use crate::stats::CpuLoss;
use crate::tap::{page_tap, LivePages};
use crate::target::TargetSpec;
use crate::tracefs::{self, Instance};
use crate::world::{self, WorldSnapshot};
use kspan_bpf::{CallCapture, CallOptions, HeadCapture, HeadOptions, TracedProcesses};
use kspan_bpftrace::{BpftraceRecording, BpftraceRun};
use kspan_tracedat::HeaderPage;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Initial per-CPU size of the main buffer (KiB).
pub const MAIN_BUFFER_KB: u64 = 8192;
/// Per-CPU size of the net buffer (KiB).
pub const NET_BUFFER_KB: u64 = 1024;
/// Fill percentage at which the kernel wakes a drainer.
const BUFFER_PERCENT: u32 = 25;
/// Period of the controller (late joiners).
pub const TICK: Duration = Duration::from_millis(200);

/// How to record.
#[derive(Debug, Clone, Default)]
pub struct RecordOptions {
    /// Processes to follow.
    pub targets: TargetSpec,
    /// Command to start and follow (empty: none).
    pub command: Vec<String>,
    /// The events enabled besides `events` (the engine's default set, the full set, none).
    pub event_set: EventSet,
    /// User events (`-e`/`-f`), after the defaults.
    pub events: Vec<EventRequest>,
    /// Directory for the temporary page files (the output file's directory).
    pub temp_parent: PathBuf,
    /// The trace.dat file asked for: a dead recorder's data is salvaged beside it.
    pub output: PathBuf,
    /// Initial per-CPU main buffer size (KiB); `None`: [`MAIN_BUFFER_KB`].
    pub buffer_kb: Option<u64>,
    /// The recorder's command line, stored in the metadata.
    pub command_line: Vec<String>,
    /// tracefs mount point (normally [`tracefs::TRACEFS_ROOT`]).
    pub tracefs_root: PathBuf,
    /// bpftrace scripts to run beside the capture, told the target processes (see
    /// `kspan_bpftrace::script`); each is attached before the command starts.
    pub bpftrace_scripts: Vec<PathBuf>,
    /// Bytes of each TCP message of the traced processes to keep (`--payload-bytes`);
    /// 0: none, and no BPF program is loaded.
    pub payload_bytes: u32,
    /// Also hand every drained page to a live consumer ([`Recording::take_live_pages`]).
    pub live: bool,
    /// What records the socket syscalls' events ([`Backend::Bpf`]: not with `live`, nor
    /// with [`EventSet::None`]).
    pub backend: Backend,
}

/// Progress figures of a running recording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Events read from the main buffer.
    pub main_events: u64,
    /// Events read from the net buffer.
    pub net_events: u64,
    /// Bytes of pages read, both buffers.
    pub bytes: u64,
    /// Events the kernel counted as lost so far (per-CPU `stats` files).
    pub lost: u64,
}

/// One instance with its drainer.
struct Buffer {
    name: &'static str,
    drainer: Option<Drainer>,
    instance: Instance,
    events: Vec<EventSpec>,
    /// Events recorded by the BPF backend instead: not enabled here, but their formats go
    /// into the file (its records are decoded as these events).
    format_only: Vec<EventSpec>,
    size_kb: u64,
    pid_filtered: bool,
}

/// A running recording.
pub struct Recording {
    controller: Option<Controller>,
    buffers: Vec<Buffer>,
    child: Option<GatedChild>,
    placeholder: Option<Placeholder>,
    temp: Option<TempDir>,
    root: PathBuf,
    cpus: Vec<u32>,
    page_size: usize,
    offset: ClockOffset,
    start_clock_ns: i64,
    world: WorldSnapshot,
    target: String,
    command_line: Vec<String>,
    bpftrace: Vec<BpftraceRun>,
    heads: Option<HeadCapture>,
    calls: Option<CallCapture>,
    /// The kernel texts read at the start (those of the salvage manifest): the file's
    /// when tracefs is gone at the end.
    start_texts: Option<KernelTexts>,
    live: Option<LivePages>,
}

impl Recording {
    /// Sets everything up and starts tracing. On any error, whatever was created is
    /// removed again.
    pub fn start(options: RecordOptions) -> Result<Recording> {
        let root = options.tracefs_root.clone();
        tracefs::ensure_mounted(&root)?;
        options.targets.validate()?;
        if options.command.is_empty() && options.targets == TargetSpec::default() {
            return Err(CaptureError::NoTarget);
        }
        if options.backend == Backend::Bpf && (options.live || options.event_set == EventSet::None)
        {
            return Err(CaptureError::BpfBackend);
        }
        let serial = tracefs::next_serial();
        let temp_dir = options
            .temp_parent
            .join(temp_dir_name(std::process::id(), serial));
        let temp = TempDir::create(temp_dir).map_err(|source| CaptureError::OutputDir {
            dir: options.temp_parent.clone(),
            cause: source,
        })?;
        let header_page = tracefs::read_text(&root.join("events/header_page"))?;
        let layout = HeaderPage::parse(&header_page).map_err(|e| CaptureError::Tracefs {
            op: "parsing",
            path: root.join("events/header_page"),
            cause: std::io::Error::other(e.to_string()),
        })?;

        let pid_filtered = !options.targets.all;
        let main_kb = options.buffer_kb.unwrap_or(MAIN_BUFFER_KB);
        let (main, main_events, format_only) = main_instance(&root, serial, main_kb, &options)?;
        let page_size = page_size(&main)?;
        let (net, net_events) = net_instance(&root, serial)?;

        let mut recording = Recording {
            controller: None,
            buffers: Vec::new(),
            child: None,
            placeholder: None,
            temp: Some(temp),
            cpus: cpus(&main)?,
            root,
            page_size,
            offset: clock::measure_offset(),
            start_clock_ns: 0,
            world: WorldSnapshot::default(),
            target: options.targets.describe(&options.command),
            command_line: options.command_line.clone(),
            bpftrace: Vec::new(),
            heads: None,
            calls: None,
            start_texts: None,
            live: None,
        };
        let mut processes = if pid_filtered {
            options.targets.current_processes()?
        } else {
            procfs::all_pids()
        };
        if pid_filtered {
            recording.filter_pids(&main, &options.command, &mut processes)?;
        } else {
            // Tracing everything: keep the recorder's own threads (and, through
            // event-fork, the drainers it starts next) out, or it would trace its reads.
            let own = procfs::threads(std::process::id() as i32);
            main.write("set_event_notrace_pid", &join_pids(&own))?;
        }
        let temp_path = recording.temp.as_ref().map(|t| t.path().to_path_buf());
        let temp_path = temp_path.unwrap_or_default();
        let tap = options.live.then(|| {
            let (tap, live) = page_tap();
            recording.live = Some(live);
            tap
        });
        for (index, (name, instance, events, format_only, kb, filtered)) in [
            (
                MAIN_BUFFER,
                main,
                main_events,
                format_only,
                main_kb,
                pid_filtered,
            ),
            (
                NET_BUFFER,
                net,
                net_events,
                Vec::new(),
                NET_BUFFER_KB,
                false,
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let drainer = Drainer::start(
                instance.dir(),
                &recording.cpus,
                layout,
                page_size,
                &temp_path,
                name,
                tap.as_ref().map(|t| t.for_buffer(index)),
            )?;
            recording.buffers.push(Buffer {
                name,
                drainer: Some(drainer),
                instance,
                events,
                format_only,
                size_kb: kb,
                pid_filtered: filtered,
            });
        }
        if let Some(live) = recording.live.as_mut() {
            let cpus = &recording.cpus;
            live.sources = (0..recording.buffers.len())
                .flat_map(|b| cpus.iter().map(move |&cpu| (b, cpu)))
                .collect();
        }
        recording.start_clock_ns = clock::now_ns(libc::CLOCK_BOOTTIME);
        for buffer in recording.buffers.iter().rev() {
            buffer.instance.write("tracing_on", "1")?;
        }
        recording.world = world::snapshot(&processes);
        if let Some(child) = &recording.child {
            recording
                .world
                .describe_command(child.pid(), &options.command);
        }
        recording.store_manifest(&options.output)?;
        for script in &options.bpftrace_scripts {
            let run = BpftraceRun::start(script, &processes, &temp_path, &recording.root)?;
            recording.bpftrace.push(run);
        }
        if options.backend == Backend::Bpf {
            let ring_kb = main_kb.saturating_mul(recording.cpus.len().max(1) as u64);
            recording.calls = Some(CallCapture::start(&CallOptions {
                head_bytes: options.payload_bytes,
                trace_all: !pid_filtered,
                processes: processes.clone(),
                sock_filter: options.event_set == EventSet::Default,
                ring_bytes: ring_kb.saturating_mul(1024),
                calls_path: temp_path.join("calls.chunks"),
                heads_path: temp_path.join("heads.chunks"),
            })?);
        } else if options.payload_bytes > 0 {
            recording.heads = Some(HeadCapture::start(&HeadOptions {
                head_bytes: options.payload_bytes,
                trace_all: !pid_filtered,
                processes: processes.clone(),
                chunk_path: temp_path.join("heads.chunks"),
            })?);
        }
        if let Some(child) = recording.child.as_mut() {
            child.release()?;
        }
        let dynamic = !options.targets.netns.is_empty() || !options.targets.cgroups.is_empty();
        recording.controller = Some(Controller::start(
            &recording,
            dynamic.then(|| options.targets.clone()),
            processes,
        ));
        Ok(recording)
    }

    /// Puts the target's threads (and the gated command, started here) into the main
    /// instance's pid filter; `processes` gains the command's pid.
    fn filter_pids(
        &mut self,
        main: &Instance,
        command: &[String],
        processes: &mut Vec<i32>,
    ) -> Result<()> {
        let mut tids: Vec<i32> = processes.iter().flat_map(|&p| procfs::threads(p)).collect();
        if !command.is_empty() {
            let child = GatedChild::spawn(command)?;
            tids.push(child.pid());
            processes.push(child.pid());
            self.child = Some(child);
        }
        if tids.is_empty() {
            // An empty set_event_pid means "no filter": keep one idle thread in it until
            // the controller finds the first real target.
            let placeholder = Placeholder::start();
            tids.push(placeholder.tid);
            self.placeholder = Some(placeholder);
        }
        main.write("set_event_pid", &join_pids(&tids))
    }

    /// Live progress figures.
    pub fn progress(&self) -> Progress {
        let mut progress = Progress::default();
        for buffer in &self.buffers {
            for &cpu in &self.cpus {
                if let Ok(text) = buffer.instance.read(&format!("per_cpu/cpu{cpu}/stats")) {
                    progress.lost += CpuLoss::from_stats_text(cpu, &text).lost();
                }
            }
            let Some(drainer) = &buffer.drainer else {
                continue;
            };
            for c in drainer.counters() {
                let events = c.events.load(Ordering::Relaxed);
                match buffer.name {
                    MAIN_BUFFER => progress.main_events += events,
                    _ => progress.net_events += events,
                }
                progress.bytes += c.pages.load(Ordering::Relaxed) * self.page_size as u64;
            }
        }
        progress
    }

    /// The live consumer's end of the drained pages, once (`None` without
    /// [`RecordOptions::live`]). It disconnects after [`Recording::finish`]'s last pass.
    pub fn take_live_pages(&mut self) -> Option<LivePages> {
        self.live.take()
    }

    /// The recording's metadata as known at its start (no stop time, no loss figures yet):
    /// the world snapshot and the clock offset a live analysis needs.
    pub fn start_meta(&self) -> RecordingMeta {
        self.meta(
            self.start_clock_ns,
            self.buffers.iter().map(|b| b.meta(Vec::new())).collect(),
        )
    }

    /// The pid of the started command, if any.
    pub fn command_pid(&self) -> Option<i32> {
        self.child.as_ref().map(GatedChild::pid)
    }

    /// The started command's wait status once it has exited.
    pub fn command_status(&mut self) -> Option<i32> {
        self.child.as_mut().and_then(GatedChild::try_wait)
    }

    /// Whether moving pages out of the kernel failed (a full disk): the recording cannot go
    /// on, and [`Recording::finish`] returns the failure.
    pub fn drain_failed(&self) -> bool {
        self.buffers
            .iter()
            .filter_map(|b| b.drainer.as_ref())
            .any(Drainer::failed)
    }

    /// Names of the instances this recording uses.
    pub fn instance_names(&self) -> Vec<String> {
        self.buffers.iter().map(|b| b.instance.name()).collect()
    }

    /// The name of an instance this recording no longer reaches through tracefs (tracefs
    /// unmounted, or the instance removed by another program), if any: the recording
    /// cannot go on, but [`Recording::finish`] still collects what it holds.
    pub fn lost_instance(&self) -> Option<String> {
        self.buffers
            .iter()
            .find(|b| !b.instance.reachable())
            .map(|b| b.instance.name())
    }

    /// Stops tracing, drains the rest, reads loss statistics and formats, and returns the
    /// capture. The instances are removed when this returns, whatever the outcome; on an
    /// error the page files are kept for a later salvage ([`crate::salvage`]).
    pub fn finish(mut self) -> Result<Capture> {
        let capture = self.collect();
        if capture.is_err() {
            self.temp.take().map(TempDir::keep);
        }
        capture
    }

    /// [`Recording::finish`] up to the capture.
    fn collect(&mut self) -> Result<Capture> {
        drop(self.controller.take());
        let scripts = std::mem::take(&mut self.bpftrace)
            .into_iter()
            .map(BpftraceRun::stop)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let bpftrace = (!scripts.is_empty()).then_some(BpftraceRecording { scripts });
        let mut heads = self.heads.take().map(HeadCapture::finish).transpose()?;
        let mut calls = self.calls.take().map(CallCapture::finish).transpose()?;
        if let Some(calls) = calls.as_mut() {
            heads = calls.heads.take();
        }
        for buffer in &self.buffers {
            buffer.instance.write("tracing_on", "0")?;
        }
        let stop_clock_ns = clock::now_ns(libc::CLOCK_BOOTTIME);
        let mut captures = Vec::new();
        let mut metas = Vec::new();
        for buffer in &mut self.buffers {
            let drained = buffer
                .drainer
                .take()
                .expect("drainer present until finish")
                .finish()?;
            let mut cpus = Vec::new();
            let mut loss = Vec::new();
            for d in drained {
                let stats_text = buffer
                    .instance
                    .read(&format!("per_cpu/cpu{}/stats", d.cpu))?;
                loss.push(cpu_loss(d.cpu, &stats_text, &d.counters));
                cpus.push(CpuCapture {
                    cpu: d.cpu,
                    pages_path: d.path,
                    pages: d.counters.pages.load(Ordering::Relaxed),
                    stats_text,
                });
            }
            metas.push(buffer.meta(loss));
            captures.push(BufferCapture {
                name: buffer.name.to_string(),
                cpus,
            });
        }
        let kernel = match (self.kernel_texts(), self.start_texts.take()) {
            (Err(_), Some(start)) if self.lost_instance().is_some() => start,
            (texts, _) => texts?,
        };
        Ok(Capture {
            kernel,
            buffers: captures,
            meta: self.meta(stop_clock_ns, metas),
            bpftrace,
            heads,
            calls,
            dir: self.temp.take().expect("temp dir present until finish"),
        })
    }

    /// Page size, event formats, cmdlines and the other kernel texts, read now.
    pub fn kernel_texts(&self) -> Result<KernelTexts> {
        let read_root = |rel: &str| tracefs::read_text(&self.root.join(rel));
        let mut formats = Vec::new();
        for buffer in &self.buffers {
            for spec in buffer.events.iter().chain(&buffer.format_only) {
                let rel = format!("events/{}/{}/format", spec.system, spec.name);
                let text = buffer.instance.read(&rel)?;
                formats.extend(EventFormat::parse(&spec.system, &spec.name, text));
            }
        }
        Ok(KernelTexts {
            page_size: self.page_size,
            header_page: read_root("events/header_page")?,
            header_event: read_root("events/header_event")?,
            formats,
            ftrace_formats: ftrace_formats(&self.root),
            printk_formats: read_root("printk_formats")?,
            saved_cmdlines: read_root("saved_cmdlines")?,
            saved_tgids: read_root("saved_tgids")?,
        })
    }

    /// The recording's metadata, with the buffers' `metas` and the stop time.
    fn meta(&self, stop_clock_ns: i64, metas: Vec<BufferMeta>) -> RecordingMeta {
        RecordingMeta {
            meta_version: META_VERSION,
            kspan_version: env!("CARGO_PKG_VERSION").to_string(),
            command_line: self.command_line.clone(),
            clock: TRACE_CLOCK.to_string(),
            clock_to_unix_ns: self.offset.clock_to_unix_ns,
            clock_offset_uncertainty_ns: self.offset.uncertainty_ns,
            start_clock_ns: self.start_clock_ns,
            stop_clock_ns,
            target: self.target.clone(),
            target_following: FOLLOWING.to_string(),
            buffers: metas,
            world: self.world.clone(),
        }
    }

    /// Writes what a salvage needs to turn the page files into a trace.dat (everything but
    /// the pages and the final loss figures) into the temporary directory.
    fn store_manifest(&mut self, output: &Path) -> Result<()> {
        let kernel = self.kernel_texts()?;
        self.start_texts = Some(kernel.clone());
        let Some(temp) = &self.temp else {
            return Ok(());
        };
        let manifest = Manifest {
            output: output.to_path_buf(),
            kernel,
            buffers: self
                .buffers
                .iter()
                .map(|b| (b.name.to_string(), self.cpus.clone()))
                .collect(),
            meta: self.start_meta(),
        };
        manifest
            .store(temp.path())
            .map_err(|cause| CaptureError::Drain {
                path: temp.path().to_path_buf(),
                cause,
            })
    }
}

impl Buffer {
    /// This buffer's metadata, with the per-CPU `loss` figures.
    fn meta(&self, loss: Vec<CpuLoss>) -> BufferMeta {
        BufferMeta {
            name: self.name.to_string(),
            pid_filtered: self.pid_filtered,
            events: self.events.clone(),
            buffer_size_kb: self.size_kb,
            loss,
        }
    }
}

/// How targets are followed, for the metadata.
const FOLLOWING: &str = "set_event_pid with event-fork follows every thread and child of a \
    target from the start; processes entering a target cgroup or network namespace later \
    are found by polling every 200 ms and miss their events before that";

fn configure(instance: &Instance, buffer_kb: u64) -> Result<()> {
    instance.write("trace_clock", TRACE_CLOCK)?;
    instance.write("buffer_size_kb", &buffer_kb.to_string())?;
    instance.write("buffer_percent", &BUFFER_PERCENT.to_string())?;
    instance.write("options/overwrite", "0")?;
    instance.write("options/event-fork", "1")
}

/// Creates and configures the pid-filtered instance and enables the requested events;
/// returns it, the events enabled, and those the BPF backend records instead (with
/// [`Backend::Bpf`]: requested, but not enabled here).
fn main_instance(
    root: &Path,
    serial: u32,
    buffer_kb: u64,
    options: &RecordOptions,
) -> Result<(Instance, Vec<EventSpec>, Vec<EventSpec>)> {
    let main = Instance::create(root, serial, instance_suffix(MAIN_BUFFER))?;
    configure(&main, buffer_kb)?;
    let available = events::list_events(&main.dir().join("events"))?;
    let mut requests = options.event_set.requests();
    requests.extend(options.events.iter().cloned());
    let (format_only, specs): (Vec<EventSpec>, Vec<EventSpec>) =
        events::resolve(&available, &requests)?
            .into_iter()
            .partition(|s| options.backend == Backend::Bpf && recorded_by_bpf(&s.system, &s.name));
    for spec in &specs {
        events::enable(&main, spec)?;
    }
    Ok((main, specs, format_only))
}

/// Creates and configures the unfiltered instance of TCP state changes.
fn net_instance(root: &Path, serial: u32) -> Result<(Instance, Vec<EventSpec>)> {
    let net = Instance::create(root, serial, instance_suffix(NET_BUFFER))?;
    configure(&net, NET_BUFFER_KB)?;
    let specs: Vec<EventSpec> = NET_EVENTS
        .iter()
        .map(|(system, name, filter)| EventSpec {
            system: system.to_string(),
            name: name.to_string(),
            filter: filter.map(str::to_string),
        })
        .collect();
    for spec in &specs {
        events::enable(&net, spec)?;
    }
    Ok((net, specs))
}

/// The format texts of ftrace's own events, for readers that expect them.
fn ftrace_formats(root: &Path) -> Vec<String> {
    let dir = root.join("events/ftrace");
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("format"))
        .collect();
    names.sort();
    names
        .iter()
        .filter_map(|p| tracefs::read_text(p).ok())
        .collect()
}

/// Sub-buffer size in bytes (`buffer_subbuf_size_kb`, 4 KiB on kernels without it).
fn page_size(instance: &Instance) -> Result<usize> {
    if !instance.dir().join("buffer_subbuf_size_kb").exists() {
        return Ok(4096);
    }
    let kb: usize = instance
        .read("buffer_subbuf_size_kb")?
        .trim()
        .parse()
        .unwrap_or(4);
    Ok(kb * 1024)
}

/// The CPUs that have a per-CPU buffer directory.
fn cpus(instance: &Instance) -> Result<Vec<u32>> {
    let dir = instance.dir().join("per_cpu");
    let mut cpus: Vec<u32> = fs::read_dir(&dir)
        .map_err(|e| tracefs::tracefs_error("listing", &dir, e))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("cpu")?.parse().ok())
        .collect();
    cpus.sort_unstable();
    Ok(cpus)
}

fn join_pids(pids: &[i32]) -> String {
    pids.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn cpu_loss(cpu: u32, stats_text: &str, counters: &CpuCounters) -> CpuLoss {
    CpuLoss {
        pages_with_missed_flag: counters.missed_pages.load(Ordering::Relaxed),
        events_read: counters.events.load(Ordering::Relaxed),
        ..CpuLoss::from_stats_text(cpu, stats_text)
    }
}

/// A parked thread whose tid keeps a pid filter non-empty (it emits no events).
struct Placeholder {
    tid: i32,
    done: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Placeholder {
    fn start() -> Placeholder {
        let done = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let flag = done.clone();
        let handle = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            let _ = tx.send(unsafe { libc::gettid() });
            while !flag.load(Ordering::SeqCst) {
                std::thread::park();
            }
        });
        let tid = rx.recv().unwrap_or(-1);
        Placeholder {
            tid,
            done,
            handle: Some(handle),
        }
    }
}

impl Drop for Placeholder {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            handle.thread().unpark();
            let _ = handle.join();
        }
    }
}

/// The background thread that adds late joiners to the pid filter.
struct Controller {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Controller {
    fn start(recording: &Recording, dynamic: Option<TargetSpec>, known: Vec<i32>) -> Controller {
        let stop = Arc::new(AtomicBool::new(false));
        let pid_file = recording.buffers[0].instance.dir().join("set_event_pid");
        let announce = !recording.bpftrace.is_empty();
        let heads = (recording.heads.as_ref().map(HeadCapture::programs))
            .or_else(|| recording.calls.as_ref().map(CallCapture::programs))
            .map(kspan_bpf::Programs::traced);
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut known: BTreeSet<i32> = known.into_iter().collect();
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(TICK);
                if let Some(spec) = &dynamic {
                    add_late_joiners(spec, &mut known, &pid_file, announce, heads.as_ref());
                }
            }
        });
        Controller {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Appends the threads of processes that entered a target cgroup/namespace; with `announce`,
/// adds them to the bpftrace scripts' process map too, and to the payload-head filter.
fn add_late_joiners(
    spec: &TargetSpec,
    known: &mut BTreeSet<i32>,
    pid_file: &Path,
    announce: bool,
    heads: Option<&TracedProcesses>,
) {
    let Ok(now) = spec.current_processes() else {
        return;
    };
    let new: Vec<i32> = now.into_iter().filter(|p| known.insert(*p)).collect();
    if announce {
        new.iter()
            .copied()
            .for_each(kspan_bpftrace::script::announce);
    }
    if let Some(heads) = heads {
        for &pid in &new {
            // A process that exited meanwhile cannot be added, and needs not be.
            let _ = heads.add(pid);
        }
    }
    let tids: Vec<i32> = new.iter().flat_map(|&p| procfs::threads(p)).collect();
    if !tids.is_empty() {
        let _ = tracefs::write_text(pid_file, &join_pids(&tids));
    }
}
