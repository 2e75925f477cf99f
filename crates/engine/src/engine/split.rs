//! Orphan calls decided when their candidates answer: the deadline-first split.
//!
//! An orphan call whose answer was read, with several requests in progress that could
//! have made it, waits (its trace held) instead of being guessed at. Every request's calls
//! are written after it was read and answered before it answers; once its endpoint's
//! counts are fitted ([`crate::patterns`]), the split of calls between requests that the
//! counts allow gives each call, in the order they were written, to the request with room
//! for it that answers first (deadline-first: if any split exists, this one does). So the
//! first candidate to start its response while it still has room for a waiting call's
//! kind takes it, oldest waiting call first; a call none of whose candidates is left in
//! progress stays an orphan.

use super::*;

/// Orphans waiting at most; past it the oldest is let go (stays an orphan).
const MAX_WAITING: usize = 256;

impl Engine {
    /// Orphan call `call`'s answer was read: if requests of its process that started
    /// before it are still in progress, it waits for the first of them with room for it.
    pub(super) fn wait_for_split(&mut self, call: SpanId) {
        let Some(c) = self
            .spans
            .get(call)
            .filter(|c| c.span.parent.is_none() && c.sig.is_some())
        else {
            return;
        };
        let (pid, start) = (c.span.pid, c.span.start);
        if self.spans.requests_started_by(pid, start).next().is_none()
            || self.split_waiting.contains(&call)
        {
            return;
        }
        if self.split_waiting.len() == MAX_WAITING {
            let oldest = self.split_waiting.remove(0);
            self.spans.release(oldest);
        }
        self.spans.hold(call);
        self.split_waiting.push(call);
    }

    /// `request` starts its response: it takes, oldest first, the waiting orphans of its
    /// process written after it was read that it still has room for; orphans with no
    /// other candidate left in progress stop waiting.
    pub(super) fn split_at_response(&mut self, request: SpanId) {
        let Some((pid, r_start)) = self
            .spans
            .get(request)
            .filter(|r| r.in_progress())
            .map(|r| (r.span.pid, r.span.start))
        else {
            return;
        };
        let mut waiting = std::mem::take(&mut self.split_waiting);
        waiting.sort_by_key(|&id| self.spans.get(id).map(|c| (c.span.start, id)));
        waiting.retain(|&call| {
            let Some(c) = self.spans.get(call).filter(|c| c.span.parent.is_none()) else {
                self.spans.release(call);
                return false;
            };
            if c.span.pid != pid {
                return true;
            }
            let start = c.span.start;
            if start >= r_start && self.room_for(request, call) == Some(true) {
                self.adopt(call, request, pid, Evidence::Split);
                self.spans.release(call);
                return false;
            }
            let other = self
                .spans
                .requests_started_by(pid, start)
                .any(|r| r.span.id != request);
            if !other {
                self.spans.release(call);
            }
            other
        });
        self.split_waiting = waiting;
    }
}
