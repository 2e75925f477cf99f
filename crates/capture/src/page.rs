//! Minimal reading of ftrace ring-buffer sub-buffer pages, as `trace_pipe_raw` returns them:
//! enough to count events and missed-event flags while draining, and to pick out event
//! records (type id, pid, payload) in tests. Timestamps are left to the trace.dat reader.

/// Page header flag: events were lost before this page.
const RB_MISSED_EVENTS: u64 = 1 << 31;
/// Page header flag: the number of lost events is stored after the page's data.
const RB_MISSED_STORED: u64 = 1 << 30;
/// Event header `type_len` values with a special meaning.
const TYPE_PADDING: u32 = 29;
const TYPE_TIME_EXTEND: u32 = 30;
const TYPE_TIME_STAMP: u32 = 31;

/// Where the fields of a page header are, from `events/header_page`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLayout {
    /// Offset of the `commit` word (data length + flags).
    pub commit_offset: usize,
    /// Size of the `commit` word (8 on 64-bit kernels).
    pub commit_size: usize,
    /// Offset of the first event.
    pub data_offset: usize,
}

impl PageLayout {
    /// Reads the layout from the text of `events/header_page`; `None` if a field is missing.
    pub fn from_header_page(text: &str) -> Option<PageLayout> {
        let field = |name: &str| -> Option<(usize, usize)> {
            let line = text.lines().find(|l| l.contains(name))?;
            let number = |key: &str| -> Option<usize> {
                let rest = &line[line.find(key)? + key.len()..];
                rest[..rest.find(';')?].trim().parse().ok()
            };
            Some((number("offset:")?, number("size:")?))
        };
        let (commit_offset, commit_size) = field("local_t commit;")?;
        let (data_offset, _) = field("char data;")?;
        Some(PageLayout {
            commit_offset,
            commit_size,
            data_offset,
        })
    }
}

/// What a page says about itself and how many event records it holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageSummary {
    /// Data event records on the page.
    pub events: u64,
    /// Events were lost between the previous page and this one.
    pub missed: bool,
    /// The number of lost events when the kernel stored it.
    pub missed_count: Option<u64>,
}

/// One data event record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    /// The record's bytes, starting with `common_type`.
    pub data: &'a [u8],
}

impl RawRecord<'_> {
    /// The event type id (`common_type`).
    pub fn type_id(&self) -> u16 {
        self.u16_at(0).unwrap_or(0)
    }

    /// The pid of the task that emitted the event (`common_pid`).
    pub fn pid(&self) -> i32 {
        self.u32_at(4).map_or(-1, |v| v as i32)
    }

    /// A little-endian u16 at `offset`, if inside the record.
    pub fn u16_at(&self, offset: usize) -> Option<u16> {
        Some(u16::from_le_bytes(
            self.data.get(offset..offset + 2)?.try_into().ok()?,
        ))
    }

    /// A little-endian u32 at `offset`, if inside the record.
    pub fn u32_at(&self, offset: usize) -> Option<u32> {
        Some(u32::from_le_bytes(
            self.data.get(offset..offset + 4)?.try_into().ok()?,
        ))
    }

    /// A little-endian u64 at `offset`, if inside the record.
    pub fn u64_at(&self, offset: usize) -> Option<u64> {
        Some(u64::from_le_bytes(
            self.data.get(offset..offset + 8)?.try_into().ok()?,
        ))
    }
}

/// Reads a little-endian unsigned integer of 4 or 8 bytes.
fn read_word(bytes: &[u8], offset: usize, size: usize) -> Option<u64> {
    let b = bytes.get(offset..offset + size)?;
    Some(match size {
        4 => u32::from_le_bytes(b.try_into().ok()?) as u64,
        8 => u64::from_le_bytes(b.try_into().ok()?),
        _ => return None,
    })
}

/// Walks the records of one page, calling `each` for every data record; returns the
/// page summary. A malformed page stops the walk at the first inconsistent record.
pub fn walk_page<'a>(
    layout: &PageLayout,
    page: &'a [u8],
    mut each: impl FnMut(RawRecord<'a>),
) -> PageSummary {
    let mut summary = PageSummary::default();
    let Some(commit) = read_word(page, layout.commit_offset, layout.commit_size) else {
        return summary;
    };
    let length = (commit & !(RB_MISSED_EVENTS | RB_MISSED_STORED)) as usize;
    summary.missed = commit & RB_MISSED_EVENTS != 0;
    let end = (layout.data_offset + length).min(page.len());
    if commit & RB_MISSED_STORED != 0 {
        summary.missed_count = read_word(page, end, layout.commit_size);
    }
    let mut pos = layout.data_offset;
    while pos + 4 <= end {
        let header = read_word(page, pos, 4).unwrap_or(0) as u32;
        let (type_len, time_delta) = (header & 0x1f, header >> 5);
        let array0 = read_word(page, pos + 4, 4).map(|v| v as usize);
        let (data, total) = match type_len {
            TYPE_PADDING if time_delta == 0 => break,
            TYPE_PADDING => (None, array0.map(|len| 4 + len)),
            TYPE_TIME_EXTEND | TYPE_TIME_STAMP => (None, Some(8)),
            0 => match array0 {
                Some(len) if len >= 4 => (Some((pos + 8, len - 4)), Some(4 + len)),
                _ => (None, None),
            },
            n => (Some((pos + 4, n as usize * 4)), Some(4 + n as usize * 4)),
        };
        let Some(total) = total.filter(|t| pos + t <= end) else {
            break;
        };
        if let Some((start, len)) = data {
            summary.events += 1;
            each(RawRecord {
                data: &page[start..start + len],
            });
        }
        pos += total;
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER_PAGE: &str = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\
        \tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\
        \tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\
        \tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;\n";

    fn page(commit: u64, body: &[u8]) -> Vec<u8> {
        let mut page = vec![0u8; 16];
        page[8..16].copy_from_slice(&commit.to_le_bytes());
        page.extend_from_slice(body);
        page.resize(4096, 0);
        page
    }

    #[test]
    fn layout_is_read_from_header_page() {
        assert_eq!(
            PageLayout::from_header_page(HEADER_PAGE),
            Some(PageLayout {
                commit_offset: 8,
                commit_size: 8,
                data_offset: 16
            })
        );
    }

    #[test]
    fn records_of_every_header_kind_are_walked() {
        let mut body = Vec::new();
        // Small record: type_len 2 (8 bytes), delta 5.
        body.extend_from_slice(&(2u32 | 5 << 5).to_le_bytes());
        body.extend_from_slice(&[7, 0, 0, 0, 42, 0, 0, 0]);
        // Time extend.
        body.extend_from_slice(&(30u32).to_le_bytes());
        body.extend_from_slice(&1u32.to_le_bytes());
        // Large record: type_len 0, array[0] = 4 + 8.
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&12u32.to_le_bytes());
        body.extend_from_slice(&[9, 0, 0, 0, 43, 0, 0, 0]);
        // Discarded record (padding with a delta) of 8 data bytes.
        body.extend_from_slice(&(29u32 | 1 << 5).to_le_bytes());
        body.extend_from_slice(&8u32.to_le_bytes());
        body.extend_from_slice(&[0; 4]);
        let layout = PageLayout::from_header_page(HEADER_PAGE).unwrap();
        let page = page(body.len() as u64 | RB_MISSED_EVENTS, &body);
        let mut seen = Vec::new();
        let summary = walk_page(&layout, &page, |r| seen.push((r.type_id(), r.pid())));
        assert_eq!(seen, vec![(7, 42), (9, 43)]);
        assert_eq!(
            summary,
            PageSummary {
                events: 2,
                missed: true,
                missed_count: None
            }
        );
    }

    #[test]
    fn stored_missed_count_is_read_after_the_data() {
        let mut body = Vec::new();
        body.extend_from_slice(&(1u32).to_le_bytes());
        body.extend_from_slice(&[1, 0, 0, 0]);
        body.extend_from_slice(&77u64.to_le_bytes());
        let layout = PageLayout::from_header_page(HEADER_PAGE).unwrap();
        let page = page(8 | RB_MISSED_EVENTS | RB_MISSED_STORED, &body);
        let summary = walk_page(&layout, &page, |_| {});
        assert_eq!(summary.events, 1);
        assert_eq!(summary.missed_count, Some(77));
    }
}
