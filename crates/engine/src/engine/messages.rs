//! Bytes on connections: requests and answers, the spans they open and close, and
//! pending reads waiting for their sender (the read-before-send ordering trap).

use super::*;

impl Engine {
    pub(super) fn on_send(&mut self, tid: Tid, sk: SockAddr, n: u64, now: Timestamp) {
        if let Some(pieces) = self.mux_send(tid, sk, n) {
            let pipelined = self.pipelined_client(sk);
            for p in pieces {
                self.mux.offset = p.offset;
                let before = self.sockets.endpoints.get(&p.sock).and_then(|e| e.span);
                self.on_send(tid, p.sock, p.len, now);
                self.stream_moved(tid);
                let opened = self
                    .sockets
                    .endpoints
                    .get(&p.sock)
                    .and_then(|e| e.span)
                    .filter(|&id| Some(id) != before);
                if let (Some(sig), false) = (p.sig, self.rides(opened)) {
                    self.sign(p.sock, true, sig);
                }
                if pipelined && self.mux.rides_on.is_none() {
                    self.mux.rides_on = opened;
                }
            }
            self.mux.offset = 0;
            self.mux.rides_on = None;
            return;
        }
        let origin = if self.threads.map.contains_key(&tid) {
            match self.side_of(sk, true) {
                Side::Server => self.response_bytes(tid, sk, n, now),
                _ => self.request_bytes(tid, sk, n, now),
            }
        } else {
            Origin::Untraced
        };
        let max = self.config.max_segments_per_stream;
        match self.sockets.endpoint(sk).out {
            Some(out) => {
                if let Some((p, o)) = self.sockets.stream(out).push(n, origin, max) {
                    self.pending.retain(|&id| id != out);
                    self.resolve(p, o);
                }
            }
            None => self.sockets.queue_early(sk, n, origin),
        }
    }

    /// A traced thread writes on the server side: the response of the current request.
    pub(super) fn response_bytes(
        &mut self,
        tid: Tid,
        sk: SockAddr,
        n: u64,
        now: Timestamp,
    ) -> Origin {
        let ep = self.sockets.endpoint(sk);
        let Some(id) = ep.span else {
            self.caveat(Caveat::ResponseBeforeRecording);
            return Origin::BeforeRecording;
        };
        let (first_byte, inp) = (ep.phase == Phase::Request, ep.inp);
        ep.phase = Phase::Answer;
        if first_byte {
            let served = self
                .spans
                .get(id)
                .map(|s| (s.span.tid, s.span.pid, s.span.parent));
            // A response written by another thread than the one that read its request: the
            // process moves requests' work between threads.
            if let Some((_, pid, _)) = served
                .filter(|&(reader, _, _)| reader != tid && self.threads.map.contains_key(&reader))
            {
                self.readers.moved(pid);
            }
            // Whose request this answers, and what its sender had sent by now.
            let caller = served.and_then(|(_, _, parent)| parent);
            let sent = inp.map(|inp| self.sockets.stream(inp).sent_offset());
            self.sockets.endpoint(sk).answering = caller.zip(sent);
        }
        if let Some(pid) = self
            .spans
            .get(id)
            .filter(|r| r.in_progress())
            .map(|r| r.span.pid)
        {
            self.check_hand_ons(id, pid);
        }
        self.answered_after_read(tid, id);
        self.answered_before_calls(id);
        self.split_at_response(id);
        self.fill_under_count(id);
        self.note_for_patterns(tid, id, now);
        self.spans.mark_answered(id);
        if let Some(s) = self.spans.get_mut(id) {
            s.main.a.bytes_out += n;
            // The thread writing the response worked for the request, whoever read it.
            if !s.span.threads.contains(&tid) {
                s.span.threads.push(tid);
            }
        }
        self.batch_done(tid, id);
        let Some(th) = self.threads.map.get_mut(&tid) else {
            return Origin::Span(id);
        };
        th.end_on_exit = Some(id);
        // A thread that writes a response after a call (a pool worker answering the
        // request it was handed) has handed its result back itself: its later wakeups
        // (telling the acceptor it is free, lock releases) are not completions.
        th.completion = None;
        Origin::Span(id)
    }

    /// Thread `tid` writes the response of `request`: if the first response byte comes after
    /// it read only one call's answer (since it last answered a request or went idle), that
    /// answer is what the response waited for, and the call was the request's.
    fn answered_after_read(&mut self, tid: Tid, request: SpanId) {
        let Some(th) = self.threads.map.get(&tid) else {
            return;
        };
        let (read, pid) = (th.read_since, th.tgid);
        // A response whose endpoint resumes its last answer a known number of rounds later
        // resumed no answer read in another round.
        let read = match (read, self.resume_round(tid, request)) {
            (ReadSince::Answer(call), Some(round))
                if self.spans.get(call).and_then(|c| c.read_round) != Some(round) =>
            {
                ReadSince::Several
            }
            (read, _) => read,
        };
        if let (ReadSince::Answer(call), Some(r)) =
            (read, self.spans.get(request).filter(|r| r.in_progress()))
        {
            // A request read after the call was written cannot have made it.
            let r_start = r.span.start;
            if self
                .spans
                .get(call)
                .is_some_and(|c| c.span.start >= r_start)
            {
                self.adopt(call, request, pid, Evidence::Response);
            }
        } else {
            self.resumed_read(tid, request);
        }
        self.set_read_since(tid, ReadSince::Nothing);
    }

    /// What thread `tid` read since it last answered a request or went idle becomes `next`.
    /// An orphan call (no request linked yet) whose answer it read alone keeps its trace
    /// from being emitted until then: the response the thread writes next may adopt it.
    pub(super) fn set_read_since(&mut self, tid: Tid, next: ReadSince) {
        let Some(th) = self.threads.map.get_mut(&tid) else {
            return;
        };
        let prev = std::mem::replace(&mut th.read_since, next);
        if prev == next {
            return;
        }
        if let ReadSince::Answer(call) = prev {
            self.spans.release(call);
        }
        if let ReadSince::Answer(call) = next {
            if self
                .spans
                .get(call)
                .is_some_and(|c| c.span.parent.is_none())
            {
                self.spans.hold(call);
            }
        }
    }

    /// `request` starts its response: a handler answers after its calls' answers, so a call
    /// still waiting for its answer that was linked to it only by weak evidence (read order,
    /// a wakeup, a queue) was another request's. With no better evidence yet it becomes an
    /// orphan, which later evidence (the response its answer is followed by) may adopt.
    fn answered_before_calls(&mut self, request: SpanId) {
        if !self.in_progress(request) {
            return;
        }
        for call in self.spans.calls_in_flight(request) {
            let weak = self
                .spans
                .get(call)
                .and_then(|c| c.span.link)
                .is_some_and(|l| l.evidence > Evidence::Response);
            if weak {
                self.spans.detach(call);
            }
        }
    }

    /// A traced thread writes on the client side: a call in its current context.
    pub(super) fn request_bytes(
        &mut self,
        tid: Tid,
        sk: SockAddr,
        n: u64,
        now: Timestamp,
    ) -> Origin {
        let ep = self.sockets.endpoint(sk);
        let id = match (ep.phase, ep.span) {
            (Phase::Request, Some(id)) => id,
            (_, None) if self.mux.rides_on.is_some() => {
                ep.phase = Phase::Request;
                ep.requests += 1;
                let tuple = ep.tuple;
                self.open_rider(tid, sk, tuple, now)
            }
            (_, old) => {
                ep.phase = Phase::Request;
                ep.requests += 1;
                let tuple = ep.tuple;
                let opened_for = ep.opened_for.take();
                self.claim_queued_job(tid, now);
                let (parent, link, watched) = self.link_call(tid, opened_for);
                self.note_write_round(tid);
                let start = self.call_start(tid, now);
                let mut span = self.new_span(SpanKind::Client, parent, tid, start, tuple);
                span.link = link;
                let id = self.spans.open(span);
                if let Some(s) = self.spans.get_mut(id) {
                    s.watched = watched;
                }
                self.note_hand_on(tid, old, id);
                if let Some(old) = old {
                    self.spans.close(old);
                }
                self.sockets.endpoint(sk).span = Some(id);
                if let Some(th) = self.threads.map.get_mut(&tid) {
                    th.handed_idle = false;
                }
                let th = &self.threads.map[&tid];
                let (ctx, src, ev) = (th.ctx, th.ctx_src, th.ctx_ev);
                self.retarget(tid, now, ctx, Some(id), src, ev);
                if let Some(th) = self.threads.map.get_mut(&tid) {
                    th.completion = None;
                }
                id
            }
        };
        if let Some(s) = self.spans.get_mut(id) {
            s.main.a.bytes_out += n;
        }
        Origin::Span(id)
    }

    /// When a call that thread `tid` writes at `now` starts: the entry of its send
    /// syscall.
    pub(super) fn call_start(&self, tid: Tid, now: Timestamp) -> Timestamp {
        let th = &self.threads.map[&tid];
        if th.sys == Some(Syscall::Send) {
            th.sys_enter
        } else {
            now
        }
    }

    pub(super) fn new_span(
        &self,
        kind: SpanKind,
        parent: Option<SpanId>,
        tid: Tid,
        start: Timestamp,
        tuple: Option<FourTuple>,
    ) -> Span {
        let th = &self.threads.map[&tid];
        Span {
            id: SpanId(0),
            parent,
            kind,
            service: self.threads.services[th.service as usize].clone(),
            pid: th.tgid,
            tid,
            threads: vec![tid],
            start,
            end: start,
            local: tuple.map(|t| addr(t.local)),
            peer: tuple.map(|t| addr(t.remote)),
            partial: false,
            error: None,
            link: None,
            activity: Activity::default(),
            opening_offset: self.mux.offset,
        }
    }

    pub(super) fn on_recv(&mut self, tid: Tid, sk: SockAddr, n: u64, now: Timestamp) {
        if let Some(pieces) = self.mux_recv(tid, sk, n) {
            for p in pieces {
                self.mux.offset = p.offset;
                self.on_recv(tid, p.sock, p.len, now);
                self.stream_moved(tid);
                if let Some(sig) = p.sig {
                    self.sign(p.sock, false, sig);
                }
            }
            self.mux.offset = 0;
            return;
        }
        let traced = self.threads.map.contains_key(&tid);
        let side = if traced {
            self.side_of(sk, false)
        } else {
            Side::Unknown
        };
        let mut n = n;
        if side == Side::Server {
            let more = self.continues_request(tid, sk, n, now);
            if more == n {
                return;
            }
            n -= more;
        }
        let ep = self.sockets.endpoint(sk);
        // A read that starts a new message (a request on the server side, an answer on the
        // client side) comes after a turn of the conversation.
        let turn = match side {
            Side::Server => ep.phase != Phase::Request,
            Side::Client => ep.phase == Phase::Request,
            Side::Unknown => false,
        };
        let (first, origin) = match ep.inp {
            Some(inp) => {
                let stream = self.sockets.stream(inp);
                if turn {
                    stream.realign_at_turn();
                }
                let first = stream.read_offset();
                (Some((inp, first)), stream.read(n))
            }
            None => {
                ep.early_read += n;
                (None, Some(Origin::BeforeRecording))
            }
        };
        match side {
            Side::Client => self.answer_bytes(tid, sk, n, now),
            Side::Server => self.request_read(tid, sk, n, now, first, origin),
            Side::Unknown => {}
        }
    }

    /// Server socket `sk` reads `n` bytes: how many of the first ones continue the request
    /// it answered (consumed here) rather than start a new one. Those its traced peer sent
    /// in the same message as that request (the client span its server span is linked to
    /// by bytes) before this end wrote the first byte of its response. The sender's
    /// message is decided where it is sent (a client span runs until the client reads an
    /// answer), whatever order the server reads it in: FastCGI's empty STDIN record, sent
    /// in nginx's one `writev` with the rest of the request and read by PHP-FPM only after
    /// its response, is that request's. They extend its server span (the thread is back on
    /// it), or nothing once that span is over. Untraced bytes carry no message boundary
    /// (an untraced client's sends merge into one run) and bytes whose send event came
    /// after the response started may be a new request: both start one, as before.
    fn continues_request(&mut self, tid: Tid, sk: SockAddr, n: u64, now: Timestamp) -> u64 {
        let ep = self.sockets.endpoint(sk);
        let (Phase::Answer, Some(id), Some(inp), Some((caller, mark))) =
            (ep.phase, ep.span, ep.inp, ep.answering)
        else {
            return 0;
        };
        let stream = self.sockets.stream(inp);
        let at = stream.read_offset();
        let more = match stream.next_run() {
            Some((end, Origin::Span(c))) if c == caller && at < mark => end.min(mark) - at,
            _ => return 0,
        }
        .min(n);
        stream.read(more);
        match self.spans.get_mut(id) {
            Some(s) if !s.closed => self.read_into(tid, id, more, now),
            Some(s) => s.main.a.bytes_in += more,
            None => {}
        }
        more
    }

    /// A traced thread reads the answer of its call: back in the call's parent context.
    pub(super) fn answer_bytes(&mut self, tid: Tid, sk: SockAddr, n: u64, now: Timestamp) {
        let ep = self.sockets.endpoint(sk);
        let Some(id) = ep.span else {
            self.caveat(Caveat::AnswerBeforeRecording);
            return;
        };
        ep.phase = Phase::Answer;
        if self.rides(Some(id)) {
            self.rider_answered(tid, id, n);
            return;
        }
        self.note_for_patterns(tid, id, now);
        let Some(s) = self.spans.get_mut(id) else {
            return;
        };
        s.answered = true;
        s.main.a.bytes_in += n;
        if s.span.parent.is_none() {
            let (writer, pid, start) = (s.span.tid, s.span.pid, s.span.start);
            self.adopt_by_elimination(id, writer, pid, start);
        }
        self.place_by_pattern(id);
        self.wait_for_split(id);
        let Some(s) = self.spans.get(id) else {
            return;
        };
        let ev = s.span.link.map_or(Evidence::OwnThread, |l| l.evidence);
        // A thread serving one request at a time (a pool worker) takes a new job after this
        // answer: a parent only guessed by counting (patterns, queue order: pypool c16 78.9
        // -> 85.0 %; the only request in progress when the call was written: pypool c4 97.4
        // -> 98.6 %, nothing else changed) is no context for its next calls.
        let multiplexes = self.threads.map.get(&tid).is_some_and(|t| t.multiplexes);
        let parent = s.span.parent.filter(|_| {
            multiplexes
                || !matches!(
                    ev,
                    Evidence::Pattern | Evidence::QueueOrder | Evidence::SoleRequest
                )
        });
        // Made with no context, or for a request another thread read: a completion
        // wakeup may say which request it was for.
        let for_other = parent
            .and_then(|p| self.spans.get(p))
            .is_none_or(|p| p.span.tid != tid);
        self.retarget(tid, now, parent, None, CtxSource::Returned, ev);
        self.batch_push(tid, parent, false);
        self.recent_push(tid, id, false);
        if let Some(th) = self.threads.map.get_mut(&tid) {
            th.end_on_exit = Some(id);
            th.completion = for_other.then_some(id);
            let next = th.read_since.answer(id);
            self.set_read_since(tid, next);
        }
    }

    /// The answer of orphan call `call` (written by thread `writer` of process `pid` at
    /// `start`) is read. For a thread that serves several requests at once (an event loop, a
    /// runtime thread), the call was one of the requests in progress when it was written; if
    /// exactly one of them is still in progress (the others answered before the call did),
    /// it is that one's. Not for a thread serving one request at a time (measured wrong on
    /// pool workers, docs/engine.md).
    fn adopt_by_elimination(&mut self, call: SpanId, writer: Tid, pid: i32, start: Timestamp) {
        if !self.threads.map.get(&writer).is_some_and(|t| t.multiplexes) {
            return;
        }
        if let Some(only) = self.spans.only_request_started_by(pid, start) {
            self.adopt(call, only, pid, Evidence::SoleRequest);
        }
    }

    /// A traced thread reads on the server side: a new request opens a server span.
    pub(super) fn request_read(
        &mut self,
        tid: Tid,
        sk: SockAddr,
        n: u64,
        now: Timestamp,
        first: Option<(StreamId, u64)>,
        origin: Option<Origin>,
    ) {
        let ep = self.sockets.endpoint(sk);
        let id = match (ep.phase, ep.span) {
            (Phase::Request, Some(id)) => id,
            (_, old) => {
                ep.phase = Phase::Request;
                ep.requests += 1;
                // The first request on a connection older than the recording may have
                // started before it.
                let suspect = !ep.fresh && ep.requests == 1;
                let tuple = ep.tuple;
                if let Some(old) = old {
                    self.spans.close(old);
                }
                let parent = match origin {
                    Some(Origin::Span(p)) => Some(p),
                    _ => None,
                };
                let start = self.threads.map[&tid].avail.unwrap_or(now);
                let mut span = self.new_span(SpanKind::Server, parent, tid, start, tuple);
                span.link = parent.map(|_| links::BYTES);
                span.partial = match origin {
                    Some(Origin::Span(_)) => false,
                    Some(Origin::BeforeRecording) => true,
                    Some(Origin::Untraced) => suspect,
                    // Decided when the sender is known (see `resolve`).
                    None => false,
                };
                if parent.is_some() && self.spans.get(parent.unwrap_or(SpanId(0))).is_none() {
                    self.caveat(Caveat::ParentGone);
                }
                let id = self.spans.open(span);
                self.note_hand_on(tid, old, id);
                if let Some(old) = old {
                    self.spans.close(old);
                }
                self.sockets.endpoint(sk).span = Some(id);
                if let (None, Some((inp, at))) = (origin, first) {
                    self.wait_for_sender(tid, inp, at, id, suspect);
                }
                id
            }
        };
        self.read_into(tid, id, n, now);
    }

    /// Thread `tid` read `n` bytes of request `id`: it now works for that request.
    fn read_into(&mut self, tid: Tid, id: SpanId, n: u64, now: Timestamp) {
        if let Some(s) = self.spans.get_mut(id) {
            s.main.a.bytes_in += n;
        }
        self.retarget(
            tid,
            now,
            Some(id),
            None,
            CtxSource::Read,
            Evidence::OwnThread,
        );
        let previous = self.threads.map.get(&tid).and_then(|th| th.own);
        let concurrent = previous.is_some_and(|p| p != id && self.in_progress(p));
        self.readers.read_by(self.threads.map[&tid].tgid, tid);
        if let Some(th) = self.threads.map.get_mut(&tid) {
            th.own = Some(id);
            th.multiplexes |= concurrent;
        }
        self.set_read_since(tid, ReadSince::Several);
        self.batch_push(tid, Some(id), true);
        self.recent_push(tid, id, true);
    }

    /// A new request's first byte was not sent yet in event order: wait for the traced
    /// threads now inside a send syscall, unless the stream is known to have no traced
    /// sender.
    pub(super) fn wait_for_sender(
        &mut self,
        reader: Tid,
        inp: StreamId,
        at: u64,
        span: SpanId,
        suspect: bool,
    ) {
        let mut waiting: Vec<Tid> = self
            .in_send
            .iter()
            .copied()
            .filter(|&t| t != reader)
            .collect();
        if self.sockets.unbound_senders > 0 {
            waiting.push(UNBOUND_SENDERS);
        }
        let read = PendingRead {
            at,
            span,
            waiting,
            suspect,
        };
        let stream = self.sockets.stream(inp);
        if read.waiting.is_empty() || stream.sender_untraced {
            stream.sender_untraced = true;
            self.resolve(read, Origin::Untraced);
            return;
        }
        if let Some(old) = stream.pending.replace(read) {
            self.resolve(old, Origin::Untraced);
        } else {
            self.pending.push(inp);
        }
    }

    /// `tid` left a send syscall: pending reads that waited only for it have an untraced
    /// sender.
    pub(super) fn sender_left(&mut self, tid: Tid) {
        if self.pending.is_empty() {
            return;
        }
        let mut resolved = Vec::new();
        self.pending.retain(|&id| {
            let Some(stream) = self.sockets.stream_opt(id) else {
                return false;
            };
            let Some(p) = stream.pending.as_mut() else {
                return false;
            };
            p.waiting.retain(|&t| t != tid);
            if p.waiting.is_empty() {
                stream.sender_untraced = true;
                resolved.extend(stream.pending.take());
                return false;
            }
            true
        });
        for p in resolved {
            self.resolve(p, Origin::Untraced);
        }
    }

    /// A pending read learnt where its first byte came from.
    pub(super) fn resolve(&mut self, p: PendingRead, origin: Origin) {
        match origin {
            Origin::Span(parent) => {
                if !self.spans.reparent(p.span, parent, links::BYTES) {
                    self.caveat(Caveat::ParentGone);
                }
            }
            Origin::Untraced | Origin::BeforeRecording => {
                if origin == Origin::BeforeRecording || p.suspect {
                    if let Some(s) = self.spans.get_mut(p.span) {
                        s.span.partial = true;
                    }
                }
            }
        }
    }
}

/// An address for output: IPv4-mapped addresses as plain IPv4.
pub(super) fn addr(a: SocketAddrV6) -> SocketAddr {
    match a.ip().to_ipv4_mapped() {
        Some(v4) => SocketAddr::new(v4.into(), a.port()),
        None => SocketAddr::V6(a),
    }
}
