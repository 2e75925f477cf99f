//! `kspan import-psv`: analyses a recording of the original MiSeRTrace system (its
//! bpftrace script's pipe-separated lines, `comm|tid|nsecs|cpu|probe|details`) with kspan's
//! engine, through the same outputs and options as `kspan analyze`.
//!
//! PSV input is the engine's less precise fallback: no `sock_*_length` events, so bytes come
//! from syscall return values on descriptors the socket events identified; the output says so.

use crate::analyze_cmd::{count_filter, sink_for, AnalyzeArgs};
use crate::feed::Feed;
use anyhow::Context;
use kspan_engine::{ByteSource, Config, Engine};
use kspan_ingest::psv::{import_psv, PsvImport};
use kspan_output::summary::write_summary;
use kspan_output::{OutputContext, TraceSink};
use std::io::{self, Write};

/// Arguments of `kspan import-psv`: those of `kspan analyze`, FILE being the PSV file.
#[derive(clap::Args)]
#[command(mut_arg("file", |a| a.help(
    "The PSV file: comm|tid|nsecs|cpu|probe|details lines, as the original's bpftrace script \
     printed them (format: docs/bpftrace.md)"
)))]
#[command(
    after_help = "The accepted line format is in docs/bpftrace.md. Examples:
  kspan import-psv original.psv --slowest 5
  kspan import-psv original.psv --format otlp-json -o traces.json
  kspan import-psv original.psv --count exceptions:page_fault_user"
)]
pub struct ImportPsvArgs {
    #[command(flatten)]
    analyze: AnalyzeArgs,
}

/// Runs `kspan import-psv`.
pub fn run(args: ImportPsvArgs) -> anyhow::Result<()> {
    let args = args.analyze;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let import = import_psv(&text, &args.out.sum)?;
    let mut err = io::stderr().lock();
    writeln!(
        err,
        "kspan: note: {} is PSV input (the original MiSeRTrace's format): the less precise \
         fallback — bytes come from syscall return values, a descriptor is unknown until a \
         socket event fires inside a syscall on it, and each thread is taken as its own process",
        args.file.display()
    )?;
    let mut context = OutputContext::new(&import.names, 0);
    context.count_only = count_filter(&args.out.count, &import.names)?;
    let (mut sink, push) = sink_for(&args.out, context)?;
    let config = Config {
        service_overrides: args.out.service_map.clone(),
        bytes_from: ByteSource::SyscallExits,
        ..Config::default()
    };
    let summary = analyze(&import, config, &mut sink)?;
    write_summary(&mut err, &summary)?;
    warn_import(&import, &mut err)?;
    crate::otlp_push::report(push.as_ref(), &mut err)
}

/// Runs the engine over the imported events, passing each trace to `sink`.
fn analyze(
    import: &PsvImport,
    config: Config,
    sink: &mut dyn TraceSink,
) -> anyhow::Result<kspan_engine::Summary> {
    let engine = Engine::new(import.world.clone(), import.names.clone(), config);
    let mut feed = Feed::new(engine, &mut *sink);
    for event in &import.events {
        feed.push(event);
    }
    let (summary, _) = feed.finish()?;
    sink.finish(&summary).context("cannot write the traces")?;
    Ok(summary)
}

/// Says what the import had to leave out.
fn warn_import(import: &PsvImport, out: &mut dyn Write) -> io::Result<()> {
    if import.skipped_lines > 0 {
        writeln!(
            out,
            "kspan: {} lines were not comm|tid|nsecs|cpu|probe|details records and were skipped",
            import.skipped_lines
        )?;
    }
    if import.dropped_tcp_probe > 0 {
        writeln!(
            out,
            "kspan: {} tcp_probe records were dropped (packet receive in softirq: they are not \
             about the thread shown)",
            import.dropped_tcp_probe
        )?;
    }
    if import.incomplete_records > 0 {
        writeln!(
            out,
            "kspan: WARNING: {} socket or fork records lack the keys they need and were dropped \
             (print each record with one printf: two printf calls can be split by another \
             CPU's line)",
            import.incomplete_records
        )?;
    }
    if import.exits_without_ret > 0 {
        writeln!(
            out,
            "kspan: WARNING: {} syscall exits have no ret=: their bytes are unknown and requests \
             may not be linked; record with bench/bpftrace-examples/misertrace_psv.bt",
            import.exits_without_ret
        )?;
    }
    Ok(())
}
