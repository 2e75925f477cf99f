//! The compression algorithms of trace.dat v7 (`none`, `zlib`, `zstd`) behind one enum.

use std::io::Read;

use crate::error::{Error, Result};

/// A compression algorithm named in a v7 file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Data is stored as is.
    None,
    /// zlib streams (RFC 1950), as trace-cmd's `zlib` plugin writes them.
    Zlib,
    /// Zstandard frames.
    Zstd,
}

impl Compression {
    /// Parses the name stored in the file header.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "none" | "" => Ok(Compression::None),
            "zlib" => Ok(Compression::Zlib),
            "zstd" => Ok(Compression::Zstd),
            other => Err(Error::UnknownCompression(other.to_string())),
        }
    }

    /// The name stored in the file header.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zlib => "zlib",
            Compression::Zstd => "zstd",
        }
    }

    /// The version string written next to the name (trace-cmd compares it only for display).
    pub fn version(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Zlib => "1.2.13",
            Compression::Zstd => "1.5.4",
        }
    }

    /// Decompresses `input` into `out` (cleared first, allocation reused), which must come out
    /// exactly `size` bytes long. Streams that decompress many blocks use a [`Decompressor`].
    pub fn decompress_into(
        self,
        input: &[u8],
        size: usize,
        out: &mut Vec<u8>,
        what: &'static str,
        offset: u64,
    ) -> Result<()> {
        Decompressor::default().run(self, input, size, out, what, offset)
    }

    /// Compresses `input` (used by the writer).
    pub fn compress(self, input: &[u8]) -> Result<Vec<u8>> {
        match self {
            Compression::None => Ok(input.to_vec()),
            Compression::Zstd => zstd::bulk::compress(input, 3)
                .map_err(|e| Error::Write(format!("zstd failed: {e}"))),
            Compression::Zlib => {
                use std::io::Write;
                let mut enc =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(input)
                    .and_then(|()| enc.finish())
                    .map_err(|e| Error::Write(format!("zlib failed: {e}")))
            }
        }
    }
}

/// Largest block this crate decompresses: bounds memory on corrupt size fields.
pub const MAX_BLOCK: usize = 256 << 20;

/// A reusable decompression context (zstd's is worth keeping across chunks).
#[derive(Default)]
pub struct Decompressor {
    zstd: Option<zstd::bulk::Decompressor<'static>>,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decompressor")
    }
}

impl Decompressor {
    /// Decompresses `input` with `comp` into `out` (cleared first), which must come out exactly
    /// `size` bytes long.
    pub fn run(
        &mut self,
        comp: Compression,
        input: &[u8],
        size: usize,
        out: &mut Vec<u8>,
        what: &'static str,
        offset: u64,
    ) -> Result<()> {
        let fail = |detail: String| Error::Decompress {
            what,
            offset,
            detail,
        };
        if size > MAX_BLOCK {
            return Err(fail(format!(
                "announced size {size} is above the {MAX_BLOCK}-byte limit"
            )));
        }
        out.clear();
        match comp {
            Compression::None => out.extend_from_slice(input),
            Compression::Zstd => {
                let dec = match &mut self.zstd {
                    Some(d) => d,
                    None => self
                        .zstd
                        .insert(zstd::bulk::Decompressor::new().map_err(|e| fail(e.to_string()))?),
                };
                out.reserve(size);
                dec.decompress_to_buffer(input, out)
                    .map_err(|e| fail(e.to_string()))?;
            }
            Compression::Zlib => {
                // Reading one byte more than announced bounds memory and detects overlong data.
                flate2::read::ZlibDecoder::new(input)
                    .take(size as u64 + 1)
                    .read_to_end(out)
                    .map_err(|e| fail(e.to_string()))?;
            }
        }
        if out.len() != size {
            return Err(fail(format!(
                "got {} bytes instead of the announced {size}",
                out.len()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_sizes() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for c in [Compression::None, Compression::Zlib, Compression::Zstd] {
            let packed = c.compress(&data).unwrap();
            let mut out = Vec::new();
            c.decompress_into(&packed, data.len(), &mut out, "test", 0)
                .unwrap();
            assert_eq!(out, data);
            assert_eq!(Compression::from_name(c.name()).unwrap(), c);
            let err = c
                .decompress_into(&packed, data.len() + 1, &mut out, "test", 9)
                .unwrap_err();
            assert_eq!(err.to_string(), format!("cannot decompress test at offset 9: got 10000 bytes instead of the announced 10001; the file is damaged, record again"));
        }
        assert!(
            matches!(Compression::from_name("lz4"), Err(Error::UnknownCompression(n)) if n == "lz4")
        );
    }
}
