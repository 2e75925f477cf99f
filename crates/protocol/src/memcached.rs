//! A memcached text-protocol command: a known lower-case command word followed by a space
//! or the end of the line. Keys are not kept.

use crate::message::Message;

/// The text protocol's commands (storage, retrieval, deletion, arithmetic, touch, meta,
/// and the others).
const COMMANDS: &[&str] = &[
    "get",
    "gets",
    "gat",
    "gats",
    "set",
    "add",
    "replace",
    "append",
    "prepend",
    "cas",
    "delete",
    "incr",
    "decr",
    "touch",
    "mg",
    "ms",
    "md",
    "ma",
    "mn",
    "me",
    "stats",
    "flush_all",
    "version",
    "verbosity",
    "quit",
];

/// The command of a memcached text request.
pub fn parse(head: &[u8]) -> Option<Message> {
    let end = head
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')?;
    let word = std::str::from_utf8(&head[..end]).ok()?;
    COMMANDS.contains(&word).then(|| Message::Memcached {
        command: word.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_recognised_and_keys_dropped() {
        let name = |h: &[u8]| match parse(h) {
            Some(Message::Memcached { command }) => Some(command),
            _ => None,
        };
        assert_eq!(name(b"get user:1\r\n").as_deref(), Some("get"));
        assert_eq!(name(b"set k 0 0 5\r\nhello\r\n").as_deref(), Some("set"));
        assert_eq!(name(b"version\r\n").as_deref(), Some("version"));
        for head in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"getx k\r\n",
            b"get",
            b"",
            b"\xff\xfe ",
        ] {
            assert_eq!(parse(head), None);
        }
    }
}
