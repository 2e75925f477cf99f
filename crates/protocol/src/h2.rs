//! HTTP/2 frame headers (RFC 9113 §4.1) and the client connection preface: which stream
//! each frame of a send belongs to, so that the requests and responses multiplexed on one
//! connection can be told apart; and the request a HEADERS frame opens, as far as its
//! header block can be read without the connection's HPACK dynamic table ([`request`]). A header is 9 bytes: payload length (24 bits), type,
//! flags, reserved bit and stream id (31 bits). Headers are checked as strictly as a sender
//! must write them (known type, defined flags, the type's stream and length rules), so that
//! other protocols' bytes are not taken for frames.

use crate::hpack;
use crate::message::Message;

/// The client connection preface, sent once before the client's first frame.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Bytes of a frame header.
pub const HEADER_LEN: usize = 9;

/// The frame types of RFC 9113 §6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    /// DATA (0): a request or response body.
    Data,
    /// HEADERS (1): a request's or response's header block (or trailers).
    Headers,
    /// PRIORITY (2).
    Priority,
    /// RST_STREAM (3).
    RstStream,
    /// SETTINGS (4).
    Settings,
    /// PUSH_PROMISE (5).
    PushPromise,
    /// PING (6).
    Ping,
    /// GOAWAY (7).
    GoAway,
    /// WINDOW_UPDATE (8).
    WindowUpdate,
    /// CONTINUATION (9): more of a header block.
    Continuation,
}

impl FrameType {
    /// The type numbered `b`, its defined flags, and whether its stream id must be 0
    /// (`Some(true)`), non-zero (`Some(false)`) or may be either (`None`).
    fn rules(b: u8) -> Option<(FrameType, u8, Option<bool>)> {
        Some(match b {
            0 => (FrameType::Data, 0x01 | 0x08, Some(false)),
            1 => (FrameType::Headers, 0x01 | 0x04 | 0x08 | 0x20, Some(false)),
            2 => (FrameType::Priority, 0, Some(false)),
            3 => (FrameType::RstStream, 0, Some(false)),
            4 => (FrameType::Settings, 0x01, Some(true)),
            5 => (FrameType::PushPromise, 0x04 | 0x08, Some(false)),
            6 => (FrameType::Ping, 0x01, Some(true)),
            7 => (FrameType::GoAway, 0, Some(true)),
            8 => (FrameType::WindowUpdate, 0, None),
            9 => (FrameType::Continuation, 0x04, Some(false)),
            _ => return None,
        })
    }

    /// True for the frames that carry a request or a response (header blocks and bodies),
    /// false for connection and flow control.
    pub fn carries_message(self) -> bool {
        matches!(
            self,
            FrameType::Data | FrameType::Headers | FrameType::Continuation
        )
    }

    /// Whether `length` is a valid payload length for this type.
    fn length_ok(self, length: u32) -> bool {
        match self {
            FrameType::Priority => length == 5,
            FrameType::RstStream | FrameType::WindowUpdate => length == 4,
            FrameType::Ping => length == 8,
            FrameType::Settings => length.is_multiple_of(6),
            FrameType::GoAway => length >= 8,
            _ => true,
        }
    }
}

/// HEADERS flag: the block is padded (a pad length byte first).
const PADDED: u8 = 0x08;
/// HEADERS flag: a stream dependency and weight (5 bytes) come first.
const PRIORITY: u8 = 0x20;

/// One frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length (the header's 9 bytes not included).
    pub length: u32,
    /// The frame's type.
    pub kind: FrameType,
    /// Its flags.
    pub flags: u8,
    /// Its stream (0: the connection itself).
    pub stream: u32,
}

impl FrameHeader {
    /// The frame header at the start of `bytes`; `None` when there are fewer than 9 bytes
    /// or they are not a header a conforming sender writes.
    pub fn parse(bytes: &[u8]) -> Option<FrameHeader> {
        let b = bytes.get(..HEADER_LEN)?;
        let length = u32::from_be_bytes([0, b[0], b[1], b[2]]);
        let (kind, defined, zero_stream) = FrameType::rules(b[3])?;
        let flags = b[4];
        let raw = u32::from_be_bytes([b[5], b[6], b[7], b[8]]);
        if flags & !defined != 0 || raw & 0x8000_0000 != 0 || !kind.length_ok(length) {
            return None;
        }
        if zero_stream.is_some_and(|zero| zero != (raw == 0)) {
            return None;
        }
        Some(FrameHeader {
            length,
            kind,
            flags,
            stream: raw,
        })
    }

    /// The whole frame's size, header included.
    pub fn size(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.length)
    }
}

/// A piece of a sent byte run: the preface or one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Its size in bytes (a frame's header included).
    pub len: u64,
    /// Its stream (0: the connection; the preface is the connection's).
    pub stream: u32,
    /// True for a frame carrying a request or response ([`FrameType::carries_message`]).
    pub message: bool,
    /// True for a HEADERS frame: the start of a request or response (or trailers).
    pub headers: bool,
}

/// The pieces of a run of bytes that starts at a frame boundary (or with the preface), as
/// far as `head` (its first bytes) shows them: the preface if there, then every frame
/// whose header lies in `head`; the last may extend past `head`. `None` when `head` does
/// not start with the preface or a valid frame header.
pub fn pieces(head: &[u8]) -> Option<Vec<Piece>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    if head.starts_with(PREFACE) {
        out.push(Piece {
            len: PREFACE.len() as u64,
            stream: 0,
            message: false,
            headers: false,
        });
        at = PREFACE.len();
    }
    while let Some(h) = head.get(at..).and_then(FrameHeader::parse) {
        out.push(Piece {
            len: h.size(),
            stream: h.stream,
            message: h.kind.carries_message(),
            headers: h.kind == FrameType::Headers,
        });
        let Some(next) = usize::try_from(h.size())
            .ok()
            .and_then(|s| at.checked_add(s))
        else {
            break;
        };
        at = next;
    }
    (!out.is_empty()).then_some(out)
}

/// The request the HEADERS frames in `head` (read as [`pieces`] are) open: a gRPC call
/// (`:path` `/package.Service/Method`, and a `content-type` of `application/grpc` when the
/// block shows one) or else an HTTP request (`:method` and `:path`), from the fields that
/// need no dynamic table ([`hpack::static_fields`]). `None` when no HEADERS frame shows a
/// `:path`, or when frames of the head show different requests (which one opens a given
/// span is then unknown).
pub fn request(head: &[u8]) -> Option<Message> {
    let mut at = if head.starts_with(PREFACE) {
        PREFACE.len()
    } else {
        0
    };
    let mut found: Option<Message> = None;
    while let Some(h) = head.get(at..).and_then(FrameHeader::parse) {
        let start = at + HEADER_LEN;
        let end = start.saturating_add(usize::try_from(h.length).ok()?);
        if h.kind == FrameType::Headers {
            let block = &head[start..end.min(head.len())];
            if let Some(message) = headers_request(block, h.flags) {
                if found.as_ref().is_some_and(|m| *m != message) {
                    return None;
                }
                found = Some(message);
            }
        }
        at = end;
    }
    found
}

/// The request of one HEADERS frame's payload `payload` (as far as seen) with `flags`.
fn headers_request(payload: &[u8], flags: u8) -> Option<Message> {
    let pad_len = usize::from(flags & PADDED != 0);
    let priority = if flags & PRIORITY != 0 { 5 } else { 0 };
    let fields = hpack::static_fields(payload.get(pad_len + priority..)?);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let path = field(":path")?;
    let grpc_type = field("content-type").map(|t| t.starts_with("application/grpc"));
    match (grpc_call(path), grpc_type, field(":method")) {
        (Some((service, method)), Some(true) | None, Some("POST") | None) => Some(Message::Grpc {
            service: service.to_string(),
            method: method.to_string(),
        }),
        (_, _, Some(method)) => Some(Message::HttpRequest {
            method: method.to_string(),
            path: path.split(['?', '#']).next().unwrap_or(path).to_string(),
        }),
        _ => None,
    }
}

/// The service and method of a gRPC path, `/package.Service/Method`.
fn grpc_call(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    let name = |s: &str, dots: bool| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || (dots && c == '.'))
    };
    (name(service, true) && name(method, false)).then_some((service, method))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpack::tests::hex;

    /// A HEADERS frame of stream `stream` around `block`.
    fn headers(stream: u32, block: &[u8]) -> Vec<u8> {
        let mut frame = header(block.len() as u32, 1, 4, stream);
        frame.extend_from_slice(block);
        frame
    }

    /// A gRPC request's first header block for `/kst.Back/Work` (Python's hpack, Huffman).
    const WORK: &str = "8386448b63aa12bdd193ab1c8f675f418b089d5c0b8170dc6c006c3f5f8b1d75d0620d263d4c4d65644082497f864d833505b11f";

    #[test]
    fn a_literal_grpc_path_names_the_call() {
        let work = Message::Grpc {
            service: "kst.Back".into(),
            method: "Work".into(),
        };
        assert_eq!(request(&headers(1, &hex(WORK))), Some(work.clone()));
        // After the preface and SETTINGS, cut by the head inside the block's later fields.
        let mut first = PREFACE.to_vec();
        first.extend(header(6, 4, 0, 0));
        first.extend([0, 4, 0, 0, 0xff, 0xff]);
        first.extend(headers(1, &hex(WORK)));
        assert_eq!(request(&first[..70]), Some(work.clone()));
        // Padded, with priority: the block after pad length and dependency.
        let mut padded = vec![2, 0, 0, 0, 0, 16];
        padded.extend(hex(WORK));
        padded.extend([0, 0]);
        let mut frame = header(padded.len() as u32, 1, 0x04 | 0x08 | 0x20, 3);
        frame.extend(padded);
        assert_eq!(request(&frame), Some(work.clone()));
        // The same path twice in one send is one request; two paths are ambiguous.
        let mut two = headers(1, &hex(WORK));
        two.extend(headers(3, &hex(WORK)));
        assert_eq!(request(&two), Some(work));
        let other = hex("8386440d2f6b73742e4261636b2f4f7468");
        two.extend(headers(5, &other));
        assert_eq!(request(&two), None);
    }

    #[test]
    fn other_requests_and_blocks_without_a_path() {
        // C.4.1 of RFC 7541: GET / with a literal authority: an HTTP request.
        let get = headers(1, &hex("828684418cf1e3c2e5f23a6ba0ab90f4ff"));
        assert_eq!(
            request(&get),
            Some(Message::HttpRequest {
                method: "GET".into(),
                path: "/".into()
            })
        );
        // The second use of the path: by dynamic reference, unknown.
        assert_eq!(request(&headers(3, &hex("8386c1c0bfbe"))), None);
        // A grpc-looking path with another content-type is plain HTTP/2.
        let json = hex("8386440e2f6b73742e4261636b2f576f726b5f106170706c69636174696f6e2f6a736f6e");
        assert_eq!(
            request(&headers(1, &json)),
            Some(Message::HttpRequest {
                method: "POST".into(),
                path: "/kst.Back/Work".into()
            })
        );
        // DATA only, a response's HEADERS (:status 200), garbage.
        assert_eq!(request(&header(5, 0, 0, 1)), None);
        assert_eq!(request(&headers(1, &[0x88])), None);
        assert_eq!(request(b"GET / HTTP/1.1\r\n"), None);
    }

    fn header(length: u32, kind: u8, flags: u8, stream: u32) -> Vec<u8> {
        let mut b = length.to_be_bytes()[1..].to_vec();
        b.push(kind);
        b.push(flags);
        b.extend(stream.to_be_bytes());
        b
    }

    #[test]
    fn headers_give_length_type_flags_and_stream() {
        // A gRPC request's HEADERS frame as grpcio sends it.
        let h = FrameHeader::parse(b"\x00\x00 \x01\x04\x00\x00\x12\x05\xc5\xc4").unwrap();
        assert_eq!(
            h,
            FrameHeader {
                length: 32,
                kind: FrameType::Headers,
                flags: 4,
                stream: 0x1205
            }
        );
        assert_eq!(h.size(), 41);
        assert!(h.kind.carries_message());
        let ping = FrameHeader::parse(&header(8, 6, 1, 0)).unwrap();
        assert_eq!(ping.kind, FrameType::Ping);
        assert!(!ping.kind.carries_message());
    }

    #[test]
    fn bytes_a_conforming_sender_never_writes_are_no_header() {
        for bad in [
            header(8, 6, 0, 3),               // PING on a stream
            header(4, 0, 0, 0),               // DATA on the connection
            header(4, 0, 0x04, 1),            // DATA with an undefined flag
            header(4, 10, 0, 1),              // unknown type
            header(7, 6, 0, 0),               // PING of the wrong length
            header(4, 1, 4, 1 << 31),         // reserved bit set
            header(5, 8, 0, 0),               // WINDOW_UPDATE of the wrong length
            b"\x00\x00\x04\x08\x00".to_vec(), // cut short
        ] {
            assert_eq!(FrameHeader::parse(&bad), None, "{bad:?}");
        }
        for text in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"HTTP/1.1 200 OK\r\n",
            b"*1\r\n$4\r\nPING\r\n",
            b"Q\0\0\0\x0dSELECT 1;\0",
            b"\0\0\0\x08\x04\xd2\x16\x2f",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc",
            b"",
        ] {
            assert_eq!(pieces(text), None, "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn a_send_divides_into_its_frames_as_far_as_its_head_shows() {
        // Preface, SETTINGS (12 B payload), then a WINDOW_UPDATE whose header the head
        // shows, its payload cut off.
        let mut head = PREFACE.to_vec();
        head.extend(header(12, 4, 0, 0));
        head.extend([0; 12]);
        head.extend(header(4, 8, 0, 0));
        let control = |len| Piece {
            len,
            stream: 0,
            message: false,
            headers: false,
        };
        assert_eq!(
            pieces(&head).unwrap(),
            vec![control(24), control(21), control(13),]
        );
        // Two responses in one send: HEADERS and DATA of stream 5 seen, then garbage
        // where the next header should be: the walk stops there.
        let mut two = header(3, 1, 4, 5);
        two.extend([0x88, 0xc0, 0xbf]);
        two.extend(header(21, 0, 0, 5));
        two.extend([0; 21]);
        two.extend(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff");
        let got = pieces(&two).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got[0].headers && !got[1].headers);
        assert_eq!((got[1].len, got[1].stream, got[1].message), (30, 5, true));
        // A frame header cut off by the head's end is not a piece.
        assert_eq!(pieces(&header(3, 1, 4, 5)[..8]), None);
    }
}
