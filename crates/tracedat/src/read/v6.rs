//! Layout of trace.dat version 6: metadata blocks one after the other, the CPU count, options,
//! then the `flyrecord` table of per-CPU data.

use crate::bytes::{slice, Cursor, Endian};
use crate::error::{Error, Result};
use crate::options;
use crate::read::meta::{selected_clock, BufferInfo, CpuData};
use crate::read::sections;
use crate::read::Parts;

/// Reads everything after the initial header of a v6 file.
pub fn read(data: &[u8], c: &mut Cursor<'_>, endian: Endian, page_size: u32) -> Result<Parts> {
    let mut parts = Parts::default();
    (parts.header_page_text, parts.header_event_text) = sections::header_info(c)?;
    sections::ftrace_formats(c, &mut parts.formats)?;
    sections::event_formats(c, &mut parts.formats)?;
    parts.kallsyms = sections::text32(c, "kallsyms")?;
    parts.printk_formats = sections::text32(c, "printk formats")?;
    parts.cmdlines_text = sections::text64(c, "saved cmdlines")?;
    let cpus = c.u32("CPU count")?;
    let mut tag = c.bytes(10, "data tag")?;
    if tag == b"options  \0" {
        while let Some(opt) = sections::option(c, true)? {
            parts.options.push(opt);
        }
        tag = c.bytes(10, "data tag")?;
    }
    if tag != b"flyrecord\0" {
        return Err(Error::corrupt(
            "data tag",
            c.offset() - 10,
            format!(
                "expected \"flyrecord\", found {:?} (latency traces are not supported)",
                String::from_utf8_lossy(tag)
            ),
        ));
    }
    let top_clock = parts
        .options
        .iter()
        .find(|o| o.id == options::TRACECLOCK)
        .and_then(|o| selected_clock(&String::from_utf8_lossy(&o.data)));
    parts
        .buffers
        .push(flyrecord(c, cpus, String::new(), page_size, top_clock)?);
    for opt in parts.options.iter().filter(|o| o.id == options::BUFFER) {
        let mut oc = Cursor::new(&opt.data, 0, endian);
        let offset = oc.u64("buffer offset")?;
        let name = oc.cstr("buffer name")?;
        let rest = slice(
            data,
            offset,
            data.len() as u64 - offset.min(data.len() as u64),
            "buffer data",
        )?;
        let mut bc = Cursor::new(rest, offset, endian);
        if bc.bytes(10, "buffer tag")? != b"flyrecord\0" {
            return Err(Error::corrupt(
                "buffer data",
                offset,
                format!("buffer {name:?} does not start with \"flyrecord\""),
            ));
        }
        parts
            .buffers
            .push(flyrecord(&mut bc, cpus, name, page_size, None)?);
    }
    Ok(parts)
}

/// The per-CPU (offset, size) table and the optional clock text after it.
fn flyrecord(
    c: &mut Cursor<'_>,
    cpus: u32,
    name: String,
    page_size: u32,
    fallback_clock: Option<String>,
) -> Result<BufferInfo> {
    let mut list = Vec::new();
    for cpu in 0..cpus {
        let offset = c.u64("CPU data offset")?;
        let size = c.u64("CPU data size")?;
        list.push(CpuData { cpu, offset, size });
    }
    let mut clock = fallback_clock.unwrap_or_else(|| "local".to_string());
    let mut probe = c.clone();
    if let Ok(len) = probe.u64("clock size") {
        if let Ok(text) = probe.bytes(len.min(4096), "clock") {
            if let Some(sel) = selected_clock(&String::from_utf8_lossy(text)) {
                clock = sel;
            }
        }
    }
    Ok(BufferInfo {
        name,
        clock,
        page_size,
        cpus: list,
        compressed: false,
        stats: Vec::new(),
    })
}
