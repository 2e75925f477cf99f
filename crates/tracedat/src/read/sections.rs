//! Parsers of the metadata blocks shared by v6 (stored one after the other) and v7 (stored as
//! sections): header info, ftrace and event formats, kallsyms, printk formats, cmdlines, options.

use crate::bytes::{Cursor, Endian};
use crate::error::{Error, Result};
use crate::format::{EventFormat, EventFormats};
use crate::read::meta::TraceOption;

/// The file's magic bytes: `\x17\x08\x44` then `tracing`.
pub const MAGIC: &[u8; 10] = b"\x17\x08\x44tracing";

/// The fixed start of every trace.dat file.
#[derive(Debug, Clone)]
pub struct InitialHeader {
    /// Format version.
    pub version: u32,
    /// Byte order.
    pub endian: Endian,
    /// User-space long size.
    pub long_size: u8,
    /// Host page size.
    pub page_size: u32,
}

/// Reads the magic, version, endianness, long size and page size.
pub fn initial_header(c: &mut Cursor<'_>) -> Result<InitialHeader> {
    let magic = c.bytes(10, "file magic").map_err(|_| Error::BadMagic)?;
    if magic != MAGIC {
        return Err(Error::BadMagic);
    }
    let version_text = c.cstr("version string")?;
    let version = match version_text.as_str() {
        "6" => 6,
        "7" => 7,
        _ => return Err(Error::UnsupportedVersion(version_text)),
    };
    let endian = if c.u8("endianness")? == 0 {
        Endian::Little
    } else {
        Endian::Big
    };
    let long_size = c.u8("long size")?;
    // The cursor was created little-endian; the page size is in file order.
    let page_size = endian.u32(c.array("page size")?);
    if !page_size.is_power_of_two() || page_size < 64 {
        return Err(Error::corrupt(
            "file header",
            c.offset() - 4,
            format!("page size {page_size} is not a power of two ≥ 64"),
        ));
    }
    Ok(InitialHeader {
        version,
        endian,
        long_size,
        page_size,
    })
}

/// The texts of `header_page` and `header_event`.
pub fn header_info(c: &mut Cursor<'_>) -> Result<(String, String)> {
    let mut text = |tag: &str| -> Result<String> {
        let at = c.offset();
        let name = c.cstr("header info tag")?;
        if name != tag {
            return Err(Error::corrupt(
                "header info",
                at,
                format!("expected {tag:?}, found {name:?}"),
            ));
        }
        let size = c.u64("header size")?;
        Ok(String::from_utf8_lossy(c.bytes(size, "header text")?).into_owned())
    };
    let page = text("header_page")?;
    let event = text("header_event")?;
    Ok((page, event))
}

/// The ftrace event formats block: u32 count, then (u64 size, text) each.
pub fn ftrace_formats(c: &mut Cursor<'_>, into: &mut EventFormats) -> Result<()> {
    let count = c.u32("ftrace format count")?;
    for _ in 0..count {
        let size = c.u64("format size")?;
        let text = String::from_utf8_lossy(c.bytes(size, "format text")?);
        into.insert(EventFormat::parse("ftrace", &text)?);
    }
    Ok(())
}

/// The event formats block: u32 systems, then (name, u32 count, (u64 size, text) each) each.
pub fn event_formats(c: &mut Cursor<'_>, into: &mut EventFormats) -> Result<()> {
    let systems = c.u32("event system count")?;
    for _ in 0..systems {
        let system = c.cstr("event system name")?;
        let count = c.u32("event format count")?;
        for _ in 0..count {
            let size = c.u64("format size")?;
            let text = String::from_utf8_lossy(c.bytes(size, "format text")?);
            into.insert(EventFormat::parse(&system, &text)?);
        }
    }
    Ok(())
}

/// A block of a u32 size then text (kallsyms, printk formats).
pub fn text32(c: &mut Cursor<'_>, what: &'static str) -> Result<String> {
    let size = c.u32(what)?;
    Ok(String::from_utf8_lossy(c.bytes(u64::from(size), what)?).into_owned())
}

/// A block of a u64 size then text (cmdlines).
pub fn text64(c: &mut Cursor<'_>, what: &'static str) -> Result<String> {
    let size = c.u64(what)?;
    Ok(String::from_utf8_lossy(c.bytes(size, what)?).into_owned())
}

/// One option record: u16 id, then (unless it ends a v6 list) u32 size and data.
/// Returns `None` for the v6 end marker (id 0 without size).
pub fn option(c: &mut Cursor<'_>, v6: bool) -> Result<Option<TraceOption>> {
    let id = c.u16("option id")?;
    if v6 && id == 0 {
        return Ok(None);
    }
    let size = c.u32("option size")?;
    let data = c.bytes(u64::from(size), "option data")?.to_vec();
    Ok(Some(TraceOption { id, data }))
}
