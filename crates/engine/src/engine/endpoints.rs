//! Endpoint signatures as evidence: what a request is (its first bytes, from the payload
//! heads) says which calls it makes (see [`crate::patterns`]).
//!
//! A call weakly linked (read order, a wakeup, a queue) or not linked at all goes, once its
//! signature is known and when its current parent has no room for it, to the one request
//! in progress that started before it and still has room for a call of that signature
//! (its endpoint's pattern expects more such calls than it has made). Every candidate's
//! endpoint must have a pattern: a request kspan cannot type might be the one. An orphan
//! goes to the oldest of several with room (`queue-order`: queues are first in, first out);
//! moving a linked call that way was measured and dropped (pyasync c16 59.3 → 44.9 %,
//! BENCHMARKS.md).

use super::*;

/// A call linked by no evidence, or by evidence decided before its signature was known
/// and weaker than what the patterns say.
fn open_to_patterns(link: Option<Link>) -> bool {
    link.is_none_or(|l| l.evidence > Evidence::Pattern)
}

impl Engine {
    /// Thread `tid` sent (`send`) or read on descriptor `fd` the first bytes of a request
    /// with endpoint signature `sig`.
    pub(super) fn on_head(&mut self, tid: Tid, fd: i64, send: bool, sig: u64) {
        let Some(th) = self.threads.map.get(&tid) else {
            return;
        };
        let Some((_, sk)) = th.last_sock.filter(|&(f, _)| f == fd) else {
            return;
        };
        let Some(id) = self.sockets.endpoint(sk).span else {
            return;
        };
        let kind = if send {
            SpanKind::Client
        } else {
            SpanKind::Server
        };
        let Some(s) = self.spans.get_mut(id).filter(|s| s.span.kind == kind) else {
            return;
        };
        if s.sig.is_some() {
            return;
        }
        s.sig = Some(sig);
        if send {
            self.place_by_pattern(id);
        }
    }

    /// Request `request` was just opened: one more request of its process, and the first
    /// of an overlap-free run when it is the only one in progress.
    pub(super) fn note_overlap(&mut self, request: SpanId) {
        let Some(pid) = self.spans.get(request).map(|r| r.span.pid) else {
            return;
        };
        let opened = self.requests_opened.entry(pid).or_default();
        *opened += 1;
        let seq = *opened;
        let alone = self.spans.requests_in_progress(pid) == 1;
        if let Some(r) = self.spans.get_mut(request) {
            r.opened_alone = alone.then_some(seq);
        }
    }

    /// Event loop `tid` writes `request`'s first call (`Lag::FirstCall`) or its response
    /// (`Lag::Response`): if no other request overlapped it, the poll rounds since the one
    /// that read it (first call) or its last call's answer (response) are one observation
    /// of its endpoint.
    pub(super) fn learn_endpoint_lag(&mut self, tid: Tid, request: SpanId, kind: Lag) {
        let Some(round) = self.loop_round(tid) else {
            return;
        };
        let Some(r) = self.spans.get(request).filter(|r| self.alone(r)) else {
            return;
        };
        let Some(sig) = r.sig else {
            return;
        };
        let mut calls = self.spans.calls_of(request);
        let since = match kind {
            Lag::FirstCall if calls.next().is_some() => return,
            Lag::FirstCall => r.read_round,
            Lag::Response => calls.filter_map(|c| c.read_round).max(),
        };
        if let Some(since) = since {
            let pid = r.span.pid;
            self.patterns
                .learn_lag(pid, sig, kind, round.wrapping_sub(since));
        }
    }

    /// The current poll round of thread `tid`, if it is an event loop.
    fn loop_round(&self, tid: Tid) -> Option<u32> {
        self.threads
            .map
            .get(&tid)
            .filter(|th| th.loops)
            .map(|th| th.polls)
    }

    /// The poll round of loop `tid` in which a response of `request` resumes its last
    /// call's answer, when its endpoint's response lag is known.
    pub(super) fn resume_round(&self, tid: Tid, request: SpanId) -> Option<u32> {
        let round = self.loop_round(tid)?;
        let r = self.spans.get(request)?;
        let lag = self.patterns.lag(r.span.pid, r.sig?, Lag::Response)?;
        Some(round.wrapping_sub(lag))
    }

    /// True when no other request of its process overlapped request `r` so far.
    fn alone(&self, r: &crate::spans::LiveSpan) -> bool {
        r.opened_alone.is_some() && r.opened_alone == self.requests_opened.get(&r.span.pid).copied()
    }

    /// Request `request` starts its response: if no other request of its process
    /// overlapped it (none in progress when it was opened, none opened since), its typed
    /// calls are one observation of its endpoint.
    pub(super) fn learn_pattern(&mut self, request: SpanId) {
        let Some((pid, sig)) = self
            .spans
            .get(request)
            .filter(|r| self.alone(r))
            .and_then(|r| Some((r.span.pid, r.sig?)))
        else {
            return;
        };
        let calls: Vec<u64> = self.spans.calls_of(request).filter_map(|c| c.sig).collect();
        self.patterns.learn(pid, sig, &calls);
    }

    /// Call `call`'s signature is known, or its answer read: if its parent has no room for
    /// it and exactly one other candidate has, it moves there; an orphan goes to the oldest
    /// candidate with room.
    pub(super) fn place_by_pattern(&mut self, call: SpanId) {
        let Some(c) = self.spans.get(call) else {
            return;
        };
        let (Some(sig), pid, start, parent) = (c.sig, c.span.pid, c.span.start, c.span.parent)
        else {
            return;
        };
        if !open_to_patterns(c.span.link) {
            return;
        }
        let room = |r: &crate::spans::LiveSpan| -> Option<bool> {
            let expected = self.patterns.expected(pid, r.sig?, sig)?;
            let made = self
                .spans
                .calls_of(r.span.id)
                .filter(|o| o.span.id != call && o.sig == Some(sig))
                .count();
            Some(made < usize::from(expected))
        };
        if let Some(p) = parent.and_then(|p| self.spans.get(p)) {
            if room(p) != Some(false) {
                return;
            }
        }
        // An orphan goes to the oldest of several with room (queues are first in, first
        // out); a linked call moves only to the one with room.
        let (mut oldest, mut with_room): (Option<(Timestamp, SpanId)>, u32) = (None, 0);
        for r in self.spans.requests_started_by(pid, start) {
            match room(r) {
                None => return,
                Some(false) => {}
                Some(true) if with_room > 0 && parent.is_some() => return,
                Some(true) => {
                    with_room += 1;
                    let key = (r.span.start, r.span.id);
                    if oldest.is_none_or(|o| key < o) {
                        oldest = Some(key);
                    }
                }
            }
        }
        let evidence = if with_room == 1 {
            Evidence::Pattern
        } else {
            Evidence::QueueOrder
        };
        if let Some(r) = oldest.map(|(_, r)| r).filter(|&r| Some(r) != parent) {
            self.adopt(call, r, pid, evidence);
        }
    }
}
