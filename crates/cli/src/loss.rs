//! Lost events, repeated by every command that reads a recording: the kernel's per-CPU
//! counters stored in the file (overrun, commit overrun, dropped events) and the pages'
//! missed-event flags met while reading.

use kspan_capture::stats::CpuLoss;
use kspan_tracedat::{LostEvents, TraceFile};
use std::io::{self, Write};
use std::path::Path;

/// Events the kernel counted as lost, over every buffer and CPU of `file`.
pub fn kernel_lost(file: &TraceFile) -> u64 {
    file.metadata()
        .buffers
        .iter()
        .flat_map(|buffer| buffer.stats.iter().enumerate())
        .map(|(cpu, text)| CpuLoss::from_stats_text(cpu as u32, text).lost())
        .sum()
}

/// Events flagged as missed in the pages read (a flag without a count counts as one).
pub fn flagged_lost(lost: &[LostEvents]) -> u64 {
    lost.iter().map(|l| l.count + u64::from(l.unknown)).sum()
}

/// Writes the loss warning when anything was lost; says nothing otherwise.
pub fn warn(path: &Path, kernel: u64, flagged: u64, out: &mut dyn Write) -> io::Result<()> {
    if kernel > 0 || flagged > 0 {
        writeln!(
            out,
            "kspan: WARNING: {} lost events while recording ({kernel} counted by the kernel, {flagged} \
             flagged in pages): traces around the losses may be incomplete or wrong; record fewer events \
             or with a larger buffer (kspan record --buffer-kb)",
            path.display(),
        )?;
    }
    Ok(())
}
