//! Live spans and traces: creation, end extension, closing, trace merging and emission.
//!
//! A span is *answered* once its answer started (server: a response byte was written;
//! client: an answer byte was read); its end may still move later (a response in several
//! writes). Activity a thread accrues in an answered span's context after its current end
//! is held apart (the tail) and only added when the end moves past it, so idle time between
//! requests on a keep-alive connection is not charged to the previous request.
//! A span is *closed* once its end is final. A trace is emitted when all its spans are
//! closed; closing a span also closes its answered descendants (a parent that moved on
//! has read all its calls' answers).

use crate::activity::{Acc, Layout};
use crate::event::Tid;
use crate::fxhash::FxHashMap;
use crate::model::{Link, Span, SpanId, SpanKind, Trace, TraceId};

/// A trace whose spans are final, in emission order, with their accumulated activity
/// (turned into [`Span::activity`] by the engine, which owns the event type slots).
#[derive(Debug)]
pub(crate) struct ReadyTrace {
    /// Its id.
    pub id: TraceId,
    /// Root first, parents before children.
    #[expect(
        clippy::vec_box,
        reason = "live spans are large: sorting moves pointers"
    )]
    pub spans: Vec<Box<LiveSpan>>,
}

impl ReadyTrace {
    /// The trace as emitted.
    pub fn into_trace(self, layout: &Layout) -> Trace {
        let spans = self
            .spans
            .into_iter()
            .map(|live| {
                let LiveSpan { mut span, main, .. } = *live;
                span.activity = main.into_activity(layout);
                span
            })
            .collect();
        Trace { id: self.id, spans }
    }
}

/// A span while it can still change.
#[derive(Debug)]
pub(crate) struct LiveSpan {
    /// The span as it will be emitted (its `activity` is filled from `main` then).
    pub span: Span,
    /// Activity up to the current end.
    pub main: Acc,
    /// Key of its trace in [`Spans::traces`].
    pub trace: u64,
    /// The answer has started.
    pub answered: bool,
    /// The end is final.
    pub closed: bool,
    /// How many holders its trace waits for though it is closed: an orphan call whose
    /// answer may still name its request (see [`Spans::hold`]).
    pub holds: u8,
    /// Activity after the current (provisional) end.
    pub tail: Acc,
    /// Its request's endpoint signature (what its first bytes say it is), when the
    /// recording has payload heads.
    pub sig: Option<u64>,
    /// The poll round of the event loop that first read this span's incoming bytes: a
    /// request's, or a call's answer.
    pub read_round: Option<u32>,
    /// A call written on a connection its event loop had just read an answer on, in the
    /// same poll round (see `engine::handon`).
    pub handed_on: bool,
    /// A call linked by the context of a thread that had watched its parent's connection
    /// (see `engine::links`): by what the runtime ran on that thread, not by its bytes.
    pub watched: bool,
    /// A later command of a pipelined write (see `engine::pipelined`): the engine keeps it
    /// as a child of the write's first call, so that it follows every change of that
    /// call's link, and it is emitted as that call's sibling.
    pub rides: bool,
}

impl LiveSpan {
    /// A request or call in progress: its answer has not started and it is not closed.
    pub fn in_progress(&self) -> bool {
        !self.answered && !self.closed
    }

    /// Where activity accrued now goes: the tail once answered, else the span.
    pub fn sink(&mut self) -> &mut Acc {
        if self.answered {
            &mut self.tail
        } else {
            &mut self.main
        }
    }
}

#[derive(Debug, Default)]
struct LiveTrace {
    spans: Vec<SpanId>,
    open: u32,
    /// Its held spans: it is not emitted while any is.
    held: u32,
}

impl LiveTrace {
    /// Nothing in it can change any more: it can be emitted.
    fn done(&self) -> bool {
        self.open == 0 && self.held == 0
    }
}

/// All live spans and traces, and traces ready to be emitted.
#[derive(Debug, Default)]
pub(crate) struct Spans {
    /// Boxed: a live span is large and moves on every table growth and at emission.
    spans: FxHashMap<u64, Box<LiveSpan>>,
    traces: FxHashMap<u64, LiveTrace>,
    next_span: u64,
    next_trace: u64,
    /// Mixed into emitted ids so that two recordings' ids do not collide in one backend.
    seed: u64,
    /// Traces whose spans are all closed, in closing order.
    pub ready: Vec<ReadyTrace>,
    /// Events that fell in discarded tails.
    pub dropped_tail_events: u64,
    /// Per process: its server spans in progress (read, answer not started, not closed).
    serving: FxHashMap<i32, Vec<SpanId>>,
    /// Reused by [`Spans::close`]: answered open spans of the trace, with their parents.
    scratch_candidates: Vec<(SpanId, Option<SpanId>)>,
    /// Reused by [`Spans::close`]: the spans closing together.
    scratch_closing: Vec<SpanId>,
}

impl Spans {
    /// Sets the seed of the ids (before the first span is opened).
    pub fn seed_ids(&mut self, seed: u64) {
        self.seed = seed;
    }

    /// The `n`-th span id: a bijection of `n` (so unique), never 0.
    fn span_id(&self, n: u64) -> u64 {
        match mix(self.seed ^ n) {
            0 => mix(self.seed ^ n) ^ u64::MAX,
            id => id,
        }
    }

    /// The id of the trace keyed `n`: unique (its low half is a bijection of `n`).
    fn trace_id(&self, n: u64) -> TraceId {
        let high = mix(self.seed.rotate_left(32) ^ n);
        let low = mix(self.seed ^ n.rotate_left(17));
        TraceId((u128::from(high) << 64) | u128::from(low))
    }

    /// A live span by id.
    pub fn get_mut(&mut self, id: SpanId) -> Option<&mut LiveSpan> {
        self.spans.get_mut(&id.0).map(|s| &mut **s)
    }

    /// A live span by id.
    pub fn get(&self, id: SpanId) -> Option<&LiveSpan> {
        self.spans.get(&id.0).map(|s| &**s)
    }

    /// True when span `id` has a call, one whose answer has not started if `in_flight`.
    pub fn has_call(&self, id: SpanId, in_flight: bool) -> bool {
        self.calls_of(id).any(|s| !in_flight || s.in_progress())
    }

    /// How many server spans of process `pid` are requests in progress (read, answer not
    /// started).
    pub fn requests_in_progress(&self, pid: i32) -> u32 {
        self.serving.get(&pid).map_or(0, |ids| ids.len() as u32)
    }

    /// The only request of process `pid` in progress that started at or before `at`, if
    /// exactly one.
    pub fn only_request_started_by(&self, pid: i32, at: u64) -> Option<SpanId> {
        let mut found = self.requests_started_by(pid, at);
        let first = found.next()?;
        found.next().is_none().then_some(first.span.id)
    }

    /// The requests (server spans) of process `pid` in progress that started at or before
    /// `at`, oldest opened first.
    pub fn requests_started_by(&self, pid: i32, at: u64) -> impl Iterator<Item = &LiveSpan> {
        self.serving
            .get(&pid)
            .into_iter()
            .flatten()
            .filter_map(|id| self.spans.get(&id.0).map(|s| &**s))
            .filter(move |s| s.in_progress() && s.span.start <= at)
    }

    /// The calls (client spans) of process `pid` linked to no request yet that still wait
    /// for their answer.
    pub fn orphan_calls_in_flight(&self, pid: i32) -> impl Iterator<Item = &LiveSpan> {
        self.spans.values().map(|s| &**s).filter(move |s| {
            s.span.kind == SpanKind::Client
                && s.span.pid == pid
                && s.span.parent.is_none()
                && s.in_progress()
        })
    }

    /// The span's answer started (a server span's first response byte was written).
    pub fn mark_answered(&mut self, id: SpanId) {
        if let Some(s) = self.spans.get_mut(&id.0) {
            if s.in_progress() && s.span.kind == SpanKind::Server {
                stop_serving(&mut self.serving, s.span.pid, id);
            }
            s.answered = true;
        }
    }

    /// The earliest server span read by thread `reader` that is still waiting for its
    /// answer and for which `taken` is false: the head of `reader`'s queue of requests
    /// (scans the live spans; only called when a worker took a job without a wakeup).
    pub fn oldest_waiting(&self, reader: Tid, taken: impl Fn(SpanId) -> bool) -> Option<SpanId> {
        self.spans
            .values()
            .filter(|s| s.span.kind == SpanKind::Server && s.span.tid == reader)
            .filter(|s| !s.answered && !s.closed && !taken(s.span.id))
            .min_by_key(|s| (s.span.start, s.span.id.0))
            .map(|s| s.span.id)
    }

    /// Opens `span` (its `id` is assigned here) under its `parent` when that is live, else
    /// as the root of a new trace (its `parent` is then cleared).
    pub fn open(&mut self, mut span: Span) -> SpanId {
        self.next_span += 1;
        let id = SpanId(self.span_id(self.next_span));
        span.id = id;
        if span.kind == SpanKind::Server {
            self.serving.entry(span.pid).or_default().push(id);
        }
        let trace = match span.parent.and_then(|p| self.spans.get(&p.0)) {
            Some(parent) => parent.trace,
            None => {
                span.parent = None;
                self.next_trace += 1;
                self.traces.insert(self.next_trace, LiveTrace::default());
                self.next_trace
            }
        };
        let t = self
            .traces
            .get_mut(&trace)
            .expect("trace of a live span is live");
        t.spans.push(id);
        t.open += 1;
        self.spans.insert(
            id.0,
            Box::new(LiveSpan {
                span,
                trace,
                answered: false,
                closed: false,
                holds: 0,
                sig: None,
                read_round: None,
                handed_on: false,
                watched: false,
                rides: false,
                main: Acc::default(),
                tail: Acc::default(),
            }),
        );
        id
    }

    /// Moves the span's end to `ts` (if later) and takes in its tail.
    pub fn extend(&mut self, id: SpanId, ts: u64) {
        if let Some(s) = self.spans.get_mut(&id.0) {
            if s.closed {
                return;
            }
            s.span.end = s.span.end.max(ts);
            s.main.take_from(&mut s.tail);
        }
    }

    /// Makes `child` (and everything under it) a child of `parent`, moving it into the
    /// parent's trace; the trace it leaves is dropped when empty and emitted when nothing in
    /// it is open any more. Returns false (and changes nothing) when either span is gone,
    /// `parent` already is its parent, or `parent` lies under `child`.
    pub fn reparent(&mut self, child: SpanId, parent: SpanId, link: Link) -> bool {
        let (Some(c), Some(p)) = (self.spans.get(&child.0), self.spans.get(&parent.0)) else {
            return false;
        };
        let (from, to) = (c.trace, p.trace);
        if c.span.parent == Some(parent) {
            return false;
        }
        let subtree = self.subtree(from, child);
        if subtree.contains(&parent) {
            return false;
        }
        if let Some(c) = self.spans.get_mut(&child.0) {
            c.span.parent = Some(parent);
            c.span.link = Some(link);
        }
        if from != to {
            self.move_subtree(subtree, from, to);
        }
        true
    }

    /// Makes `child` (and everything under it) the root of a trace of its own: later
    /// evidence showed its parent was not its request, and none other is known.
    pub fn detach(&mut self, child: SpanId) {
        let Some(c) = self.spans.get_mut(&child.0) else {
            return;
        };
        if c.span.parent.is_none() {
            return;
        }
        c.span.parent = None;
        c.span.link = None;
        let from = c.trace;
        self.next_trace += 1;
        let to = self.next_trace;
        self.traces.insert(to, LiveTrace::default());
        let subtree = self.subtree(from, child);
        self.move_subtree(subtree, from, to);
    }

    /// Moves the spans of `subtree` from trace `from` to trace `to`; `from` is dropped when
    /// empty and emitted when nothing in it is open any more.
    fn move_subtree(&mut self, subtree: Vec<SpanId>, from: u64, to: u64) {
        let (mut moved_open, mut moved_held) = (0, 0);
        for id in &subtree {
            if let Some(s) = self.spans.get_mut(&id.0) {
                s.trace = to;
                moved_open += u32::from(!s.closed);
                moved_held += u32::from(s.holds > 0);
            }
        }
        let t = self
            .traces
            .get_mut(&from)
            .expect("trace of a live span is live");
        t.spans.retain(|id| !subtree.contains(id));
        t.open -= moved_open;
        t.held -= moved_held;
        let (empty, done) = (t.spans.is_empty(), t.done());
        let t = self
            .traces
            .get_mut(&to)
            .expect("trace of a live span is live");
        t.spans.extend(subtree);
        t.open += moved_open;
        t.held += moved_held;
        if empty {
            self.traces.remove(&from);
        } else if done {
            self.emit(from);
        }
    }

    /// The calls (client spans) of `parent` still waiting for their answer.
    pub fn calls_in_flight(&self, parent: SpanId) -> Vec<SpanId> {
        self.calls_of(parent)
            .filter(|s| s.in_progress())
            .map(|s| s.span.id)
            .collect()
    }

    /// The calls (client spans) whose parent is `parent`, from its trace's spans.
    pub fn calls_of(&self, parent: SpanId) -> impl Iterator<Item = &LiveSpan> {
        let ids = self
            .spans
            .get(&parent.0)
            .map(|p| self.traces[&p.trace].spans.as_slice());
        ids.into_iter()
            .flatten()
            .filter_map(|id| self.spans.get(&id.0).map(|s| &**s))
            .filter(move |s| s.span.kind == SpanKind::Client && s.span.parent == Some(parent))
    }

    /// `root` and every span under it, in trace `trace`.
    fn subtree(&self, trace: u64, root: SpanId) -> Vec<SpanId> {
        let members = &self.traces[&trace].spans;
        let mut out = vec![root];
        let mut i = 0;
        while i < out.len() {
            let cur = out[i];
            out.extend(members.iter().copied().filter(|id| {
                self.spans
                    .get(&id.0)
                    .is_some_and(|s| s.span.parent == Some(cur))
            }));
            i += 1;
        }
        out
    }

    /// Closes the span (its end is final) and its answered descendants; emits its trace
    /// when nothing in it is open any more.
    pub fn close(&mut self, id: SpanId) {
        let Some(s) = self.spans.get(&id.0) else {
            return;
        };
        if s.closed {
            return;
        }
        let trace = s.trace;
        let t = self
            .traces
            .get_mut(&trace)
            .expect("trace of a live span is live");
        // Its answered descendants close with it (a parent that moved on has read all its
        // calls' answers): one pass over the trace finds the answered open spans, then the
        // closing set grows from `id` through them.
        let mut candidates = std::mem::take(&mut self.scratch_candidates);
        candidates.extend(t.spans.iter().filter_map(|m| {
            let c = self.spans.get(&m.0)?;
            (c.answered && !c.closed).then_some((*m, c.span.parent))
        }));
        let mut closing = std::mem::take(&mut self.scratch_closing);
        closing.push(id);
        let mut i = 0;
        while i < closing.len() {
            let cur = Some(closing[i]);
            i += 1;
            candidates.retain(|&(c, parent)| {
                let child = parent == cur;
                if child {
                    closing.push(c);
                }
                !child
            });
        }
        for c in closing.drain(..) {
            if let Some(s) = self.spans.get_mut(&c.0) {
                if s.in_progress() && s.span.kind == SpanKind::Server {
                    stop_serving(&mut self.serving, s.span.pid, c);
                }
                s.closed = true;
                self.dropped_tail_events += s.tail.events();
                s.tail = Acc::default();
                t.open -= 1;
            }
        }
        let done = t.done();
        candidates.clear();
        self.scratch_candidates = candidates;
        self.scratch_closing = closing;
        if done {
            self.emit(trace);
        }
    }

    /// Closes every trace that is over but for the finality of its ends: nothing in it is
    /// held or in progress (every open span was answered) and no span's end moved since
    /// `before`. Such a trace would otherwise wait for its connections to carry another
    /// request or close, which an idle keep-alive connection may never do.
    pub fn close_idle(&mut self, before: u64) {
        let mut idle: Vec<SpanId> = Vec::new();
        for t in self.traces.values().filter(|t| t.held == 0 && t.open > 0) {
            let spans = || t.spans.iter().filter_map(|id| self.spans.get(&id.0));
            let settled = spans().all(|s| s.closed || (s.answered && s.span.end < before));
            if settled {
                idle.extend(spans().filter(|s| !s.closed).map(|s| s.span.id));
            }
        }
        idle.sort();
        for id in idle {
            self.close(id);
        }
    }

    /// Keeps span `id`'s trace from being emitted, even once everything in it is closed,
    /// until as many [`Spans::release`]s: an orphan call whose answer was read may still be
    /// adopted by the request the reader answers next. Each holder holds once.
    pub fn hold(&mut self, id: SpanId) {
        if let Some(s) = self.spans.get_mut(&id.0) {
            s.holds += 1;
            let trace = s.trace;
            if s.holds == 1 {
                if let Some(t) = self.traces.get_mut(&trace) {
                    t.held += 1;
                }
            }
        }
    }

    /// Ends one [`Spans::hold`]; emits the trace when nothing in it is open or held any more.
    pub fn release(&mut self, id: SpanId) {
        let Some(s) = self.spans.get_mut(&id.0).filter(|s| s.holds > 0) else {
            return;
        };
        s.holds -= 1;
        if s.holds > 0 {
            return;
        }
        let trace = s.trace;
        let t = self
            .traces
            .get_mut(&trace)
            .expect("trace of a live span is live");
        t.held -= 1;
        if t.done() {
            self.emit(trace);
        }
    }

    /// Marks a span as cut by the end of the input: partial, lasting at least until `now`.
    pub fn cut(&mut self, id: SpanId, now: u64) {
        if let Some(s) = self.spans.get_mut(&id.0) {
            s.span.partial = true;
            s.span.end = s.span.end.max(now);
        }
    }

    /// Closes everything still open (end of input at `now`): spans whose answer never
    /// started are cut.
    pub fn finish(&mut self, now: u64) {
        let held: Vec<SpanId> = self
            .spans
            .values()
            .filter(|s| s.holds > 0)
            .map(|s| s.span.id)
            .collect();
        for id in held {
            while self.spans.get(&id.0).is_some_and(|s| s.holds > 0) {
                self.release(id);
            }
        }
        let mut open: Vec<SpanId> = self
            .spans
            .values()
            .filter(|s| !s.closed)
            .map(|s| s.span.id)
            .collect();
        open.sort();
        for &id in &open {
            if self.spans.get(&id.0).is_some_and(|s| !s.answered) {
                self.cut(id, now);
            }
        }
        for id in open {
            self.close(id);
        }
    }

    fn emit(&mut self, trace: u64) {
        let t = self.traces.remove(&trace).expect("emitted trace is live");
        let mut spans = Vec::with_capacity(t.spans.len());
        spans.extend(t.spans.iter().filter_map(|id| self.spans.remove(&id.0)));
        beside_their_calls(&mut spans);
        spans.sort_by_key(|s| (s.span.start, s.span.opening_offset, s.span.id));
        self.ready.push(ReadyTrace {
            id: self.trace_id(trace),
            spans: tree_order(spans),
        });
    }

    /// Live spans and traces, for memory accounting.
    pub fn footprint(&self) -> (usize, usize) {
        (self.spans.len(), self.traces.len())
    }
}

/// Riders (see [`LiveSpan::rides`]) take the parent and link of the call they ride on,
/// when it has a parent (else they stay under it: a trace has one root).
fn beside_their_calls(spans: &mut [Box<LiveSpan>]) {
    if !spans.iter().any(|s| s.rides) {
        return;
    }
    let links: FxHashMap<SpanId, (Option<SpanId>, Option<Link>)> = spans
        .iter()
        .map(|s| (s.span.id, (s.span.parent, s.span.link)))
        .collect();
    for s in spans.iter_mut().filter(|s| s.rides) {
        if let Some(&(Some(parent), link)) = s.span.parent.and_then(|p| links.get(&p)) {
            s.span.parent = Some(parent);
            s.span.link = link;
        }
    }
}

/// The splitmix64 finalizer: a bijection on u64 that scatters consecutive inputs.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// No node, in [`tree_order`]'s linked lists.
const NO_NODE: u32 = u32::MAX;

/// Orders spans (sorted by start) root first, each parent before its children, siblings
/// by start time. A span whose parent is not in the trace (cannot happen) is kept as a root.
#[expect(
    clippy::vec_box,
    reason = "live spans are large: ordering moves pointers"
)]
fn tree_order(spans: Vec<Box<LiveSpan>>) -> Vec<Box<LiveSpan>> {
    let n = spans.len();
    let mut index: Vec<(SpanId, u32)> = (0..n as u32)
        .map(|i| (spans[i as usize].span.id, i))
        .collect();
    index.sort_unstable();
    let find = |id: SpanId| {
        index
            .binary_search_by_key(&id, |&(id, _)| id)
            .ok()
            .map(|k| index[k].1 as usize)
    };
    // Children as linked lists (first child, next sibling), built backwards so that every
    // list is in start order.
    let (mut first_child, mut next_sibling) = (vec![NO_NODE; n], vec![NO_NODE; n]);
    let mut roots = Vec::new();
    for i in (0..n).rev() {
        match spans[i].span.parent.and_then(find) {
            Some(p) => {
                next_sibling[i] = first_child[p];
                first_child[p] = i as u32;
            }
            None => roots.push(i as u32),
        }
    }
    let mut order = Vec::with_capacity(n);
    let mut stack = roots;
    while let Some(i) = stack.pop() {
        order.push(i);
        let from = stack.len();
        let mut c = first_child[i as usize];
        while c != NO_NODE {
            stack.push(c);
            c = next_sibling[c as usize];
        }
        stack[from..].reverse();
    }
    let mut slots: Vec<Option<Box<LiveSpan>>> = spans.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots[i as usize].take())
        .collect()
}

/// Request `id` of process `pid` is no longer in progress: out of `serving`.
fn stop_serving(serving: &mut FxHashMap<i32, Vec<SpanId>>, pid: i32, id: SpanId) {
    if let Some(ids) = serving.get_mut(&pid) {
        ids.retain(|&i| i != id);
        if ids.is_empty() {
            serving.remove(&pid);
        }
    }
}
