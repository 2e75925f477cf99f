//! Endpoint signatures as evidence: what a request is (its first bytes, from the payload
//! heads) says which calls it makes (see [`crate::patterns`]).
//!
//! A call weakly linked (read order, a wakeup, a queue) or not linked at all goes, once its
//! signature is known and when its current parent has no room for it, to the one request
//! in progress that started before it and still has room for a call of that signature
//! (its endpoint's pattern expects more such calls than it has made). Every candidate's
//! endpoint must have a pattern: a request kspan cannot type might be the one. An orphan
//! with several candidates with room waits until one of them answers (`split`);
//! moving a linked call to one of several was measured and dropped (pyasync c16 59.3 →
//! 44.9 %, BENCHMARKS.md).

use super::*;
use crate::spans::LiveSpan;

/// The confidence from which a link counts toward its endpoint's floor (docs/engine.md,
/// "Endpoint patterns"): completion (0.93) and everything stronger; not a wakeup (0.9),
/// which a busy pool breaks.
const SURE_FOR_FLOOR: f32 = 0.93;

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
        self.sign(sk, send, sig);
    }

    /// The current request on socket `sk` (its client span when `send`, else its server
    /// span) has endpoint signature `sig`, unless it has one already.
    pub(super) fn sign(&mut self, sk: SockAddr, send: bool, sig: u64) {
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
        let lag = self.patterns.lag(tid, r.sig?, Lag::Response)?;
        Some(round.wrapping_sub(lag))
    }

    /// Thread `tid` writes the first byte of a call: one more call written in its poll
    /// round, if it is an event loop.
    pub(super) fn note_write_round(&mut self, tid: Tid) {
        if let Some(round) = self.loop_round(tid) {
            self.patterns.note_loop(tid, round, LoopNote::Write);
        }
    }

    /// Thread `tid` ends span `id`'s first half now (a request starts its response, or a
    /// call's answer is read): with its signature and times, one entry of its process's
    /// ledger, and with its poll rounds one of its loop's (see [`crate::patterns`]).
    pub(super) fn note_for_patterns(&mut self, tid: Tid, id: SpanId, now: Timestamp) {
        let Some(s) = self.spans.get(id).filter(|s| !s.answered) else {
            return;
        };
        let (pid, kind, sig, read) = (s.span.pid, s.span.kind, s.sig, s.read_round);
        let span = Interval {
            start: s.span.start,
            end: now,
        };
        let round = self.loop_round(tid);
        match kind {
            SpanKind::Server => {
                if let (Some(sig), Some(read), Some(round)) = (sig, read, round) {
                    let calls = self.spans.calls_of(id).next().is_some();
                    let note = LoopNote::Response { read, sig, calls };
                    self.patterns.note_loop(tid, round, note);
                }
                if let Some(sig) = sig {
                    let sure = self.sure_calls(id);
                    if self.patterns.note_request(pid, sig, span, &sure) {
                        self.close_ledger(pid, id, now);
                    }
                }
            }
            _ => {
                if let Some(round) = round {
                    self.patterns.note_loop(tid, round, LoopNote::Answer);
                }
                if let Some(sig) = sig {
                    if self.patterns.note_call(pid, sig, span) {
                        self.close_ledger(pid, id, now);
                    }
                }
            }
        }
    }

    /// Fits process `pid`'s full ledger now, with its requests still in progress other
    /// than `answering` (which just started its response) as ones it holds only part of.
    fn close_ledger(&mut self, pid: i32, answering: SpanId, now: Timestamp) {
        let open: Vec<(Timestamp, u64)> = self
            .spans
            .requests_started_by(pid, Timestamp::MAX)
            .filter(|r| r.span.id != answering)
            .filter_map(|r| Some((r.span.start, r.sig?)))
            .collect();
        self.patterns.close(pid, now, &open);
    }

    /// How many calls of each signature are linked to `request` by sure evidence (a link
    /// whose measured confidence is at least [`SURE_FOR_FLOOR`]).
    fn sure_calls(&self, request: SpanId) -> Vec<(u64, u8)> {
        let mut sure: Vec<(u64, u8)> = Vec::new();
        let linked = self
            .spans
            .calls_of(request)
            .filter(|c| c.span.link.is_some_and(|l| l.confidence >= SURE_FOR_FLOOR));
        for sig in linked.filter_map(|c| c.sig) {
            match sure.iter_mut().find(|(s, _)| *s == sig) {
                Some((_, n)) => *n = n.saturating_add(1),
                None => sure.push((sig, 1)),
            }
        }
        sure
    }

    /// How many more calls of call `call`'s kind request `request` (of its process) has
    /// room for: its endpoint's fitted count of such calls less the others linked to it.
    /// `None` while either signature or the count is unknown.
    pub(super) fn room_left(&self, request: SpanId, call: SpanId) -> Option<usize> {
        self.room_after(request, call, |_| true)
    }

    /// Whether request `request` has, besides call `call`, as many calls of `call`'s kind as
    /// its endpoint's fitted count makes, each linked by evidence that names its request
    /// (confidence at least [`SURE_FOR_FLOOR`]): it is waiting for no further one. False
    /// while either signature or the count is unknown.
    pub(super) fn made_all_surely(&self, request: SpanId, call: SpanId) -> bool {
        let sure = |o: &LiveSpan| o.span.link.is_some_and(|l| l.confidence >= SURE_FOR_FLOOR);
        self.room_after(request, call, sure) == Some(0)
    }

    /// Request `request`'s endpoint's fitted count of calls of call `call`'s kind, less its
    /// other calls of that kind that `counts` accepts. `None` while either signature or the
    /// count is unknown.
    fn room_after(
        &self,
        request: SpanId,
        call: SpanId,
        counts: impl Fn(&LiveSpan) -> bool,
    ) -> Option<usize> {
        let c = self.spans.get(call)?;
        let r = self.spans.get(request)?;
        let sig = c.sig?;
        let expected = self.patterns.expected(c.span.pid, r.sig?, sig)?;
        let made = self
            .spans
            .calls_of(request)
            .filter(|o| o.span.id != call && o.sig == Some(sig) && counts(o))
            .count();
        Some(usize::from(expected).saturating_sub(made))
    }

    /// How many calls of signature `sig` request `request` (of process `pid`) has room for
    /// besides its calls not in `movable`: its endpoint's fitted count less those. `None`
    /// while its signature or the count is unknown.
    pub(super) fn room_besides(
        &self,
        pid: i32,
        request: SpanId,
        sig: u64,
        movable: &[SpanId],
    ) -> Option<usize> {
        let r = self.spans.get(request)?;
        let expected = self.patterns.expected(pid, r.sig?, sig)?;
        let fixed = self
            .spans
            .calls_of(request)
            .filter(|o| o.sig == Some(sig) && !movable.contains(&o.span.id))
            .count();
        Some(usize::from(expected).saturating_sub(fixed))
    }

    /// Whether request `request` still has room for call `call` (see [`Engine::room_left`]).
    fn room_for(&self, request: SpanId, call: SpanId) -> Option<bool> {
        self.room_left(request, call).map(|n| n > 0)
    }

    /// A call linked only because its thread had watched its parent's connection, whose
    /// parent already made every call of its kind that its endpoint makes (fitted
    /// counts): the counts contradict the watch. A thread that watched a request's
    /// connection ran that request's work then, and an M:N runtime (Go) runs whichever
    /// task is ready next on the same thread: past the watched request's count, the
    /// watch is only the thread's run order, and the link is read order (`event-loop`),
    /// which the counts outrank where several threads read the process's requests.
    fn unwatch_beyond_count(&mut self, call: SpanId) {
        let Some((parent, candidates)) = self.spans.get(call).and_then(|c| {
            let l = c
                .span
                .link
                .filter(|l| c.watched && l.evidence == Evidence::Connection)?;
            Some((c.span.parent?, l.candidates))
        }) else {
            return;
        };
        if self.room_for(parent, call) != Some(false) {
            return;
        }
        if let Some(c) = self.spans.get_mut(call) {
            c.span.link = Some(Link {
                evidence: Evidence::EventLoop,
                candidates,
                confidence: links::confidence(Evidence::EventLoop, candidates),
            });
        }
    }

    /// Call `call`'s signature is known, or its answer read: if its parent (if any) has no
    /// room for it and exactly one request that could have made it has, it goes there.
    /// An orphan with several candidates with room waits until one of them answers (see
    /// `split`).
    pub(super) fn place_by_pattern(&mut self, call: SpanId) {
        let Some(c) = self.spans.get(call) else {
            return;
        };
        let (pid, start, parent) = (c.span.pid, c.span.start, c.span.parent);
        if c.sig.is_none() {
            return;
        }
        self.unwatch_beyond_count(call);
        let Some(c) = self.spans.get(call) else {
            return;
        };
        if !open_to_patterns(c.span.link) {
            return;
        }
        if parent.is_some_and(|p| self.room_for(p, call) != Some(false)) {
            return;
        }
        let mut only = None;
        for r in self.spans.requests_started_by(pid, start) {
            match self.room_for(r.span.id, call) {
                None => return,
                Some(false) => {}
                Some(true) if only.is_some() => return,
                Some(true) => only = Some(r.span.id),
            }
        }
        if let Some(r) = only.filter(|&r| Some(r) != parent) {
            self.adopt(call, r, pid, Evidence::Pattern);
        }
    }
}
