//! `kspan`: request traces of microservices from Linux kernel events alone.
//!
//! A thin command line over the workspace's crates: each subcommand lives in its own
//! module with its arguments (`…Args`) and a `run` function.

mod analyze_cmd;
mod check_cmd;
mod completions_cmd;
mod delays;
mod demo_cmd;
mod demo_interrupt;
mod dump_cmd;
mod event_pattern;
mod feed;
mod guard_cmd;
mod heads_lines;
mod import_psv_cmd;
mod info_cmd;
mod live_cmd;
mod loss;
mod man_cmd;
mod open_trace;
mod otlp_push;
mod progress;
mod record_cmd;
mod report_cmd;

use clap::{Parser, Subcommand};

/// mimalloc: the analysis allocates and frees a few small blocks per span, and glibc's
/// malloc cost about 5 % of a whole analysis.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Request traces of microservices from Linux kernel events alone: no instrumentation,
/// no code change, no sidecar.
///
/// Typical use:
///   kspan record -o app.dat --netns web -- sleep 10   # record every process of netns "web"
///   kspan analyze app.dat --slowest 5                  # the 5 slowest requests as trees
///   kspan analyze app.dat --format otlp-json -o app.otlp.json
///   kspan analyze app.dat --format perfetto -o timeline.json   # open in ui.perfetto.dev
///   kspan report app.dat -o report.html                # waterfalls, service map, endpoints
///   kspan live --netns web --format otlp-json -o traces.json   # traces while it runs
#[derive(Parser)]
#[command(name = "kspan", version, about, long_about, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Record kernel events of a command, processes, a cgroup or a network namespace into
    /// a trace.dat file (readable by trace-cmd and KernelShark).
    Record(record_cmd::RecordArgs),
    /// Reconstruct request traces from a recording and print or export them.
    Analyze(analyze_cmd::AnalyzeArgs),
    /// Record and analyse at once: write each request trace as soon as it is complete (to
    /// the outputs of `analyze`, or a collector), optionally keeping the trace.dat too.
    Live(live_cmd::LiveArgs),
    /// Write the analysis as one self-contained HTML page: the slowest traces as waterfalls,
    /// a service map, per-endpoint latency and where it went, the recording's caveats.
    Report(report_cmd::ReportArgs),
    /// Print a recording's events as text, one per line, like `trace-cmd report`.
    Dump(dump_cmd::DumpArgs),
    /// Print a recording's summary: clock, CPUs, events per type, lost events, processes.
    Info(info_cmd::InfoArgs),
    /// Run the bundled microservice demo end to end: bring it up, record it under load,
    /// analyse, check accuracy against ground truth, bring it down (needs root).
    Demo(demo_cmd::DemoArgs),
    /// Compare traces (OTLP JSON) with an application's ground-truth logs and print accuracy.
    Check(check_cmd::CheckArgs),
    /// Analyse a recording of the original MiSeRTrace system (its pipe-separated
    /// `comm|tid|nsecs|cpu|probe|details` lines) like `kspan analyze` (less precise fallback).
    ImportPsv(import_psv_cmd::ImportPsvArgs),
    /// Print the completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions(completions_cmd::CompletionsArgs),
    /// Print the manual page (roff) of kspan or of one of its subcommands.
    Man(man_cmd::ManArgs),
    /// The guardian of a running `kspan record` (started by it; not for direct use).
    #[command(hide = true)]
    Guard(guard_cmd::GuardArgs),
}

fn main() {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Analyze(_)
            | Command::Report(_)
            | Command::Dump(_)
            | Command::Info(_)
            | Command::Check(_)
            | Command::Completions(_)
            | Command::Man(_)
    ) {
        end_quietly_on_closed_stdout();
    }
    let result = match cli.command {
        Command::Record(args) => record_cmd::run(args),
        Command::Analyze(args) => analyze_cmd::run(args),
        Command::Live(args) => live_cmd::run(args),
        Command::Report(args) => report_cmd::run(args),
        Command::Dump(args) => dump_cmd::run(args),
        Command::Info(args) => info_cmd::run(args),
        Command::Check(args) => check_cmd::run(args),
        Command::Demo(args) => demo_cmd::run(args),
        Command::ImportPsv(args) => import_psv_cmd::run(args),
        Command::Completions(args) => completions_cmd::run(args),
        Command::Man(args) => man_cmd::run(args),
        Command::Guard(args) => guard_cmd::run(args),
    };
    if let Err(err) = result {
        eprintln!("kspan: error: {}", one_sentence(&err));
        std::process::exit(exit_status(&err));
    }
}

/// Lets a closed pipe on stdout end the process quietly (`kspan dump app.dat | head`), as
/// text tools do, instead of failing on the write. Only for commands that read files:
/// `record` and `demo` must live on to switch tracing off and tear the demo down.
fn end_quietly_on_closed_stdout() {
    // SAFETY: restoring the default disposition of SIGPIPE before any thread is started;
    // no handler code is involved.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The exit status for `err`: [`otlp_push::UNDELIVERED_EXIT`] when the outputs were
/// written but an OTLP push dropped spans, else 1.
fn exit_status(err: &anyhow::Error) -> i32 {
    if err.is::<otlp_push::Undelivered>() {
        otlp_push::UNDELIVERED_EXIT
    } else {
        1
    }
}

/// The error and its causes on one line, leaving out a cause whose text the message
/// already contains (library errors often quote their source).
fn one_sentence(err: &anyhow::Error) -> String {
    let mut message = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    message
}
