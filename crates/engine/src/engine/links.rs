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
    /// The parent of a call thread `tid` starts now, and the link that says why.
    /// `opened_for` is the request the call's connection was opened or checked out for.
    pub(super) fn link_call(
        &mut self,
        tid: Tid,
        opened_for: Option<SpanId>,
    ) -> (Option<SpanId>, Option<Link>) {
        let opened_for = opened_for.filter(|&id| self.in_progress(id));
        // The first request on a connection opened during a request is for that request
        // while it is still in progress; else an event loop's call is for the oldest of its
        // reads not acted on yet; else the thread's own context.
        let chosen = match opened_for {
            Some(id) => {
                self.batch_done(tid, id);
                Some((id, Evidence::Connection))
            }
            None => match self.batch_take(tid) {
                Some(id) => Some((id, Evidence::EventLoop)),
                None => {
                    let th = &self.threads.map[&tid];
                    th.ctx.map(|id| (id, th.ctx_ev))
                }
            },
        };
        let chosen = chosen.filter(|&(id, _)| self.in_progress(id));
        let pid = self.threads.map[&tid].tgid;
        let (candidates, sole) = self.spans.requests_in_progress(pid);
        let (parent, evidence) = match (chosen, sole) {
            (Some(c), _) => c,
            // No evidence at all, and one request in progress in the process.
            (None, Some(only)) if candidates == 1 => (only, Evidence::SoleRequest),
            (None, _) => return (None, None),
        };
        let candidates = candidates.max(1);
        let link = Link {
            evidence,
            candidates,
            confidence: confidence(evidence, candidates),
        };
        (Some(parent), Some(link))
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

/// How likely a link by `evidence` among `candidates` requests in progress is right
/// (measured rates: docs/engine.md, "Confidence").
pub(super) fn confidence(evidence: Evidence, candidates: u32) -> f32 {
    if candidates <= 1 {
        return match evidence {
            Evidence::Bytes => 1.0,
            _ => 0.99,
        };
    }
    match evidence {
        Evidence::Bytes => 1.0,
        Evidence::OwnThread => 0.995,
        Evidence::Connection => 0.98,
        Evidence::SoleRequest | Evidence::Completion => 0.9,
        Evidence::EventLoop => 0.9,
        Evidence::Wakeup => 0.8,
        Evidence::QueueOrder => 0.7,
    }
}
