//! `kspan record`: records the kernel events of a command, processes, cgroups or network
//! namespaces into a trace.dat file, with progress and a loss report.

use crate::progress::RecordSpinner;
use anyhow::{bail, Context};
use kspan_capture::meta::RecordingMeta;
use kspan_capture::signals;
use kspan_capture::{
    remove_stale_instances, write_trace_dat, Capture, CaptureError, EventRequest, FileVersion,
    Guardian, RecordOptions, Recording, TargetSpec, TRACEFS_ROOT,
};
use kspan_capture::{Backend, EventSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often the progress spinner is refreshed (on a terminal).
const PROGRESS_EVERY: Duration = Duration::from_millis(300);
/// How often the main loop checks for stop conditions.
pub const LOOP_TICK: Duration = Duration::from_millis(50);

/// Arguments of `kspan record`.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
  kspan record -- ./server --port 8080\n  \
  kspan record --netns web --netns db --duration 30 -o app.dat\n  \
  kspan record --pid 4242 -e 'block:block_rq_issue' -f 'bytes > 4096'\n  \
  kspan record --netns web --bpftrace bench/bpftrace-examples/page_faults.bt -- sleep 10")]
pub struct RecordArgs {
    /// Output trace.dat file.
    #[arg(short, long, default_value = "kspan.dat")]
    output: PathBuf,
    #[command(flatten)]
    what: CaptureArgs,
    /// trace.dat version: 7 (zstd, default) or 6 (uncompressed, for old readers).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(6..=7))]
    file_version: u32,
    /// Run this bpftrace script beside the capture (repeatable). kspan seeds its map
    /// `@kspan_pids` with the traced processes (filter with `/@kspan_pids[pid]/`) and stores
    /// lines `KSPAN <tid> <nsecs> <name> [key=value …]` as events `bpftrace:<name>`; see
    /// docs/bpftrace.md.
    #[arg(long = "bpftrace", value_name = "FILE.bt")]
    bpftrace: Vec<PathBuf>,
    /// Keep the first N bytes (at most 256) of every message the traced processes send or
    /// read on a TCP socket, to name spans by protocol (`GET /path`, `SET`, `SELECT`); these
    /// heads are the only payload bytes kspan stores. 0: keep none and load no BPF program.
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(0..=256))]
    payload_bytes: u32,
    /// What records the socket syscalls (read, write, readv, writev, sendto, recvfrom,
    /// sendmsg, recvmsg, sendmmsg, recvmmsg, sendfile64) and the sock_send_length /
    /// sock_recv_length events inside them. ftrace (default): each as its own ftrace event,
    /// three or four per syscall. bpf: BPF programs on the kernel's syscall and socket
    /// tracepoints write one compact record per syscall (with its payload head, read by the
    /// same programs) into a BPF ring buffer of --buffer-kb per CPU, stored in the trace.dat
    /// and decoded by `kspan analyze` into the very events ftrace would have recorded: the
    /// same traces. On a syscall-bound ping-pong a socket syscall costs the traced program
    /// about half as much with payload heads and a quarter less without, while every other
    /// syscall of every process costs a little more (BENCHMARKS.md, "BPF backend"). Every
    /// other event stays with ftrace; losses are counted and reported the same way. Needs
    /// CAP_BPF and CAP_PERFMON (root) and a kernel with BTF (6.9 or later). `kspan dump`
    /// shows only ftrace's events, `kspan info` counts the records apart, and nothing of
    /// them is salvaged after a crash.
    #[arg(long, value_enum, value_name = "BACKEND", default_value = "ftrace")]
    pub backend: BackendArg,
    /// Only clean up after killed recorders, then exit: remove the kspan instances they
    /// left, and turn their page files in the -o file's directory into trace.dat files.
    #[arg(long)]
    cleanup_only: bool,
}

/// `--event-set`: the event set enabled besides `-e` ([`EventSet`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EventSetArg {
    /// Only the events the engine's evidence uses, filtered in the kernel.
    Default,
    /// Also the events the engine does not need, unfiltered.
    Full,
}

/// `--backend`: what records the socket syscalls ([`Backend`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// Every event in ftrace's ring buffers.
    Ftrace,
    /// One BPF record per socket syscall instead of its three or four ftrace events.
    Bpf,
}

impl From<BackendArg> for Backend {
    fn from(arg: BackendArg) -> Backend {
        match arg {
            BackendArg::Ftrace => Backend::Ftrace,
            BackendArg::Bpf => Backend::Bpf,
        }
    }
}

/// What to record and for how long (`kspan record` and `kspan live`).
#[derive(clap::Args)]
pub struct CaptureArgs {
    /// Trace this process, its threads and descendants (repeatable).
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<i32>,
    /// Trace every process of this cgroup v2 directory (repeatable; joiners are found by
    /// polling cgroup.procs every 200 ms).
    #[arg(long = "cgroup", value_name = "PATH")]
    pub cgroups: Vec<PathBuf>,
    /// Trace every process inside this `ip netns` namespace (repeatable; joiners are found
    /// by polling every 200 ms).
    #[arg(long = "netns", value_name = "NAME")]
    pub netns: Vec<String>,
    /// Trace every task (no pid filter).
    #[arg(long)]
    pub all: bool,
    /// Also enable SYSTEM:EVENT (globs allowed, e.g. 'sched:*'; repeatable).
    #[arg(short = 'e', long = "event", value_name = "SYSTEM:EVENT")]
    pub events: Vec<String>,
    /// Filter for the preceding -e (kernel filter syntax, e.g. 'bytes > 4096').
    #[arg(short = 'f', long = "filter", value_name = "EXPR")]
    pub filters: Vec<String>,
    /// Enable only the -e events, not kspan's default set.
    #[arg(long, conflicts_with = "event_set")]
    pub no_default_events: bool,
    /// The events enabled besides -e. default: only those the engine's evidence uses
    /// (docs/engine.md, "Which events each rule needs"), filtered in the kernel to the ones
    /// it reads. full: the default set before it was cut to that: also close, pread64 and
    /// pwrite64, sched_process_fork and _exec, tcp_rcv_space_adjust, the exits of futex,
    /// poll, select, epoll, accept and connect, and the socket events the engine ignores
    /// (more per-span event counts; the same traces, at more cost per event).
    #[arg(long, value_enum, value_name = "SET", default_value = "default")]
    pub event_set: EventSetArg,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Per-CPU buffer size of the main instance in KiB (default 8192), kept for the whole
    /// recording: raise it when the summary reports lost events.
    #[arg(long, value_name = "KB")]
    pub buffer_kb: Option<u64>,
    /// Command to start and trace (with everything it spawns), after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Runs `kspan record`.
pub fn run(args: RecordArgs) -> anyhow::Result<()> {
    let root = prepare(&args.output)?;
    if args.cleanup_only {
        return Ok(());
    }
    let mut options = args.what.options(&args.output, &root)?;
    options.bpftrace_scripts = args.bpftrace;
    options.payload_bytes = args.payload_bytes;
    options.backend = args.backend.into();
    let duration = args.what.duration()?;
    // Declared before the recording so that it is dropped (told "finished") after it.
    let _guardian = guardian(&root, &options.temp_parent)?;
    let mut recording = Recording::start(options)?;
    announce(&recording);
    let started = Instant::now();
    let progress = crate::progress::wanted(false);
    let stop_reason = wait_for_stop(&mut recording, started, duration, progress, &mut || {
        std::thread::sleep(LOOP_TICK);
        None
    });
    let elapsed = started.elapsed();
    let gone = recording.lost_instance();
    let capture = recording.finish()?;
    let version = match args.file_version {
        6 => FileVersion::V6,
        _ => FileVersion::V7Zstd,
    };
    save(capture, &args.output, version, elapsed, stop_reason)?;
    match gone {
        Some(name) => Err(CaptureError::InstanceGone {
            name,
            root,
            output: args.output,
        }
        .into()),
        None => Ok(()),
    }
}

/// Gets ready to record into `output` (stop handlers, privileges, tracefs) after cleaning
/// up what killed recorders left (their instances, their pages beside `output`); returns
/// the tracefs root.
pub fn prepare(output: &Path) -> anyhow::Result<PathBuf> {
    signals::install_stop_handlers();
    let root = PathBuf::from(TRACEFS_ROOT);
    kspan_capture::privilege::check(&root)?;
    kspan_capture::tracefs::ensure_mounted(&root)?;
    // Salvage first: what a dead recorder's instances still hold joins its pages.
    for salvage in kspan_capture::salvage_stale_temp_dirs(&out_dir(output), None, Some(&root)) {
        eprintln!("kspan: {salvage}");
    }
    for name in remove_stale_instances(&root)? {
        eprintln!("kspan: removed instance {name} left behind by a recorder that is gone");
    }
    Ok(root)
}

/// The directory of `output`, where the recording's page files go meanwhile.
fn out_dir(output: &Path) -> PathBuf {
    match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Starts the guardian that switches tracing off if this process dies (keep it alive until
/// the recording is finished).
pub fn guardian(root: &Path, out_dir: &Path) -> anyhow::Result<Guardian> {
    Guardian::spawn(crate::guard_cmd::command(root, out_dir))
        .context("cannot start the recorder's guardian process")
}

/// Says where the recording goes and how to stop it.
pub fn announce(recording: &Recording) {
    eprintln!(
        "kspan: recording into instances {} (Ctrl-C to stop)",
        recording.instance_names().join(", ")
    );
}

impl CaptureArgs {
    /// The recorder's options for these arguments, writing into `output` (no bpftrace
    /// script, no payload heads).
    pub fn options(&self, output: &Path, root: &Path) -> anyhow::Result<RecordOptions> {
        let argv: Vec<String> = std::env::args().collect();
        Ok(RecordOptions {
            targets: TargetSpec {
                pids: self.pids.clone(),
                cgroups: self.cgroups.clone(),
                netns: self.netns.clone(),
                all: self.all,
            },
            command: self.command.clone(),
            event_set: match (self.no_default_events, self.event_set) {
                (true, _) => EventSet::None,
                (false, EventSetArg::Default) => EventSet::Default,
                (false, EventSetArg::Full) => EventSet::Full,
            },
            events: pair_filters(&self.events, &self.filters, &argv)?,
            temp_parent: out_dir(output),
            output: output.to_path_buf(),
            buffer_kb: self.buffer_kb,
            command_line: argv,
            tracefs_root: root.to_path_buf(),
            bpftrace_scripts: Vec::new(),
            payload_bytes: 0,
            live: false,
            backend: Backend::Ftrace,
        })
    }

    /// `--duration`, checked.
    pub fn duration(&self) -> anyhow::Result<Option<Duration>> {
        Ok(match self.duration {
            Some(s) if !(s > 0.0 && s.is_finite()) => {
                bail!("--duration must be a positive number of seconds")
            }
            other => other.map(Duration::from_secs_f64),
        })
    }
}

/// Writes `capture` as the trace.dat `output` and prints the recording's summary; when the
/// file cannot be written, keeps the pages for the next `kspan record` to salvage.
pub fn save(
    capture: Capture,
    output: &Path,
    version: FileVersion,
    elapsed: Duration,
    stop_reason: String,
) -> anyhow::Result<()> {
    let recording_cpu_ns = kspan_capture::clock::process_cpu_ns();
    let size = match write_trace_dat(&capture, output, version) {
        Ok(size) => size,
        Err(e @ CaptureError::Owner { .. }) => bail!(e),
        Err(e) => {
            let kept = capture.dir.keep();
            bail!(
                "{e}; the recorded pages are kept in {} and the next `kspan record` writing \
                 into that directory turns them into a trace.dat",
                kept.display()
            )
        }
    };
    let cpu = CpuUse {
        recording_ns: recording_cpu_ns,
        writing_ns: kspan_capture::clock::process_cpu_ns() - recording_cpu_ns,
    };
    print_summary(&capture, output, size, elapsed, stop_reason, cpu);
    Ok(())
}

/// Waits until Ctrl-C/SIGTERM, the duration, the command's exit, a drain failure, an
/// instance vanishing from tracefs, or a reason to stop from `pause` (which should take about
/// [`LOOP_TICK`]), called between checks; shows a spinner when `progress` (see
/// [`crate::progress::wanted`]). Returns why it stopped.
pub fn wait_for_stop(
    recording: &mut Recording,
    started: Instant,
    duration: Option<Duration>,
    progress: bool,
    pause: &mut dyn FnMut() -> Option<String>,
) -> String {
    let mut spinner = RecordSpinner::new(progress);
    let mut last_update = Instant::now();
    let reason = loop {
        if let Some(reason) = pause() {
            break reason;
        }
        if signals::stop_requested() {
            break "interrupted".to_string();
        }
        if duration.is_some_and(|d| started.elapsed() >= d) {
            break "duration reached".to_string();
        }
        if let Some(status) = recording.command_status() {
            let end = kspan_capture::child::GatedChild::describe_end(status);
            break format!("the command {end}");
        }
        if let Some(name) = recording.lost_instance() {
            break format!("instance {name} vanished from tracefs");
        }
        if recording.drain_failed() {
            break "moving trace data out of the kernel failed".to_string();
        }
        if progress && last_update.elapsed() >= PROGRESS_EVERY {
            spinner.update(recording.progress());
            last_update = Instant::now();
        }
    };
    drop(spinner);
    reason
}

/// The recorder's own CPU time (all threads).
struct CpuUse {
    /// Until the end of draining.
    recording_ns: i64,
    /// Writing the trace.dat file.
    writing_ns: i64,
}

/// Prints the final summary; the loss line is always printed.
fn print_summary(
    capture: &Capture,
    out: &Path,
    size: u64,
    elapsed: Duration,
    reason: String,
    cpu: CpuUse,
) {
    let meta: &RecordingMeta = &capture.meta;
    eprintln!(
        "kspan: recorded {:.2} s of {} ({reason})",
        elapsed.as_secs_f64(),
        meta.target
    );
    for buffer in &meta.buffers {
        let events: u64 = buffer.loss.iter().map(|c| c.events_read).sum();
        let per_cpu: Vec<String> = buffer
            .loss
            .iter()
            .map(|c| {
                let flagged = if c.pages_with_missed_flag > 0 {
                    format!(" ({} pages flagged)", c.pages_with_missed_flag)
                } else {
                    String::new()
                };
                format!("cpu{} {}{flagged}", c.cpu, c.lost())
            })
            .collect();
        eprintln!(
            "  {:<5} buffer ({} KiB/CPU): {events} events; lost events: {}",
            buffer.name,
            buffer.buffer_size_kb,
            per_cpu.join(", ")
        );
    }
    let events: u64 = meta
        .buffers
        .iter()
        .flat_map(|b| &b.loss)
        .map(|c| c.events_read)
        .sum();
    let recording_s = cpu.recording_ns as f64 / 1e9;
    let per_million = if events >= 100_000 {
        format!(
            " ({:.3} s per million events)",
            recording_s * 1e6 / events as f64
        )
    } else {
        String::new()
    };
    eprintln!(
        "  recorder CPU time: {recording_s:.3} s recording{per_million}, {:.3} s writing the file",
        cpu.writing_ns as f64 / 1e9
    );
    if let Some(bpftrace) = &capture.bpftrace {
        for script in &bpftrace.scripts {
            let parsed = script.parse();
            eprintln!(
                "  bpftrace {}: {} events; lost events: {}",
                script.path,
                parsed.events.len(),
                parsed.lost
            );
        }
    }
    if let Some(heads) = &capture.heads {
        eprintln!(
            "  payload heads (first {} bytes of each TCP message): {}; lost: {}",
            heads.head_bytes, heads.heads, heads.lost
        );
    }
    if let Some(calls) = &capture.calls {
        eprintln!(
            "  bpf   backend: {} socket-call records ({} events); lost records: {}",
            calls.records, calls.events, calls.lost
        );
        if calls.lost > 0 {
            eprintln!("kspan: WARNING: the BPF backend lost {} socket-call records; analysis of this file may be incomplete (raise --buffer-kb: its ring buffer holds --buffer-kb per CPU)", calls.lost);
        }
    }
    let bpftrace_lost = capture.bpftrace.as_ref().map_or(0, |b| b.lost_events());
    if bpftrace_lost > 0 {
        eprintln!("kspan: WARNING: bpftrace lost {bpftrace_lost} events; their per-span counts are too low (raise BPFTRACE_PERF_RB_PAGES, e.g. BPFTRACE_PERF_RB_PAGES=1024)");
    }
    let lost = meta.lost_events();
    if lost > 0 {
        eprintln!("kspan: WARNING: {lost} events were lost; analysis of this file may be incomplete (raise --buffer-kb)");
    }
    eprintln!("kspan: wrote {} ({})", out.display(), human_bytes(size));
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// Which option a command-line token is (with an attached value or not).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flag {
    Event,
    Filter,
}

/// Pairs each `-f` with the `-e` right before it, using the order of the flags on the
/// command line (clap keeps each option's values but not their interleaving).
fn pair_filters(
    events: &[String],
    filters: &[String],
    argv: &[String],
) -> anyhow::Result<Vec<EventRequest>> {
    let mut order = Vec::new();
    for token in argv.iter().skip(1).take_while(|t| *t != "--") {
        let flag = match token.as_str() {
            "-e" | "--event" => Some(Flag::Event),
            "-f" | "--filter" => Some(Flag::Filter),
            t if t.starts_with("--event=") || (t.starts_with("-e") && !t.starts_with("--")) => {
                Some(Flag::Event)
            }
            t if t.starts_with("--filter=") || (t.starts_with("-f") && !t.starts_with("--")) => {
                Some(Flag::Filter)
            }
            _ => None,
        };
        order.extend(flag);
    }
    let (mut next_event, mut next_filter) = (events.iter(), filters.iter());
    let mut requests: Vec<EventRequest> = Vec::new();
    let mut filtered = false;
    for flag in order {
        match flag {
            Flag::Event => {
                let Some(pattern) = next_event.next() else {
                    break;
                };
                requests.push(EventRequest::user(pattern, None));
                filtered = false;
            }
            Flag::Filter => {
                let Some(filter) = next_filter.next() else {
                    break;
                };
                match requests.last_mut() {
                    Some(last) if !filtered => last.filter = Some(filter.clone()),
                    Some(last) => bail!("two filters for -e {}: combine them with && in one -f", last.pattern),
                    None => bail!("filter `{filter}` has no -e before it: put -f right after the -e EVENT it filters"),
                }
                filtered = true;
            }
        }
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn filters_attach_to_the_preceding_event() {
        let argv = strings(&[
            "kspan",
            "record",
            "-e",
            "sched:*",
            "--event=block:block_rq_issue",
            "-f",
            "bytes > 4096",
            "-eirq:*",
            "--",
            "-e",
            "x",
        ]);
        let got = pair_filters(
            &strings(&["sched:*", "block:block_rq_issue", "irq:*"]),
            &strings(&["bytes > 4096"]),
            &argv,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                EventRequest::user("sched:*", None),
                EventRequest::user("block:block_rq_issue", Some("bytes > 4096")),
                EventRequest::user("irq:*", None),
            ]
        );
    }

    #[test]
    fn a_filter_without_event_is_an_error() {
        let argv = strings(&["kspan", "record", "-f", "x > 1", "-e", "sched:*"]);
        let err = pair_filters(&strings(&["sched:*"]), &strings(&["x > 1"]), &argv).unwrap_err();
        assert_eq!(
            err.to_string(),
            "filter `x > 1` has no -e before it: put -f right after the -e EVENT it filters"
        );
    }
}
