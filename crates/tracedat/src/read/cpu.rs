//! A cursor over one CPU's pages of one buffer: walks whole pages of a file region, or
//! decompresses one chunk at a time (memory bounded by the chunk size, not the file size).

use std::ops::Range;

use crate::bytes::{slice, Cursor, Endian};
use crate::compress::{Compression, Decompressor};
use crate::error::{Error, Result};
use crate::format::HeaderPage;
use crate::page::{small_event, EventCursor, Missed, Page};
use crate::read::{CpuData, TraceFile};

/// Where the pages come from.
enum Source<'f> {
    /// Uncompressed pages, straight from the mapped file.
    Plain { region: &'f [u8], pos: usize },
    /// Compressed chunks: `(u32 compressed size, u32 size, data)` records after a u32 count.
    Chunks {
        comp: Compression,
        dec: Decompressor,
        reader: Cursor<'f>,
        left: u32,
        buf: Vec<u8>,
        pos: usize,
    },
}

/// Reads the events of one (buffer, CPU) in file order.
pub struct CpuCursor<'f> {
    /// Buffer index in the metadata.
    pub buffer: usize,
    /// CPU number.
    pub cpu: u32,
    source: Source<'f>,
    page_size: usize,
    /// Byte range of the current page's committed data in [`CpuCursor::current`].
    page_data: Range<usize>,
    /// Where the next record header is in [`CpuCursor::current`] (in `page_data`).
    pos: usize,
    /// The running timestamp of the page: after [`CpuCursor::advance`] returned `true`, the
    /// timestamp of the next event.
    pub ts: u64,
    /// Byte range of the next event in [`CpuCursor::current`].
    pub rec: Range<usize>,
    /// Events the kernel reported lost on this CPU, and whether some counts were unknown.
    pub lost: (u64, bool),
    /// A partial final page in a file that is not torn, reported once as a warning.
    pub warning: Option<Error>,
    /// The file was cut short ([`crate::Metadata::torn`]): the data ends at the cut, after
    /// the last whole page or chunk, without an error.
    torn: bool,
    release: Option<Release<'f>>,
    /// File offset of the cursor's pages, or of its first chunk after the chunk count.
    data_start: u64,
    /// Bytes of the cursor's data in the file (what [`CpuCursor::bytes_read`] grows to).
    data_len: u64,
}

/// Bytes of consumed pages after which they are handed back to the kernel.
const RELEASE_EVERY: usize = 1 << 20;
/// Alignment `madvise` needs (the host page size of the machines kspan runs on).
const HOST_PAGE: usize = 4096;

/// Hands consumed pages of a mapped file back to the kernel, so resident memory stays bounded
/// instead of growing with the file.
struct Release<'f> {
    map: &'f memmap2::Mmap,
    /// Offset of the cursor's region in the map.
    region_start: usize,
    /// Map offset up to which pages were released.
    done: usize,
}

impl Release<'_> {
    /// Notes that the map's bytes before offset `upto` will not be read again.
    fn consumed(&mut self, upto: usize) {
        if upto < self.done + RELEASE_EVERY {
            return;
        }
        let start = self.done.next_multiple_of(HOST_PAGE);
        let end = upto / HOST_PAGE * HOST_PAGE;
        if end > start {
            // SAFETY: the map is a read-only private mapping of a file that is not modified while
            // read, so MADV_DONTNEED only drops clean page-cache pages: a later access to them
            // (which the cursor never makes) would fault the same bytes back in from the file.
            let _ = unsafe {
                self.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    start,
                    end - start,
                )
            };
        }
        self.done = upto;
    }
}

impl<'f> CpuCursor<'f> {
    /// A cursor over the pages of `data` of buffer number `buffer` of `file`. Data is clamped
    /// to the file: in a torn file it ends at the cut.
    pub fn new(file: &'f TraceFile, buffer: usize, data: &CpuData) -> Result<Self> {
        let meta = file.metadata();
        let info = &meta.buffers[buffer];
        let compressed = info.compressed.then_some((meta.compression, meta.endian));
        let (offset, size, page_size, cpu) = (data.offset, data.size, info.page_size, data.cpu);
        let map = file.mapping();
        let file = file.bytes();
        let available = (file.len() as u64).saturating_sub(offset);
        let torn = meta.torn.is_some();
        // trace-cmd's size of compressed data leaves out the 4-byte chunk count, so compressed
        // data is bounded by its chunk headers and the end of the file instead.
        let len = if compressed.is_some() {
            available
        } else {
            size.min(available)
        };
        let region = slice(file, offset.min(file.len() as u64), len, "CPU data")?;
        // Where the pages (or chunks, after their count) start.
        let mut data_start = offset;
        let source = match compressed {
            None => Source::Plain { region, pos: 0 },
            Some((comp, endian)) => {
                let mut reader = Cursor::new(region, offset, endian);
                let left = match reader.u32("chunk count") {
                    Ok(count) => count,
                    Err(_) if torn || region.is_empty() => 0,
                    Err(e) => return Err(e),
                };
                data_start = reader.offset();
                Source::Chunks {
                    comp,
                    dec: Decompressor::default(),
                    reader,
                    left,
                    buf: Vec::new(),
                    pos: 0,
                }
            }
        };
        Ok(CpuCursor {
            buffer,
            cpu,
            source,
            page_size: page_size as usize,
            page_data: 0..0,
            pos: 0,
            ts: 0,
            rec: 0..0,
            lost: (0, false),
            warning: None,
            torn,
            release: map.map(|map| Release {
                map,
                region_start: offset as usize,
                done: offset as usize,
            }),
            data_start,
            data_len: size.min(available),
        })
    }

    /// Bytes of the file's data for this cursor that it has read so far (pages or chunks
    /// taken), up to [`CpuCursor::data_len`]: how far a reader is, for a progress bar.
    pub fn bytes_read(&self) -> u64 {
        let read = match &self.source {
            // An ended cursor (no region left) has read all it will.
            Source::Plain { region: [], .. } => self.data_len,
            Source::Plain { pos, .. } => *pos as u64,
            Source::Chunks { reader, .. } => reader.offset() - self.data_start,
        };
        read.min(self.data_len)
    }

    /// Bytes of the file's data for this cursor (clamped to the file).
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// The bytes that `next`'s and `page_data`'s ranges index.
    #[inline]
    pub fn current(&self) -> &[u8] {
        source_bytes(&self.source)
    }

    /// Moves to the next event (across pages and chunks): `true` with [`CpuCursor::ts`] and
    /// [`CpuCursor::rec`] set, `false` at the end. After an error the cursor is at its end.
    #[inline]
    pub fn advance(&mut self, layout: &HeaderPage, endian: Endian) -> Result<bool> {
        let pos = self.pos;
        let small = source_bytes(&self.source)
            .get(..self.page_data.end)
            .and_then(|data| small_event(data, pos, endian));
        if let Some((delta, end)) = small {
            self.ts = self.ts.wrapping_add(delta);
            self.pos = end;
            self.rec = pos + 4..end;
            return Ok(true);
        }
        self.advance_slow(layout, endian)
    }

    /// [`CpuCursor::advance`] past anything but a small event of the current page: other kinds
    /// of records, page and chunk ends, damage.
    #[inline(never)]
    fn advance_slow(&mut self, layout: &HeaderPage, endian: Endian) -> Result<bool> {
        loop {
            let base = self.page_data.start;
            let data = &source_bytes(&self.source)[self.page_data.clone()];
            let mut event = EventCursor::at(self.pos - base, self.ts);
            let next = event.next(data, endian);
            let (pos, ts) = event.state();
            (self.pos, self.ts) = (base + pos, ts);
            match next {
                Ok(Some((_, r))) => {
                    self.rec = base + r.start..base + r.end;
                    return Ok(true);
                }
                Ok(None) => {}
                Err(e) => {
                    self.end();
                    return Err(e);
                }
            }
            let page = match self.next_page() {
                Ok(Some(page)) => page,
                Ok(None) => {
                    self.end();
                    return Ok(false);
                }
                Err(e) => {
                    self.end();
                    return Err(e);
                }
            };
            if let Some(r) = &mut self.release {
                r.consumed(match &self.source {
                    Source::Plain { .. } => r.region_start + page.start,
                    Source::Chunks { reader, .. } => reader.offset() as usize,
                });
            }
            let parsed =
                match Page::parse(&source_bytes(&self.source)[page.clone()], layout, endian) {
                    Ok(p) => (p.timestamp, p.missed, p.data.len()),
                    Err(e) => {
                        self.end();
                        return Err(e);
                    }
                };
            let (timestamp, missed, len) = parsed;
            match missed {
                Missed::None => {}
                Missed::Count(n) => self.lost.0 = self.lost.0.saturating_add(n),
                Missed::Unknown => self.lost.1 = true,
            }
            let start = page.start + layout.data_offset as usize;
            self.page_data = start..start + len;
            self.pos = start;
            self.ts = timestamp;
        }
    }

    /// Puts the cursor at its end: no page, no source left.
    fn end(&mut self) {
        self.page_data = 0..0;
        self.pos = 0;
        self.ts = 0;
        self.rec = 0..0;
        self.source = Source::Plain {
            region: &[],
            pos: 0,
        };
    }

    /// The byte range of the next whole page in the current buffer, loading the next chunk if
    /// needed; `None` at the end. A partial final page becomes a warning.
    fn next_page(&mut self) -> Result<Option<Range<usize>>> {
        let page_size = self.page_size;
        match &mut self.source {
            Source::Plain { region, pos } => {
                let left = region.len() - *pos;
                if left == 0 {
                    return Ok(None);
                }
                if left < page_size {
                    if !self.torn {
                        self.warning.get_or_insert(Error::Truncated {
                            what: "last page",
                            offset: *pos as u64,
                            needed: page_size as u64,
                            available: left as u64,
                        });
                    }
                    *pos = region.len();
                    return Ok(None);
                }
                *pos += page_size;
                Ok(Some(*pos - page_size..*pos))
            }
            Source::Chunks {
                comp,
                dec,
                reader,
                left,
                buf,
                pos,
            } => {
                if *pos >= buf.len() {
                    if *left == 0 {
                        return Ok(None);
                    }
                    *left -= 1;
                    let at = reader.offset();
                    let chunk = (|| {
                        let csize = reader.u32("chunk compressed size")?;
                        let size = reader.u32("chunk size")?;
                        Ok((size, reader.bytes(u64::from(csize), "compressed chunk")?))
                    })();
                    let (size, packed) = match chunk {
                        Ok(chunk) => chunk,
                        // A torn file ends inside its last chunk: the data ends there.
                        Err(Error::Truncated { .. }) if self.torn => return Ok(None),
                        Err(e) => return Err(e),
                    };
                    dec.run(*comp, packed, size as usize, buf, "trace data chunk", at)?;
                    *pos = 0;
                }
                let left_in_chunk = buf.len() - *pos;
                if left_in_chunk < page_size {
                    let at = *pos as u64;
                    *pos = buf.len();
                    return Err(Error::corrupt(
                        "trace data chunk",
                        at,
                        format!("chunk ends with a partial page of {left_in_chunk} bytes"),
                    ));
                }
                *pos += page_size;
                Ok(Some(*pos - page_size..*pos))
            }
        }
    }
}

/// The bytes of the current page source (the mapped region, or the decompressed chunk).
#[inline]
fn source_bytes<'s>(source: &'s Source<'_>) -> &'s [u8] {
    match source {
        Source::Plain { region, .. } => region,
        Source::Chunks { buf, .. } => buf,
    }
}
