//! Multiplexed connections (HTTP/2) and pipelined ones (RESP): each stream, or each
//! pipelined command, is a connection of its own.
//!
//! A send whose payload head shows HTTP/2 frames ([`EventKind::Frames`]) makes its
//! connection multiplexed. From then on its bytes are divided by frame: the frames of
//! stream `s` go to a *stream socket* of `s`, bound to the connection's tuple with `s` in
//! both addresses' flow label (so that both ends' stream sockets of `s` share its byte
//! streams), and the rules of every connection (messages, spans, pending reads) apply to
//! it: each request gets its own client span, matched byte for byte to its own server
//! span, and requests sent before any answer no longer merge. Control (the preface,
//! SETTINGS, PING, WINDOW_UPDATE, anything of stream 0) belongs to no message: it opens,
//! extends and answers nothing. A reader consumes the connection's bytes in order, and each
//! run it reads goes to the stream socket of the stream it was sent on.
//!
//! A send's head shows its first frames only: bytes past the last frame it shows go with
//! that frame's stream, and a send that starts inside the previous send's last frame
//! continues it. A stream socket goes once its span is closed (its request's trace moved
//! on) when a new stream starts on its connection, and with its connection.
//!
//! A pipelined connection ([`super::pipelined`]) is divided the same way, its messages
//! numbered in order instead of carrying a stream id: the k-th command a client sends and
//! the k-th reply its server sends (RESP answers in order) go to the stream socket of k.

use super::*;
use crate::event::{Frame, MessageHead};
use crate::fxhash::FxHashMap;
use std::collections::VecDeque;

/// Stream sockets' keys start here: above any small test number, below the kernel's
/// socket pointers (the kernel half of the address space, top bit set).
const STREAM_SOCKETS: SockAddr = 1 << 62;
/// Stream sockets kept per connection at most: beyond, the lowest streams go (their spans
/// end), so that a connection whose streams never close holds bounded state.
const MAX_STREAMS: usize = 256;
/// Stream tags kept per connection direction at most (a reader that is not traced never
/// consumes them).
const MAX_TAGS: usize = 256;

/// The tag of control bytes (stream 0).
const CONTROL: u32 = 0;

/// A stream id and its stream socket.
type StreamOf = (u32, SockAddr);

/// A piece of a send or read on a multiplexed connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct MuxPiece {
    /// The stream socket its bytes go to.
    pub(super) sock: SockAddr,
    /// Its bytes.
    pub(super) len: u64,
    /// Where it starts in its syscall's bytes.
    pub(super) offset: u64,
    /// The signature of the request it opens, if any.
    pub(super) sig: Option<u64>,
}

/// Multiplexed sockets and the frames of sends in progress.
#[derive(Debug, Default)]
pub(super) struct Mux {
    /// Multiplexed (real) sockets.
    conns: FxHashMap<SockAddr, MuxConn>,
    /// The send syscall each thread is in, as its payload head showed it.
    pub(super) sending: FxHashMap<Tid, Sending>,
    /// The read syscall each thread is in, as its payload head showed it (pipelined
    /// messages only: a reader divides its own reads when their sender is not traced).
    pub(super) reading: FxHashMap<Tid, Sending>,
    /// Stream sockets created so far.
    created: u64,
    /// Spans that end when each thread leaves its current syscall: one syscall's bytes
    /// may end the messages of several streams.
    ending: FxHashMap<Tid, Vec<SpanId>>,
    /// Where the bytes handed to the connection rules now start in their syscall's bytes
    /// (0 outside a divided syscall): a span they open starts there.
    pub(super) offset: u64,
    /// The call that the pipelined write now divided opened first: the later commands it
    /// carries ride on it (see [`super::pipelined`]).
    pub(super) rides_on: Option<SpanId>,
}

impl Mux {
    /// Thread `tid` exited: its send and syscall are over.
    pub(super) fn forget(&mut self, tid: Tid) {
        self.sending.remove(&tid);
        self.reading.remove(&tid);
        self.ending.remove(&tid);
    }
}

/// A send (or read) in progress, from its payload head.
#[derive(Debug)]
pub(super) struct Sending {
    /// Its descriptor.
    pub(super) fd: i64,
    /// The head's stamp, taken at its syscall's entry.
    pub(super) at: Timestamp,
    /// What its head shows.
    pub(super) shown: Shown,
    /// The signature of the request it opens, if any (HTTP/2).
    pub(super) sig: Option<u64>,
}

impl Sending {
    /// True when this head is of the syscall on `fd` that its thread, whose last syscall
    /// ended at `exit`, is in now. A thread is in one syscall at a time, so a head stamped
    /// after its last exit is its current syscall's; the head's stamp and the entry event's
    /// are taken by two programs on the same tracepoint, in no fixed order (the head's
    /// first by about 1 µs on some recordings, last on others, up to tens of µs apart when
    /// the thread is interrupted between them): bounding it by the entry instead lost the
    /// heads of 28 of 19,124 RESP syscalls on Erlang at 4 clients, and each one lost
    /// shifted the numbering of a pipelined connection's messages by one.
    fn of_syscall(&self, fd: i64, exit: Timestamp) -> bool {
        self.fd == fd && self.at >= exit
    }
}

/// What a head shows of its syscall's bytes.
#[derive(Debug, Clone)]
pub(super) enum Shown {
    /// HTTP/2 frames.
    Frames(Vec<Frame>),
    /// Messages of a pipelined protocol, to be numbered on their connection.
    Messages(Vec<MessageHead>),
}

/// One multiplexed socket.
#[derive(Debug, Default)]
struct MuxConn {
    /// Its stream sockets, by stream id.
    streams: FxHashMap<u32, SockAddr>,
    /// What it sent, by stream: runs of (absolute end offset in its out stream, stream;
    /// [`CONTROL`] for control), oldest first.
    tags: VecDeque<(u64, u32)>,
    /// Where the oldest run kept starts: bytes before it (sent before the connection was
    /// known multiplexed, or whose runs were dropped) belong to no stream.
    base: u64,
    /// The end (absolute offset) and stream of the last frame a send showed: a send
    /// starting before that end continues it.
    frame: (u64, u32),
    /// The process and descriptor its sends were last made on (to find a send in progress
    /// whose bytes a reader already consumed).
    sender: Option<(i32, i64)>,
    /// True for a pipelined connection: its messages are numbered in order, and
    /// [`MuxConn::frame`]'s stream is the number of the last message it sent.
    pipelined: bool,
    /// Like [`MuxConn::frame`] for what this socket read (on a pipelined connection, the
    /// number of the last message it read).
    read_frame: (u64, u32),
    /// True for a pipelined connection's server end (it reads commands and sends
    /// replies).
    server: bool,
}

impl MuxConn {
    /// Tags `n` bytes sent from absolute offset `at`, divided by `frames` (from the send's
    /// head, if any); returns the pieces (stream, bytes) in order.
    fn tag_send(&mut self, at: u64, n: u64, frames: Option<&[Frame]>) -> Vec<(u32, u64)> {
        let pieces = divide(self.frame, at, n, frames);
        if self.tags.is_empty() {
            self.base = at;
        }
        let mut end = at;
        for &(stream, k) in &pieces {
            end += k;
            match self.tags.back_mut() {
                Some((e, s)) if *s == stream => *e = end,
                _ => self.tags.push_back((end, stream)),
            }
        }
        advance(&mut self.frame, at, frames, &pieces);
        while self.tags.len() > MAX_TAGS {
            self.drop_oldest();
        }
        pieces
    }

    /// The frames that `shown` (the head of a send, `sending`, or of a read) makes of `n`
    /// bytes from offset `at` after a message that ended, or ends, at `last`, with the
    /// signatures of the requests they open: an HTTP/2 send's as they are, a pipelined
    /// one's numbered on from `last`'s, replies never past the last command this end
    /// knows of (a server answers no command it has not read, a client reads no reply to
    /// a command it has not sent). `None` when the head is not of this connection's kind.
    fn frames_of(
        &self,
        last: (u64, u32),
        shown: &Shown,
        (at, n): (u64, u64),
        sending: bool,
    ) -> Option<Numbered> {
        let cap = match (self.server, sending) {
            (true, true) => Some(self.read_frame.1),
            (false, false) => Some(self.frame.1),
            _ => None,
        };
        match shown {
            Shown::Frames(f) if !self.pipelined => Some(f.iter().map(|&f| (f, None)).collect()),
            Shown::Messages(m) if self.pipelined => {
                Some(pipelined::numbered(last, m, (at, n), cap))
            }
            _ => None,
        }
    }

    /// Forgets the oldest run.
    fn drop_oldest(&mut self) {
        if let Some((end, _)) = self.tags.pop_front() {
            self.base = end;
        }
    }

    /// Divides `n` bytes this socket read from offset `from` by what the read's own head
    /// shows (a pipelined connection whose sender is not traced): the pieces, and the
    /// numbered messages they start.
    fn divide_read(
        &mut self,
        from: u64,
        n: u64,
        shown: Option<&Shown>,
    ) -> (Vec<(u32, u64)>, Option<Numbered>) {
        let last = self.read_frame;
        let numbered = shown.and_then(|sh| self.frames_of(last, sh, (from, n), false));
        let frames = frames(&numbered);
        let pieces = divide(last, from, n, frames.as_deref());
        advance(&mut self.read_frame, from, frames.as_deref(), &pieces);
        (pieces, numbered)
    }

    /// The streams of the bytes `[from, to)` this socket sent, as far as tagged; the
    /// offset the tags end at.
    fn pieces_read(&mut self, from: u64, to: u64) -> (Vec<(u32, u64)>, u64) {
        while self.tags.front().is_some_and(|&(end, _)| end <= from) {
            self.drop_oldest();
        }
        let mut out: Vec<(u32, u64)> = Vec::new();
        let mut at = from;
        if at < self.base && !self.tags.is_empty() {
            let k = self.base.min(to) - at;
            out.push((CONTROL, k));
            at += k;
        }
        for &(end, stream) in &self.tags {
            if at >= to {
                break;
            }
            let k = end.min(to) - at;
            out.push((stream, k));
            at += k;
        }
        (out, at)
    }
}

/// Frames of a send or read, each with the signature of the request it opens.
type Numbered = Vec<(Frame, Option<u64>)>;

/// The frames of `numbered`, if any.
fn frames(numbered: &Option<Numbered>) -> Option<Vec<Frame>> {
    numbered
        .as_ref()
        .map(|v| v.iter().map(|&(f, _)| f).collect())
}

/// The signature of the request that stream `stream` opens in `numbered`, if any.
fn sig_of(numbered: &Option<Numbered>, stream: u32) -> Option<u64> {
    numbered
        .iter()
        .flatten()
        .find(|(f, _)| f.stream == stream)
        .and_then(|&(_, sig)| sig)
}

/// A frame's tag: its stream when it carries a message, else [`CONTROL`].
fn tag(f: &Frame) -> u32 {
    if f.message {
        f.stream
    } else {
        CONTROL
    }
}

/// The last frame (its end and stream) after `pieces` of a send or read from offset `at`,
/// divided by `frames` unless it started inside `last`'s frame.
fn advance(last: &mut (u64, u32), at: u64, frames: Option<&[Frame]>, pieces: &[(u32, u64)]) {
    if let Some(frames) = frames.filter(|_| last.0 <= at) {
        let mut start = at;
        for f in frames {
            *last = (start + f.len, tag(f));
            start += f.len;
        }
    } else if let Some(&(stream, _)) = pieces.last() {
        last.1 = stream;
    }
}

/// Divides `n` bytes sent from offset `at` into (stream, bytes) pieces: first what
/// continues the last frame (`last`: its end and stream), then `frames`, then the rest
/// with the last stream seen.
fn divide(last: (u64, u32), at: u64, n: u64, frames: Option<&[Frame]>) -> Vec<(u32, u64)> {
    let end = at + n;
    let mut out: Vec<(u32, u64)> = Vec::new();
    let mut push = |stream: u32, k: u64| match out.last_mut() {
        Some((s, n)) if *s == stream => *n += k,
        _ if k > 0 => out.push((stream, k)),
        _ => {}
    };
    let (frame_end, mut stream) = last;
    let mut pos = at;
    if frame_end > pos {
        let k = frame_end.min(end) - pos;
        push(stream, k);
        pos += k;
    } else if let Some(frames) = frames {
        for f in frames {
            if pos >= end {
                break;
            }
            stream = tag(f);
            let k = f.len.min(end - pos);
            push(stream, k);
            pos += k;
        }
    }
    push(stream, end - pos);
    out
}

/// True when every frame a send's head shows ends within the send's `n` bytes: only
/// such a send makes its connection multiplexed. Other protocols' bytes can pass for a
/// frame header (a MariaDB OK packet with sequence id 1, `07 00 00 01 00 01 00 02 00`, is
/// a HEADERS frame of stream 16777728 and 458,752 bytes), but not for frames as long as
/// the send that wrote them.
fn fits(frames: &[Frame], n: u64) -> bool {
    frames.iter().map(|f| f.len).sum::<u64>() <= n
}

/// The tuple of stream `stream` of the connection `t`: the stream id in both flow labels.
fn stream_tuple(t: FourTuple, stream: u32) -> FourTuple {
    let with = |a: SocketAddrV6| SocketAddrV6::new(*a.ip(), a.port(), stream, a.scope_id());
    FourTuple {
        local: with(t.local),
        remote: with(t.remote),
    }
}

impl Engine {
    /// A payload head: thread `tid`'s send on `fd`, entered at `now`, is made of `frames`
    /// and opens a request of signature `sig`, if any.
    pub(super) fn on_frames(
        &mut self,
        tid: Tid,
        fd: i64,
        frames: &[Frame],
        sig: Option<u64>,
        now: Timestamp,
    ) {
        let sending = Sending {
            fd,
            at: now,
            shown: Shown::Frames(frames.to_vec()),
            sig,
        };
        self.mux.sending.insert(tid, sending);
    }

    /// The send (`send`) or read syscall thread `tid` is in, if its payload head showed
    /// frames or pipelined messages.
    fn head_in_progress(&mut self, tid: Tid, send: bool) -> Option<Sending> {
        let th = self.threads.map.get(&tid)?;
        let (fd, exit) = (th.sys_arg?, th.sys_exit);
        let map = if send {
            &mut self.mux.sending
        } else {
            &mut self.mux.reading
        };
        map.remove(&tid).filter(|s| s.of_syscall(fd, exit))
    }

    /// Thread `tid` sends `n` bytes on socket `sk`: on a multiplexed or pipelined
    /// connection (or one this send makes so: HTTP/2 frames that [`fits`] the send, a
    /// client's commands, [`Engine::opens_pipeline`]), the pieces they divide into; `None`
    /// for any other connection.
    pub(super) fn mux_send(&mut self, tid: Tid, sk: SockAddr, n: u64) -> Option<Vec<MuxPiece>> {
        if self.mux.sending.is_empty() && self.mux.conns.is_empty() {
            return None;
        }
        let sending = self.head_in_progress(tid, true);
        let out = self.sockets.endpoints.get(&sk)?.out?;
        if !self.mux.conns.contains_key(&sk) {
            let pipelined = match sending.as_ref().map(|s| &s.shown) {
                Some(Shown::Frames(f)) if fits(f, n) => false,
                Some(Shown::Messages(m)) if self.opens_pipeline(tid, sk, true, m, n) => true,
                _ => return None,
            };
            self.mux.conns.insert(
                sk,
                MuxConn {
                    pipelined,
                    ..MuxConn::default()
                },
            );
        }
        if self.threads.map.contains_key(&tid) {
            // The streams take the connection's side: decide it as for any first send.
            self.side_of(sk, true);
        }
        let sender = self
            .threads
            .map
            .get(&tid)
            .and_then(|th| Some((th.tgid, th.sys_arg?)));
        let stream = self.sockets.stream(out);
        let at = stream.sent_offset();
        stream.push(n, Origin::Untraced, self.config.max_segments_per_stream);
        let conn = self.mux.conns.get_mut(&sk)?;
        conn.sender = sender.or(conn.sender);
        let numbered = sending
            .as_ref()
            .and_then(|s| conn.frames_of(conn.frame, &s.shown, (at, n), true));
        let pieces = conn.tag_send(at, n, frames(&numbered).as_deref());
        let sig = sending.and_then(|s| s.sig);
        Some(self.stream_sockets_of(sk, pieces, |stream| sig.or(sig_of(&numbered, stream))))
    }

    /// Thread `tid` reads `n` bytes on socket `sk`: on a multiplexed or pipelined
    /// connection, the pieces they divide into (as their sender's frames said, else as
    /// this read's own head shows them); `None` for any other connection.
    pub(super) fn mux_recv(&mut self, tid: Tid, sk: SockAddr, n: u64) -> Option<Vec<MuxPiece>> {
        if self.mux.conns.is_empty() && self.mux.reading.is_empty() {
            return None;
        }
        let reading = self.head_in_progress(tid, false);
        let peer = self
            .sockets
            .peer(sk)
            .filter(|p| self.mux.conns.contains_key(p));
        let inp = self.sockets.endpoints.get(&sk)?.inp?;
        if peer.is_none() && !self.mux.conns.get(&sk).is_some_and(|c| c.pipelined) {
            let opens = matches!(reading.as_ref().map(|r| &r.shown),
                Some(Shown::Messages(m)) if self.opens_pipeline(tid, sk, false, m, n));
            if !opens {
                return None;
            }
            self.mux.conns.insert(
                sk,
                MuxConn {
                    pipelined: true,
                    server: true,
                    ..MuxConn::default()
                },
            );
        }
        if self.threads.map.contains_key(&tid) {
            self.side_of(sk, false);
        }
        let stream = self.sockets.stream(inp);
        let from = stream.read_offset();
        stream.read(n);
        let shown = reading.map(|r| r.shown);
        let Some(peer) = peer else {
            let conn = self.mux.conns.get_mut(&sk)?;
            let (pieces, numbered) = conn.divide_read(from, n, shown.as_ref());
            return Some(self.stream_sockets_of(sk, pieces, |s| sig_of(&numbered, s)));
        };
        let conn = self.mux.conns.get_mut(&peer)?;
        let (pipelined, server) = (conn.pipelined, conn.server);
        let (mut pieces, tagged) = conn.pieces_read(from, from + n);
        let (sender, last) = (conn.sender, conn.frame);
        self.mux.conns.entry(sk).or_insert_with(|| MuxConn {
            pipelined,
            server: pipelined && !server,
            ..MuxConn::default()
        });
        if tagged < from + n {
            // Read before the send's event (the ordering trap): the bytes of a send in
            // progress on the peer, divided by its head; when the peer's sender is not
            // known yet, a pipelined reader's own head divides them.
            let in_progress = sender.and_then(|s| self.shown_in_progress(s));
            let rest = from + n - tagged;
            let conns = &mut self.mux.conns;
            match in_progress {
                None if pipelined => {
                    let own = conns.get_mut(&sk)?;
                    pieces.extend(own.divide_read(tagged, rest, shown.as_ref()).0);
                }
                sh => {
                    let numbered =
                        sh.and_then(|sh| conns[&peer].frames_of(last, &sh, (tagged, rest), true));
                    pieces.extend(divide(last, tagged, rest, frames(&numbered).as_deref()));
                }
            }
        }
        let conn = self.mux.conns.get_mut(&sk)?;
        if let Some(last) = pieces.iter().map(|&(s, _)| s).max().filter(|_| pipelined) {
            conn.read_frame.1 = conn.read_frame.1.max(last);
        }
        Some(self.stream_sockets_of(sk, pieces, |_| None))
    }

    /// What the head of a send in progress by a traced thread of process `tgid` on
    /// descriptor `fd` shows.
    fn shown_in_progress(&self, (tgid, fd): (i32, i64)) -> Option<Shown> {
        self.in_send.iter().find_map(|t| {
            let th = self.threads.map.get(t).filter(|th| th.tgid == tgid)?;
            let s = self.mux.sending.get(t)?;
            s.of_syscall(fd, th.sys_exit).then(|| s.shown.clone())
        })
    }

    /// Thread `tid` moved one stream's bytes: the span they end at its syscall's exit (if
    /// any) is kept with the others its syscall ends.
    pub(super) fn stream_moved(&mut self, tid: Tid) {
        let Some(id) = self
            .threads
            .map
            .get_mut(&tid)
            .and_then(|th| th.end_on_exit.take())
        else {
            return;
        };
        let ending = self.mux.ending.entry(tid).or_default();
        if !ending.contains(&id) {
            ending.push(id);
        }
    }

    /// Thread `tid` left its syscall at `now`: the spans its streams' bytes end, end here.
    pub(super) fn streams_exit(&mut self, tid: Tid, now: Timestamp) {
        if let Some(ids) = self.mux.ending.remove(&tid) {
            for id in ids {
                self.spans.extend(id, now);
            }
        }
    }

    /// The pieces of `sk` that `pieces` make, on their stream sockets, with where each
    /// starts in its syscall's bytes and the signature `sig` gives its stream (control
    /// pieces go nowhere).
    fn stream_sockets_of(
        &mut self,
        sk: SockAddr,
        pieces: Vec<(u32, u64)>,
        sig: impl Fn(u32) -> Option<u64>,
    ) -> Vec<MuxPiece> {
        let mut offset = 0;
        let mut out = Vec::with_capacity(pieces.len());
        for (stream, len) in pieces {
            let at = offset;
            offset += len;
            if stream == CONTROL {
                continue;
            }
            if let Some(sock) = self.stream_socket(sk, stream) {
                out.push(MuxPiece {
                    sock,
                    len,
                    offset: at,
                    sig: sig(stream),
                });
            }
        }
        out
    }

    /// The stream socket of stream `stream` of socket `sk`, created (and bound) when new:
    /// of the same side, its first client stream taking the request the connection was
    /// opened for.
    fn stream_socket(&mut self, sk: SockAddr, stream: u32) -> Option<SockAddr> {
        if let Some(&v) = self.mux.conns.get(&sk)?.streams.get(&stream) {
            return Some(v);
        }
        let first = self.mux.conns.get(&sk)?.streams.is_empty();
        let ep = self.sockets.endpoints.get_mut(&sk)?;
        let tuple = stream_tuple(ep.tuple?, stream);
        let side = ep.side;
        let opened_for = if first { ep.opened_for.take() } else { None };
        self.drop_done_streams(sk);
        let v = STREAM_SOCKETS + self.mux.created;
        self.mux.created += 1;
        self.sockets.fresh_endpoint(v, side);
        self.sockets.endpoint(v).opened_for = opened_for;
        self.bind(v, tuple);
        self.mux.conns.get_mut(&sk)?.streams.insert(stream, v);
        Some(v)
    }

    /// True when `sk` is the client end of a pipelined connection.
    pub(super) fn pipelined_client(&self, sk: SockAddr) -> bool {
        self.mux
            .conns
            .get(&sk)
            .is_some_and(|c| c.pipelined && !c.server)
    }

    /// Drops the stream sockets of `sk` whose span is closed or gone (their request's
    /// trace moved on), then the lowest streams beyond [`MAX_STREAMS`]: their spans end
    /// there, cut (partial, lasting until now, as at the end of the input) when still
    /// waiting for an answer (lost in another stream's bytes, see the module's
    /// documentation; the connection itself is not closed).
    fn drop_done_streams(&mut self, sk: SockAddr) {
        let Some(conn) = self.mux.conns.get_mut(&sk) else {
            return;
        };
        let spans = &self.spans;
        let endpoints = &self.sockets.endpoints;
        let span_of = |v: &SockAddr| endpoints.get(v).and_then(|ep| ep.span);
        let (done, mut rest): (Vec<StreamOf>, Vec<StreamOf>) = conn
            .streams
            .iter()
            .map(|(&s, &v)| (s, v))
            .partition(|(_, v)| {
                span_of(v).is_some_and(|id| spans.get(id).is_none_or(|s| s.closed))
            });
        rest.sort_unstable();
        let over = if rest.len() >= MAX_STREAMS {
            rest.truncate(MAX_STREAMS / 4);
            rest
        } else {
            Vec::new()
        };
        for (s, _) in done.iter().chain(&over) {
            conn.streams.remove(s);
        }
        for (_, v) in done {
            self.sockets.remove(v);
        }
        for (_, v) in over {
            let Some(id) = self.sockets.remove(v).and_then(|ep| ep.span) else {
                continue;
            };
            if self.spans.get(id).is_some_and(|s| !s.answered) {
                self.spans.cut(id, self.now);
            }
            self.spans.close(id);
        }
    }

    /// Socket `sk` is gone: so are its stream sockets, their spans ending with it.
    pub(super) fn drop_streams(&mut self, sk: SockAddr) {
        let Some(conn) = self.mux.conns.remove(&sk) else {
            return;
        };
        for v in conn.streams.into_values() {
            if let Some(ep) = self.sockets.remove(v) {
                self.end_endpoint(ep);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: u64, stream: u32, message: bool) -> Frame {
        Frame {
            len,
            stream,
            message,
        }
    }

    #[test]
    fn a_send_divides_by_its_frames_and_the_rest_follows_the_last() {
        // HEADERS of stream 5 shown, DATA and trailers past the head.
        assert_eq!(
            divide((0, 0), 100, 85, Some(&[frame(41, 5, true)])),
            vec![(5, 85)]
        );
        // PING ACK, then a WINDOW_UPDATE past the head: control.
        assert_eq!(
            divide((0, 0), 0, 30, Some(&[frame(17, 0, false)])),
            vec![(0, 30)]
        );
        // WINDOW_UPDATE on the connection, then two requests.
        assert_eq!(
            divide(
                (0, 0),
                0,
                95,
                Some(&[frame(13, 0, false), frame(41, 7, true), frame(41, 9, true)])
            ),
            vec![(0, 13), (7, 41), (9, 41)]
        );
        // A send that starts inside the previous send's last frame continues it.
        assert_eq!(
            divide((50, 3), 40, 30, Some(&[frame(17, 0, false)])),
            vec![(3, 30)]
        );
        // No head: the last stream.
        assert_eq!(divide((10, 3), 10, 5, None), vec![(3, 5)]);
    }

    #[test]
    fn only_frames_that_fit_in_their_send_make_a_connection_multiplexed() {
        // grpcio: a HEADERS frame's header and a few bytes shown, the send holds it whole.
        assert!(fits(&[frame(41, 5, true)], 85));
        assert!(fits(&[frame(13, 0, false), frame(41, 7, true)], 54));
        // MariaDB's OK packet `07 00 00 01 00 01 00 02 00 00 00`: 11 bytes sent, read as a
        // HEADERS frame of 458,761.
        assert!(!fits(&[frame(458_761, 16_777_728, true)], 11));
    }

    #[test]
    fn a_reader_gets_each_run_with_the_stream_it_was_sent_on() {
        let mut conn = MuxConn::default();
        conn.tag_send(0, 85, Some(&[frame(41, 5, true)]));
        conn.tag_send(85, 17, Some(&[frame(17, 0, false)]));
        conn.tag_send(102, 85, Some(&[frame(41, 7, true)]));
        assert_eq!(
            conn.pieces_read(0, 150),
            (vec![(5, 85), (0, 17), (7, 48)], 150)
        );
        assert_eq!(conn.pieces_read(150, 200), (vec![(7, 37)], 187));
        // Bytes sent before the first tagged send belong to no stream.
        let mut late = MuxConn::default();
        late.tag_send(100, 85, Some(&[frame(41, 9, true)]));
        assert_eq!(late.pieces_read(60, 200), (vec![(0, 40), (9, 85)], 185));
        assert_eq!(
            stream_tuple(
                FourTuple {
                    local: "[::1]:5".parse().unwrap(),
                    remote: "[::1]:6".parse().unwrap()
                },
                9
            )
            .mirrored()
            .local
            .flowinfo(),
            9
        );
    }
}
