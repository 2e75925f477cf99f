//! Orphan calls decided when one of their candidates answers: first in, first out.
//!
//! An orphan call whose answer was read, with several requests in progress that could
//! have made it, waits (its trace held) instead of being guessed at. Once its endpoint's
//! counts are fitted ([`crate::patterns`]), a request has room for so many calls of each
//! kind. Queues (a client's connection pool, an executor's work queue, an event loop's
//! ready queue) serve first in, first out: when a request starts its response, the waiting
//! orphans of its process, oldest written first, are matched with the requests in progress
//! that have room for them, oldest read first (each call to a request read before it was
//! written); the ones matched with the answering request are its. Deciding at a response
//! rather than when the answer is read lets the calls linked meanwhile fill the requests'
//! room first. A call none of whose candidates is left in progress stays an orphan.

use super::*;

/// Orphans waiting at most; past it the oldest is let go (stays an orphan).
const MAX_WAITING: usize = 256;

impl Engine {
    /// Orphan call `call`'s answer was read: if requests of its process that started
    /// before it are still in progress, it waits until one of them answers.
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

    /// `request` starts its response: the waiting orphans of its process are matched first
    /// in, first out with the requests in progress that have room for them (oldest call to
    /// oldest request, each request up to its room); those matched with `request` are its.
    /// Orphans with no other candidate left in progress stop waiting.
    pub(super) fn split_at_response(&mut self, request: SpanId) {
        let Some(pid) = self
            .spans
            .get(request)
            .filter(|r| r.in_progress())
            .map(|r| r.span.pid)
        else {
            return;
        };
        let of_process = |id: &SpanId| self.spans.get(*id).is_some_and(|c| c.span.pid == pid);
        if !self.split_waiting.iter().any(of_process) {
            return;
        }
        let mut waiting = std::mem::take(&mut self.split_waiting);
        waiting.retain(|&call| {
            let keep = self
                .spans
                .get(call)
                .is_some_and(|c| c.span.parent.is_none());
            if !keep {
                self.spans.release(call);
            }
            keep
        });
        waiting.sort_by_key(|&id| self.spans.get(id).map(|c| (c.span.start, id)));
        let mut requests: Vec<(Timestamp, SpanId)> = self
            .spans
            .requests_started_by(pid, Timestamp::MAX)
            .map(|r| (r.span.start, r.span.id))
            .collect();
        requests.sort_unstable();
        // Room taken by the matching so far, per request and call signature.
        let mut taken: Vec<(SpanId, u64)> = Vec::new();
        let mut mine = Vec::new();
        for &call in &waiting {
            let Some((start, sig)) = self
                .spans
                .get(call)
                .filter(|c| c.span.pid == pid)
                .and_then(|c| Some((c.span.start, c.sig?)))
            else {
                continue;
            };
            let owner = requests
                .iter()
                .take_while(|&&(r_start, _)| r_start <= start)
                .map(|&(_, r)| r)
                .find(|&r| {
                    let used = taken.iter().filter(|&&(t, s)| t == r && s == sig).count();
                    self.room_left(r, call).unwrap_or(0) > used
                });
            if let Some(r) = owner {
                taken.push((r, sig));
                if r == request {
                    mine.push(call);
                }
            }
        }
        for &call in &mine {
            self.adopt(call, request, pid, Evidence::Split);
            self.spans.release(call);
        }
        waiting.retain(|&call| {
            if mine.contains(&call) {
                return false;
            }
            let Some(c) = self.spans.get(call) else {
                return false;
            };
            if c.span.pid != pid {
                return true;
            }
            let start = c.span.start;
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
