//! The analysis summary printed after the traces: counts and the caveats the engine met.

use kspan_engine::Summary;
use std::io::{self, Write};

/// Writes `summary` as a few lines of text (to stderr, usually, so stdout stays data).
pub fn write_summary(out: &mut dyn Write, summary: &Summary) -> io::Result<()> {
    writeln!(
        out,
        "{} traces, {} spans from {} events ({} events of traced threads fell in no span)",
        summary.traces, summary.spans, summary.events, summary.unattributed_events
    )?;
    if !summary.links.is_empty() {
        let by: Vec<String> = summary
            .links
            .iter()
            .map(|(evidence, n, unsure)| match unsure {
                0 => format!("{} {n}", evidence.name()),
                u => format!("{} {n} ({u} unsure)", evidence.name()),
            })
            .collect();
        writeln!(out, "links by evidence: {}", by.join(", "))?;
    }
    for (caveat, count) in &summary.caveats {
        writeln!(out, "caveat: {caveat} ({count}×)")?;
    }
    Ok(())
}
