//! A decoded event view borrowed from the trace data: timestamp, CPU, buffer, raw bytes, format,
//! and typed field accessors. [`FieldHandle`]s let hot consumers resolve a field name once and
//! then read values per event with no lookup and no allocation.

use crate::bytes::Endian;
use crate::format::{EventFormat, Field, FieldKind};

/// One event record.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Absolute timestamp in units of the buffer's trace clock (ns for `local`, `global`, `mono`, `boot`).
    pub timestamp: u64,
    /// The CPU whose ring buffer held the event.
    pub cpu: u32,
    /// Index of the buffer (instance) in [`crate::read::Metadata::buffers`].
    pub buffer: usize,
    /// The record bytes, starting with `common_type`.
    pub data: &'a [u8],
    /// The event's format, when the file has it.
    pub format: Option<&'a EventFormat>,
    pub(crate) endian: Endian,
}

/// A field resolved once against one event format, for allocation-free reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldHandle {
    offset: u32,
    size: u32,
    kind: FieldKind,
    signed: bool,
    /// The low `size` bytes set (for sizes up to 8): what a scalar read keeps of a u64 load.
    mask: u64,
}

impl FieldHandle {
    /// Resolves `name` in `format`; `None` if the event has no such field.
    pub fn new(format: &EventFormat, name: &str) -> Option<Self> {
        format.field(name).map(Self::of)
    }

    /// The handle of an already found field.
    pub fn of(field: &Field) -> Self {
        Self::from_parts(field.offset, field.size, field.kind, field.signed)
    }

    fn from_parts(offset: u32, size: u32, kind: FieldKind, signed: bool) -> Self {
        FieldHandle {
            offset,
            size,
            kind,
            signed,
            mask: match size {
                0 => 0,
                1..=7 => (1 << (size * 8)) - 1,
                _ => u64::MAX,
            },
        }
    }
}

/// A field value, as the text dump prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// An unsigned number (or pointer).
    Unsigned(u64),
    /// A signed number, sign-extended from its size.
    Signed(i64),
    /// Text (up to the first NUL) of a `char` array or `__data_loc char[]`.
    Str(&'a [u8]),
    /// Bytes of a non-text array.
    Bytes(&'a [u8]),
}

impl<'a> Record<'a> {
    /// A record over `data` (starting with `common_type`), e.g. for tests of consumers; the
    /// reader builds records itself.
    pub fn new(
        timestamp: u64,
        cpu: u32,
        buffer: usize,
        data: &'a [u8],
        format: Option<&'a EventFormat>,
        endian: Endian,
    ) -> Self {
        Record {
            timestamp,
            cpu,
            buffer,
            data,
            format,
            endian,
        }
    }

    /// The event id (`common_type`, 2 bytes at offset 0).
    #[inline]
    pub fn event_id(&self) -> u32 {
        self.data
            .get(..2)
            .map_or(0, |b| u32::from(self.endian.u16([b[0], b[1]])))
    }

    /// `common_flags` (irqs-off, need-resched, hardirq, softirq bits).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.data.get(2).copied().unwrap_or(0)
    }

    /// `common_preempt_count`.
    #[inline]
    pub fn preempt_count(&self) -> u8 {
        self.data.get(3).copied().unwrap_or(0)
    }

    /// `common_pid`: the thread id current when the event fired (0 for idle).
    #[inline]
    pub fn pid(&self) -> i32 {
        self.data
            .get(4..8)
            .map_or(-1, |b| self.endian.u32([b[0], b[1], b[2], b[3]]) as i32)
    }

    /// The event name, or `""` if the file has no format for it.
    pub fn name(&self) -> &'a str {
        self.format.map_or("", |f| f.name.as_str())
    }

    /// Resolves a field by name on this record's format.
    pub fn field(&self, name: &str) -> Option<FieldHandle> {
        self.format.and_then(|f| FieldHandle::new(f, name))
    }

    /// The raw bytes of a scalar or array field (the loc word for dynamic fields).
    #[inline]
    fn slot(&self, h: FieldHandle) -> Option<&'a [u8]> {
        let start = h.offset as usize;
        self.data.get(start..start.checked_add(h.size as usize)?)
    }

    /// Reads a scalar field as an unsigned number (sizes 1, 2, 4, 8).
    #[inline(always)]
    pub fn u64(&self, h: FieldHandle) -> Option<u64> {
        // The common case: a little-endian field with 8 record bytes from its start, read with
        // one load whose bytes past the field are masked off.
        if h.size <= 8 && self.endian == Endian::Little {
            let word = self
                .data
                .get(h.offset as usize..)
                .and_then(|d| d.first_chunk::<8>());
            if let Some(&word) = word {
                return Some(u64::from_le_bytes(word) & h.mask);
            }
        }
        self.u64_other(h)
    }

    /// [`Record::u64`] but for its common case: big-endian, in the last 8 bytes, or out of the
    /// record.
    #[inline(never)]
    fn u64_other(&self, h: FieldHandle) -> Option<u64> {
        let (start, size) = (h.offset as usize, h.size as usize);
        let len = self.data.len();
        if size > 8 || start.checked_add(size)? > len {
            return None;
        }
        // One 8-byte load that holds the field (from its start, or ending at the record's end
        // when the field is in the last 8 bytes), then a shift and the mask.
        let Some(at) = len.checked_sub(8).map(|last| start.min(last)) else {
            // A record shorter than 8 bytes.
            return Some(self.endian.uint(&self.data[start..start + size]));
        };
        let word = *self.data[at..].first_chunk::<8>()?;
        // Bits of the word before the field (`start - at <= 8 - size`).
        let before = (start - at) as u32 * 8;
        let (word, shift) = match self.endian {
            Endian::Little => (u64::from_le_bytes(word), before),
            // An empty field shifts by 64 (which wraps to 0), but its mask is 0.
            Endian::Big => (u64::from_be_bytes(word), 64 - before - size as u32 * 8),
        };
        Some(word.wrapping_shr(shift) & h.mask)
    }

    /// Reads a scalar field as a signed number, sign-extended from its size.
    #[inline]
    pub fn i64(&self, h: FieldHandle) -> Option<i64> {
        let v = self.u64(h)?;
        // `u64` read the field, so its size is at most 8: `unused` is 0 to 64, and 64 (an
        // empty field, which reads 0) wraps to a shift by 0.
        let unused = 64 - h.size * 8;
        Some((v.wrapping_shl(unused) as i64).wrapping_shr(unused))
    }

    /// The bytes of an array or dynamic (`__data_loc`/`__rel_loc`) field.
    #[inline]
    pub fn bytes(&self, h: FieldHandle) -> Option<&'a [u8]> {
        match h.kind {
            FieldKind::Scalar | FieldKind::Array { .. } => self.slot(h),
            FieldKind::DataLoc | FieldKind::RelLoc => {
                let loc = self.u64(h)?;
                let mut off = (loc & 0xffff) as usize;
                let len = ((loc >> 16) & 0xffff) as usize;
                if h.kind == FieldKind::RelLoc {
                    off += h.offset as usize + h.size as usize;
                }
                self.data.get(off..off.checked_add(len)?)
            }
        }
    }

    /// The text of a `char` array or `__data_loc char[]` field, up to its first NUL.
    #[inline]
    pub fn str_bytes(&self, h: FieldHandle) -> Option<&'a [u8]> {
        let b = self.bytes(h)?;
        Some(&b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())])
    }

    /// Like [`Record::str_bytes`] but as UTF-8 (`None` if not valid UTF-8).
    #[inline]
    pub fn str(&self, h: FieldHandle) -> Option<&'a str> {
        std::str::from_utf8(self.str_bytes(h)?).ok()
    }

    /// The value of `field` (a field of this record's format) in its natural type.
    pub fn value(&self, field: &Field) -> Option<Value<'a>> {
        let h = FieldHandle::of(field);
        match (field.kind, field.is_string) {
            (FieldKind::Scalar, _) if field.signed => self.i64(h).map(Value::Signed),
            (FieldKind::Scalar, _) => self.u64(h).map(Value::Unsigned),
            (_, true) => self.str_bytes(h).map(Value::Str),
            (_, false) => self.bytes(h).map(Value::Bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_common_scalar_and_dynamic_fields() {
        let fmt = EventFormat::parse(
            "sched",
            "name: ev\nID: 7\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\tfield:__data_loc char[] name;\toffset:8;\tsize:4;\tsigned:0;\n\tfield:short delta;\toffset:12;\tsize:2;\tsigned:1;\n\tfield:__rel_loc char[] rel;\toffset:16;\tsize:4;\tsigned:0;\n\nprint fmt: \"\"\n",
        )
        .unwrap();
        let mut data = vec![7, 0, 0x81, 2, 0xd2, 0x04, 0, 0];
        data.extend(((3u32 << 16) | 20).to_le_bytes()); // "ab\0" at 20
        data.extend((-5i16).to_le_bytes());
        data.extend([0, 0]);
        data.extend([0u8; 4]); // rel loc word, filled below
        data.extend(b"ab\0xy");
        let fixed = {
            let mut d = data.clone();
            d[16..20].copy_from_slice(&((2u32 << 16) | 3).to_le_bytes()); // "xy" at 20+3
            d
        };
        let r = Record {
            timestamp: 5,
            cpu: 1,
            buffer: 0,
            data: &fixed,
            format: Some(&fmt),
            endian: Endian::Little,
        };
        assert_eq!(
            (
                r.event_id(),
                r.flags(),
                r.preempt_count(),
                r.pid(),
                r.name()
            ),
            (7, 0x81, 2, 1234, "ev")
        );
        assert_eq!(r.str(r.field("name").unwrap()), Some("ab"));
        assert_eq!(r.i64(r.field("delta").unwrap()), Some(-5));
        assert_eq!(r.u64(r.field("delta").unwrap()), Some(0xfffb));
        assert_eq!(r.bytes(r.field("rel").unwrap()), Some(&b"xy"[..]));
        assert!(r.field("nope").is_none());
    }

    #[test]
    fn u64_matches_a_byte_by_byte_read_at_every_offset_and_size() {
        let bytes: Vec<u8> = (1..=24u8).map(|b| b.wrapping_mul(157)).collect();
        for len in 0..=bytes.len() {
            for endian in [Endian::Little, Endian::Big] {
                let r = Record::new(0, 0, 0, &bytes[..len], None, endian);
                for offset in 0..=26u32 {
                    for size in 0..=10u32 {
                        let h = FieldHandle::from_parts(offset, size, FieldKind::Scalar, false);
                        let want = r
                            .slot(h)
                            .and_then(|b| (b.len() <= 8).then(|| endian.uint(b)));
                        assert_eq!(
                            r.u64(h),
                            want,
                            "len {len} offset {offset} size {size} {endian:?}"
                        );
                        let bits = size * 8;
                        let want_signed = want.map(|v| {
                            if bits == 0 || bits >= 64 {
                                v as i64
                            } else {
                                ((v << (64 - bits)) as i64) >> (64 - bits)
                            }
                        });
                        assert_eq!(
                            r.i64(h),
                            want_signed,
                            "len {len} offset {offset} size {size}"
                        );
                    }
                }
            }
        }
        let h = FieldHandle::from_parts(u32::MAX, 8, FieldKind::Scalar, false);
        assert_eq!(
            Record::new(0, 0, 0, &bytes, None, Endian::Little).u64(h),
            None
        );
    }
}
