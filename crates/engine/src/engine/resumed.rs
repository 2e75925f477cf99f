//! What an event loop's response resumes: the reads of its last poll rounds.
//!
//! An event loop acts on a read in the round that read it (a handler run inline) or in a
//! later one (a task woken by the read, queued behind the round's other work). A response
//! of a request that made calls therefore resumes the answer of one of them (its last),
//! read in the last few rounds, unless the request itself was read since (a handler that
//! may make no call). When none of the window's reads is already known to be the
//! request's, and exactly one can still be (an orphan call's answer, or one linked only by
//! weak evidence, written after the request was read), that call was the request's.

use super::*;

/// Poll rounds after the one that read it that a read stays in the window: the next one (a
/// task woken by the read), and the two after that (a task waiting for several tasks,
/// resumed once the last one's completion callbacks have run).
const ROUNDS: u32 = 3;

/// At most this many reads are kept per loop: a round reading more says little anyway.
const MAX_READS: usize = 32;

impl Engine {
    /// Event loop `tid` read a request (`request`) or the answer of call `span`.
    pub(super) fn recent_push(&mut self, tid: Tid, span: SpanId, request: bool) {
        let Some(th) = self.threads.map.get_mut(&tid).filter(|th| th.loops) else {
            return;
        };
        let round = th.polls;
        let (held, weak) = match self.spans.get_mut(span) {
            Some(s) => {
                s.read_round.get_or_insert(round);
                (
                    !request && s.span.parent.is_none(),
                    !request && is_weak(s.span.link),
                )
            }
            None => (false, !request),
        };
        if th
            .recent
            .last()
            .is_some_and(|r| r.span == span && r.round == round)
        {
            return;
        }
        if held {
            self.spans.hold(span);
        }
        if th.recent.len() == MAX_READS {
            let old = th.recent.remove(0);
            if old.held {
                self.spans.release(old.span);
            }
        }
        th.recent.push(RecentRead {
            span,
            request,
            round,
            held,
            weak,
        });
    }

    /// Event loop `tid` enters a poll: reads older than the window leave it.
    pub(super) fn recent_prune(&mut self, tid: Tid) {
        let Some(th) = self.threads.map.get(&tid) else {
            return;
        };
        let round = th.polls;
        let stale = th
            .recent
            .iter()
            .position(|r| round.wrapping_sub(r.round) <= ROUNDS)
            .unwrap_or(th.recent.len());
        self.drop_reads(tid, stale);
    }

    /// Thread `tid` went idle or was handed other work: its reads were all acted on.
    pub(super) fn recent_forget(&mut self, tid: Tid) {
        self.drop_reads(tid, usize::MAX);
    }

    /// Thread `tid` writes the first response byte of `request`: the one read of its window
    /// that can be the request's is.
    pub(super) fn resumed_read(&mut self, tid: Tid, request: SpanId) {
        let Some(th) = self.threads.map.get(&tid).filter(|th| th.loops) else {
            return;
        };
        let Some(r) = self.spans.get(request).filter(|r| r.in_progress()) else {
            return;
        };
        // A request with no call may be answered on a timer, or by work kspan does not see.
        if !self.spans.has_call(request, false) {
            return;
        }
        let (r_start, pid) = (r.span.start, th.tgid);
        // With its endpoint's response lag known, only the reads of that round can be what
        // the response resumed.
        let round = self.resume_round(tid, request);
        let mut only = None;
        for read in th
            .recent
            .iter()
            .filter(|r| round.is_none_or(|n| r.round == n))
        {
            if read.request {
                if read.span == request {
                    return;
                }
                continue;
            }
            // Emitted with a request that is over: sure only if it was linked strongly.
            let Some(c) = self.spans.get(read.span) else {
                if read.weak {
                    return;
                }
                continue;
            };
            let weak = is_weak(c.span.link);
            if !weak && c.span.parent == Some(request) {
                return;
            }
            if weak && c.span.start >= r_start && only != Some(read.span) {
                if only.is_some() {
                    return;
                }
                only = Some(read.span);
            }
        }
        if let Some(call) = only {
            self.adopt(call, request, pid, Evidence::Resumed);
        }
    }

    /// Drops the first `n` reads (all, if fewer) of loop `tid`'s window, ending the holds
    /// they had on their orphan calls; the window keeps its allocation.
    fn drop_reads(&mut self, tid: Tid, n: usize) {
        let Some(th) = self.threads.map.get_mut(&tid) else {
            return;
        };
        let n = n.min(th.recent.len());
        for r in th.recent.drain(..n) {
            if r.held {
                self.spans.release(r.span);
            }
        }
    }
}

/// A call with no link, or one by evidence weaker than a resumed read: its request may
/// still be another.
fn is_weak(link: Option<Link>) -> bool {
    link.is_none_or(|l| l.evidence > Evidence::Resumed)
}
