//! The trace.dat option [`HEADS_OPTION`] holding a recording's payload heads.
//!
//! Layout (little-endian): `KSPH`, a version byte (1), `payload_bytes` u32 (the
//! `--payload-bytes` of the recording), `lost` u64 (heads the kernel's ring buffer dropped),
//! then chunks until the end: raw length u32, compressed length u32, a zstd frame of
//! records. A record is `enter_ns` u64, `exit_ns` u64, `ret` i64, `tgid` i32, `tid` i32,
//! `fd` i32, syscall kind u8 ([`SyscallKind`] number), head length u16, the head bytes.
//! trace-cmd skips option ids it does not know, so it reads these files as before.

use crate::head::{Head, SyscallKind};
use kspan_tracedat::Compression;

/// The option id (reserved among kspan's options by kspan-tracedat).
pub const HEADS_OPTION: u16 = kspan_tracedat::options::KSPAN_HEADS;

const MAGIC: &[u8; 4] = b"KSPH";
const VERSION: u8 = 1;
/// Bytes of `MAGIC`, version, `payload_bytes` and `lost`.
const HEADER_LEN: usize = 4 + 1 + 4 + 8;
/// Bytes of a record before its head.
const RECORD_FIXED: usize = 8 + 8 + 8 + 4 + 4 + 4 + 1 + 2;
/// Most raw bytes per compressed chunk: bounds the memory one chunk needs to decompress.
pub const CHUNK: usize = 8 << 20;

/// Why the option could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HeadsError {
    /// Not this option's layout, or a version this crate does not know.
    #[error("the payload-heads section is of an unknown layout; read the file with the kspan that recorded it")]
    Layout,
    /// A chunk or record is cut short or does not decompress.
    #[error("the payload-heads section is damaged ({0}); spans keep their generic names")]
    Damaged(String),
    /// The socket-call records are of a layout this crate does not know.
    #[error("the socket-call records are of an unknown layout; read the file with the kspan that recorded it")]
    CallsLayout,
    /// A chunk or record of the socket-call records is cut short or does not decompress.
    #[error("the socket-call records are damaged ({0}); analyse the recording as if without them with --drop-event 'sys_*' or record it again")]
    CallsDamaged(String),
    /// Compressing the records failed.
    #[error(
        "compressing the payload heads failed ({0}); record with --payload-bytes 0 to store none"
    )]
    Compress(String),
}

/// A recording's payload heads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredHeads {
    /// Bytes kept per message at most (the recording's `--payload-bytes`).
    pub payload_bytes: u32,
    /// Heads the BPF ring buffer dropped (it was full).
    pub lost: u64,
    /// The heads, in the order they were drained (per CPU roughly by time).
    pub heads: Vec<Head>,
}

/// Appends `head` to `out` as one record (what [`StoredHeads::option_bytes`] compresses).
pub fn encode_record(head: &Head, out: &mut Vec<u8>) {
    let len = head.bytes.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&head.enter_ns.to_le_bytes());
    out.extend_from_slice(&head.exit_ns.to_le_bytes());
    out.extend_from_slice(&head.ret.to_le_bytes());
    out.extend_from_slice(&head.tgid.to_le_bytes());
    out.extend_from_slice(&head.tid.to_le_bytes());
    out.extend_from_slice(&head.fd.to_le_bytes());
    out.push(head.kind as u8);
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&head.bytes[..len]);
}

/// One stored chunk of `records` (back-to-back [`encode_record`] output, at most [`CHUNK`]
/// bytes): raw length, compressed length, zstd frame.
pub fn chunk_bytes(records: &[u8]) -> Result<Vec<u8>, HeadsError> {
    let packed = Compression::Zstd
        .compress(records)
        .map_err(|e| HeadsError::Compress(e.to_string()))?;
    let mut out = Vec::with_capacity(8 + packed.len());
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    out.extend_from_slice(&(packed.len() as u32).to_le_bytes());
    out.extend_from_slice(&packed);
    Ok(out)
}

/// A cursor over little-endian fields.
pub(crate) struct Reader<'a> {
    pub(crate) data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.data.len() < n {
            return None;
        }
        let (first, rest) = self.data.split_at(n);
        self.data = rest;
        Some(first)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

/// Decompresses every chunk left in `r` (back-to-back [`chunk_bytes`] output) and hands
/// its records' bytes to `decode`; `what` names the section in errors.
pub(crate) fn for_each_chunk(
    mut r: Reader<'_>,
    what: &'static str,
    mut decode: impl FnMut(&[u8]) -> Result<(), HeadsError>,
) -> Result<(), HeadsError> {
    let mut raw = Vec::new();
    while !r.data.is_empty() {
        let cut = || HeadsError::Damaged("a chunk is cut short".into());
        let raw_len = u32::from_le_bytes(r.array().ok_or_else(cut)?) as usize;
        let packed_len = u32::from_le_bytes(r.array().ok_or_else(cut)?) as usize;
        if raw_len > CHUNK {
            return Err(HeadsError::Damaged(format!(
                "a chunk claims {raw_len} bytes"
            )));
        }
        let packed = r.take(packed_len).ok_or_else(cut)?;
        Compression::Zstd
            .decompress_into(packed, raw_len, &mut raw, what, 0)
            .map_err(|e| HeadsError::Damaged(e.to_string()))?;
        decode(&raw)?;
    }
    Ok(())
}

/// Decodes the records of one decompressed chunk.
fn decode_records(mut r: Reader<'_>, into: &mut Vec<Head>) -> Result<(), HeadsError> {
    let damaged = || HeadsError::Damaged("a record is cut short".into());
    while !r.data.is_empty() {
        let fixed = r.take(RECORD_FIXED).ok_or_else(damaged)?;
        let mut f = Reader { data: fixed };
        let enter_ns = u64::from_le_bytes(f.array().ok_or_else(damaged)?);
        let exit_ns = u64::from_le_bytes(f.array().ok_or_else(damaged)?);
        let ret = i64::from_le_bytes(f.array().ok_or_else(damaged)?);
        let tgid = i32::from_le_bytes(f.array().ok_or_else(damaged)?);
        let tid = i32::from_le_bytes(f.array().ok_or_else(damaged)?);
        let fd = i32::from_le_bytes(f.array().ok_or_else(damaged)?);
        let [kind] = f.array().ok_or_else(damaged)?;
        let len = u16::from_le_bytes(f.array().ok_or_else(damaged)?);
        let kind = SyscallKind::from_number(kind)
            .ok_or_else(|| HeadsError::Damaged(format!("unknown syscall kind {kind}")))?;
        let bytes = r.take(usize::from(len)).ok_or_else(damaged)?.to_vec();
        into.push(Head {
            enter_ns,
            exit_ns,
            ret,
            tgid,
            tid,
            fd,
            kind,
            bytes,
        });
    }
    Ok(())
}

impl StoredHeads {
    /// The option's bytes: the header, then `chunks` (back-to-back [`chunk_bytes`] output).
    pub fn option_bytes(payload_bytes: u32, lost: u64, chunks: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + chunks.len());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&payload_bytes.to_le_bytes());
        out.extend_from_slice(&lost.to_le_bytes());
        out.extend_from_slice(chunks);
        out
    }

    /// Reads the option's bytes back.
    pub fn from_option(bytes: &[u8]) -> Result<StoredHeads, HeadsError> {
        let mut r = Reader { data: bytes };
        if r.take(4) != Some(MAGIC.as_slice()) || r.array::<1>() != Some([VERSION]) {
            return Err(HeadsError::Layout);
        }
        let cut = || HeadsError::Damaged("the header is cut short".into());
        let payload_bytes = u32::from_le_bytes(r.array().ok_or_else(cut)?);
        let lost = u64::from_le_bytes(r.array().ok_or_else(cut)?);
        let mut heads = Vec::new();
        for_each_chunk(r, "payload heads", |raw| {
            decode_records(Reader { data: raw }, &mut heads)
        })?;
        Ok(StoredHeads {
            payload_bytes,
            lost,
            heads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(tid: i32, bytes: &[u8]) -> Head {
        Head {
            enter_ns: 10 + tid as u64,
            exit_ns: 20 + tid as u64,
            ret: 1000,
            tgid: 7,
            tid,
            fd: 5,
            kind: SyscallKind::Sendto,
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn heads_round_trip_through_chunks() {
        let heads = vec![
            head(1, b"GET / HTTP/1.1\r\n"),
            head(2, b""),
            head(3, b"*1\r\n"),
        ];
        let mut first = Vec::new();
        encode_record(&heads[0], &mut first);
        let mut second = Vec::new();
        encode_record(&heads[1], &mut second);
        encode_record(&heads[2], &mut second);
        let chunks = [chunk_bytes(&first).unwrap(), chunk_bytes(&second).unwrap()].concat();
        let bytes = StoredHeads::option_bytes(64, 3, &chunks);
        let stored = StoredHeads::from_option(&bytes).unwrap();
        assert_eq!(
            stored,
            StoredHeads {
                payload_bytes: 64,
                lost: 3,
                heads
            }
        );
    }

    #[test]
    fn damage_and_foreign_layouts_are_errors_not_panics() {
        let mut records = Vec::new();
        encode_record(&head(1, b"PING"), &mut records);
        let bytes = StoredHeads::option_bytes(64, 0, &chunk_bytes(&records).unwrap());
        for cut in 0..bytes.len() {
            assert!(StoredHeads::from_option(&bytes[..cut]).is_err() || cut == HEADER_LEN);
        }
        assert!(matches!(
            StoredHeads::from_option(b"KSPX\x01"),
            Err(HeadsError::Layout)
        ));
        records.truncate(records.len() - 1);
        let short = StoredHeads::option_bytes(64, 0, &chunk_bytes(&records).unwrap());
        assert_eq!(
            StoredHeads::from_option(&short).unwrap_err().to_string(),
            "the payload-heads section is damaged (a record is cut short); spans keep their \
             generic names"
        );
    }
}
