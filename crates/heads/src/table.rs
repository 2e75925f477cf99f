//! A recording's heads indexed for the analysis: by thread (which message opened a span)
//! and by socket (the answer that followed it on the same descriptor).

use crate::head::{Direction, Head};
use std::collections::HashMap;

/// Heads sorted by syscall exit, with per-thread and per-socket indexes.
#[derive(Debug, Clone, Default)]
pub struct HeadTable {
    heads: Vec<Head>,
    by_thread: HashMap<i32, Vec<u32>>,
    by_socket: HashMap<(i32, i32), Vec<u32>>,
}

impl HeadTable {
    /// Indexes `heads` (any order).
    pub fn new(mut heads: Vec<Head>) -> HeadTable {
        heads.sort_by_key(|h| (h.exit_ns, h.tid));
        let mut by_thread: HashMap<i32, Vec<u32>> = HashMap::new();
        let mut by_socket: HashMap<(i32, i32), Vec<u32>> = HashMap::new();
        for (i, h) in heads.iter().enumerate() {
            by_thread.entry(h.tid).or_default().push(i as u32);
            by_socket.entry((h.tgid, h.fd)).or_default().push(i as u32);
        }
        HeadTable {
            heads,
            by_thread,
            by_socket,
        }
    }

    /// Every head, by syscall exit.
    pub fn heads(&self) -> &[Head] {
        &self.heads
    }

    /// Number of heads.
    pub fn len(&self) -> usize {
        self.heads.len()
    }

    /// True when there are no heads.
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// The first head thread `tid` moved in direction `dir` by a syscall that ended at or
    /// after `from` and began no later than `to` (a span's start and end: the message that
    /// opened the span).
    pub fn first_of_thread(&self, tid: i32, dir: Direction, from: u64, to: u64) -> Option<&Head> {
        self.first_in(self.by_thread.get(&tid)?, dir, from, to)
    }

    /// The first head moved in direction `dir` on descriptor `fd` of process `tgid` by a
    /// syscall that ended after `after` and began no later than `to` (the answer to a
    /// message on the same socket).
    pub fn next_on_socket(
        &self,
        tgid: i32,
        fd: i32,
        dir: Direction,
        after: u64,
        to: u64,
    ) -> Option<&Head> {
        self.first_in(
            self.by_socket.get(&(tgid, fd))?,
            dir,
            after.saturating_add(1),
            to,
        )
    }

    fn first_in(&self, index: &[u32], dir: Direction, from: u64, to: u64) -> Option<&Head> {
        let start = index.partition_point(|&i| self.heads[i as usize].exit_ns < from);
        index[start..]
            .iter()
            .map(|&i| &self.heads[i as usize])
            .take_while(|h| h.enter_ns <= to)
            .find(|h| h.kind.direction() == dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::SyscallKind;

    fn head(tid: i32, fd: i32, enter_ns: u64, kind: SyscallKind, bytes: &[u8]) -> Head {
        Head {
            enter_ns,
            exit_ns: enter_ns + 5,
            ret: bytes.len() as i64,
            tgid: 100,
            tid,
            fd,
            kind,
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn a_span_finds_its_opening_message_and_the_answer_on_its_socket() {
        let table = HeadTable::new(vec![
            head(2, 9, 300, SyscallKind::Read, b"HTTP/1.1 200 OK"),
            head(1, 9, 100, SyscallKind::Write, b"GET /a HTTP/1.1"),
            head(1, 4, 50, SyscallKind::Write, b"older"),
            head(1, 9, 400, SyscallKind::Write, b"GET /b HTTP/1.1"),
            head(3, 9, 500, SyscallKind::Read, b"HTTP/1.1 404 Not Found"),
        ]);
        assert_eq!(table.len(), 5);
        let sent = table.first_of_thread(1, Direction::Send, 100, 350).unwrap();
        assert_eq!(sent.bytes, b"GET /a HTTP/1.1");
        let answer = table
            .next_on_socket(100, sent.fd, Direction::Recv, sent.exit_ns, 350)
            .unwrap();
        assert_eq!(answer.bytes, b"HTTP/1.1 200 OK");
        // The second request's answer lies past the first span's end.
        assert!(table
            .next_on_socket(100, 9, Direction::Recv, 305, 350)
            .is_none());
        assert!(table.first_of_thread(1, Direction::Recv, 0, 1000).is_none());
        assert!(table.first_of_thread(7, Direction::Send, 0, 1000).is_none());
    }
}
