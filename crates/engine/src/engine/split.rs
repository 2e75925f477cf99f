//! Calls counted to their requests jointly when one of their candidates answers: first in,
//! first out.
//!
//! Once a process's endpoint counts are fitted ([`crate::patterns`]), each of its requests
//! has room for so many calls of each kind. A call whose request no direct evidence names is
//! *movable*: an orphan whose answer was read (it waits, its trace held, instead of being
//! guessed at), an orphan still waiting for its answer (it keeps its place in the queue), or
//! a call linked only by counting (a pattern, an earlier split). Queues (a client's
//! connection pool or request queue, an executor's work queue) serve first in, first out:
//! when a request starts its response, the movable calls of its process whose answers were
//! read, oldest written first, are matched with the requests in progress that have room for
//! them, oldest read first (each call to a request read before it was written; room is
//! what the endpoint's count leaves after the calls linked by direct evidence). The ones
//! matched with the answering request are its; a movable call linked to it but matched
//! with another request moves there (still movable until that one answers). Deciding at a
//! response lets the calls linked meanwhile by direct evidence fill the requests' room
//! first, and a response is the last moment its calls can be decided: every call it waited
//! for has been answered. A waiting orphan none of whose candidates is left in progress
//! stays an orphan. Calls linked by the event loop's read order are not movable: an event
//! loop writes a call in the round that ran its request's handler, not in queue order
//! (moving them too lost 10-15 points on asyncio, Go and tokio, BENCHMARKS.md), unless
//! they were handed a connection in a process that queues (`handon`); nor are calls linked
//! by a wakeup from the request's thread (moving them cost the demo's pool a trace at 60
//! req/s and gained nothing on the corpus) or by the order of a feeding thread's job queue
//! (that order is the jobs', which the calls' order blurs when a job makes several calls:
//! moving them cost the demo's pool 5 traces of 2,400 at 600 req/s).
//!
//! Unless the counts contradict them: a request with more calls of a kind than its
//! endpoint's fitted count has at least one that is not its own. Its calls of that kind
//! linked by read order, a wakeup or a queue's order become movable where that evidence is
//! not to be trusted over the counts: in a process whose requests several threads read (a
//! runtime that runs a task on whichever thread is free: Go, tokio), or where the process's
//! own calibration measured the evidence below 0.9. A lone event loop whose read order was
//! measured right keeps it (moving them there shifted a whole lock queue by one request on
//! the CPython pool → asyncio stack: 120 traces of 3,139 lost).
//!
//! Before the process's first fit no room is known and a split decides nothing: an orphan
//! waiting then keeps waiting when its last candidate answers, and a request that starts its
//! response while such an orphan (written after it was read) waits, or with a handed-on call
//! linked by read order (which the counts may contradict), is held too; the first
//! split after the fit decides among the held requests as well (each only for calls answered
//! before its response started), then lets them go. There, a held request's calls handed a
//! freed connection and linked by read order are movable where the counts contradict them:
//! the process's handed-on calls were too few yet to tell whether it queues (`handon`).

use super::*;
use crate::spans::LiveSpan;

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

    /// `request` starts its response: the movable calls of its process are matched first in,
    /// first out with the requests in progress that have room for them (oldest call to
    /// oldest request, each request up to its room); those matched with `request` are its,
    /// and a movable call linked to `request` but matched with another request moves there.
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
        let fitted = self.patterns.fitted_once(pid);
        let held: Vec<(SpanId, Timestamp)> = self
            .split_held
            .iter()
            .filter(|&&(_, p, _)| fitted && p == pid)
            .map(|&(r, _, at)| (r, at))
            .collect();
        let mut requests: Vec<(Timestamp, SpanId)> = self
            .spans
            .requests_started_by(pid, Timestamp::MAX)
            .map(|r| (r.span.start, r.span.id))
            .chain(
                held.iter()
                    .filter_map(|&(r, _)| self.spans.get(r).map(|s| (s.span.start, r))),
            )
            .collect();
        let mut movable: Vec<SpanId> = requests
            .iter()
            .flat_map(|&(_, r)| self.spans.calls_of(r))
            .filter(|c| c.sig.is_some() && (linked_by_count(c.span.link) || self.queued_hand_on(c)))
            .map(|c| c.span.id)
            .collect();
        for &(_, r) in &requests {
            let held_now = held.iter().any(|&(h, _)| h == r);
            movable.extend(self.weak_calls_beyond_count(pid, r, held_now));
        }
        let of_process =
            |spans: &Spans, id: SpanId| spans.get(id).is_some_and(|c| c.span.pid == pid);
        if movable.is_empty()
            && !self
                .split_waiting
                .iter()
                .any(|&id| of_process(&self.spans, id))
        {
            self.release_held(pid, fitted);
            if !fitted && self.wants_counts(request, pid, &[]) {
                self.hold_for_counts(request, pid);
            }
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
        movable.extend(
            waiting
                .iter()
                .copied()
                .filter(|&id| of_process(&self.spans, id)),
        );
        movable.extend(
            self.spans
                .orphan_calls_in_flight(pid)
                .filter(|c| c.sig.is_some())
                .map(|c| c.span.id),
        );
        movable.sort_by_key(|&id| self.spans.get(id).map(|c| (c.span.start, id)));
        movable.dedup();
        requests.sort_unstable();
        let owners = self.first_in_first_out(pid, &movable, &requests, request, &held);
        // Decided now: the answering request's calls, and those of requests held past their
        // response for the first counts (they answer no more).
        let decided = |r: SpanId| r == request || held.iter().any(|&(h, _)| h == r);
        let mut mine = Vec::new();
        for (&call, owner) in movable.iter().zip(owners) {
            let Some(parent) = self.spans.get(call).map(|c| c.span.parent) else {
                continue;
            };
            match owner {
                Some(r) if decided(r) => {
                    if parent != Some(r) {
                        self.link_to(call, r, pid, Evidence::Split);
                    }
                    mine.push(call);
                }
                Some(r) if parent.is_some_and(decided) => {
                    self.link_to(call, r, pid, Evidence::Split);
                }
                _ => {}
            }
        }
        waiting.retain(|&call| {
            if mine.contains(&call) {
                self.spans.release(call);
                return false;
            }
            let Some(c) = self.spans.get(call) else {
                return false;
            };
            if c.span.pid != pid {
                return true;
            }
            let start = c.span.start;
            // Before the process's first fit, a request that answers now may still be its:
            // it waits for the counts.
            let other = !fitted
                || self
                    .spans
                    .requests_started_by(pid, start)
                    .any(|r| r.span.id != request);
            if !other {
                self.spans.release(call);
            }
            other
        });
        let before_counts = !fitted && self.wants_counts(request, pid, &waiting);
        self.split_waiting = waiting;
        self.release_held(pid, fitted);
        if before_counts {
            self.hold_for_counts(request, pid);
        }
    }

    /// Whether request `request` of process `pid`, starting its response before the
    /// process's first fit, is one the first counts may still change: an orphan among
    /// `waiting` was written after it was read, or a call of its was handed a freed
    /// connection and linked by read order (which the counts may contradict).
    fn wants_counts(&self, request: SpanId, pid: i32, waiting: &[SpanId]) -> bool {
        self.spans.get(request).is_some_and(|r| {
            r.sig.is_some()
                && (waiting.iter().any(|&call| {
                    self.spans
                        .get(call)
                        .is_some_and(|c| c.span.pid == pid && c.span.start >= r.span.start)
                }) || self
                    .spans
                    .calls_of(request)
                    .any(|c| c.handed_on && linked_by_read_order(c.span.link)))
        })
    }

    /// Request `request` of process `pid`, whose first ledger is not fitted yet, starts its
    /// response while an orphan written after it was read waits with its answer read: that
    /// orphan may be its, which only the counts can tell. Its trace is held (as the orphan's
    /// is) until the first split after the fit decides.
    fn hold_for_counts(&mut self, request: SpanId, pid: i32) {
        if self.split_held.len() == MAX_WAITING {
            let (oldest, _, _) = self.split_held.remove(0);
            self.spans.release(oldest);
        }
        self.spans.hold(request);
        self.split_held.push((request, pid, self.now));
    }

    /// Once process `pid` was `fitted`, its requests held for the first counts were
    /// considered by a split (or the process is gone): they are let go.
    pub(super) fn release_held(&mut self, pid: i32, fitted: bool) {
        if !fitted {
            return;
        }
        let mut held = std::mem::take(&mut self.split_held);
        held.retain(|&(r, p, _)| {
            if p == pid {
                self.spans.release(r);
            }
            p != pid
        });
        self.split_held = held;
    }

    /// The request each of `calls` (movable calls of process `pid`, oldest written first)
    /// goes to, first in, first out: the oldest of `requests` (in progress, oldest read
    /// first) read before the call was written with room left for it, room being its
    /// endpoint's count of such calls less its calls that are not movable and the calls
    /// matched to it before. A call still waiting for its answer holds its place in the
    /// queue but cannot be `answering`'s, which is writing its response; nor can a call
    /// whose answer was read after a `held` request's response started be that one's.
    fn first_in_first_out(
        &self,
        pid: i32,
        calls: &[SpanId],
        requests: &[(Timestamp, SpanId)],
        answering: SpanId,
        held: &[(SpanId, Timestamp)],
    ) -> Vec<Option<SpanId>> {
        let mut taken: Vec<(SpanId, u64)> = Vec::new();
        calls
            .iter()
            .map(|&call| {
                let (start, end, sig, answered) = self
                    .spans
                    .get(call)
                    .and_then(|c| Some((c.span.start, c.span.end, c.sig?, !c.in_progress())))?;
                let before_response = |r: SpanId| {
                    held.iter()
                        .find(|&&(h, _)| h == r)
                        .is_none_or(|&(_, at)| answered && end <= at)
                };
                let owner = requests
                    .iter()
                    .take_while(|&&(r_start, _)| r_start <= start)
                    .map(|&(_, r)| r)
                    .filter(|&r| (answered || r != answering) && before_response(r))
                    .find(|&r| {
                        let used = taken.iter().filter(|&&(t, s)| t == r && s == sig).count();
                        self.room_besides(pid, r, sig, calls).unwrap_or(0) > used
                    })?;
                taken.push((owner, sig));
                Some(owner)
            })
            .collect()
    }

    /// `request` starts its response with fewer calls of a kind than its endpoint's fitted
    /// count: its missing calls were linked elsewhere or to nothing. When exactly as many
    /// calls of that kind as it misses could be its (written after it was read, answered,
    /// and either linked to another request in progress by evidence the counts outrank
    /// there or an orphan waiting for a split), they are its.
    pub(super) fn fill_under_count(&mut self, request: SpanId) {
        let Some((pid, start)) = self
            .spans
            .get(request)
            .filter(|r| r.in_progress())
            .map(|r| (r.span.pid, r.span.start))
        else {
            return;
        };
        let mut theirs = Vec::new();
        for &sig in self.patterns.kinds_of(pid) {
            let missing = self.room_besides(pid, request, sig, &[]).unwrap_or(0);
            if missing == 0 {
                continue;
            }
            let could: Vec<SpanId> = self
                .spans
                .requests_started_by(pid, Timestamp::MAX)
                .filter(|r| r.span.id != request)
                .flat_map(|r| self.spans.calls_of(r.span.id))
                .filter(|c| {
                    c.sig == Some(sig)
                        && c.span.start >= start
                        && !c.in_progress()
                        && self.outranked_by_counts(pid, c)
                })
                .map(|c| c.span.id)
                .chain(self.split_waiting.iter().copied().filter(|&id| {
                    self.spans.get(id).is_some_and(|c| {
                        c.span.pid == pid
                            && c.sig == Some(sig)
                            && c.span.start >= start
                            && c.span.parent.is_none()
                    })
                }))
                .collect();
            if could.len() == missing {
                theirs.extend(could);
            }
        }
        for call in theirs {
            self.link_to(call, request, pid, Evidence::Split);
        }
    }

    /// The weakly linked calls of request `request` (of process `pid`) of every signature
    /// it has more calls of than its endpoint's fitted count: the count and the links
    /// contradict each other, and the weakest links are the ones to revise. For a request
    /// `held` for the first counts, also its calls handed a freed connection and linked by
    /// read order: its process's handed-on calls were too few yet to tell whether it queues
    /// (`handon`), and the read order of such a call names either the freeing request's
    /// continuation or a queue's head, which the counts tell apart where they contradict it.
    fn weak_calls_beyond_count(&self, pid: i32, request: SpanId, held: bool) -> Vec<SpanId> {
        let Some(r_sig) = self.spans.get(request).and_then(|r| r.sig) else {
            return Vec::new();
        };
        let calls: Vec<&LiveSpan> = self.spans.calls_of(request).collect();
        let mut out = Vec::new();
        for (i, c) in calls.iter().enumerate() {
            let Some(sig) = c.sig else { continue };
            if calls[..i].iter().any(|o| o.sig == Some(sig)) {
                continue;
            }
            let made = calls.iter().filter(|o| o.sig == Some(sig)).count();
            let over = self
                .patterns
                .expected(pid, r_sig, sig)
                .is_some_and(|n| made > usize::from(n));
            if over {
                out.extend(
                    calls
                        .iter()
                        .filter(|o| {
                            o.sig == Some(sig)
                                && (self.outranked_by_counts(pid, o)
                                    || (held && o.handed_on && linked_by_read_order(o.span.link)))
                        })
                        .map(|o| o.span.id),
                );
            }
        }
        out
    }

    /// Whether call `c` of process `pid` is linked only by read order, a wakeup or a queue's
    /// order, and that evidence is not to be trusted over the fitted counts there: several
    /// threads read the process's requests (any of them may run a task another read, so one
    /// thread's read order is not its requests' order), or the evidence was measured there to
    /// name the wrong request too often to outrank later evidence ([`crate::calibration`]).
    fn outranked_by_counts(&self, pid: i32, c: &LiveSpan) -> bool {
        c.span.link.is_some_and(|l| {
            matches!(
                l.evidence,
                Evidence::Wakeup | Evidence::EventLoop | Evidence::QueueOrder
            ) && (!self.readers.only_reader(pid, c.span.tid)
                || !self.calibration.outranks(pid, l.evidence))
        })
    }
}

/// Whether `link` is by an event loop's read order.
fn linked_by_read_order(link: Option<Link>) -> bool {
    link.is_some_and(|l| l.evidence == Evidence::EventLoop)
}

/// Whether a call linked by `link` is movable (see the module's documentation): linked by
/// no evidence naming its request directly.
fn linked_by_count(link: Option<Link>) -> bool {
    link.is_some_and(|l| matches!(l.evidence, Evidence::Pattern | Evidence::Split))
}
