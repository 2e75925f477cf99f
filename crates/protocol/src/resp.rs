//! A Redis command in RESP: `*N\r\n` then N bulk strings `$len\r\nbytes\r\n`; the first is
//! the command. Arguments are never kept: the query text shows each as `?`.

use crate::message::Message;

/// Longest command name accepted (Redis's longest is under 32 bytes).
const MAX_COMMAND: usize = 32;

/// Splits `*N\r\n` / `$N\r\n`: the number after `prefix` and the rest.
fn length_line(bytes: &[u8], prefix: u8) -> Option<(usize, &[u8])> {
    let rest = bytes.strip_prefix(&[prefix])?;
    let end = rest.iter().position(|&b| b == b'\r')?;
    let digits = &rest[..end];
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0usize, |n, &d| n * 10 + usize::from(d - b'0'));
    Some((n, rest[end..].strip_prefix(b"\r\n")?))
}

/// The command of a RESP array, with its arguments as `?`.
pub fn parse(head: &[u8]) -> Option<Message> {
    let (count, rest) = length_line(head, b'*')?;
    if count == 0 {
        return None;
    }
    let (len, rest) = length_line(rest, b'$')?;
    if len == 0 || len > MAX_COMMAND {
        return None;
    }
    let name = rest.get(..len)?;
    if !name
        .iter()
        .all(|b| b.is_ascii_alphabetic() || *b == b'_' || *b == b'-' || *b == b'|')
    {
        return None;
    }
    let command = String::from_utf8(name.to_ascii_uppercase()).ok()?;
    let mut query = command.clone();
    for _ in 1..count.min(64) {
        query.push_str(" ?");
    }
    Some(Message::Redis { command, query })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(head: &[u8]) -> Option<(String, String)> {
        match parse(head)? {
            Message::Redis { command, query } => Some((command, query)),
            _ => None,
        }
    }

    #[test]
    fn commands_are_named_and_arguments_hidden() {
        assert_eq!(
            command(b"*3\r\n$3\r\nset\r\n$6\r\nuser:1\r\n$5\r\nalice\r\n"),
            Some(("SET".into(), "SET ? ?".into()))
        );
        assert_eq!(
            command(b"*1\r\n$4\r\nPING\r\n"),
            Some(("PING".into(), "PING".into()))
        );
        // Cut after the command.
        assert_eq!(
            command(b"*2\r\n$3\r\nGET\r\n$10\r\nuser:"),
            Some(("GET".into(), "GET ?".into()))
        );
    }

    #[test]
    fn other_bytes_are_not_commands() {
        for head in [
            &b"*0\r\n"[..],
            b"*1\r\n$0\r\n\r\n",
            b"*1\r\n$3\r\nGE",
            b"*1\r\n:3\r\n",
            b"*x\r\n$3\r\nGET\r\n",
            b"*1\r\n$3\r\n\x00\x01\x02\r\n",
            b"+OK\r\n",
            b"*1\r\n$99999999999\r\n",
            b"*",
        ] {
            assert_eq!(parse(head), None, "{:?}", String::from_utf8_lossy(head));
        }
    }
}
