//! kspan-protocol: what a message is, from its first bytes (a payload head), as the
//! OpenTelemetry semantic conventions name it. Pure: no I/O, no allocation beyond the
//! summary, and bad, partial or unknown bytes are never an error, only `None`.
//!
//! - [`http`]: HTTP/1.x request line (method, path without query) and status line.
//! - [`h2`]: HTTP/2 frame headers and the connection preface: which stream each frame is;
//!   a request's method and path (gRPC's service and method) from a HEADERS frame.
//! - [`hpack`]: the header fields of an HPACK block readable without the dynamic table.
//! - [`resp`]: a Redis command in RESP (an array of bulk strings).
//! - [`memcached`]: a memcached text-protocol command.
//! - [`postgres`]: PostgreSQL frontend messages: simple query, parse, startup.
//! - [`mysql`]: MySQL client commands (query, prepare, execute, ping, quit, init db) and
//!   the first packet of the server's answer.
//! - [`sql`]: SQL text with its literals replaced by `?`, and its operation keyword.
//! - [`message`]: the typed summary, its span name and its attributes.

#![deny(missing_docs)]

pub mod h2;
pub mod hpack;
pub mod http;
pub mod memcached;
pub mod message;
pub mod mysql;
pub mod postgres;
pub mod resp;
pub mod sql;

pub use message::{AttributeValue, Message, MysqlReply};

/// What `head` (the first bytes of a message) is, trying every known protocol; `None` when
/// none recognises it.
pub fn parse(head: &[u8]) -> Option<Message> {
    http::parse_request(head)
        .or_else(|| http::parse_response(head))
        .or_else(|| resp::parse(head))
        .or_else(|| postgres::parse(head))
        .or_else(|| mysql::parse(head))
        .or_else(|| memcached::parse(head))
}

/// What `head` is as the answer to `request`: an HTTP status line for an HTTP request, a
/// MySQL reply for a MySQL command; `None` otherwise. Answers are parsed in the light of
/// their request because some (MySQL's) carry no mark of their own.
pub fn parse_answer(request: &Message, head: &[u8]) -> Option<Message> {
    match request {
        Message::HttpRequest { .. } => http::parse_response(head),
        Message::Mysql { .. } => mysql::parse_reply(head),
        _ => None,
    }
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
        assert!(matches!(
            parse(b"\x09\0\0\0\x03SELECT 1"),
            Some(Message::Mysql { .. })
        ));
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"\x16\x03\x01\x02\x00"), None);
    }

    #[test]
    fn answers_are_parsed_as_their_request_expects() {
        let get = parse(b"GET /a HTTP/1.1\r\n").unwrap();
        let query = parse(b"\x09\0\0\0\x03SELECT 1").unwrap();
        let redis = parse(b"*1\r\n$4\r\nPING\r\n").unwrap();
        let ok = b"\x07\0\0\x01\0\0\0\x02\0\0\0";
        assert_eq!(
            parse_answer(&get, b"HTTP/1.1 404 Not Found\r\n"),
            Some(Message::HttpResponse { status: 404 })
        );
        assert_eq!(
            parse_answer(&query, ok),
            Some(Message::MysqlReply(MysqlReply::Ok))
        );
        // A MySQL reply has no mark of its own: after anything else it is nothing.
        assert_eq!(parse_answer(&get, ok), None);
        assert_eq!(parse(ok), None);
        assert_eq!(parse_answer(&query, b"HTTP/1.1 200 OK\r\n"), None);
        assert_eq!(parse_answer(&redis, b"+PONG\r\n"), None);
    }
}
