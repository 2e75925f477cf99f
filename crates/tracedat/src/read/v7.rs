//! Layout of trace.dat version 7: a compression header, then sections located through chained
//! options sections.

use std::borrow::Cow;

use crate::bytes::{slice, Cursor, Endian};
use crate::compress::Compression;
use crate::error::{Error, Result};
use crate::options;
use crate::read::meta::{BufferInfo, CpuData, TraceOption};
use crate::read::sections;
use crate::read::Parts;

/// Size of a section header: u16 id, u16 flags, u32 string id, u64 size.
const SECTION_HEADER: u64 = 16;
/// Section flag: the body is compressed.
const SECTION_COMPRESSED: u16 = 1;
/// Guard against option-section chains that loop.
const MAX_OPTION_SECTIONS: usize = 4096;

/// Reads everything after the initial header of a v7 file.
pub fn read(data: &[u8], c: &mut Cursor<'_>, endian: Endian) -> Result<Parts> {
    let name = c.cstr("compression name")?;
    let _version = c.cstr("compression version")?;
    let compression = Compression::from_name(&name)?;
    let mut parts = Parts {
        compression: Some(compression),
        ..Parts::default()
    };
    let mut next = c.u64("first options offset")?;
    let mut sections_read = 0;
    while next != 0 {
        sections_read += 1;
        if sections_read > MAX_OPTION_SECTIONS {
            return Err(Error::corrupt(
                "options section",
                next,
                "the chain of options sections loops",
            ));
        }
        let (_, body) = section(data, next, endian, compression, options::DONE)?;
        let mut oc = Cursor::new(&body, 0, endian);
        next = 0;
        while oc.remaining() > 0 {
            let Some(opt) = sections::option(&mut oc, false)? else {
                break;
            };
            if opt.id == options::DONE {
                next = Cursor::new(&opt.data, 0, endian).u64("next options offset")?;
                break;
            }
            parts.options.push(opt);
        }
    }
    let options = std::mem::take(&mut parts.options);
    for opt in &options {
        read_pointed_section(data, endian, compression, opt, &mut parts)?;
    }
    parts.options = options;
    Ok(parts)
}

/// Follows an option that points to a section (or describes a buffer) and parses it into `parts`.
fn read_pointed_section(
    data: &[u8],
    endian: Endian,
    comp: Compression,
    opt: &TraceOption,
    parts: &mut Parts,
) -> Result<()> {
    let offset = || Cursor::new(&opt.data, 0, endian).u64("section offset");
    match opt.id {
        options::HEADER_INFO => {
            let (_, body) = section(data, offset()?, endian, comp, opt.id)?;
            let (page, event) = sections::header_info(&mut Cursor::new(&body, 0, endian))?;
            parts.header_page_text = page;
            parts.header_event_text = event;
        }
        options::FTRACE_EVENTS => {
            let (_, body) = section(data, offset()?, endian, comp, opt.id)?;
            sections::ftrace_formats(&mut Cursor::new(&body, 0, endian), &mut parts.formats)?;
        }
        options::EVENT_FORMATS => {
            let (_, body) = section(data, offset()?, endian, comp, opt.id)?;
            sections::event_formats(&mut Cursor::new(&body, 0, endian), &mut parts.formats)?;
        }
        options::KALLSYMS => {
            let (_, body) = section(data, offset()?, endian, comp, opt.id)?;
            parts.kallsyms = sections::text32(&mut Cursor::new(&body, 0, endian), "kallsyms")?;
        }
        options::PRINTK => {
            let (_, body) = section(data, offset()?, endian, comp, opt.id)?;
            parts.printk_formats =
                sections::text32(&mut Cursor::new(&body, 0, endian), "printk formats")?;
        }
        options::CMDLINES => {
            let (_, body) = section(data, offset()?, endian, comp, opt.id)?;
            parts.cmdlines_text =
                sections::text64(&mut Cursor::new(&body, 0, endian), "saved cmdlines")?;
        }
        options::BUFFER => parts
            .buffers
            .push(buffer_option(data, endian, comp, &opt.data)?),
        _ => {}
    }
    Ok(())
}

/// Parses a BUFFER option: section offset, name, clock, page size, per-CPU (id, offset, size).
/// In a file cut before the buffer's section, its data is compressed when the file is.
fn buffer_option(data: &[u8], endian: Endian, comp: Compression, opt: &[u8]) -> Result<BufferInfo> {
    let mut c = Cursor::new(opt, 0, endian);
    let section_offset = c.u64("buffer section offset")?;
    let name = c.cstr("buffer name")?;
    let clock = c.cstr("buffer clock")?;
    let page_size = c.u32("buffer page size")?;
    if !page_size.is_power_of_two() || page_size < 64 {
        return Err(Error::corrupt(
            "BUFFER option",
            section_offset,
            format!("page size {page_size} is not a power of two ≥ 64"),
        ));
    }
    let count = c.u32("buffer CPU count")?;
    let mut cpus = Vec::new();
    for _ in 0..count {
        let cpu = c.u32("CPU id")?;
        let offset = c.u64("CPU data offset")?;
        let size = c.u64("CPU data size")?;
        cpus.push(CpuData { cpu, offset, size });
    }
    let compressed = match slice(data, section_offset, SECTION_HEADER, "buffer section") {
        Ok(header) => {
            let mut h = Cursor::new(header, section_offset, endian);
            let _id = h.u16("section id")?;
            h.u16("section flags")? & SECTION_COMPRESSED != 0
        }
        Err(_) => comp != Compression::None,
    };
    Ok(BufferInfo {
        name,
        clock,
        page_size,
        cpus,
        compressed,
        stats: Vec::new(),
    })
}

/// Reads the section at `offset`, checks its id and returns (flags, body), decompressed if needed.
fn section(
    data: &[u8],
    offset: u64,
    endian: Endian,
    comp: Compression,
    id: u16,
) -> Result<(u16, Cow<'_, [u8]>)> {
    let mut h = Cursor::new(
        slice(data, offset, SECTION_HEADER, "section header")?,
        offset,
        endian,
    );
    let found = h.u16("section id")?;
    if found != id {
        return Err(Error::corrupt(
            "section header",
            offset,
            format!("expected section {id}, found {found}"),
        ));
    }
    let flags = h.u16("section flags")?;
    let _string = h.u32("section description")?;
    let size = h.u64("section size")?;
    let body = slice(data, offset + SECTION_HEADER, size, "section body")?;
    if flags & SECTION_COMPRESSED == 0 {
        return Ok((flags, Cow::Borrowed(body)));
    }
    let mut c = Cursor::new(body, offset + SECTION_HEADER, endian);
    let csize = c.u32("compressed size")?;
    let usize_ = c.u32("uncompressed size")?;
    let packed = c.bytes(u64::from(csize), "compressed section")?;
    let mut out = Vec::new();
    comp.decompress_into(packed, usize_ as usize, &mut out, "section", offset)?;
    Ok((flags, Cow::Owned(out)))
}
