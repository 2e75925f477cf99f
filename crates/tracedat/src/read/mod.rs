//! The trace.dat reader: one entry point for v6 and v7 files (uncompressed, zlib, zstd), written
//! by trace-cmd or by kspan. [`TraceFile::open`] maps the file and parses its metadata;
//! [`TraceFile::events`] streams the events of all buffers and CPUs in timestamp order.

mod cpu;
mod events;
mod meta;
mod sections;
mod v6;
mod v7;

use std::path::Path;

pub use events::{Events, LostEvents};
pub use meta::{BufferInfo, CpuData, Metadata, TraceOption};
pub use sections::MAGIC;

use crate::bytes::{Cursor, Endian};
use crate::compress::Compression;
use crate::error::{Error, Result, Torn};
use crate::format::{EventFormats, HeaderPage};
use crate::options;

/// The metadata pieces the v6 and v7 layouts produce, before they are combined.
#[derive(Debug, Default, Clone)]
struct Parts {
    compression: Option<Compression>,
    header_page_text: String,
    header_event_text: String,
    formats: EventFormats,
    kallsyms: String,
    printk_formats: String,
    cmdlines_text: String,
    options: Vec<TraceOption>,
    buffers: Vec<BufferInfo>,
}

/// The bytes of an open trace file.
enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// An open trace.dat file: its bytes and parsed metadata.
pub struct TraceFile {
    bytes: Bytes,
    meta: Metadata,
}

impl std::fmt::Debug for TraceFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceFile")
            .field("len", &self.bytes.len())
            .field("meta", &self.meta)
            .finish()
    }
}

impl TraceFile {
    /// Maps the file at `path` read-only and parses its metadata.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NoSuchFile,
            std::io::ErrorKind::PermissionDenied => Error::Unreadable,
            _ => io(e),
        })?;
        match file.metadata().map_err(io)? {
            m if m.is_dir() => return Err(Error::IsDirectory),
            m if m.is_file() && m.len() == 0 => return Err(Error::Empty),
            _ => {}
        }
        // SAFETY: the mapping is read-only and private to this process; trace files are not
        // modified while being read (kspan and trace-cmd write to a temporary name and rename).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::from_bytes_inner(Bytes::Mapped(map))
    }

    /// Parses a trace file held in memory (tests, fuzzing, data received over a pipe).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Self::from_bytes_inner(Bytes::Owned(bytes))
    }

    fn from_bytes_inner(bytes: Bytes) -> Result<Self> {
        let len = bytes.len() as u64;
        let torn_header = |what, offset| Error::TornHeader { len, what, offset };
        if len > 0 && len < MAGIC.len() as u64 && MAGIC.starts_with(&bytes) {
            return Err(torn_header("file magic", 0));
        }
        let meta = parse_metadata(&bytes).map_err(|e| match e {
            Error::Truncated { what, offset, .. } => torn_header(what, offset),
            e => e,
        })?;
        Ok(TraceFile { bytes, meta })
    }

    /// The file's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// The whole file's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The memory map, when the file was opened from disk.
    pub(crate) fn mapping(&self) -> Option<&memmap2::Mmap> {
        match &self.bytes {
            Bytes::Mapped(m) => Some(m),
            Bytes::Owned(_) => None,
        }
    }

    /// A stream of the events of all buffers and CPUs merged in timestamp order.
    pub fn events(&self) -> Events<'_> {
        Events::new(self)
    }
}

/// Parses everything but the event pages.
fn parse_metadata(data: &[u8]) -> Result<Metadata> {
    let mut c = Cursor::new(data, 0, Endian::Little);
    let h = sections::initial_header(&mut c)?;
    c.set_endian(h.endian);
    let parts = match h.version {
        6 => v6::read(data, &mut c, h.endian, h.page_size)?,
        _ => v7::read(data, &mut c, h.endian)?,
    };
    let header_page = if parts.header_page_text.is_empty() {
        HeaderPage::LINUX_64
    } else {
        HeaderPage::parse(&parts.header_page_text)?
    };
    let mut buffers = parts.buffers;
    // CPUs without pages carry nothing; trace-cmd writes an empty top buffer when extracting
    // only instances (-B), which is dropped too. Empty named instances are kept.
    for b in &mut buffers {
        b.cpus.retain(|c| c.size > 0);
    }
    buffers.retain(|b| !(b.name.is_empty() && b.cpus.is_empty()));
    meta::assign_stats(&parts.options, &mut buffers);
    let torn = torn(data.len() as u64, &buffers);
    let find = |id| {
        parts
            .options
            .iter()
            .find(|o: &&TraceOption| o.id == id)
            .map(|o| o.data.as_slice())
    };
    let cpu_count = find(options::CPUCOUNT)
        .filter(|d| d.len() == 4)
        .map(|d| h.endian.u32([d[0], d[1], d[2], d[3]]))
        .unwrap_or_else(|| {
            buffers
                .iter()
                .map(|b| b.cpus.len() as u32)
                .max()
                .unwrap_or(0)
        });
    let clock = find(options::TRACECLOCK)
        .and_then(|d| meta::selected_clock(&String::from_utf8_lossy(d)))
        .or_else(|| buffers.first().map(|b| b.clock.clone()))
        .unwrap_or_else(|| "local".to_string());
    let tgids = find(options::KSPAN_TGIDS)
        .map(|d| meta::parse_tgids(&String::from_utf8_lossy(d)))
        .unwrap_or_default();
    Ok(Metadata {
        version: h.version,
        endian: h.endian,
        long_size: h.long_size,
        page_size: h.page_size,
        compression: parts.compression.unwrap_or(Compression::None),
        cmdlines: meta::parse_cmdlines(&parts.cmdlines_text),
        header_page_text: parts.header_page_text,
        header_event_text: parts.header_event_text,
        header_page,
        formats: parts.formats,
        kallsyms: parts.kallsyms,
        printk_formats: parts.printk_formats,
        cmdlines_text: parts.cmdlines_text,
        tgids,
        options: parts.options,
        buffers,
        torn,
        cpu_count,
        clock,
    })
}

/// How a file of `len` bytes falls short of the event data `buffers` describe, if it does.
fn torn(len: u64, buffers: &[BufferInfo]) -> Option<Torn> {
    let mut torn = Torn {
        len,
        expected: 0,
        missing: 0,
        total: 0,
    };
    for b in buffers {
        for c in &b.cpus {
            // The size of compressed data leaves out its 4-byte chunk count.
            let size = c.size.saturating_add(if b.compressed { 4 } else { 0 });
            let end = c.offset.saturating_add(size);
            torn.expected = torn.expected.max(end);
            torn.total = torn.total.saturating_add(size);
            let missing = end.saturating_sub(len.max(c.offset)).min(size);
            torn.missing = torn.missing.saturating_add(missing);
        }
    }
    (torn.expected > len).then_some(torn)
}
