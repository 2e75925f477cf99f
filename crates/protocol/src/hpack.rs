//! HPACK (RFC 7541), as far as naming a request needs: the header fields of a header block
//! that can be read without the connection's dynamic table — those indexed in the static
//! table and the literals (Huffman-coded or not, their name indexed in the static table or
//! literal). A field that refers to the dynamic table is skipped (its contents were sent
//! earlier on the connection); decoding stops at the first representation the bytes cut
//! short or that is malformed.
//!
//! Why this much: gRPC sends a `:path` as a literal the first time a channel uses it (with
//! incremental indexing, name index 4 `:path`, value Huffman-coded), and by reference to
//! the dynamic table afterwards, which kspan does not rebuild (see docs/heads.md).

use std::sync::OnceLock;

/// One header field: name and value.
pub type Field = (String, String);

/// The fields of `block` (a header block fragment, from its first representation) that do
/// not depend on the dynamic table, in order.
pub fn static_fields(block: &[u8]) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut at = 0;
    while let Some(&first) = block.get(at) {
        let step = if first & 0x80 != 0 {
            // Indexed field.
            integer(block, at, 7).map(|(index, next)| {
                fields.extend(static_entry(index).map(|(n, v)| (n.to_string(), v.to_string())));
                next
            })
        } else if first & 0xe0 == 0x20 {
            // Dynamic table size update.
            integer(block, at, 5).map(|(_, next)| next)
        } else {
            // Literal: with incremental indexing (01), without indexing (0000), never
            // indexed (0001).
            let prefix = if first & 0x40 != 0 { 6 } else { 4 };
            literal(block, at, prefix).map(|(field, next)| {
                fields.extend(field);
                next
            })
        };
        match step {
            Some(next) => at = next,
            None => break,
        }
    }
    fields
}

/// The literal field at `at` whose name index has `prefix` bits: the field (`None` when
/// its name is in the dynamic table) and where the next representation starts.
fn literal(block: &[u8], at: usize, prefix: u8) -> Option<(Option<Field>, usize)> {
    let (index, next) = integer(block, at, prefix)?;
    let (name, next) = match index {
        0 => {
            let (name, next) = string(block, next)?;
            (Some(name), next)
        }
        i => (static_entry(i).map(|(n, _)| n.to_string()), next),
    };
    let (value, next) = string(block, next)?;
    Some((name.map(|n| (n, value)), next))
}

/// The static table's entry `index` (1–61); `None` for 0 and for the dynamic table's.
fn static_entry(index: u64) -> Option<(&'static str, &'static str)> {
    STATIC
        .get(usize::try_from(index.checked_sub(1)?).ok()?)
        .copied()
}

/// The integer at `at` with a `prefix`-bit prefix (RFC 7541 §5.1), and where it ends.
fn integer(block: &[u8], at: usize, prefix: u8) -> Option<(u64, usize)> {
    let max = (1u64 << prefix) - 1;
    let value = u64::from(*block.get(at)?) & max;
    if value < max {
        return Some((value, at + 1));
    }
    let mut value = max;
    for (i, &b) in block.get(at + 1..)?.iter().enumerate().take(8) {
        value += u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, at + 2 + i));
        }
    }
    None
}

/// The string literal at `at` (RFC 7541 §5.2: Huffman flag, length, bytes), and where it
/// ends; `None` when it is cut short, Huffman-malformed or not UTF-8.
fn string(block: &[u8], at: usize) -> Option<(String, usize)> {
    let huffman = block.get(at)? & 0x80 != 0;
    let (len, start) = integer(block, at, 7)?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    let bytes = block.get(start..end)?;
    let text = match huffman {
        true => String::from_utf8(huffman_decode(bytes)?).ok()?,
        false => std::str::from_utf8(bytes).ok()?.to_string(),
    };
    Some((text, end))
}

/// The canonical Huffman code sorted for decoding: the symbols by (length, code), and for
/// each length its first code and the index of its first symbol.
struct Canonical {
    symbols: Vec<u16>,
    /// Per length 0–30: (first code, index in `symbols`, how many codes).
    lengths: [(u32, usize, usize); 31],
}

fn canonical() -> &'static Canonical {
    static TABLE: OnceLock<Canonical> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut symbols: Vec<u16> = (0..CODES.len() as u16).collect();
        symbols.sort_by_key(|&s| (CODES[usize::from(s)].1, CODES[usize::from(s)].0));
        let mut lengths = [(0, 0, 0); 31];
        for (i, &s) in symbols.iter().enumerate() {
            let (code, len) = CODES[usize::from(s)];
            let entry = &mut lengths[usize::from(len)];
            if entry.2 == 0 {
                *entry = (code, i, 0);
            }
            entry.2 += 1;
        }
        Canonical { symbols, lengths }
    })
}

/// `bytes` Huffman-decoded (RFC 7541 §5.2, Appendix B); `None` when malformed: EOS
/// decoded, or padding longer than 7 bits or not all ones.
pub fn huffman_decode(bytes: &[u8]) -> Option<Vec<u8>> {
    let table = canonical();
    let mut out = Vec::with_capacity(bytes.len() * 8 / 5);
    let (mut code, mut len) = (0u32, 0usize);
    for &byte in bytes {
        for bit in (0..8).rev() {
            code = code << 1 | u32::from(byte >> bit & 1);
            len += 1;
            let (first, index, count) = *table.lengths.get(len)?;
            if count > 0 && code >= first && code - first < count as u32 {
                let symbol = table.symbols[index + (code - first) as usize];
                out.push(u8::try_from(symbol).ok()?);
                (code, len) = (0, 0);
            }
        }
    }
    (len <= 7 && code == (1 << len) - 1).then_some(out)
}
/// The code (right-aligned) and its length in bits of each symbol 0–255, then EOS (256):
/// RFC 7541 Appendix B.
#[rustfmt::skip]
const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13), (0x7fffd8, 23), (0xfffffe2, 28), (0xfffffe3, 28),
    (0xfffffe4, 28), (0xfffffe5, 28), (0xfffffe6, 28), (0xfffffe7, 28),
    (0xfffffe8, 28), (0xffffea, 24), (0x3ffffffc, 30), (0xfffffe9, 28),
    (0xfffffea, 28), (0x3ffffffd, 30), (0xfffffeb, 28), (0xfffffec, 28),
    (0xfffffed, 28), (0xfffffee, 28), (0xfffffef, 28), (0xffffff0, 28),
    (0xffffff1, 28), (0xffffff2, 28), (0x3ffffffe, 30), (0xffffff3, 28),
    (0xffffff4, 28), (0xffffff5, 28), (0xffffff6, 28), (0xffffff7, 28),
    (0xffffff8, 28), (0xffffff9, 28), (0xffffffa, 28), (0xffffffb, 28),
    (0x14, 6), (0x3f8, 10), (0x3f9, 10), (0xffa, 12),
    (0x1ff9, 13), (0x15, 6), (0xf8, 8), (0x7fa, 11),
    (0x3fa, 10), (0x3fb, 10), (0xf9, 8), (0x7fb, 11),
    (0xfa, 8), (0x16, 6), (0x17, 6), (0x18, 6),
    (0x0, 5), (0x1, 5), (0x2, 5), (0x19, 6),
    (0x1a, 6), (0x1b, 6), (0x1c, 6), (0x1d, 6),
    (0x1e, 6), (0x1f, 6), (0x5c, 7), (0xfb, 8),
    (0x7ffc, 15), (0x20, 6), (0xffb, 12), (0x3fc, 10),
    (0x1ffa, 13), (0x21, 6), (0x5d, 7), (0x5e, 7),
    (0x5f, 7), (0x60, 7), (0x61, 7), (0x62, 7),
    (0x63, 7), (0x64, 7), (0x65, 7), (0x66, 7),
    (0x67, 7), (0x68, 7), (0x69, 7), (0x6a, 7),
    (0x6b, 7), (0x6c, 7), (0x6d, 7), (0x6e, 7),
    (0x6f, 7), (0x70, 7), (0x71, 7), (0x72, 7),
    (0xfc, 8), (0x73, 7), (0xfd, 8), (0x1ffb, 13),
    (0x7fff0, 19), (0x1ffc, 13), (0x3ffc, 14), (0x22, 6),
    (0x7ffd, 15), (0x3, 5), (0x23, 6), (0x4, 5),
    (0x24, 6), (0x5, 5), (0x25, 6), (0x26, 6),
    (0x27, 6), (0x6, 5), (0x74, 7), (0x75, 7),
    (0x28, 6), (0x29, 6), (0x2a, 6), (0x7, 5),
    (0x2b, 6), (0x76, 7), (0x2c, 6), (0x8, 5),
    (0x9, 5), (0x2d, 6), (0x77, 7), (0x78, 7),
    (0x79, 7), (0x7a, 7), (0x7b, 7), (0x7ffe, 15),
    (0x7fc, 11), (0x3ffd, 14), (0x1ffd, 13), (0xffffffc, 28),
    (0xfffe6, 20), (0x3fffd2, 22), (0xfffe7, 20), (0xfffe8, 20),
    (0x3fffd3, 22), (0x3fffd4, 22), (0x3fffd5, 22), (0x7fffd9, 23),
    (0x3fffd6, 22), (0x7fffda, 23), (0x7fffdb, 23), (0x7fffdc, 23),
    (0x7fffdd, 23), (0x7fffde, 23), (0xffffeb, 24), (0x7fffdf, 23),
    (0xffffec, 24), (0xffffed, 24), (0x3fffd7, 22), (0x7fffe0, 23),
    (0xffffee, 24), (0x7fffe1, 23), (0x7fffe2, 23), (0x7fffe3, 23),
    (0x7fffe4, 23), (0x1fffdc, 21), (0x3fffd8, 22), (0x7fffe5, 23),
    (0x3fffd9, 22), (0x7fffe6, 23), (0x7fffe7, 23), (0xffffef, 24),
    (0x3fffda, 22), (0x1fffdd, 21), (0xfffe9, 20), (0x3fffdb, 22),
    (0x3fffdc, 22), (0x7fffe8, 23), (0x7fffe9, 23), (0x1fffde, 21),
    (0x7fffea, 23), (0x3fffdd, 22), (0x3fffde, 22), (0xfffff0, 24),
    (0x1fffdf, 21), (0x3fffdf, 22), (0x7fffeb, 23), (0x7fffec, 23),
    (0x1fffe0, 21), (0x1fffe1, 21), (0x3fffe0, 22), (0x1fffe2, 21),
    (0x7fffed, 23), (0x3fffe1, 22), (0x7fffee, 23), (0x7fffef, 23),
    (0xfffea, 20), (0x3fffe2, 22), (0x3fffe3, 22), (0x3fffe4, 22),
    (0x7ffff0, 23), (0x3fffe5, 22), (0x3fffe6, 22), (0x7ffff1, 23),
    (0x3ffffe0, 26), (0x3ffffe1, 26), (0xfffeb, 20), (0x7fff1, 19),
    (0x3fffe7, 22), (0x7ffff2, 23), (0x3fffe8, 22), (0x1ffffec, 25),
    (0x3ffffe2, 26), (0x3ffffe3, 26), (0x3ffffe4, 26), (0x7ffffde, 27),
    (0x7ffffdf, 27), (0x3ffffe5, 26), (0xfffff1, 24), (0x1ffffed, 25),
    (0x7fff2, 19), (0x1fffe3, 21), (0x3ffffe6, 26), (0x7ffffe0, 27),
    (0x7ffffe1, 27), (0x3ffffe7, 26), (0x7ffffe2, 27), (0xfffff2, 24),
    (0x1fffe4, 21), (0x1fffe5, 21), (0x3ffffe8, 26), (0x3ffffe9, 26),
    (0xffffffd, 28), (0x7ffffe3, 27), (0x7ffffe4, 27), (0x7ffffe5, 27),
    (0xfffec, 20), (0xfffff3, 24), (0xfffed, 20), (0x1fffe6, 21),
    (0x3fffe9, 22), (0x1fffe7, 21), (0x1fffe8, 21), (0x7ffff3, 23),
    (0x3fffea, 22), (0x3fffeb, 22), (0x1ffffee, 25), (0x1ffffef, 25),
    (0xfffff4, 24), (0xfffff5, 24), (0x3ffffea, 26), (0x7ffff4, 23),
    (0x3ffffeb, 26), (0x7ffffe6, 27), (0x3ffffec, 26), (0x3ffffed, 26),
    (0x7ffffe7, 27), (0x7ffffe8, 27), (0x7ffffe9, 27), (0x7ffffea, 27),
    (0x7ffffeb, 27), (0xffffffe, 28), (0x7ffffec, 27), (0x7ffffed, 27),
    (0x7ffffee, 27), (0x7ffffef, 27), (0x7fffff0, 27), (0x3ffffee, 26),
    (0x3fffffff, 30),
];

/// The static table, RFC 7541 Appendix A: entry `i` is index `i + 1`.
const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The bytes a hex string spells (test data as the RFC and Python's hpack print it).
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn field(name: &str, value: &str) -> Field {
        (name.to_string(), value.to_string())
    }

    #[test]
    fn every_symbol_decodes_from_its_code() {
        for symbol in 0..=255u8 {
            let (code, len) = CODES[usize::from(symbol)];
            // The code, then all-ones padding to the byte boundary.
            let pad = (8 - len % 8) % 8;
            let bits = u64::from(code) << pad | ((1 << pad) - 1);
            let bytes = bits.to_be_bytes();
            let n = usize::from(len + pad) / 8;
            assert_eq!(
                huffman_decode(&bytes[8 - n..]),
                Some(vec![symbol]),
                "{symbol}"
            );
        }
    }

    #[test]
    fn rfc_7541_examples_decode() {
        // C.4.1: www.example.com.
        assert_eq!(
            huffman_decode(&hex("f1e3c2e5f23a6ba0ab90f4ff")).unwrap(),
            b"www.example.com"
        );
        // Padding of more than 7 bits, or not ones, is malformed; so is EOS.
        assert_eq!(huffman_decode(&hex("f1e3c2e5f23a6ba0ab90f4ffff")), None);
        assert_eq!(huffman_decode(&hex("f1e3c2e5f23a6ba0ab90f4fe")), None);
        assert_eq!(huffman_decode(&hex("ffffffff")), None);
        // C.4.1's whole block: :method GET, :scheme http, :path /, :authority literal.
        assert_eq!(
            static_fields(&hex("828684418cf1e3c2e5f23a6ba0ab90f4ff")),
            vec![
                field(":method", "GET"),
                field(":scheme", "http"),
                field(":path", "/"),
                field(":authority", "www.example.com"),
            ]
        );
    }

    #[test]
    fn a_grpc_request_block_gives_its_literal_path() {
        // Python's hpack encoding a gRPC request: first use (Huffman literals with
        // incremental indexing), then the same fields again (by dynamic reference).
        let first = hex(
            "8386448b63aa12bdd193ab1c8f675f418b089d5c0b8170dc6c006c3f5f8b1d75d0620d263d4c4d\
             65644082497f864d833505b11f",
        );
        assert_eq!(
            static_fields(&first),
            vec![
                field(":method", "POST"),
                field(":scheme", "http"),
                field(":path", "/kst.Back/Work"),
                field(":authority", "127.0.0.1:50051"),
                field("content-type", "application/grpc"),
                field("te", "trailers"),
            ]
        );
        assert_eq!(
            static_fields(&hex("8386c1c0bfbe")),
            vec![field(":method", "POST"), field(":scheme", "http")]
        );
        // Without Huffman coding, and cut inside the :authority value.
        let plain = hex("8386440e2f6b73742e4261636b2f576f726b410f3132372e302e30");
        assert_eq!(
            static_fields(&plain),
            vec![
                field(":method", "POST"),
                field(":scheme", "http"),
                field(":path", "/kst.Back/Work"),
            ]
        );
        // A literal whose name is in the dynamic table is skipped, the rest read.
        assert_eq!(
            static_fields(&hex("7e0361626384")),
            vec![field(":path", "/")]
        );
    }

    #[test]
    fn integers_follow_the_prefix_rules() {
        // RFC 7541 C.1: 10 in a 5-bit prefix, 1337 in a 5-bit prefix, 42 at a boundary.
        assert_eq!(integer(&[0x0a], 0, 5), Some((10, 1)));
        assert_eq!(integer(&[0x1f, 0x9a, 0x0a], 0, 5), Some((1337, 3)));
        assert_eq!(integer(&[0x2a], 0, 8), Some((42, 1)));
        assert_eq!(integer(&[0x1f, 0x9a], 0, 5), None);
        assert_eq!(
            integer(
                &[0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                0,
                5
            ),
            None
        );
    }
}
