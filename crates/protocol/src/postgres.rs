//! PostgreSQL frontend messages (protocol 3.0): a simple query (`Q`), a parse (`P`, the
//! extended protocol's statement), or a startup message (a new session). Cancel, SSL and
//! GSS requests and every other message give `None`.

use crate::message::Message;
use crate::sql;

/// Protocol version 3.0 as a startup message carries it.
const PROTOCOL_3: u32 = 0x0003_0000;
/// Largest message length believed (the server's own limit is 1 GiB).
const MAX_LEN: u32 = 1 << 30;

fn be_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// The text of `bytes` up to its NUL (or its end when cut short), as far as it is UTF-8.
fn c_text(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let bytes = &bytes[..end];
    match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
    }
}

/// The summary of a statement's text.
fn statement(text: &str) -> Option<Message> {
    Some(Message::Postgres {
        operation: sql::operation(text)?,
        query: sql::sanitize(text),
    })
}

/// The message at the start of `head`.
pub fn parse(head: &[u8]) -> Option<Message> {
    let tag = *head.first()?;
    if tag == 0 {
        // Untagged: a startup-phase message, length then protocol code.
        let len = be_u32(head)?;
        return (be_u32(head.get(4..)?)? == PROTOCOL_3 && (8..MAX_LEN).contains(&len))
            .then_some(Message::PostgresStartup);
    }
    let len = be_u32(head.get(1..)?)?;
    if !(5..MAX_LEN).contains(&len) {
        return None;
    }
    let body = head.get(5..)?;
    match tag {
        b'Q' => statement(c_text(body)),
        b'P' => {
            let name_end = body.iter().position(|&b| b == 0)?;
            statement(c_text(&body[name_end + 1..]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn queries_and_parses_give_operation_and_sanitized_text() {
        let q = message(b'Q', b"select name from users where id = 7;\0");
        assert_eq!(
            parse(&q),
            Some(Message::Postgres {
                operation: "SELECT".into(),
                query: "select name from users where id = ?;".into()
            })
        );
        let p = message(b'P', b"s1\0INSERT INTO posts VALUES ($1, 'x')\0\0\0");
        assert_eq!(
            parse(&p),
            Some(Message::Postgres {
                operation: "INSERT".into(),
                query: "INSERT INTO posts VALUES ($1, ?)".into()
            })
        );
        // Cut short by the head's length, in the middle of a UTF-8 character.
        let long = message(b'Q', "UPDATE t SET v = 'é".as_bytes());
        assert_eq!(
            parse(&long[..long.len() - 1]),
            Some(Message::Postgres {
                operation: "UPDATE".into(),
                query: "UPDATE t SET v = ?".into()
            })
        );
    }

    #[test]
    fn startup_is_recognised_and_other_messages_are_not() {
        let mut startup = Vec::new();
        startup.extend_from_slice(&23u32.to_be_bytes());
        startup.extend_from_slice(&PROTOCOL_3.to_be_bytes());
        startup.extend_from_slice(b"user\0app\0\0");
        assert_eq!(parse(&startup), Some(Message::PostgresStartup));
        let mut ssl = 8u32.to_be_bytes().to_vec();
        ssl.extend_from_slice(&80_877_103u32.to_be_bytes());
        for head in [
            ssl.as_slice(),
            &message(b'X', b""),
            &message(b'Q', b"\0"),
            &message(b'Q', b"123\0"),
            b"Q\xff\xff\xff\xffSELECT",
            b"P\0\0\0\x10noterminator",
            b"Q\0\0",
            b"",
        ] {
            assert_eq!(parse(head), None, "{head:?}");
        }
    }
}
