//! `kspan report`: the analysis of `kspan analyze` written as one self-contained HTML page
//! (the slowest traces as waterfalls, the service map, per-endpoint latency, the caveats).

use crate::analyze_cmd::{parse_duration_ns, parse_service_map, warn_lost, Recording};
use anyhow::Context;
use kspan_engine::Config;
use kspan_output::filter::FilteredSink;
use kspan_output::report::ReportSink;
use kspan_output::summary::write_summary;
use kspan_output::TraceFilter;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;

/// Arguments of `kspan report`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  kspan report app.dat -o report.html
  kspan report app.dat -o report.html --top 200
  kspan report app.dat -o slow.html --service compose-post --min-duration 2ms")]
pub struct ReportArgs {
    /// The recording (trace.dat from `kspan record`, or from `trace-cmd extract`).
    pub file: PathBuf,
    /// The HTML file to write (replacing it); it needs nothing else to be opened.
    #[arg(short, long)]
    pub output: PathBuf,
    /// How many of the slowest traces to draw as waterfalls.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub top: usize,
    /// Name the service of a process yourself (PID=NAME, repeatable), as for `kspan analyze`.
    #[arg(long, value_name = "PID=NAME", value_parser = parse_service_map)]
    pub service_map: Vec<(i32, String)>,
    /// Only traces with a span of this service (waterfalls, service map and endpoints; the
    /// caveats are the whole recording's).
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// Only traces lasting at least this long (e.g. 500us, 2ms, 1s), as --service.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ns)]
    pub min_duration: Option<u64>,
}

/// Runs `kspan report`.
pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let recording = Recording::open(&args.file, &[])?;
    let context = recording.output_context(&[])?;
    let output = &args.output;
    // Created first, so that an unwritable path is said before a long analysis.
    let file =
        File::create(output).with_context(|| format!("cannot create {}", output.display()))?;
    let filter = TraceFilter {
        service: args.service.clone(),
        min_duration_ns: args.min_duration.unwrap_or(0),
        ..TraceFilter::default()
    };
    let mut report = FilteredSink::new(ReportSink::new(context, args.top), filter);
    let config = Config {
        service_overrides: args.service_map.clone(),
        ..Config::default()
    };
    let outcome = recording.analyze(config, &mut report, crate::progress::wanted(false))?;
    let mut warnings = Vec::new();
    warn_lost(&args.file, &outcome, &mut warnings)?;
    let warnings: Vec<String> = recording
        .still_recording
        .iter()
        .cloned()
        .chain(
            String::from_utf8_lossy(&warnings)
                .lines()
                .map(|line| line.trim_start_matches("kspan: WARNING: ").to_string()),
        )
        .collect();
    let title = args.file.file_name().unwrap_or(args.file.as_os_str());
    report
        .get_ref()
        .write(
            &mut BufWriter::new(file),
            &title.to_string_lossy(),
            &outcome.summary,
            warnings,
        )
        .with_context(|| format!("cannot write {}", output.display()))?;
    let mut err = io::stderr().lock();
    write_summary(&mut err, &outcome.summary)?;
    warn_lost(&args.file, &outcome, &mut err)?;
    eprintln!("kspan: report written to {}", output.display());
    Ok(())
}
