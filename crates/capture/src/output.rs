//! Hands a [`Capture`] to the trace.dat writer of `kspan-tracedat`. The main buffer
//! becomes the file's top buffer (what `trace-cmd report` shows by default), the net
//! buffer an instance named [`NET_BUFFER`](crate::meta::NET_BUFFER).

use crate::capture::Capture;
use crate::clock::TRACE_CLOCK;
use crate::error::{CaptureError, Result};
use crate::meta::MAIN_BUFFER;
use kspan_heads::{StoredCalls, StoredHeads, CALLS_OPTION, HEADS_OPTION};
use kspan_tracedat::{BufferSpec, Compression, TraceWriter, WriteOptions};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Option `id` with the chunks of file `path` behind the header `option_bytes` makes.
fn chunk_option(
    id: u16,
    path: &Path,
    option_bytes: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Result<Option<(u16, Vec<u8>)>> {
    let chunks = std::fs::read(path).map_err(|source| CaptureError::Drain {
        path: path.to_path_buf(),
        cause: source,
    })?;
    Ok(Some((id, option_bytes(&chunks))))
}

/// The payload-heads option of `capture`, if it recorded heads.
fn heads_option(capture: &Capture) -> Result<Option<(u16, Vec<u8>)>> {
    let Some(heads) = &capture.heads else {
        return Ok(None);
    };
    chunk_option(HEADS_OPTION, &heads.chunks_path, |chunks| {
        StoredHeads::option_bytes(heads.head_bytes, heads.lost, chunks)
    })
}

/// The socket-call option of `capture`, if it was recorded with the BPF backend.
fn calls_option(capture: &Capture) -> Result<Option<(u16, Vec<u8>)>> {
    let Some(calls) = &capture.calls else {
        return Ok(None);
    };
    chunk_option(CALLS_OPTION, &calls.calls_path, |chunks| {
        StoredCalls::option_bytes(calls.sock_filtered, calls.lost, chunks)
    })
}

/// trace.dat layout choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileVersion {
    /// Version 7 with zstd-compressed sections (the default).
    V7Zstd,
    /// Version 6, uncompressed (for older readers).
    V6,
}

/// Writes the capture as a trace.dat file at `out` (atomically: written under a temporary
/// name, then renamed), gives it to the user that ran sudo ([`crate::owner`]) and returns
/// the file's size in bytes.
pub fn write_trace_dat(capture: &Capture, out: &Path, version: FileVersion) -> Result<u64> {
    let mut event_formats: Vec<(String, Vec<String>)> = Vec::new();
    let kernel = &capture.kernel;
    for f in &kernel.formats {
        match event_formats.iter_mut().find(|(s, _)| *s == f.system) {
            Some((_, texts)) => texts.push(f.text.clone()),
            None => event_formats.push((f.system.clone(), vec![f.text.clone()])),
        }
    }
    let cpu_count = capture
        .buffers
        .iter()
        .flat_map(|b| &b.cpus)
        .map(|c| c.cpu + 1)
        .max()
        .unwrap_or(0);
    let (version, compression) = match version {
        FileVersion::V7Zstd => (7, Compression::Zstd),
        FileVersion::V6 => (6, Compression::None),
    };
    let options = WriteOptions {
        version,
        compression,
        page_size: kernel.page_size as u32,
        header_page: kernel.header_page.clone(),
        header_event: kernel.header_event.clone(),
        ftrace_formats: kernel.ftrace_formats.clone(),
        event_formats,
        printk_formats: kernel.printk_formats.clone(),
        cmdlines: kernel.saved_cmdlines.clone(),
        tgids: kernel.saved_tgids.clone(),
        trace_clock: TRACE_CLOCK.to_string(),
        cpu_count,
        kspan_metadata: Some(capture.meta.to_bytes()),
        extra_options: capture
            .bpftrace
            .iter()
            .map(|b| (kspan_bpftrace::BPFTRACE_OPTION, b.to_bytes()))
            .chain(heads_option(capture)?)
            .chain(calls_option(capture)?)
            .collect(),
        ..WriteOptions::default()
    };
    let write_err = |e: kspan_tracedat::Error| CaptureError::Write {
        path: out.to_path_buf(),
        message: e.to_string(),
    };
    let mut buffers = Vec::new();
    for buffer in &capture.buffers {
        let mut cpus = Vec::new();
        for c in &buffer.cpus {
            let file = File::open(&c.pages_path).map_err(|source| CaptureError::Drain {
                path: c.pages_path.clone(),
                cause: source,
            })?;
            // Only the counted whole pages: a salvaged file may end in a torn one.
            cpus.push((c.cpu, file.take(c.pages * kernel.page_size as u64)));
        }
        buffers.push(BufferSpec {
            name: if buffer.name == MAIN_BUFFER {
                String::new()
            } else {
                buffer.name.clone()
            },
            clock: TRACE_CLOCK.to_string(),
            page_size: kernel.page_size as u32,
            cpus,
            stats: buffer.cpus.iter().map(|c| c.stats_text.clone()).collect(),
        });
    }
    TraceWriter::new(options)
        .write(out, buffers)
        .map_err(write_err)?;
    crate::owner::give_to_sudo_user(out)?;
    std::fs::metadata(out)
        .map(|m| m.len())
        .map_err(|source| CaptureError::OutputDir {
            dir: out.to_path_buf(),
            cause: source,
        })
}
