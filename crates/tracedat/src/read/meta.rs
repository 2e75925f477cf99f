//! The metadata of a trace.dat file: everything but the event pages.

use std::collections::HashMap;

use crate::bytes::Endian;
use crate::compress::Compression;
use crate::format::{EventFormats, HeaderPage};
use crate::options;

/// One option record (id, raw bytes) as stored in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceOption {
    /// The option id (see [`crate::options`]).
    pub id: u16,
    /// The option's bytes.
    pub data: Vec<u8>,
}

/// Where one CPU's pages of one buffer lie in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuData {
    /// The CPU number.
    pub cpu: u32,
    /// File offset of the data (of the chunk table when compressed).
    pub offset: u64,
    /// Bytes in the file.
    pub size: u64,
}

/// One ftrace buffer (the top instance is named `""`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferInfo {
    /// Instance name; `""` for the top-level buffer.
    pub name: String,
    /// Trace clock of this buffer (e.g. `local`, `mono`).
    pub clock: String,
    /// Sub-buffer ("page") size in bytes.
    pub page_size: u32,
    /// Per-CPU data.
    pub cpus: Vec<CpuData>,
    /// Whether the per-CPU data is stored in compressed chunks.
    pub compressed: bool,
    /// The `per_cpu/cpuN/stats` texts saved for this buffer, in CPU order.
    pub stats: Vec<String>,
}

/// Everything a trace.dat file says besides its events.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// File format version (6 or 7).
    pub version: u32,
    /// Byte order of the traced machine.
    pub endian: Endian,
    /// Size of a user-space `long` on the traced machine.
    pub long_size: u8,
    /// Page size of the traced machine (file header).
    pub page_size: u32,
    /// Compression of a v7 file (`None` for v6).
    pub compression: Compression,
    /// Text of `events/header_page`.
    pub header_page_text: String,
    /// Text of `events/header_event`.
    pub header_event_text: String,
    /// Parsed page header layout.
    pub header_page: HeaderPage,
    /// Formats of all stored events (ftrace's own under system `ftrace`).
    pub formats: EventFormats,
    /// `/proc/kallsyms` text (may be empty).
    pub kallsyms: String,
    /// `printk_formats` text (may be empty).
    pub printk_formats: String,
    /// `saved_cmdlines` text.
    pub cmdlines_text: String,
    /// pid → command name, parsed from `saved_cmdlines`.
    pub cmdlines: HashMap<i32, String>,
    /// pid → tgid, parsed from kspan's saved-tgids option when present.
    pub tgids: HashMap<i32, i32>,
    /// Every option record in file order.
    pub options: Vec<TraceOption>,
    /// The buffers with event data, top buffer first when present.
    pub buffers: Vec<BufferInfo>,
    /// Set when the file was cut short before the end of its event data.
    pub torn: Option<crate::error::Torn>,
    /// CPUs of the traced machine (CPUCOUNT option, else the largest per-buffer count).
    pub cpu_count: u32,
    /// Trace clock of the top buffer (selected entry of the TRACECLOCK option, else of the first buffer).
    pub clock: String,
}

impl Metadata {
    /// The data of the first option with id `id`.
    pub fn option(&self, id: u16) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|o| o.id == id)
            .map(|o| o.data.as_slice())
    }

    /// The kspan metadata blob (JSON written by `kspan record`), if the file has one.
    pub fn kspan_metadata(&self) -> Option<&[u8]> {
        self.option(options::KSPAN_METADATA)
    }

    /// The index in [`Metadata::buffers`] of the buffer called `name`.
    pub fn buffer_index(&self, name: &str) -> Option<usize> {
        self.buffers.iter().position(|b| b.name == name)
    }
}

/// Parses `saved_cmdlines` text (`PID COMM` per line).
pub(crate) fn parse_cmdlines(text: &str) -> HashMap<i32, String> {
    text.lines()
        .filter_map(|l| {
            let (pid, comm) = l.split_once(' ')?;
            Some((pid.trim().parse().ok()?, comm.to_string()))
        })
        .collect()
}

/// Parses `saved_tgids` text (`PID TGID` per line).
pub(crate) fn parse_tgids(text: &str) -> HashMap<i32, i32> {
    text.lines()
        .filter_map(|l| {
            let (pid, tgid) = l.split_once(' ')?;
            Some((pid.trim().parse().ok()?, tgid.trim().parse().ok()?))
        })
        .collect()
}

/// The selected clock of a `trace_clock` text (`[local] global …` → `local`).
pub(crate) fn selected_clock(text: &str) -> Option<String> {
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    Some(text[start..end].to_string())
}

/// Splits the CPUSTAT options into per-buffer lists: options before any `Buffer: NAME`
/// separator belong to the top buffer, the others to the named buffer.
pub(crate) fn assign_stats(options: &[TraceOption], buffers: &mut [BufferInfo]) {
    let mut current = String::new();
    for o in options.iter().filter(|o| o.id == options::CPUSTAT) {
        let text = String::from_utf8_lossy(&o.data);
        let text = text.trim_end_matches('\0');
        if let Some(name) = text.trim().strip_prefix("Buffer: ") {
            current = name.trim().to_string();
        } else if let Some(b) = buffers.iter_mut().find(|b| b.name == current) {
            b.stats.push(text.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_texts() {
        assert_eq!(
            parse_cmdlines("12 bash\n7 kworker/0:1 x\nbad\n"),
            HashMap::from([(12, "bash".into()), (7, "kworker/0:1 x".into())])
        );
        assert_eq!(parse_tgids("12 10\n13 x\n"), HashMap::from([(12, 10)]));
        assert_eq!(
            selected_clock("local [mono] boot\n").as_deref(),
            Some("mono")
        );
        assert_eq!(selected_clock("local"), None);
    }
}
