//! Bounds-checked little/big-endian reads from byte slices (the only place that indexes raw bytes).

use crate::error::{Error, Result};

/// Byte order of the traced machine, declared by the file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    /// Least significant byte first (x86, arm64).
    Little,
    /// Most significant byte first.
    Big,
}

impl Endian {
    /// The byte order of the machine running this code (of the pages its kernel writes).
    #[cfg(target_endian = "little")]
    pub const NATIVE: Endian = Endian::Little;
    /// The byte order of the machine running this code (of the pages its kernel writes).
    #[cfg(target_endian = "big")]
    pub const NATIVE: Endian = Endian::Big;

    /// Reads an unsigned integer of `N` bytes (N ≤ 8) from `b`, which must be exactly N long.
    #[inline]
    pub fn uint(self, b: &[u8]) -> u64 {
        let mut v = 0u64;
        match self {
            Endian::Little => {
                for &x in b.iter().rev() {
                    v = (v << 8) | u64::from(x);
                }
            }
            Endian::Big => {
                for &x in b {
                    v = (v << 8) | u64::from(x);
                }
            }
        }
        v
    }

    /// Reads a u16 from the first 2 bytes of `b`.
    #[inline]
    pub fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        }
    }

    /// Reads a u32 from 4 bytes.
    #[inline]
    pub fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }

    /// Reads a u64 from 8 bytes.
    #[inline]
    pub fn u64(self, b: [u8; 8]) -> u64 {
        match self {
            Endian::Little => u64::from_le_bytes(b),
            Endian::Big => u64::from_be_bytes(b),
        }
    }

    /// Encodes a u16 in this byte order.
    pub fn put_u16(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    /// Encodes a u32 in this byte order.
    pub fn put_u32(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    /// Encodes a u64 in this byte order.
    pub fn put_u64(self, v: u64) -> [u8; 8] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
}

/// A forward cursor over a byte slice whose reads fail with [`Error::Truncated`] instead of panicking.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    /// File offset of `data[0]`, for error messages.
    base: u64,
    endian: Endian,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`, which begins at file offset `base`.
    pub fn new(data: &'a [u8], base: u64, endian: Endian) -> Self {
        Cursor {
            data,
            pos: 0,
            base,
            endian,
        }
    }

    /// Switches the byte order (once the file header has declared it).
    pub fn set_endian(&mut self, endian: Endian) {
        self.endian = endian;
    }

    /// File offset of the current position.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes left after the current position.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Takes the next `n` bytes.
    pub fn bytes(&mut self, n: u64, what: &'static str) -> Result<&'a [u8]> {
        let available = self.remaining() as u64;
        if n > available {
            return Err(Error::Truncated {
                what,
                offset: self.offset(),
                needed: n,
                available,
            });
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.data[start..self.pos])
    }

    /// Takes the next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let b = self.bytes(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// Reads a u8.
    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a u16 in the file's byte order.
    pub fn u16(&mut self, what: &'static str) -> Result<u16> {
        let e = self.endian;
        Ok(e.u16(self.array(what)?))
    }

    /// Reads a u32 in the file's byte order.
    pub fn u32(&mut self, what: &'static str) -> Result<u32> {
        let e = self.endian;
        Ok(e.u32(self.array(what)?))
    }

    /// Reads a u64 in the file's byte order.
    pub fn u64(&mut self, what: &'static str) -> Result<u64> {
        let e = self.endian;
        Ok(e.u64(self.array(what)?))
    }

    /// Reads a NUL-terminated string (without the NUL) as UTF-8, lossily.
    pub fn cstr(&mut self, what: &'static str) -> Result<String> {
        let rest = &self.data[self.pos..];
        let Some(len) = rest.iter().position(|&b| b == 0) else {
            return Err(Error::Truncated {
                what,
                offset: self.offset(),
                needed: rest.len() as u64 + 1,
                available: rest.len() as u64,
            });
        };
        self.pos += len + 1;
        Ok(String::from_utf8_lossy(&rest[..len]).into_owned())
    }
}

/// Returns `data[start..start+len]` or a [`Error::Truncated`] naming `what`.
pub fn slice<'a>(data: &'a [u8], start: u64, len: u64, what: &'static str) -> Result<&'a [u8]> {
    let total = data.len() as u64;
    match start.checked_add(len) {
        Some(end) if end <= total => Ok(&data[start as usize..end as usize]),
        _ => Err(Error::Truncated {
            what,
            offset: start,
            needed: len,
            available: total.saturating_sub(start),
        }),
    }
}
