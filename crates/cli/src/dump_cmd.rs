//! `kspan dump`: prints a recording's events, one line each, like `trace-cmd report -R -t`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use kspan_tracedat::{text, TraceFile};

/// Arguments of `kspan dump`.
#[derive(clap::Args)]
pub struct DumpArgs {
    /// The trace.dat file (v6 or v7, written by kspan or trace-cmd).
    pub file: PathBuf,
}

/// Runs `kspan dump`: every event of every buffer in timestamp order; damaged pages are
/// reported on stderr and the other CPUs' events still printed.
pub fn run(args: DumpArgs) -> anyhow::Result<()> {
    let file = TraceFile::open(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut line = String::new();
    let mut events = file.events();
    let mut failed = false;
    loop {
        match events.next_event() {
            Ok(Some(rec)) => {
                line.clear();
                text::format_record(&mut line, &rec, file.metadata())?;
                line.push('\n');
                if let Err(e) = out.write_all(line.as_bytes()) {
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        return Ok(());
                    }
                    return Err(e.into());
                }
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("kspan: error: {e}");
                failed = true;
            }
        }
    }
    out.flush()?;
    for w in events.warnings() {
        eprintln!("kspan: warning: {w}");
    }
    let flagged = crate::loss::flagged_lost(&events.lost_events());
    crate::loss::warn(
        &args.file,
        crate::loss::kernel_lost(&file),
        flagged,
        &mut std::io::stderr(),
    )?;
    if failed {
        anyhow::bail!(
            "{} has damaged pages (see above); the events printed are the readable ones",
            args.file.display()
        );
    }
    Ok(())
}
