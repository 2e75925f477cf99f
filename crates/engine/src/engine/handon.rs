//! Connections handed on: a call written on a connection in the same poll round, by the same
//! event loop, right after that connection's previous answer was read.
//!
//! Such a call is either the continuation of the request whose answer freed the connection (a
//! handler awaiting its next call) or the head of a client's queue (Node's `http.Agent` above
//! `maxSockets` writes the oldest waiting call on the socket an answer just freed, before the
//! answered handler runs again). The two look the same when written. What tells them apart,
//! per process, is a kernel fact seen later: when the request that freed the connection starts
//! its response while the handed-on call still waits for its answer, that request did not make
//! the call (a handler answers after its calls). A process where most handed-on calls are
//! refuted that way hands its freed connections to queued calls: there, the read order that
//! linked a handed-on call to the last request read is no evidence, and the call is decided
//! with the movable ones, first in, first out (`split`). A process whose handed-on calls are
//! continuations never refutes them and keeps the read order.

use super::*;
use crate::fxhash::FxHashMap;
use crate::spans::LiveSpan;

/// Handed-on calls whose freeing request has not answered yet, at most (the oldest go).
const MAX_PENDING: usize = 256;

/// Checks a process needs before its rate says anything.
const MIN_CHECKS: u32 = 20;

/// From this share of refuted handed-on calls, a process hands connections to a queue.
const QUEUE_FROM: f32 = 0.5;

/// Per process: handed-on calls whose freeing request answered, and how many of them it
/// had not made (still waiting for their answer then).
#[derive(Debug, Default)]
pub(super) struct HandOns {
    /// (call, the request whose answer freed its connection).
    pending: Vec<(SpanId, SpanId)>,
    /// Per process: (refuted, checked).
    tally: FxHashMap<i32, (u32, u32)>,
}

impl HandOns {
    /// Whether process `pid` hands freed connections to queued calls (see the module's
    /// documentation).
    pub fn queues(&self, pid: i32) -> bool {
        self.tally.get(&pid).is_some_and(|&(refuted, checked)| {
            checked >= MIN_CHECKS && refuted as f32 >= QUEUE_FROM * checked as f32
        })
    }

    /// Process `pid` is gone (its id may be reused).
    pub fn forget(&mut self, pid: i32) {
        self.tally.remove(&pid);
    }
}

impl Engine {
    /// Thread `tid` writes a new call on a connection whose previous call `old` it read the
    /// answer of in this poll round: the new call `call` was handed the connection that
    /// answer freed.
    pub(super) fn note_hand_on(&mut self, tid: Tid, old: Option<SpanId>, call: SpanId) {
        let Some(round) = self
            .threads
            .map
            .get(&tid)
            .filter(|th| th.loops)
            .map(|th| th.polls)
        else {
            return;
        };
        let Some(freed_by) = old
            .and_then(|o| self.spans.get(o))
            .filter(|o| o.span.tid == tid && o.read_round == Some(round))
            .map(|o| o.span.parent)
        else {
            return;
        };
        if let Some(c) = self.spans.get_mut(call) {
            c.handed_on = true;
        }
        // The answer's call linked to no request (an orphan) still freed the connection;
        // only the check of its request has nothing to check.
        let Some(from) = freed_by else {
            return;
        };
        let pending = &mut self.hand_ons.pending;
        if pending.len() == MAX_PENDING {
            pending.remove(0);
        }
        pending.push((call, from));
    }

    /// `request` starts its response: each call handed a connection its answer freed is
    /// checked (refuted if still waiting for its answer).
    pub(super) fn check_hand_ons(&mut self, request: SpanId, pid: i32) {
        let mut pending = std::mem::take(&mut self.hand_ons.pending);
        pending.retain(|&(call, from)| {
            if from != request {
                return self.spans.get(call).is_some();
            }
            let refuted = self.spans.get(call).is_some_and(|c| c.in_progress());
            let (r, checked) = self.hand_ons.tally.entry(pid).or_default();
            *r += u32::from(refuted);
            *checked += 1;
            false
        });
        self.hand_ons.pending = pending;
    }

    /// Whether call `c` was handed a connection in a process that hands freed connections to
    /// queued calls: its read-order link is no evidence there.
    pub(super) fn queued_hand_on(&self, c: &LiveSpan) -> bool {
        c.handed_on
            && c.span
                .link
                .is_some_and(|l| l.evidence == Evidence::EventLoop)
            && self.hand_ons.queues(c.span.pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_queues_once_most_of_enough_checks_were_refuted() {
        let mut h = HandOns::default();
        h.tally.insert(1, (10, 19));
        assert!(!h.queues(1), "too few checks");
        h.tally.insert(1, (10, 20));
        assert!(h.queues(1));
        h.tally.insert(1, (9, 20));
        assert!(!h.queues(1), "continuations mostly");
        assert!(!h.queues(2));
        h.tally.insert(1, (20, 20));
        h.forget(1);
        assert!(!h.queues(1));
    }
}
