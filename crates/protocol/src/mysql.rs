//! MySQL (and MariaDB) client/server protocol: a client command packet, and the first
//! packet of the server's answer.
//!
//! A packet is a 3-byte little-endian payload length, a sequence id, then the payload.
//! MySQL packets carry no magic, so a command is believed only as strictly as a client
//! writes it: sequence id 0 (a command starts an exchange), a known command byte, a
//! payload length that fits what follows (exactly 1 for `COM_QUIT` and `COM_PING`, the
//! fixed fields of `COM_STMT_EXECUTE`), and printable text starting with a keyword for
//! `COM_QUERY` and `COM_STMT_PREPARE` (an identifier for `COM_INIT_DB`). The handshake
//! (sequence ids from 1 on the client's side) and every other command give `None`.
//!
//! An answer's first packet (sequence id 1 and up) is OK (`0x00`), ERR (`0xff`, with its
//! error code), EOF (`0xfe`, short) or a result set's column count; it is parsed only as
//! the answer to a MySQL command ([`crate::parse_answer`]), never on its own.

use crate::message::{Message, MysqlReply};
use crate::sql;

/// Bytes before a packet's payload: length (3) and sequence id (1).
const HEADER_LEN: usize = 4;
/// `COM_QUIT`: close the connection.
const COM_QUIT: u8 = 0x01;
/// `COM_INIT_DB`: change the default schema.
const COM_INIT_DB: u8 = 0x02;
/// `COM_QUERY`: a text-protocol statement.
const COM_QUERY: u8 = 0x03;
/// `COM_PING`.
const COM_PING: u8 = 0x0e;
/// `COM_STMT_PREPARE`: prepare a statement.
const COM_STMT_PREPARE: u8 = 0x16;
/// `COM_STMT_EXECUTE`: run a prepared statement.
const COM_STMT_EXECUTE: u8 = 0x17;
/// `COM_STMT_EXECUTE`'s fixed fields: statement id (4), flags (1), iteration count (4).
const EXECUTE_FIXED: usize = 9;
/// `COM_STMT_EXECUTE`'s cursor flags (read-only, for update, scrollable, parameter count
/// available): any other bit set is not a client's.
const EXECUTE_FLAGS: u8 = 0x0f;
/// Longest schema name MySQL accepts (64 characters of up to 4 bytes).
const MAX_SCHEMA: usize = 256;

/// A packet at the start of `head`: its payload length, sequence id, and the payload as
/// far as `head` has it.
fn packet(head: &[u8]) -> Option<(usize, u8, &[u8])> {
    let h = head.get(..HEADER_LEN)?;
    let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
    let payload = &head[HEADER_LEN..];
    Some((len, h[3], &payload[..payload.len().min(len)]))
}

/// The text of `bytes` (cut at a character boundary when the head cut a character), when
/// every character is printable or white space.
fn printable(bytes: &[u8]) -> Option<&str> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    (!text
        .chars()
        .any(|c| c.is_control() && !c.is_ascii_whitespace()))
    .then_some(text)
}

/// The statement summary of a `COM_QUERY` or `COM_STMT_PREPARE` payload's text.
fn statement(text: &[u8]) -> Option<Message> {
    let text = printable(text)?;
    Some(Message::Mysql {
        operation: sql::operation(text)?,
        query: Some(sql::sanitize(text)),
    })
}

/// A command without SQL text, named `operation`.
fn command(operation: &str) -> Option<Message> {
    Some(Message::Mysql {
        operation: operation.to_string(),
        query: None,
    })
}

/// The client command at the start of `head`.
pub fn parse(head: &[u8]) -> Option<Message> {
    let (len, seq, payload) = packet(head)?;
    if seq != 0 {
        return None;
    }
    let (&code, body) = payload.split_first()?;
    match code {
        COM_QUIT if len == 1 => command("QUIT"),
        COM_PING if len == 1 => command("PING"),
        COM_INIT_DB if (2..=MAX_SCHEMA).contains(&len) => {
            let name = printable(body)?;
            let identifier = name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '$');
            (identifier && !name.is_empty()).then(|| command("INIT_DB"))?
        }
        COM_QUERY if len >= 2 => statement(query_text(body)),
        COM_STMT_PREPARE if len >= 2 => statement(body),
        COM_STMT_EXECUTE if len > EXECUTE_FIXED => {
            let fixed = body.get(..EXECUTE_FIXED)?;
            (fixed[4] & !EXECUTE_FLAGS == 0 && fixed[5..] == [1, 0, 0, 0])
                .then(|| command("EXECUTE"))?
        }
        _ => None,
    }
}

/// A `COM_QUERY` payload's SQL: after the query attributes' counts when the client sends
/// them (MySQL 8's `CLIENT_QUERY_ATTRIBUTES`: no parameter, one parameter set), else the
/// whole payload.
fn query_text(body: &[u8]) -> &[u8] {
    body.strip_prefix(&[0, 1]).unwrap_or(body)
}

/// The first packet of a server's answer at the start of `head`.
pub fn parse_reply(head: &[u8]) -> Option<Message> {
    let (len, seq, payload) = packet(head)?;
    if seq == 0 || len == 0 {
        return None;
    }
    let reply = match *payload.first()? {
        // OK: affected rows, last insert id (length-encoded), status flags, warnings.
        0x00 if len >= 7 => MysqlReply::Ok,
        // ERR: error code, `#` and the 5-character SQL state, the message.
        0xff if len >= 9 && payload.get(3) == Some(&b'#') => {
            let code = u16::from_le_bytes([payload[1], payload[2]]);
            (code >= 1000).then_some(MysqlReply::Error { code })?
        }
        // EOF (before CLIENT_DEPRECATE_EOF): warnings and status flags.
        0xfe if len < 9 => MysqlReply::Eof,
        // A result set: its column count (length-encoded; a metadata flag may follow).
        n @ 1..=0xfa if len <= 2 => MysqlReply::Columns {
            count: u64::from(n),
        },
        0xfc if (3..=4).contains(&len) => {
            let count = u16::from_le_bytes([*payload.get(1)?, *payload.get(2)?]);
            (count > 0xfa).then_some(MysqlReply::Columns {
                count: u64::from(count),
            })?
        }
        _ => return None,
    };
    Some(Message::MysqlReply(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet of sequence id `seq` around `payload`.
    fn packet_of(seq: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = (payload.len() as u32).to_le_bytes()[..3].to_vec();
        p.push(seq);
        p.extend_from_slice(payload);
        p
    }

    fn sql(operation: &str, query: &str) -> Option<Message> {
        Some(Message::Mysql {
            operation: operation.into(),
            query: Some(query.into()),
        })
    }

    #[test]
    fn queries_and_prepares_give_operation_and_sanitized_text() {
        let q = packet_of(0, b"\x03select name from users where id = 7 and n = 'bob'");
        assert_eq!(
            parse(&q),
            sql("SELECT", "select name from users where id = ? and n = ?")
        );
        // MySQL 8 with query attributes: 0 parameters, 1 parameter set, then the text.
        let attrs = packet_of(0, b"\x03\x00\x01INSERT INTO t VALUES (1, 'x')");
        assert_eq!(parse(&attrs), sql("INSERT", "INSERT INTO t VALUES (?, ?)"));
        let prepare = packet_of(0, b"\x16UPDATE t SET v = ? WHERE id = 3");
        assert_eq!(
            parse(&prepare),
            sql("UPDATE", "UPDATE t SET v = ? WHERE id = ?")
        );
        // Cut short by the head, in the middle of a UTF-8 character.
        let long = packet_of(0, "\x03DELETE FROM t WHERE v = 'é'".as_bytes());
        assert_eq!(
            parse(&long[..long.len() - 2]),
            sql("DELETE", "DELETE FROM t WHERE v = ?")
        );
        // Two packets in one send: the first's text ends at its length.
        let mut two = packet_of(0, b"\x03COMMIT");
        two.extend(packet_of(0, b"\x01"));
        assert_eq!(parse(&two), sql("COMMIT", "COMMIT"));
    }

    #[test]
    fn commands_without_text_are_named() {
        let named = |operation: &str| {
            Some(Message::Mysql {
                operation: operation.into(),
                query: None,
            })
        };
        assert_eq!(parse(&packet_of(0, b"\x01")), named("QUIT"));
        assert_eq!(parse(&packet_of(0, b"\x0e")), named("PING"));
        assert_eq!(parse(&packet_of(0, b"\x02shop_db")), named("INIT_DB"));
        let execute = packet_of(0, b"\x17\x01\x00\x00\x00\x00\x01\x00\x00\x00\x01\x01\x08");
        assert_eq!(parse(&execute), named("EXECUTE"));
    }

    #[test]
    fn other_bytes_are_no_command() {
        for head in [
            packet_of(1, b"\x03SELECT 1"),        // not the start of an exchange
            packet_of(0, b"\x03"),                // no text
            packet_of(0, b"\x03123"),             // no keyword
            packet_of(0, b"\x03SELECT \x01\x02"), // control bytes
            packet_of(0, b"\x03\xff\xfe"),        // not UTF-8
            packet_of(0, b"\x01\x00"),            // QUIT with a body
            packet_of(0, b"\x0e\x00"),            // PING with a body
            packet_of(0, b"\x02my db"),           // not a schema name
            packet_of(0, b"\x17\x01\x00\x00\x00\x00\x02\x00\x00\x00"), // 2 iterations
            packet_of(0, b"\x17\x01\x00\x00\x00\x80\x01\x00\x00\x00"), // unknown flag
            packet_of(0, b"\x17\x01\x00"),        // too short
            packet_of(0, b"\x04table\x00"),       // COM_FIELD_LIST: not parsed
            b"\x05\x00\x00".to_vec(),
            b"GET / HTTP/1.1\r\n".to_vec(),
            b"Q\0\0\0\x0dSELECT 1;\0".to_vec(),
            b"*1\r\n$4\r\nPING\r\n".to_vec(),
            Vec::new(),
        ] {
            assert_eq!(parse(&head), None, "{head:?}");
        }
    }

    #[test]
    fn replies_are_ok_error_eof_or_columns() {
        let reply = |bytes: &[u8]| match parse_reply(bytes) {
            Some(Message::MysqlReply(r)) => Some(r),
            _ => None,
        };
        let ok = packet_of(1, b"\x00\x01\x00\x02\x00\x00\x00");
        assert_eq!(reply(&ok), Some(MysqlReply::Ok));
        let err = packet_of(1, b"\xff\x7a\x04#42S02Table 'shop.t' doesn't exist");
        assert_eq!(reply(&err), Some(MysqlReply::Error { code: 1146 }));
        assert_eq!(
            reply(&packet_of(5, b"\xfe\x00\x00\x02\x00")),
            Some(MysqlReply::Eof)
        );
        assert_eq!(
            reply(&packet_of(1, b"\x03")),
            Some(MysqlReply::Columns { count: 3 })
        );
        assert_eq!(
            reply(&packet_of(1, b"\xfc\x2c\x01")),
            Some(MysqlReply::Columns { count: 300 })
        );
        for bad in [
            packet_of(0, b"\x00\x01\x00\x02\x00\x00\x00"), // a command's sequence id
            packet_of(1, b"\x00\x00"),                     // OK too short
            packet_of(1, b"\xff\x01\x00#HY000x"),          // no such error code
            packet_of(1, b"\xff\x7a\x04HY000xx"),          // no SQL state marker
            packet_of(1, b"\x03\x00\x00"),                 // a column count is short
            packet_of(1, b"\xfc\x05\x00"),                 // 5 needs no 0xfc
            packet_of(1, b""),
            b"HTTP/1.1 200 OK\r\n".to_vec(),
        ] {
            assert_eq!(reply(&bad), None, "{bad:?}");
        }
    }
}
