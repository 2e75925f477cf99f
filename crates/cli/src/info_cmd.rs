//! `kspan info`: prints a recording's summary (version, clock, CPUs, page size, time span,
//! events per name, lost events, processes, kspan metadata).

use std::path::PathBuf;

use anyhow::Context;
use kspan_tracedat::{text::Summary, TraceFile};

/// Arguments of `kspan info`.
#[derive(clap::Args)]
pub struct InfoArgs {
    /// The trace.dat file (v6 or v7, written by kspan or trace-cmd).
    pub file: PathBuf,
}

/// Runs `kspan info`.
pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    let file = TraceFile::open(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let summary = Summary::collect(&file)?;
    let mut out = String::new();
    summary.render(file.metadata(), &mut out)?;
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
