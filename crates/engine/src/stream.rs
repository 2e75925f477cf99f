//! One direction of a TCP connection as a byte stream: every byte sent is queued with the
//! context it was sent in, and the peer's reads consume bytes in order, whatever the split.
//!
//! Positions are absolute byte offsets since the stream was first seen, so a dropped
//! segment (queue bound) loses only its context, never the alignment of later bytes.

use crate::event::Tid;
use crate::model::SpanId;
use std::collections::VecDeque;

/// Whose context a run of bytes was sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Sent by a traced thread for this span (a client span for requests, a server span
    /// for responses).
    Span(SpanId),
    /// Sent by a thread outside the traced set, or context could not be known.
    Untraced,
    /// Sent before the recording started (queued at the snapshot, or a dropped segment).
    BeforeRecording,
}

/// A read whose first byte had not been sent yet (in event order) when it happened: the
/// sender was still inside its send syscall. Resolved by the send that carries the byte, or
/// as [`Origin::Untraced`] once every traced thread that was sending at the time has left
/// its send syscall without carrying it.
#[derive(Debug, Clone)]
pub(crate) struct PendingRead {
    /// Absolute offset of the read's first byte.
    pub at: u64,
    /// The server span opened by the read, whose parent is still unknown.
    pub span: SpanId,
    /// Traced threads that were inside a send syscall when the read happened.
    pub waiting: Vec<Tid>,
    /// The span is partial unless a traced sender turns up (first request seen on a
    /// connection older than the recording).
    pub suspect: bool,
}

/// One direction of one connection.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    /// Bytes sent so far (absolute end offset of the last segment).
    sent: u64,
    /// Bytes read so far (may exceed `sent` while a send's event is late).
    read: u64,
    /// Absolute start offset of the first queued segment.
    base: u64,
    /// Unread (or not yet sent-and-read) runs of bytes: (absolute end offset, origin).
    segs: VecDeque<(u64, Origin)>,
    /// A read waiting for its first byte's origin.
    pub pending: Option<PendingRead>,
    /// Endpoints bound to this stream (its sender and its reader): dropped at zero.
    pub refs: u8,
    /// Set once a read found no sender: later deficits resolve at once.
    pub sender_untraced: bool,
}

impl Stream {
    /// Queues `n` bytes sent in `origin`. Returns the origin of a pending read's first byte
    /// when this send carries it (the caller then resolves the pending read).
    pub fn push(
        &mut self,
        n: u64,
        origin: Origin,
        max_segments: usize,
    ) -> Option<(PendingRead, Origin)> {
        if n == 0 {
            return None;
        }
        if !matches!(origin, Origin::Untraced) {
            self.sender_untraced = false;
        }
        let start = self.sent;
        self.sent += n;
        match self.segs.back_mut() {
            Some((end, o)) if *o == origin => *end = self.sent,
            _ => self.segs.push_back((self.sent, origin)),
        }
        let resolved = match &self.pending {
            Some(p) if p.at >= start && p.at < self.sent => {
                self.pending.take().map(|p| (p, origin))
            }
            _ => None,
        };
        self.trim(max_segments);
        resolved
    }

    /// Consumes `n` bytes. Returns the origin of the first byte, or `None` when that byte
    /// has not been sent yet (the caller decides whether to wait for it).
    pub fn read(&mut self, n: u64) -> Option<Origin> {
        let first = self.read;
        self.read += n;
        let origin = self.origin_at(first);
        self.trim(usize::MAX);
        origin
    }

    /// Called before the first read of a new message: every earlier message in this
    /// direction was answered, so was fully read, and the reader must now be at the start
    /// of the latest message (or, when that message's send event is still to come, at the
    /// end of what was sent). On a connection older than the recording the accounting can
    /// be off by the bytes that moved between the snapshot and the first event; this puts
    /// the reader back in place. Runs of untraced bytes (consecutive messages may share
    /// one) only move the reader forward.
    pub fn realign_at_turn(&mut self) {
        if self.read > self.sent {
            self.read = self.sent;
            return;
        }
        let Some(&(_, origin)) = self.segs.back() else {
            return;
        };
        let last = self.segs.len() - 1;
        let last_start = match last {
            0 => self.base,
            _ => self.segs[last - 1].0,
        };
        let traced = matches!(origin, Origin::Span(_));
        if self.read < self.sent && (last_start > self.read || traced) {
            self.read = last_start;
            self.trim(usize::MAX);
        }
    }

    /// Absolute offset the next send starts at.
    pub fn sent_offset(&self) -> u64 {
        self.sent
    }

    /// Absolute offset the next read starts at.
    pub fn read_offset(&self) -> u64 {
        self.read
    }

    /// True when bytes were sent that the reader has not consumed.
    pub fn has_unread(&self) -> bool {
        self.sent > self.read
    }

    /// The run of bytes the next read starts in: its end offset and its origin (`None`
    /// when that byte was not sent yet, or its run was dropped).
    pub fn next_run(&self) -> Option<(u64, Origin)> {
        if self.read < self.base || self.read >= self.sent {
            return None;
        }
        let i = self.segs.partition_point(|&(end, _)| end <= self.read);
        self.segs.get(i).copied()
    }

    fn origin_at(&self, at: u64) -> Option<Origin> {
        if at >= self.sent {
            return None;
        }
        if at < self.base {
            return Some(Origin::BeforeRecording);
        }
        let i = self.segs.partition_point(|&(end, _)| end <= at);
        self.segs.get(i).map(|&(_, origin)| origin)
    }

    /// Drops fully read segments, then the oldest ones beyond `max_segments` (their bytes
    /// keep their positions but lose their context).
    fn trim(&mut self, max_segments: usize) {
        while let Some(&(end, _)) = self.segs.front() {
            if end > self.read && self.segs.len() <= max_segments {
                break;
            }
            self.base = end;
            self.segs.pop_front();
        }
    }

    /// Number of queued segments (for memory accounting).
    pub fn segments(&self) -> usize {
        self.segs.len()
    }
}
