//! kspan-protocol: what a message is, from its first bytes (a payload head), as the
//! OpenTelemetry semantic conventions name it. Pure: no I/O, no allocation beyond the
//! summary, and bad, partial or unknown bytes are never an error, only `None`.
//!
//! - [`http`]: HTTP/1.x request line (method, path without query) and status line.
//! - [`h2`]: HTTP/2 frame headers and the connection preface: which stream each frame is.
//! - [`resp`]: a Redis command in RESP (an array of bulk strings).
//! - [`memcached`]: a memcached text-protocol command.
//! - [`postgres`]: PostgreSQL frontend messages: simple query, parse, startup.
//! - [`sql`]: SQL text with its literals replaced by `?`, and its operation keyword.
//! - [`message`]: the typed summary, its span name and its attributes.

#![deny(missing_docs)]

pub mod h2;
pub mod http;
pub mod memcached;
pub mod message;
pub mod postgres;
pub mod resp;
pub mod sql;

pub use message::{AttributeValue, Message};

/// What `head` (the first bytes of a message) is, trying every known protocol; `None` when
/// none recognises it.
pub fn parse(head: &[u8]) -> Option<Message> {
    http::parse_request(head)
        .or_else(|| http::parse_response(head))
        .or_else(|| resp::parse(head))
        .or_else(|| postgres::parse(head))
        .or_else(|| memcached::parse(head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_protocol_is_told_apart() {
        assert!(matches!(
            parse(b"GET /a HTTP/1.1\r\n"),
            Some(Message::HttpRequest { .. })
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\n"),
            Some(Message::HttpResponse { status: 200 })
        ));
        assert!(matches!(
            parse(b"*1\r\n$4\r\nPING\r\n"),
            Some(Message::Redis { .. })
        ));
        assert!(matches!(
            parse(b"get user:1\r\n"),
            Some(Message::Memcached { .. })
        ));
        assert!(matches!(
            parse(b"Q\0\0\0\x0dSELECT 1;\0"),
            Some(Message::Postgres { .. })
        ));
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"\x16\x03\x01\x02\x00"), None);
    }
}
