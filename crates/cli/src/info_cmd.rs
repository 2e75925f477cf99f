//! `kspan info`: prints a recording's summary (version, clock, CPUs, page size, time span,
//! events per name, lost events, processes, kspan metadata).

use std::path::PathBuf;

use anyhow::Context;
use kspan_bpftrace::{BpftraceRecording, BPFTRACE_OPTION};
use kspan_capture::meta::{read_meta, RecordingMeta};
use kspan_ingest::service_name;
use kspan_tracedat::text::Summary;
use std::fmt::Write;

/// Arguments of `kspan info`.
#[derive(clap::Args)]
pub struct InfoArgs {
    /// The trace.dat file (v6 or v7, written by kspan or trace-cmd).
    pub file: PathBuf,
}

/// Runs `kspan info`.
pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    let file = crate::open_trace::open(&args.file)?.0;
    let summary = Summary::collect(&file)?;
    let mut out = String::new();
    summary.render(file.metadata(), &mut out)?;
    if let Some(blob) = file.metadata().kspan_metadata() {
        let meta = read_meta(blob).context("the recording's kspan metadata is unreadable")?;
        render_recording(&meta, &mut out)?;
    }
    if let Some(blob) = file.metadata().option(BPFTRACE_OPTION) {
        let runs = BpftraceRecording::from_bytes(blob)
            .context("the recording's bpftrace section is unreadable")?;
        render_bpftrace(&runs, &mut out)?;
    }
    if let Some(blob) = file.metadata().option(kspan_heads::CALLS_OPTION) {
        let calls = kspan_heads::StoredCalls::from_option(blob)
            .context("the recording's socket-call records are unreadable")?;
        render_calls(&calls, &mut out)?;
    }
    print!("{out}");
    let flagged = crate::loss::flagged_lost(&summary.lost);
    crate::loss::warn(
        &args.file,
        crate::loss::kernel_lost(&file),
        flagged,
        &mut std::io::stderr(),
    )?;
    Ok(())
}

/// The BPF backend's records (`kspan record --backend bpf`): how many, the ftrace events they
/// stand for (not in the `events:` counts above, which are ftrace's), and their losses.
fn render_calls(calls: &kspan_heads::StoredCalls, out: &mut String) -> std::fmt::Result {
    use kspan_heads::calls::{PART_ENTER, PART_EXIT, PART_SOCK};
    let count = |part| calls.records.iter().filter(|r| r.has(part)).count();
    let (entries, sockets, exits) = (count(PART_ENTER), count(PART_SOCK), count(PART_EXIT));
    writeln!(
        out,
        "bpf backend: {} socket-call records standing for {} events ({entries} syscall \
         entries, {sockets} sock_*_length, {exits} syscall exits); lost records: {}",
        calls.records.len(),
        entries + sockets + exits,
        calls.lost
    )
}

/// Processes shown per recording before "… and N more".
const PROCESSES_SHOWN: usize = 30;

/// What `kspan record` knew: the command line, the target, the clock offset, and the
/// world at the start (processes with their services, sockets).
fn render_recording(meta: &RecordingMeta, out: &mut String) -> std::fmt::Result {
    let world = &meta.world;
    writeln!(
        out,
        "recorded by: kspan {}: {}",
        meta.kspan_version,
        meta.command_line.join(" ")
    )?;
    writeln!(
        out,
        "target:      {} (late joiners: {})",
        meta.target, meta.target_following
    )?;
    writeln!(
        out,
        "clock:       {} + {} ns = Unix time (±{} ns)",
        meta.clock, meta.clock_to_unix_ns, meta.clock_offset_uncertainty_ns
    )?;
    let threads: usize = world.processes.iter().map(|p| p.threads.len()).sum();
    writeln!(
        out,
        "processes at start: {} ({threads} threads)",
        world.processes.len()
    )?;
    writeln!(
        out,
        "  {:>7}  {:<16} {:<16} {:<24} netns",
        "pid", "service", "comm", "cgroup"
    )?;
    for p in world.processes.iter().take(PROCESSES_SHOWN) {
        let netns = world
            .netns
            .iter()
            .find(|n| n.inode == p.netns_inode)
            .and_then(|n| n.name.clone())
            .unwrap_or_else(|| p.netns_inode.to_string());
        writeln!(
            out,
            "  {:>7}  {:<16} {:<16} {:<24} {netns}",
            p.pid,
            service_name(p, &world.netns),
            p.comm,
            p.cgroup
        )?;
    }
    if world.processes.len() > PROCESSES_SHOWN {
        writeln!(
            out,
            "  … and {} more",
            world.processes.len() - PROCESSES_SHOWN
        )?;
    }
    let listening = world.sockets.iter().filter(|s| s.state == 10).count();
    writeln!(
        out,
        "TCP sockets at start: {} ({listening} listening, {} with a kernel pointer)",
        world.sockets.len(),
        world.sockets.iter().filter(|s| s.sk.is_some()).count()
    )
}

/// The bpftrace scripts run beside the recording, with their event and loss counts.
fn render_bpftrace(runs: &BpftraceRecording, out: &mut String) -> std::fmt::Result {
    for run in &runs.scripts {
        let parsed = run.parse();
        writeln!(
            out,
            "bpftrace script {}: {} events, {} lost, {} malformed lines",
            run.path,
            parsed.events.len(),
            parsed.lost,
            parsed.malformed
        )?;
    }
    Ok(())
}
