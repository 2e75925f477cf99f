//! Parser of one ring-buffer sub-buffer ("page") as read from `per_cpu/cpuN/trace_pipe_raw`:
//! the page header (timestamp, commit word with missed-event flags) and the compressed
//! event headers (5-bit `type_len`, 27-bit `time_delta`). Every read is bounds-checked: a torn or
//! garbage page yields [`Error::Corrupt`], never a panic.

use std::ops::Range;

use crate::bytes::Endian;
use crate::error::{Error, Result};
use crate::format::HeaderPage;

/// Flag in the commit word: events were lost before this page.
pub const RB_MISSED_EVENTS: u64 = 1 << 31;
/// Flag in the commit word: the number of lost events is stored after the data.
pub const RB_MISSED_STORED: u64 = 1 << 30;
/// Bits of the commit word holding the number of data bytes.
const COMMIT_MASK: u64 = (1 << 27) - 1;

const TYPE_PADDING: u32 = 29;
const TYPE_TIME_EXTEND: u32 = 30;
const TYPE_TIME_STAMP: u32 = 31;
/// Bits of an absolute time stamp that the ring buffer stores (the rest come from the page).
const ABS_TS_MASK: u64 = (1 << 59) - 1;

/// What the page header says about events the kernel dropped before this page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// Nothing was lost.
    None,
    /// Events were lost but the kernel did not store how many.
    Unknown,
    /// This many events were lost.
    Count(u64),
}

/// A parsed page header plus the bytes of its committed event data.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    /// Base timestamp of the page (clock units of the buffer's trace clock).
    pub timestamp: u64,
    /// Lost events announced by the page.
    pub missed: Missed,
    /// The committed event bytes (header excluded).
    pub data: &'a [u8],
    endian: Endian,
}

impl<'a> Page<'a> {
    /// Parses the header of `page` (one whole sub-buffer) laid out as `layout` describes.
    pub fn parse(page: &'a [u8], layout: &HeaderPage, endian: Endian) -> Result<Self> {
        let field = |(off, size): (u32, u32), what: &'static str| -> Result<u64> {
            let (off, size) = (off as usize, size as usize);
            if size > 8 {
                return Err(Error::corrupt(
                    "page header",
                    off as u64,
                    format!("{what} is {size} bytes wide"),
                ));
            }
            page.get(off..off + size)
                .map(|b| endian.uint(b))
                .ok_or_else(|| {
                    Error::corrupt(
                        "page header",
                        0,
                        format!("page of {} bytes has no {what}", page.len()),
                    )
                })
        };
        let timestamp = field(layout.timestamp, "timestamp")?;
        let commit = field(layout.commit, "commit word")?;
        let data_off = layout.data_offset as usize;
        let size = (commit & COMMIT_MASK) as usize;
        let long = layout.commit.1 as usize;
        let Some(data) = page.get(data_off..).and_then(|d| d.get(..size)) else {
            return Err(Error::corrupt(
                "page header",
                0,
                format!(
                    "commit says {size} data bytes but the page has {}",
                    page.len().saturating_sub(data_off)
                ),
            ));
        };
        let missed = if commit & RB_MISSED_EVENTS == 0 {
            Missed::None
        } else if commit & RB_MISSED_STORED != 0 {
            let at = data_off + size;
            match page.get(at..at + long) {
                Some(b) => Missed::Count(endian.uint(b)),
                None => Missed::Unknown,
            }
        } else {
            Missed::Unknown
        };
        Ok(Page {
            timestamp,
            missed,
            data,
            endian,
        })
    }

    /// Iterates the page's events with their absolute timestamps.
    pub fn events(&self) -> PageEvents<'a> {
        PageEvents {
            data: self.data,
            state: EventCursor::new(self.timestamp),
            endian: self.endian,
        }
    }
}

/// One event of a page: its timestamp and its record bytes (starting with `common_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEvent<'a> {
    /// Absolute timestamp (page timestamp plus all deltas so far).
    pub timestamp: u64,
    /// The record payload.
    pub data: &'a [u8],
}

/// Position and running timestamp inside a page's data, detached from the borrow of the data so
/// that owners of decompressed buffers can store it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCursor {
    pos: usize,
    ts: u64,
}

impl EventCursor {
    /// A cursor at the start of page data whose page timestamp is `page_ts`.
    pub fn new(page_ts: u64) -> Self {
        EventCursor {
            pos: 0,
            ts: page_ts,
        }
    }

    /// Decodes the next data event of `data`, skipping padding and time records; returns the
    /// event's timestamp and byte range in `data`, or `None` at the end of the page.
    #[inline]
    pub fn next(&mut self, data: &[u8], endian: Endian) -> Result<Option<(u64, Range<usize>)>> {
        match self.next_small(data, endian) {
            Some(ev) => Ok(Some(ev)),
            None => self.next_any(data, endian),
        }
    }

    /// The common case of [`EventCursor::next`]: the next record is a data event whose length
    /// is in its header and that fits in `data`. `None` (without moving) for anything else.
    #[inline]
    fn next_small(&mut self, data: &[u8], endian: Endian) -> Option<(u64, Range<usize>)> {
        let (delta, end) = small_event(data, self.pos, endian)?;
        let start = self.pos;
        self.ts = self.ts.wrapping_add(delta);
        self.pos = end;
        Some((self.ts, start + 4..end))
    }

    /// A cursor at byte `pos` of page data, after an event at `ts` (or at a page starting at
    /// `ts`).
    pub(crate) fn at(pos: usize, ts: u64) -> Self {
        EventCursor { pos, ts }
    }

    /// The byte position and the running timestamp.
    pub(crate) fn state(&self) -> (usize, u64) {
        (self.pos, self.ts)
    }

    /// [`EventCursor::next`] for every kind of record, with the errors of torn pages.
    #[inline(never)]
    fn next_any(&mut self, data: &[u8], endian: Endian) -> Result<Option<(u64, Range<usize>)>> {
        loop {
            let start = self.pos;
            let Some(hdr) = read_u32(data, start, endian) else {
                if start < data.len() {
                    return Err(torn(start, "event header", data.len()));
                }
                return Ok(None);
            };
            let type_len = hdr & 0x1f;
            let delta = u64::from(hdr >> 5);
            match type_len {
                TYPE_PADDING => {
                    if delta == 0 {
                        // A null event: the rest of the page is empty.
                        self.pos = data.len();
                        return Ok(None);
                    }
                    let len = read_u32(data, start + 4, endian)
                        .ok_or_else(|| torn(start, "padding length", data.len()))?;
                    self.ts = self.ts.wrapping_add(delta);
                    self.pos = checked_end(start, 4 + len as usize, data.len(), "padding")?;
                }
                TYPE_TIME_EXTEND | TYPE_TIME_STAMP => {
                    let ext = read_u32(data, start + 4, endian)
                        .ok_or_else(|| torn(start, "time extend", data.len()))?;
                    let value = (u64::from(ext) << 27) | delta;
                    self.ts = if type_len == TYPE_TIME_EXTEND {
                        self.ts.wrapping_add(value)
                    } else {
                        (value & ABS_TS_MASK) | (self.ts & !ABS_TS_MASK)
                    };
                    self.pos = start + 8;
                }
                0 => {
                    let len = read_u32(data, start + 4, endian)
                        .ok_or_else(|| torn(start, "event length", data.len()))?;
                    let payload = (len as usize).checked_sub(4).ok_or_else(|| {
                        Error::corrupt(
                            "ring-buffer page",
                            start as u64,
                            format!("event length word {len} is below 4"),
                        )
                    })?;
                    let end = checked_end(start + 8, payload, data.len(), "event")?;
                    self.ts = self.ts.wrapping_add(delta);
                    self.pos = checked_end(start + 8, (payload + 3) & !3, data.len(), "event")
                        .unwrap_or(end);
                    return Ok(Some((self.ts, start + 8..end)));
                }
                n => {
                    let end = checked_end(start + 4, n as usize * 4, data.len(), "event")?;
                    self.ts = self.ts.wrapping_add(delta);
                    self.pos = end;
                    return Ok(Some((self.ts, start + 4..end)));
                }
            }
        }
    }
}

/// Iterator over the events of one [`Page`].
#[derive(Debug, Clone)]
pub struct PageEvents<'a> {
    data: &'a [u8],
    state: EventCursor,
    endian: Endian,
}

impl<'a> Iterator for PageEvents<'a> {
    type Item = Result<RawEvent<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.state.next(self.data, self.endian) {
            Ok(Some((timestamp, range))) => Some(Ok(RawEvent {
                timestamp,
                data: &self.data[range],
            })),
            Ok(None) => None,
            Err(e) => {
                self.state.pos = self.data.len();
                Some(Err(e))
            }
        }
    }
}

/// If the record at byte `pos` of page data `data` is a data event whose length is in its header
/// (`type_len` 1 to 28, up to 112 bytes; nearly every event) and that fits in `data`: its time
/// delta and the end of its bytes (which start at `pos + 4`).
#[inline]
pub(crate) fn small_event(data: &[u8], pos: usize, endian: Endian) -> Option<(u64, usize)> {
    let hdr = endian.u32(*data.get(pos..)?.first_chunk::<4>()?);
    let words = (hdr & 0x1f) as usize;
    // `pos + 4 <= data.len()` here, so the sum does not overflow.
    let end = pos + 4 + words * 4;
    if (1..TYPE_PADDING as usize).contains(&words) && end <= data.len() {
        Some((u64::from(hdr >> 5), end))
    } else {
        None
    }
}

#[inline]
fn read_u32(data: &[u8], at: usize, endian: Endian) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(endian.u32([b[0], b[1], b[2], b[3]]))
}

fn checked_end(start: usize, len: usize, limit: usize, what: &str) -> Result<usize> {
    match start.checked_add(len) {
        Some(end) if end <= limit => Ok(end),
        _ => Err(Error::corrupt(
            "ring-buffer page",
            start as u64,
            format!("{what} of {len} bytes runs past the {limit} committed bytes"),
        )),
    }
}

fn torn(at: usize, what: &str, limit: usize) -> Error {
    Error::corrupt(
        "ring-buffer page",
        at as u64,
        format!("{what} is cut by the end of the {limit} committed bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(ts: u64, commit: u64, body: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 128];
        p[..8].copy_from_slice(&ts.to_le_bytes());
        p[8..16].copy_from_slice(&commit.to_le_bytes());
        p[16..16 + body.len()].copy_from_slice(body);
        p
    }

    fn hdr(type_len: u32, delta: u32) -> [u8; 4] {
        (type_len | (delta << 5)).to_le_bytes()
    }

    #[test]
    fn decodes_every_kind_of_record() {
        let mut body = Vec::new();
        body.extend(hdr(1, 10)); // 4-byte event at ts 1010
        body.extend(7u32.to_le_bytes());
        body.extend(hdr(30, 5)); // time extend: + (1 << 27) + 5
        body.extend(1u32.to_le_bytes());
        body.extend(hdr(0, 1)); // length-in-array event of 6 bytes payload, padded to 8
        body.extend(10u32.to_le_bytes());
        body.extend([1, 2, 3, 4, 5, 6, 0, 0]);
        body.extend(hdr(29, 3)); // padding of 4 bytes
        body.extend(4u32.to_le_bytes());
        body.extend(hdr(31, 2)); // absolute timestamp 2 (upper bits kept from the page)
        body.extend(0u32.to_le_bytes());
        body.extend(hdr(1, 0));
        body.extend(9u32.to_le_bytes());
        let p = page(1000, body.len() as u64, &body);
        let page = Page::parse(&p, &HeaderPage::LINUX_64, Endian::Little).unwrap();
        assert_eq!(page.missed, Missed::None);
        let events: Vec<_> = page.events().map(Result::unwrap).collect();
        let t2 = 1010 + (1 << 27) + 5 + 1;
        assert_eq!(
            events,
            [
                RawEvent {
                    timestamp: 1010,
                    data: &7u32.to_le_bytes()
                },
                RawEvent {
                    timestamp: t2,
                    data: &[1, 2, 3, 4, 5, 6]
                },
                RawEvent {
                    timestamp: 2,
                    data: &9u32.to_le_bytes()
                },
            ]
        );
    }

    #[test]
    fn reads_stored_missed_count() {
        let mut body = Vec::new();
        body.extend(hdr(1, 1));
        body.extend(7u32.to_le_bytes());
        body.extend(42u64.to_le_bytes());
        let p = page(0, 8 | RB_MISSED_EVENTS | RB_MISSED_STORED, &body);
        let page = Page::parse(&p, &HeaderPage::LINUX_64, Endian::Little).unwrap();
        assert_eq!((page.missed, page.events().count()), (Missed::Count(42), 1));
        let p = page_unknown();
        assert_eq!(
            Page::parse(&p, &HeaderPage::LINUX_64, Endian::Little)
                .unwrap()
                .missed,
            Missed::Unknown
        );
    }

    fn page_unknown() -> Vec<u8> {
        page(0, RB_MISSED_EVENTS, &[])
    }

    #[test]
    fn null_padding_ends_the_page() {
        let mut body = Vec::new();
        body.extend(hdr(1, 1));
        body.extend(7u32.to_le_bytes());
        body.extend(hdr(29, 0));
        body.extend([0xff; 8]);
        let p = page(0, body.len() as u64, &body);
        let page = Page::parse(&p, &HeaderPage::LINUX_64, Endian::Little).unwrap();
        assert_eq!(page.events().count(), 1);
    }

    #[test]
    fn garbage_is_a_typed_error() {
        let p = page(0, 4000, &[]);
        let err = Page::parse(&p, &HeaderPage::LINUX_64, Endian::Little).unwrap_err();
        assert_eq!(err.to_string(), "corrupt page header at offset 0: commit says 4000 data bytes but the page has 112; the file is damaged, record again");
        let mut body = Vec::new();
        body.extend(hdr(28, 1)); // 112 bytes announced, 4 present
        body.extend([0; 4]);
        let p = page(0, 8, &body);
        let page = Page::parse(&p, &HeaderPage::LINUX_64, Endian::Little).unwrap();
        let results: Vec<_> = page.events().collect();
        assert_eq!(results.len(), 1);
        assert_eq!(
            results[0].as_ref().unwrap_err().to_string(),
            "corrupt ring-buffer page at offset 4: event of 112 bytes runs past the 8 committed bytes; the file is damaged, record again"
        );
    }
}
