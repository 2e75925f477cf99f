//! A Redis command in RESP: `*N\r\n` then N bulk strings `$len\r\nbytes\r\n`; the first is
//! the command. Arguments are never kept: the query text shows each as `?`. And where the
//! RESP values a head shows end ([`values`]): a pipeline's commands, and their replies,
//! one by one.

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

/// Nesting of aggregates followed at most (a head shows a few dozen bytes).
const MAX_DEPTH: usize = 8;

/// Why the size of a RESP value is not known from the bytes shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unknown {
    /// The bytes end inside a line the size depends on.
    Short,
    /// The bytes are no RESP value.
    Bad,
}

/// The size of a RESP value the bytes shown (the start of a message) say about it: the
/// bytes it spans from its first byte, or the next value's start when it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Every line it spans is shown (a bulk string's content may lie past the bytes shown:
    /// its length says where it ends): the value is this many bytes.
    Known(u64),
    /// It starts here, but its end lies past the bytes shown.
    Unknown,
}

/// The sizes of the RESP values `head` shows one after the other from its first byte (the
/// commands of a pipelined write, the replies of a pipelined read): each known one, then
/// [`Size::Unknown`] for a value whose end lies past the head. Empty when `head` does not
/// start with a RESP value; a value that is not RESP ends the list.
pub fn values(head: &[u8]) -> Vec<Size> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < head.len() {
        match value_len(&head[at..], 0) {
            Ok(n) => {
                out.push(Size::Known(n as u64));
                at = at.saturating_add(n);
            }
            Err(Unknown::Short) => {
                out.push(Size::Unknown);
                break;
            }
            Err(Unknown::Bad) => break,
        }
    }
    out
}

/// The line at the start of `bytes` up to its `\r\n`: its text and the bytes it spans.
fn line(bytes: &[u8]) -> Result<(&[u8], usize), Unknown> {
    match bytes.iter().position(|&b| b == b'\r') {
        Some(end) => match bytes.get(end + 1) {
            Some(b'\n') => Ok((&bytes[..end], end + 2)),
            Some(_) => Err(Unknown::Bad),
            None => Err(Unknown::Short),
        },
        None if bytes.contains(&b'\n') => Err(Unknown::Bad),
        None => Err(Unknown::Short),
    }
}

/// A length or count line's number (`-1`, a null, as none).
fn number(text: &[u8]) -> Result<Option<usize>, Unknown> {
    if text == b"-1" {
        return Ok(None);
    }
    if text.is_empty() || text.len() > 9 || !text.iter().all(u8::is_ascii_digit) {
        return Err(Unknown::Bad);
    }
    Ok(Some(
        text.iter()
            .fold(0usize, |n, &d| n * 10 + usize::from(d - b'0')),
    ))
}

/// The size of the RESP2 or RESP3 value at the start of `bytes`.
fn value_len(bytes: &[u8], depth: usize) -> Result<usize, Unknown> {
    let (&kind, rest) = bytes.split_first().ok_or(Unknown::Short)?;
    if !b"+-(,#_:$!=*~>%".contains(&kind) {
        return Err(Unknown::Bad);
    }
    let (text, n) = line(rest)?;
    let head = 1 + n;
    match kind {
        b'+' | b'-' | b'(' | b',' | b'#' | b'_' | b':' => {
            let printable = text.iter().all(|b| (b' '..=b'~').contains(b));
            let fits = match kind {
                b':' => text
                    .strip_prefix(b"-")
                    .unwrap_or(text)
                    .iter()
                    .all(u8::is_ascii_digit),
                b'#' => text == b"t" || text == b"f",
                b'_' => text.is_empty(),
                _ => true,
            };
            if printable && fits && (kind != b':' || !text.is_empty()) {
                Ok(head)
            } else {
                Err(Unknown::Bad)
            }
        }
        b'$' | b'!' | b'=' => Ok(match number(text)? {
            Some(len) => head + len + 2,
            None => head,
        }),
        b'*' | b'~' | b'>' | b'%' if depth < MAX_DEPTH => {
            let Some(count) = number(text)? else {
                return Ok(head);
            };
            let items = if kind == b'%' { count * 2 } else { count };
            let mut at = head;
            for _ in 0..items {
                let tail = bytes.get(at..).filter(|t| !t.is_empty());
                at += value_len(tail.ok_or(Unknown::Short)?, depth + 1)?;
            }
            Ok(at)
        }
        _ => Err(Unknown::Bad),
    }
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

    #[test]
    fn values_end_where_their_lengths_say() {
        use Size::{Known, Unknown};
        // Two commands, the second's value past the head: its length is shown.
        let set = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        let two = [&set[..], b"*2\r\n$3\r\nGET\r\n$10\r\nuser"].concat();
        assert_eq!(values(&two), vec![Known(27), Known(30)]);
        // Replies of a pipeline: OK, a bulk string, an integer, a null, an error.
        assert_eq!(
            values(b"+OK\r\n$5\r\nhello\r\n:42\r\n$-1\r\n-ERR no\r\n"),
            vec![Known(5), Known(11), Known(5), Known(5), Known(9)]
        );
        // An array reply, then one cut inside its count line.
        assert_eq!(
            values(b"*2\r\n$1\r\na\r\n:1\r\n*1"),
            vec![Known(15), Unknown]
        );
        // A command whose last argument's length lies past the head.
        assert_eq!(values(b"*3\r\n$3\r\nSET\r\n$40\r\nkey"), vec![Unknown]);
        // RESP3: a map, a boolean, a double.
        assert_eq!(
            values(b"%1\r\n+a\r\n#t\r\n,1.5\r\n"),
            vec![Known(12), Known(6)]
        );
        // Not RESP, or RESP followed by something else.
        assert_eq!(values(b"GET / HTTP/1.1\r\n"), vec![]);
        assert_eq!(values(b"+OK\rx"), vec![]);
        assert_eq!(values(b":12\r\nHTTP"), vec![Known(5)]);
        assert_eq!(values(b""), vec![]);
    }
}
