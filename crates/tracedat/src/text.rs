//! Text renderings: one line per event with raw field values (like `trace-cmd report -R -t`),
//! and the summary printed by `kspan info`.

use std::collections::BTreeMap;
use std::fmt::{self, Write};

use crate::error::Result;
use crate::format::{Field, FieldKind};
use crate::read::{LostEvents, Metadata, TraceFile};
use crate::record::{FieldHandle, Record, Value};

/// Appends one event line to `out`:
/// `[BUFFER: ]COMM-PID [CPU] SECS.NANOS: NAME: field=value …` where numbers are decimal
/// (pointers `0x…` hex) and arrays print as `trace-cmd report -R` prints them ([`write_array`]).
pub fn format_record(out: &mut String, rec: &Record<'_>, meta: &Metadata) -> fmt::Result {
    let buffer = &meta.buffers[rec.buffer].name;
    if !buffer.is_empty() {
        write!(out, "{buffer}: ")?;
    }
    let pid = rec.pid();
    let comm = match meta.cmdlines.get(&pid) {
        Some(c) => c.as_str(),
        None if pid == 0 => "<idle>",
        None => "<...>",
    };
    let (secs, nanos) = (rec.timestamp / 1_000_000_000, rec.timestamp % 1_000_000_000);
    write!(out, "{comm}-{pid} [{:03}] {secs}.{nanos:09}: ", rec.cpu)?;
    let Some(format) = rec.format else {
        return write!(out, "[UNKNOWN TYPE {}]", rec.event_id());
    };
    write!(out, "{}:", format.name)?;
    for field in format.fields.iter().filter(|f| !f.is_common) {
        write!(out, " {}=", field.name)?;
        write_field(out, rec, field)?;
    }
    Ok(())
}

/// Writes one field's value: numbers in decimal (pointers in hex), arrays via [`write_array`].
fn write_field(out: &mut String, rec: &Record<'_>, field: &Field) -> fmt::Result {
    if field.kind != FieldKind::Scalar {
        return match rec.bytes(FieldHandle::of(field)) {
            Some(bytes) => write_array(out, field, bytes),
            None => write!(out, "<out of bounds>"),
        };
    }
    match rec.value(field) {
        Some(Value::Unsigned(v)) if field.is_pointer => write!(out, "0x{v:x}"),
        Some(Value::Unsigned(v)) => write!(out, "{v}"),
        Some(Value::Signed(v)) => write!(out, "{v}"),
        Some(Value::Str(_) | Value::Bytes(_)) | None => write!(out, "<out of bounds>"),
    }
}

/// Writes an array: a `char` array as text (up to the first NUL) when those bytes are printable
/// or spaces, any other array as `ARRAY[xx, …]`. (libtraceevent also prints `u8` arrays as text
/// until it first meets an unprintable one; kspan's output does not depend on earlier events.)
fn write_array(out: &mut String, field: &Field, bytes: &[u8]) -> fmt::Result {
    let head = &bytes[..bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len())];
    let printable = head
        .iter()
        .all(|&c| (0x20..0x7f).contains(&c) || (9..=13).contains(&c));
    if field.is_string && printable {
        out.push_str(&String::from_utf8_lossy(head));
        return Ok(());
    }
    out.push_str("ARRAY[");
    for (i, x) in bytes.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write!(out, "{x:02x}")?;
    }
    out.push(']');
    Ok(())
}

/// What `kspan info` prints about a file.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Number of events per event name.
    pub counts: BTreeMap<String, u64>,
    /// First and last event timestamps.
    pub span: Option<(u64, u64)>,
    /// Lost events per (buffer, CPU).
    pub lost: Vec<LostEvents>,
    /// Warnings and errors met while reading the events.
    pub problems: Vec<String>,
}

impl Summary {
    /// Reads every event of `file` and tallies them.
    pub fn collect(file: &TraceFile) -> Result<Self> {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_id: Vec<u64> = Vec::new();
        let mut span: Option<(u64, u64)> = None;
        let mut events = file.events();
        let mut problems = Vec::new();
        loop {
            match events.next_event() {
                Ok(Some(rec)) => {
                    let id = rec.event_id() as usize;
                    if id >= by_id.len() {
                        by_id.resize(id + 1, 0);
                    }
                    by_id[id] += 1;
                    let t = rec.timestamp;
                    span = Some(span.map_or((t, t), |(a, b): (u64, u64)| (a.min(t), b.max(t))));
                }
                Ok(None) => break,
                Err(e) => problems.push(e.to_string()),
            }
        }
        for (id, &n) in by_id.iter().enumerate().filter(|(_, &n)| n > 0) {
            let name = file
                .metadata()
                .formats
                .by_id(id as u32)
                .map_or_else(|| format!("<unknown id {id}>"), |f| f.name.clone());
            *counts.entry(name).or_default() += n;
        }
        problems.extend(events.warnings().iter().map(|w| format!("warning: {w}")));
        Ok(Summary {
            counts,
            span,
            lost: events.lost_events(),
            problems,
        })
    }

    /// Writes the human-readable report for `meta`.
    pub fn render(&self, meta: &Metadata, out: &mut String) -> fmt::Result {
        writeln!(
            out,
            "version:     {} ({}, {}-bit long)",
            meta.version,
            meta.compression.name(),
            meta.long_size as u32 * 8
        )?;
        writeln!(out, "clock:       {}", meta.clock)?;
        writeln!(out, "cpus:        {}", meta.cpu_count)?;
        writeln!(out, "page size:   {}", meta.page_size)?;
        for b in &meta.buffers {
            let name = if b.name.is_empty() { "(top)" } else { &b.name };
            writeln!(
                out,
                "buffer:      {name} clock={} page_size={} cpus={}",
                b.clock,
                b.page_size,
                b.cpus.len()
            )?;
        }
        match self.span {
            Some((a, b)) => writeln!(
                out,
                "time span:   {}.{:09} .. {}.{:09} ({:.6} s)",
                a / 1_000_000_000,
                a % 1_000_000_000,
                b / 1_000_000_000,
                b % 1_000_000_000,
                b.saturating_sub(a) as f64 / 1e9
            )?,
            None => writeln!(out, "time span:   (no events)")?,
        }
        let total: u64 = self.counts.values().sum();
        writeln!(out, "events:      {total}")?;
        for (name, n) in &self.counts {
            writeln!(out, "  {n:>12}  {name}")?;
        }
        let lost: Vec<_> = self
            .lost
            .iter()
            .filter(|l| l.count > 0 || l.unknown)
            .collect();
        if lost.is_empty() {
            writeln!(out, "lost events: none")?;
        } else {
            writeln!(out, "WARNING: THE KERNEL DROPPED EVENTS; traces built from this file may be incomplete (use bigger buffers)")?;
            for l in lost {
                let name = &meta.buffers[l.buffer].name;
                writeln!(
                    out,
                    "  buffer {name:?} cpu {}: {} lost{}",
                    l.cpu,
                    l.count,
                    if l.unknown {
                        " (plus pages with an unknown count)"
                    } else {
                        ""
                    }
                )?;
            }
        }
        for p in &self.problems {
            writeln!(out, "PROBLEM: {p}")?;
        }
        let mut pids: Vec<_> = meta.cmdlines.iter().collect();
        pids.sort();
        writeln!(
            out,
            "processes:   {} known commands, {} known thread groups",
            pids.len(),
            meta.tgids.len()
        )?;
        for (pid, comm) in pids {
            match meta.tgids.get(pid) {
                Some(tgid) => writeln!(out, "  {pid:>8} {comm} (tgid {tgid})")?,
                None => writeln!(out, "  {pid:>8} {comm}")?,
            }
        }
        match meta.kspan_metadata() {
            Some(blob) => writeln!(out, "kspan metadata: {} bytes", blob.len())?,
            None => writeln!(out, "kspan metadata: none")?,
        }
        Ok(())
    }
}
