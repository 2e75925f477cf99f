//! How a call finds its request: the candidates (requests in progress in the caller's
//! process), the evidence that picks one, and how sure that makes kspan.
//!
//! A call is a client span: a traced thread wrote the first byte of a request on a client
//! connection. Its parent must be a request in progress when the call was written (read,
//! not yet answered: a call written after its request's response started is not that
//! request's). Among those candidates, evidence picks one; each kind of evidence has a
//! confidence measured on recordings whose truth is known (docs/engine.md).

use super::*;

impl Engine {
    /// The parent of a call thread `tid` starts now, the link that says why, and whether
    /// that parent is only the request whose connection the thread watched last (its
    /// context, not a connection opened or checked out for the call).
    /// `opened_for` is the request the call's connection was opened or checked out for.
    pub(super) fn link_call(
        &mut self,
        tid: Tid,
        opened_for: Option<SpanId>,
    ) -> (Option<SpanId>, Option<Link>, bool) {
        let opened_for = opened_for.filter(|&id| self.in_progress(id));
        let mut watched = false;
        // The first request on a connection opened during a request is for that request
        // while it is still in progress; else an event loop's call is for the oldest of its
        // reads not acted on yet; else the thread's own context.
        let chosen = match opened_for {
            Some(id) => {
                self.batch_done(tid, id);
                Some((id, Evidence::Connection))
            }
            None => match self.batch_take(tid, false) {
                // A thread that never read a request while another it read was in progress
                // serves one at a time: a poll does not make it an event loop.
                Some(id) => {
                    let th = &self.threads.map[&tid];
                    let ev = if !th.multiplexes && th.own == Some(id) {
                        Evidence::OwnThread
                    } else {
                        Evidence::EventLoop
                    };
                    Some((id, ev))
                }
                None => {
                    // An event loop's last read is only the read it acted on last, not a
                    // request it serves alone.
                    let th = &self.threads.map[&tid];
                    let ev = match th.ctx_ev {
                        Evidence::OwnThread if th.multiplexes => Evidence::EventLoop,
                        ev => ev,
                    };
                    watched = ev == Evidence::Connection;
                    th.ctx.map(|id| (id, ev))
                }
            },
        };
        // A thread whose own request (one it read) is answered is doing that request's
        // late work, or its own: never another request's.
        let after_own = chosen.is_some_and(|(id, ev)| {
            ev == Evidence::OwnThread && !self.in_progress(id) && self.spans.get(id).is_some()
        });
        let chosen = chosen.filter(|&(id, _)| self.in_progress(id));
        let pid = self.threads.map[&tid].tgid;
        let candidates = self.spans.requests_in_progress(pid);
        let sole = || {
            (candidates == 1 && !after_own)
                .then(|| self.spans.only_request_started_by(pid, Timestamp::MAX))
                .flatten()
        };
        let (parent, evidence) = match chosen {
            Some(c) => c,
            // No evidence left, and one request in progress in the process.
            None => match sole() {
                Some(only) => (only, Evidence::SoleRequest),
                None => return (None, None, false),
            },
        };
        let candidates = candidates.max(1);
        let link = Link {
            evidence,
            candidates,
            confidence: self.link_confidence(pid, evidence, candidates),
        };
        (
            Some(parent),
            Some(link),
            watched && evidence == Evidence::Connection,
        )
    }

    /// How likely a link by `evidence` among `candidates` requests in progress in process
    /// `pid` is right: [`confidence`], but for a runtime that moves requests' work between
    /// threads ([`Self::moved_work_confidence`]).
    fn link_confidence(&self, pid: i32, evidence: Evidence, candidates: u32) -> f32 {
        self.moved_work_confidence(pid, evidence, candidates)
            .unwrap_or_else(|| confidence(evidence, candidates))
    }

    /// `link`'s confidence as emitted: a process can show that its requests' work moves
    /// between threads only after some of its links were made (a response written by
    /// another thread than its request's reader comes a request's whole duration after its
    /// calls), so the links its traces carry are capped as [`Self::link_confidence`] would
    /// have made them had that been known then. Output only: no decision reads it.
    pub(super) fn emitted_confidence(&self, pid: i32, link: &Link) -> f32 {
        self.moved_work_confidence(pid, link.evidence, link.candidates)
            .map_or(link.confidence, |cap| link.confidence.min(cap))
    }

    /// The confidence of a link by `evidence` among `candidates` requests in a process whose
    /// requests' work moves between threads, where it differs from [`confidence`]: such a
    /// runtime's threads run whichever request's task is ready, so the request a thread read
    /// is only its read order, however sure a thread's own request is elsewhere, and a
    /// response's own answer may have been read by another thread than the one whose reads
    /// `resumed` looks at. The same for a process whose event loop takes results its workers
    /// hand back through a wakeup channel (`engine::relays`): a result written while no
    /// channel end was known yet is never read by the loop, and `resumed` may take another
    /// call for the only one its window leaves. `None` elsewhere, and with a single
    /// candidate.
    fn moved_work_confidence(&self, pid: i32, evidence: Evidence, candidates: u32) -> Option<f32> {
        if candidates <= 1 {
            return None;
        }
        let runtime = match evidence {
            Evidence::OwnThread => Some(RUNTIME_OWN_THREAD),
            Evidence::Resumed => Some(RUNTIME_RESUMED),
            _ => None,
        }
        .filter(|_| self.readers.migrates(pid));
        let relayed = (evidence == Evidence::Resumed && self.relays.loops_take_results(pid))
            .then_some(RELAYED_RESUMED);
        match (runtime, relayed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Later evidence says `call` (of process `pid`) was made for `request`: it moves there
    /// (with its subtree), or keeps its parent with the new link, unless the evidence it was
    /// linked by is stronger (a thread created for the request, or a connection opened for
    /// it, says more than what happened after the answer).
    ///
    /// A link decided after the fact (`response`, `resumed`) also checks the evidence that
    /// linked the call first: the process's tally of that evidence counts whether they
    /// agree, and an evidence measured to disagree often there no longer outranks it
    /// ([`crate::calibration`]).
    pub(super) fn adopt(&mut self, call: SpanId, request: SpanId, pid: i32, evidence: Evidence) {
        let Some(c) = self.spans.get(call) else {
            return;
        };
        let (parent, link) = (c.span.parent, c.span.link);
        let earlier = link.map(|l| l.evidence);
        // Links made with a choice (several requests in progress) by evidence other than
        // the checking kinds: one candidate leaves every kind of evidence the same request.
        let checked = link.filter(|l| {
            matches!(evidence, Evidence::Response | Evidence::Resumed)
                && l.candidates > 1
                && !matches!(
                    l.evidence,
                    Evidence::Bytes | Evidence::Response | Evidence::Resumed
                )
        });
        if let Some(l) = checked {
            self.calibration
                .note(pid, l.evidence, parent == Some(request));
        }
        let stronger = earlier.is_some_and(|e| {
            e < evidence && checked.is_none_or(|l| self.calibration.outranks(pid, l.evidence))
        });
        if !stronger {
            self.link_to(call, request, pid, evidence);
        }
    }

    /// Makes `request` call `call`'s parent by `evidence`, whatever linked it before (a
    /// joint decision revising a weaker one).
    pub(super) fn link_to(&mut self, call: SpanId, request: SpanId, pid: i32, evidence: Evidence) {
        let candidates = self.spans.requests_in_progress(pid);
        let link = Link {
            evidence,
            candidates: candidates.max(1),
            confidence: self.link_confidence(pid, evidence, candidates),
        };
        let Some(c) = self.spans.get_mut(call) else {
            return;
        };
        if c.span.parent == Some(request) {
            c.span.link = Some(link);
        } else {
            self.spans.reparent(call, request, link);
        }
    }

    /// True while span `id` is a request in progress: live, its answer not started.
    pub(super) fn in_progress(&self, id: SpanId) -> bool {
        self.spans.get(id).is_some_and(|s| !s.answered && !s.closed)
    }
}

/// The link of a server span to the call whose bytes it read: exact.
pub(super) const BYTES: Link = Link {
    evidence: Evidence::Bytes,
    candidates: 1,
    confidence: 1.0,
};

/// The confidence of an `own-thread` link among several requests in progress in a process
/// whose requests' work moves between threads (a thread watched the connection of a request
/// another read): measured by the checker on the Go corpus recordings, 56 of 79 right (33 of
/// 56 on Go's fan-out), where it had been reported 0.99.
const RUNTIME_OWN_THREAD: f32 = 0.7;

/// The confidence of a `resumed` link among several requests in progress in a process whose
/// requests' work moves between threads: measured by the checker, 98.1 % of 33,508 right on
/// the Go, Go fan-out, tokio and Erlang recordings of the corpus and the held-out set (Go and
/// tokio 99.7 % of 17,481; Erlang 97.0 % of 8,247 on its 8 newest recordings), where it had
/// been reported 0.99 with 2 to 4 candidates and was wrong on 3 of 1,720 such links on Go at
/// 4 clients and up to 19 of 473 on Erlang.
const RUNTIME_RESUMED: f32 = 0.98;

/// The confidence of a `resumed` link among several requests in progress in a process whose
/// event loop takes results relayed by its workers: measured by the checker on the asyncio
/// loop with a thread pool (`bench/stacks/pyexec`) at 4 clients, 479 of 495 right (96.8 %),
/// where it had been reported 0.99.
const RELAYED_RESUMED: f32 = 0.95;

/// How likely a link by `evidence` among `candidates` requests in progress is right: the
/// rates measured on the bench/stacks corpus (`bench/stacks/links.py`, docs/engine.md,
/// "Confidence"), rounded down, and never "sure" (0.99) for evidence whose measured rate is
/// below 99.5 %. With one candidate every kind of evidence names the same request: 27 of
/// 106,600 such links were counted wrong.
pub(super) fn confidence(evidence: Evidence, candidates: u32) -> f32 {
    match (evidence, candidates) {
        (Evidence::Bytes, _) => 1.0,
        // A split is a choice among several requests with room by construction, whatever
        // is left in progress once it is decided. Measured by `kspan check` on the 35
        // corpus recordings: 50.2 % of 10,002 right (40 % on Go and its fan-out at 16
        // clients, 42 % on the CPython pool, 98 % on it at 4 clients).
        (Evidence::Split, _) => 0.5,
        (_, 0 | 1) => 0.999,
        (Evidence::OwnThread, _) => 0.99,
        (Evidence::Connection | Evidence::Response, _) => 0.98,
        (Evidence::SoleRequest, _) => 0.95,
        (Evidence::Completion, _) => 0.93,
        (Evidence::Wakeup, _) => 0.9,
        (Evidence::Resumed, 2..=4) => 0.99,
        (Evidence::Resumed, _) => 0.98,
        (Evidence::EventLoop, _) => 0.75,
        (Evidence::Pattern, _) => 0.6,
        (Evidence::QueueOrder, _) => 0.25,
    }
}
