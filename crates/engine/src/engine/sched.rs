//! Threads: creation, scheduler time charged to spans, syscalls, and context hand-off
//! through wakeups.

use super::*;

impl Engine {
    /// Charges the thread's time since its last change to its target span.
    pub(super) fn flush(&mut self, tid: Tid, now: Timestamp) {
        if let Some(th) = self.threads.map.get_mut(&tid) {
            charge_time(th, &mut self.spans, now);
        }
    }

    /// Changes what a thread works for (flushing its time first).
    pub(super) fn retarget(
        &mut self,
        tid: Tid,
        now: Timestamp,
        ctx: Option<SpanId>,
        call: Option<SpanId>,
        src: CtxSource,
        ev: Evidence,
    ) {
        self.flush(tid, now);
        let Some(th) = self.threads.map.get_mut(&tid) else {
            return;
        };
        if th.ctx != ctx {
            th.ctx_since = now;
        }
        th.ctx = ctx;
        th.call = call;
        th.ctx_src = src;
        th.ctx_ev = ev;
        match src {
            CtxSource::Read => th.handed_by = None,
            CtxSource::HandOff(by) => th.handed_by = Some(by),
            CtxSource::Returned => {}
        }
        if let Some(s) = th.target().and_then(|id| self.spans.get_mut(id)) {
            if !s.span.threads.contains(&tid) {
                s.span.threads.push(tid);
            }
        }
        if matches!(src, CtxSource::HandOff(_)) {
            self.set_read_since(tid, ReadSince::Several);
        }
    }

    pub(super) fn set_sched(&mut self, tid: Tid, sched: Sched, now: Timestamp) {
        if let Some(th) = self.threads.map.get_mut(&tid) {
            charge_time(th, &mut self.spans, now);
            th.sched = sched;
        }
    }

    pub(super) fn spawn(&mut self, parent: Tid, child: Tid, thread: bool, now: Timestamp) {
        if self.threads.map.contains_key(&child) {
            return;
        }
        let Some(p) = self.threads.map.get(&parent) else {
            return;
        };
        let (tgid, service, ctx, ev) = (
            if thread { p.tgid } else { child },
            p.service,
            p.ctx,
            p.ctx_ev,
        );
        self.threads.add(child, tgid, service, now);
        self.retarget(child, now, ctx, None, CtxSource::Returned, ev);
    }

    pub(super) fn on_switch(&mut self, prev: Tid, prev_state: i64, next: Tid, now: Timestamp) {
        let mut idle = false;
        if let Some(th) = self.threads.map.get_mut(&prev) {
            let sched = if prev_state == 0 || prev_state & TASK_REPORT_MAX != 0 {
                Sched::Runnable
            } else {
                if th.sys == Some(Syscall::Poll) {
                    // An event loop going idle: everything it read was acted on.
                    th.forget_batch();
                    idle = true;
                }
                Sched::Blocked(th.block_bucket(prev_state))
            };
            charge_time(th, &mut self.spans, now);
            th.sched = sched;
        }
        if idle {
            self.set_read_since(prev, ReadSince::Nothing);
            self.recent_forget(prev);
        }
        self.set_sched(next, Sched::Running, now);
    }

    pub(super) fn on_waking(&mut self, waker: Tid, in_irq: bool, target: Tid, now: Timestamp) {
        let Some(th) = self.threads.map.get_mut(&target) else {
            return;
        };
        // A thread whose state is still unknown (recording just started) is being woken
        // from a block too.
        if matches!(th.sched, Sched::Blocked(_) | Sched::Unknown) {
            th.avail = Some(now);
            charge_time(th, &mut self.spans, now);
            th.sched = Sched::Runnable;
        }
        if !in_irq && !self.through_lock(waker, target) {
            self.note_woken_poller(waker, target, now);
            self.complete(waker, target);
            self.hand_off(waker, target, now, Wake::Direct);
        }
    }

    /// True when `waker` wakes `target` from inside `futex()` on a word that behaves like a
    /// lock (see [`Futexes`]): the wakeup passes a lock on, not work.
    fn through_lock(&mut self, waker: Tid, target: Tid) -> bool {
        let Some(w) = self.threads.map.get(&waker) else {
            return false;
        };
        match (w.sys, w.sys_arg) {
            (Some(Syscall::Futex), Some(addr)) => self.futexes.wake(w.tgid, addr, waker, target),
            _ => false,
        }
    }

    /// A worker that did a call for a request another thread read hands back its result:
    /// the first request-reading thread it wakes after the answer, other than one waiting
    /// for a call of its own, is the one the call was for. If the hand-off had guessed
    /// another request, the call moves there.
    pub(super) fn complete(&mut self, waker: Tid, target: Tid) {
        let Some(call) = self.threads.map.get(&waker).and_then(|w| w.completion) else {
            return;
        };
        let Some(t) = self.threads.map.get(&target) else {
            return;
        };
        if t.ctx_src != CtxSource::Read || target == waker {
            return;
        }
        let tgid = t.tgid;
        // Where requests' work moves between threads (an M:N runtime: Go), the thread woken
        // after an answer runs whichever task is ready, not the request it read last.
        if self.readers.migrates(tgid) {
            return;
        }
        // An event loop serves several requests at once: the request it read last does not
        // say which one the result is for. It takes the result in as if it had read the
        // answer itself, and the response it writes next says whose it was (`response`,
        // `resumed`).
        if t.multiplexes {
            self.relay_answer(waker, target, call);
            return;
        }
        // A thread waiting for the answer of a call it made itself waits for that answer,
        // not for another thread's result: a wakeup reaching it passes it a lock through its
        // own condition variable (CRuby's GVL), and the next thread the worker wakes may
        // still be the one it worked for. Measured on CRuby threads at 16 clients: 77 of
        // 140 wrong completions, none of 1,799 right ones, woke such a thread.
        let own_call = t.call.and_then(|c| self.spans.get(c));
        if own_call.is_some_and(|c| !c.answered && !c.closed) {
            return;
        }
        // A request that started after the call cannot have caused it.
        let call_start = self.spans.get(call).map_or(0, |c| c.span.start);
        let Some(request) = t.ctx.filter(|&id| {
            self.spans.get(id).is_some_and(|s| {
                !s.answered && !s.closed && s.span.tid == target && s.span.start <= call_start
            })
        }) else {
            return;
        };
        // A request that has made every call of this kind its endpoint makes (the counts
        // fitted from the process's traffic), each linked by evidence naming it, is not
        // waiting for another one. Calls linked by weaker evidence do not fill it: those
        // are what a completion corrects (a pool's hand-offs).
        if self.made_all_surely(request, call) {
            return;
        }
        if let Some(w) = self.threads.map.get_mut(&waker) {
            w.completion = None;
        }
        self.adopt(call, request, tgid, Evidence::Completion);
    }

    /// A wakeup from process context passes the waker's live request context to the woken
    /// thread (a worker pool fed by a queue), unless that would be a false link.
    pub(super) fn hand_off(&mut self, waker: Tid, target: Tid, now: Timestamp, wake: Wake) {
        let Some(w) = self.threads.map.get(&waker) else {
            return;
        };
        let Some(ctx) = w.ctx else { return };
        let waker_sending = w.sys == Some(Syscall::Send);
        let Some(t) = self.threads.map.get(&target) else {
            return;
        };
        if waker == target {
            return;
        }
        // Socket wakeups: the woken thread will read the bytes, which carry the context.
        // A poller woken from inside a send is woken by a socket or by a wakeup channel
        // (eventfd, pipe): which one is known at the send's exit (`sock_send_length` fired
        // or not), so the decision waits for it.
        if wake == Wake::Direct {
            match t.sys {
                Some(Syscall::Recv | Syscall::Accept | Syscall::Connect) => return,
                // (A thread blocked since before the recording, just woken, is in a
                // syscall not seen.)
                // Noted by `note_woken_poller`, decided at the send's exit.
                Some(Syscall::Poll) | None
                    if waker_sending && (t.sys.is_some() || t.avail == Some(now)) =>
                {
                    return;
                }
                _ => {}
            }
        }
        let live_unanswered = |id: Option<SpanId>| {
            id.and_then(|id| self.spans.get(id))
                .is_some_and(|s| !s.answered && !s.closed)
        };
        // The waker's request must still be in progress, and the waker must be the thread
        // that read it (a worker that got it handed over, or a thread back from a call made
        // for it, wakes others for its own reasons: lock and GIL noise).
        let own = w.ctx_src == CtxSource::Read
            || w.relay
            || self.spans.get(ctx).is_some_and(|s| s.span.tid == waker);
        if !own || !live_unanswered(Some(ctx)) {
            return;
        }
        // The woken thread must not be busy with a request of its own: one it read, or a
        // call it is waiting for. A context handed over does not keep it busy: the next
        // request-reading thread that wakes it (outside a lock, see `through_lock`) hands it
        // new work. Keeping a worker with a submitter blocked waiting for it made Java's
        // `HttpClient` threads keep the first request's context when the next request's
        // thread handed them its call, and its pooled connection then went to the wrong
        // request (corpus Java c4 92.3 -> 99.9 %, c16 91.2 -> 99.6 %; nothing worse: the
        // lock rule now filters the wakeups it guarded against).
        let serving = !t.loops && live_unanswered(t.own);
        // Waiting for a call's answer, unless it sleeps on a futex instead of on the socket: a
        // thread that wrote a call for another thread to read the answer (an asynchronous
        // client's writer) is free for other work.
        let waiting = live_unanswered(t.call) && t.sys != Some(Syscall::Futex);
        let busy = serving || waiting || (t.ctx_src == CtxSource::Read && live_unanswered(t.ctx));
        if busy {
            return;
        }
        // An event loop hands on the work of the read it acts on now, in its read order, as
        // for a call it writes itself, not simply the request it read last; and that is
        // read order, not the hand-off of a request the waker serves alone. Not where
        // requests' work moves between threads: there a thread's reads are not its work. A worker it
        // handed work and that has made no call since is still on that work (a second
        // wakeup on the way: a queue's and then an interpreter lock's).
        let (ctx, ev) = if w.multiplexes && !self.readers.migrates(w.tgid) {
            if t.handed_idle && t.handed_by == Some(waker) {
                return;
            }
            let next = self
                .batch_take(waker, false)
                .filter(|&id| self.in_progress(id));
            (next.unwrap_or(ctx), Evidence::EventLoop)
        } else {
            (ctx, Evidence::Wakeup)
        };
        let same = self
            .threads
            .map
            .get(&target)
            .is_some_and(|t| t.ctx == Some(ctx));
        if !same {
            if let Some(t) = self.threads.map.get_mut(&target) {
                t.forget_batch();
            }
            self.recent_forget(target);
            self.retarget(target, now, Some(ctx), None, CtxSource::HandOff(waker), ev);
        }
        if let Some(t) = self.threads.map.get_mut(&target) {
            t.handed_idle = true;
            let channel = wake == Wake::Channel;
            t.relay = channel || (same && t.relay);
        }
    }

    /// A worker last handed a request by thread `x` (an acceptor: it reads many requests at
    /// once), whose context is over (answered,
    /// closed or none) or was handed to another worker before it, starts a call with no
    /// hand-off since: it took its next job from a queue that was not empty
    /// (no one had to wake it). Jobs leave a queue in order, so that job is the earliest
    /// request `x` read that is still waiting for its answer and that no other thread
    /// holds yet. The worker's context becomes that request.
    pub(super) fn claim_queued_job(&mut self, tid: Tid, now: Timestamp) {
        let Some(th) = self.threads.map.get(&tid) else {
            return;
        };
        let Some(reader) = th.handed_by else {
            return;
        };
        // Only a thread that reads many requests at once (an acceptor feeding a queue) has a
        // queue of its own; a thread serving one request at a time that submitted work shares
        // the queue with every other such thread, so the next job is anyone's.
        if !self.threads.map.get(&reader).is_some_and(|r| r.multiplexes) {
            return;
        }
        let over = th
            .ctx
            .and_then(|id| self.spans.get(id))
            .is_none_or(|s| s.answered || s.closed);
        // A job goes to one worker: if another worker got this request before this one
        // did (a wakeup that reached this worker before the acceptor read its job), this
        // worker's job is a later one.
        let since = th.ctx_since;
        let taken_before = th.ctx.is_some_and(|ctx| {
            self.threads.map.iter().any(|(&t, other)| {
                t != tid && t != reader && other.ctx == Some(ctx) && other.ctx_since < since
            })
        });
        if !(over || taken_before) || th.call.is_some() {
            return;
        }
        let threads = &self.threads.map;
        let held = |id: SpanId| {
            threads
                .iter()
                .any(|(&t, th)| t != reader && th.ctx == Some(id))
        };
        if let Some(job) = self.spans.oldest_waiting(reader, held) {
            self.retarget(
                tid,
                now,
                Some(job),
                None,
                CtxSource::HandOff(reader),
                Evidence::QueueOrder,
            );
        }
    }

    /// An event loop read the first bytes of a message for context `ctx` (`request`: a new
    /// request, else an answer whose caller continues): it joins the loop's batch of reads
    /// still to be acted on.
    pub(super) fn batch_push(&mut self, tid: Tid, ctx: Option<SpanId>, request: bool) {
        const MAX_BATCH: usize = 16;
        let Some(th) = self.threads.map.get_mut(&tid) else {
            return;
        };
        let Some(ctx) = ctx.filter(|_| th.loops) else {
            return;
        };
        let read = BatchRead {
            ctx,
            request,
            round: th.polls,
        };
        if th.batch.last() != Some(&read) {
            if th.batch.len() == MAX_BATCH {
                th.batch.remove(0);
            }
            th.batch.push(read);
        }
    }

    /// An event loop starts a call: which of its reads not acted on yet it acts on. Within
    /// the poll round that read them, a request is handled at once (its handler runs
    /// inline), while the caller of an answer continues later (a task woken by the answer
    /// is queued), and only once all its calls are answered (a caller waiting for several
    /// parallel calls does nothing on the first answers): the call is for the oldest
    /// request of the round still in progress, else for the oldest answer's caller that has
    /// no call in flight. Reads from an earlier round that a poll which did not block
    /// separates from the call were only queued (the loop polls without blocking while its
    /// ready queue is not empty) and their work runs first-in first-out: the call is for the
    /// oldest of them, request or answer. With no read left, it is for the read acted on
    /// last (a handler calling several services in a row).
    ///
    /// `connecting`: the loop opens a connection rather than writing on one. The lag of an
    /// endpoint's first call is learnt from its writes; a handler may connect earlier, in
    /// the round that read its request, and write once the connection is up (nginx without
    /// upstream keep-alive reads A, connects for A, reads B, connects for B, and writes
    /// both a round later), so a connect is not held to that lag.
    pub(super) fn batch_take(&mut self, tid: Tid, connecting: bool) -> Option<SpanId> {
        let th = self.threads.map.get_mut(&tid).filter(|th| th.loops)?;
        let (spans, patterns) = (&self.spans, &self.patterns);
        let live = |id: SpanId| spans.get(id).is_some_and(|s| !s.answered && !s.closed);
        th.batch.retain(|r| live(r.ctx));
        let round = th.polls;
        // A request whose endpoint makes its first call later than this round (learnt from
        // requests no other overlapped) does not act on this call.
        let early = |r: &BatchRead| {
            r.request
                && !connecting
                && spans
                    .get(r.ctx)
                    .and_then(|s| patterns.lag(tid, s.sig?, Lag::FirstCall))
                    .is_some_and(|lag| round.wrapping_sub(r.round) < lag)
        };
        // A request that has made every call its endpoint makes (fitted counts) does not
        // act on this call: its read leads to its response, or to nothing kspan sees.
        let pid = th.tgid;
        let done = |r: &BatchRead| {
            !r.request
                && spans.get(r.ctx).and_then(|s| s.sig).is_some_and(|sig| {
                    patterns.made_all(pid, sig, |call| {
                        spans
                            .calls_of(r.ctx)
                            .filter(|c| c.sig == Some(call))
                            .count()
                    })
                })
        };
        // The handler whose request this round's last take was writes its whole first wave
        // (calls of sub-tasks started at once) before the loop runs anything else.
        if let Some((id, r, left)) = th.batch_last {
            if r == round && left > 0 && live(id) {
                th.batch_last = Some((id, r, left - 1));
                return Some(id);
            }
        }
        let ready =
            |r: &BatchRead| (r.request || !spans.has_call(r.ctx, true)) && !early(r) && !done(r);
        // Queued work runs first in, first out: a task woken by an answer read in one round
        // runs in the next, so an answer two rounds old that nothing acted on then woke a
        // task that awaited something else (a sibling sub-task), not this call.
        let queued = th.batch.iter().position(|r| {
            r.round < round && (r.request || round.wrapping_sub(r.round) <= 1) && ready(r)
        });
        let at = queued.or_else(|| {
            th.batch
                .iter()
                .position(|r| r.request && !early(r))
                .or_else(|| th.batch.iter().position(ready))
        });
        match at {
            Some(i) => {
                let taken = th.batch.remove(i);
                let wave = taken
                    .request
                    .then(|| {
                        spans
                            .get(taken.ctx)
                            .and_then(|s| patterns.wave(tid, s.sig?))
                    })
                    .flatten()
                    .unwrap_or(1);
                th.batch_last = Some((taken.ctx, round, wave.saturating_sub(1)));
                Some(taken.ctx)
            }
            None => match th.batch_last.filter(|&(id, _, _)| live(id)) {
                Some((id, r, _)) if r == round => Some(id),
                // Its work follows its own reads in order: it serves one request at a
                // time, or it is the only thread serving its process's requests.
                _ if !th.multiplexes || self.readers.only_reader(th.tgid, tid) => {
                    spans.oldest_waiting(tid, |_| false)
                }
                last => last.map(|(id, _, _)| id),
            },
        }
    }

    /// An event loop wrote the response of `span`: that read of its batch is acted on.
    pub(super) fn batch_done(&mut self, tid: Tid, span: SpanId) {
        if let Some(th) = self.threads.map.get_mut(&tid) {
            if let Some(i) = th.batch.iter().position(|r| r.ctx == span) {
                th.batch.remove(i);
            }
        }
    }

    pub(super) fn on_enter(&mut self, tid: Tid, call: Syscall, arg: Option<i64>, now: Timestamp) {
        let Some(th) = self.threads.map.get_mut(&tid) else {
            return;
        };
        if call == Syscall::Poll {
            th.relay = false;
            th.loops = true;
            // Work queued by a read runs within the next two rounds (a task woken by the
            // read runs in the next loop iteration, or the one after when it first waits
            // on something already done); a read older than that was acted on in a way
            // kspan does not see, and would only mislead.
            let round = th.polls;
            th.batch.retain(|r| r.round.wrapping_add(1) >= round);
            th.polls = round.wrapping_add(1);
        }
        th.sys = Some(call);
        th.sock_io = false;
        th.sys_arg = arg;
        th.sys_enter = now;
        th.avail = Some(now);
        if call == Syscall::Send {
            self.in_send.push(tid);
        }
        if call == Syscall::Poll {
            self.recent_prune(tid);
        }
    }

    pub(super) fn on_exit(&mut self, tid: Tid, call: Syscall, now: Timestamp) {
        self.flush(tid, now);
        let Some(th) = self.threads.map.get_mut(&tid) else {
            return;
        };
        th.sys = None;
        th.sys_exit = now;
        let (arg, sock_io) = (th.sys_arg, th.sock_io);
        if let Some(id) = th.end_on_exit.take() {
            self.spans.extend(id, now);
        }
        if call == Syscall::Send {
            let held = std::mem::take(&mut th.held_wakes);
            let channel = !th.sock_io;
            self.in_send.retain(|&t| t != tid);
            self.sender_left(tid);
            self.left_send(tid);
            if channel {
                for &target in &held {
                    self.hand_off(tid, target, now, Wake::Channel);
                }
            }
            // Without socket events every send looks like a channel write.
            if let Some(fd) = arg.filter(|_| channel && self.sock_events()) {
                self.channel_written(tid, fd, &held);
            }
        } else if let Some(fd) = arg.filter(|_| call == Syscall::Recv && !sock_io) {
            if self.sock_events() {
                self.channel_read(tid, fd);
            }
        }
    }

    /// A thread tried to read a connection and found nothing (EAGAIN): on an idle client
    /// connection it checks it out for its request, on a server connection it watches that
    /// connection's request.
    pub(super) fn empty_read(&mut self, tid: Tid, sk: SockAddr, now: Timestamp) {
        // A socket, not a wakeup channel.
        if let Some(th) = self.threads.map.get_mut(&tid) {
            th.sock_io = true;
        }
        let ep = self.sockets.endpoint(sk);
        match (ep.side, ep.phase) {
            (Side::Client, Phase::Idle | Phase::Answer) => self.check_out(tid, sk),
            (Side::Server, Phase::Request) => self.watch(tid, sk, now),
            _ => {}
        }
    }

    /// A pool checking a kept-alive connection before reusing it for the thread's request:
    /// the next call on it is for that request, whichever thread writes it (Java's
    /// HttpClient checks on the request's thread, then an executor thread writes), as for a
    /// connection opened during a request. Only outside event loops: a runtime's poller
    /// reading a pooled connection is waiting for its next answer, not checking it out.
    fn check_out(&mut self, tid: Tid, sk: SockAddr) {
        let ctx = self
            .threads
            .map
            .get(&tid)
            .filter(|th| !th.loops)
            .and_then(|th| th.ctx)
            .filter(|&c| {
                self.spans
                    .get(c)
                    .is_some_and(|s| s.span.kind == SpanKind::Server && !s.answered && !s.closed)
            });
        if ctx.is_some() {
            self.sockets.endpoint(sk).opened_for = ctx;
        }
    }

    /// A thread watching a server connection whose request is in progress works for it
    /// (Go's net/http watches the connection from whichever OS thread runs the request's
    /// goroutine, then runs its next goroutine) — also when it read that request itself and
    /// ran other requests' work since (an M:N runtime), and even with a call of its own in
    /// flight: a thread blocked on its call's answer would not be watching another
    /// request's connection.
    fn watch(&mut self, tid: Tid, sk: SockAddr, now: Timestamp) {
        let Some(id) = self.sockets.endpoint(sk).span else {
            return;
        };
        let Some((reader, pid)) = self
            .spans
            .get(id)
            .filter(|s| !s.answered && !s.closed)
            .map(|s| (s.span.tid, s.span.pid))
        else {
            return;
        };
        if reader != tid {
            self.readers.moved(pid);
        }
        if self
            .threads
            .map
            .get(&tid)
            .is_none_or(|th| th.ctx == Some(id))
        {
            return;
        }
        self.retarget(
            tid,
            now,
            Some(id),
            None,
            CtxSource::HandOff(reader),
            Evidence::Connection,
        );
        if let Some(th) = self.threads.map.get_mut(&tid) {
            th.forget_batch();
        }
        self.recent_forget(tid);
    }

    /// A `sock_*_length` event of a traced thread on socket `sk`: its current syscall moved
    /// socket bytes, and a context it was relaying is now acted on.
    pub(super) fn socket_io(&mut self, tid: Tid, sk: SockAddr) {
        if let Some(th) = self.threads.map.get_mut(&tid) {
            th.last_sock = th.sys_arg.map(|fd| (fd, sk));
            th.sock_io = true;
            th.relay = false;
        }
    }
}

/// How a wakeup reached the woken thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wake {
    /// `sched_waking` from process context.
    Direct,
    /// Through a wakeup channel: a poller woken by an eventfd or pipe write (a send
    /// syscall that moved no socket bytes), handed over at that syscall's exit.
    Channel,
}

/// Charges a thread's time since its last change to its target span.
fn charge_time(th: &mut Thread, spans: &mut Spans, now: Timestamp) {
    let dt = now.saturating_sub(th.since);
    th.since = now;
    let bucket = match th.sched {
        Sched::Unknown => return,
        Sched::Running => Bucket::OnCpu,
        Sched::Runnable => Bucket::Runnable,
        Sched::Blocked(b) => b,
    };
    if dt == 0 {
        return;
    }
    if let Some(s) = th
        .target()
        .and_then(|id| spans.get_mut(id))
        .filter(|s| !s.closed)
    {
        s.sink().add_time(bucket, dt);
    }
}
