//! Kernel sockets (`sk` pointers) bound to connections, and the byte streams between them.
//!
//! An endpoint is one socket. Once its 4-tuple is known it is bound to two streams: the
//! one keyed by its own tuple (bytes it sends) and the one keyed by the mirrored tuple
//! (bytes it reads). Two sockets with mirrored tuples thus share both streams: they are the
//! two ends of one connection.

use crate::event::{FourTuple, SockAddr, Tid, Timestamp};
use crate::fxhash::FxHashMap;
use crate::model::SpanId;
use crate::stream::{Origin, Stream};

/// Index of a stream in [`Sockets::streams`].
pub(crate) type StreamId = u32;

/// Which end of a connection a socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Not known yet (connection older than the recording, no snapshot entry).
    Unknown,
    /// Accepted end: it reads requests and writes responses.
    Server,
    /// Connecting end: it writes requests and reads responses.
    Client,
}

/// Where the conversation on an endpoint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Nothing exchanged yet.
    Idle,
    /// The requesting side is sending (client) / the serving side is reading (server).
    Request,
    /// The answer is flowing back.
    Answer,
}

/// One socket.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// Its 4-tuple, once final (local first).
    pub tuple: Option<FourTuple>,
    /// Which end it is.
    pub side: Side,
    /// True when its connection was set up during the recording (handshake seen).
    pub fresh: bool,
    /// Streams it sends on and reads from, once bound.
    pub out: Option<StreamId>,
    /// See `out`.
    pub inp: Option<StreamId>,
    /// Sends seen before the tuple was known, replayed into `out` at binding.
    pub early_sends: Vec<(u64, Origin)>,
    /// Bytes read before the tuple was known, consumed from `inp` at binding.
    pub early_read: u64,
    /// Conversation state.
    pub phase: Phase,
    /// The current request's span: the server span (server side) or the client span
    /// (client side).
    pub span: Option<SpanId>,
    /// Request messages seen on it.
    pub requests: u64,
    /// Server side, from the first byte of the response to its current request: the
    /// client span that sent that request (its server span's parent by bytes), and how
    /// many bytes the peer had sent on `inp` (its absolute end offset) by that byte.
    pub answering: Option<(SpanId, u64)>,
    /// The context of the thread that connected it, at `connect()` (client side): its
    /// first request is for that context, whichever thread sends it and whatever that
    /// thread read meanwhile (an event loop's non-blocking connect, an async task resumed
    /// on another worker). Taken at the first request.
    pub opened_for: Option<SpanId>,
    /// The traced thread that called `connect()` on it, and when (client side, until the
    /// connection is established): a connect that fails is that thread's failed call.
    pub connecting: Option<(Tid, Timestamp)>,
}

impl Endpoint {
    fn new(fresh: bool, side: Side) -> Endpoint {
        Endpoint {
            tuple: None,
            side,
            fresh,
            out: None,
            inp: None,
            early_sends: Vec::new(),
            early_read: 0,
            phase: Phase::Idle,
            span: None,
            requests: 0,
            answering: None,
            opened_for: None,
            connecting: None,
        }
    }
}

/// All known sockets and streams.
#[derive(Debug, Default)]
pub(crate) struct Sockets {
    /// Endpoints by socket pointer.
    pub endpoints: FxHashMap<SockAddr, Endpoint>,
    /// Streams by the tuple of their sending end.
    by_tuple: FxHashMap<FourTuple, StreamId>,
    /// Socket bound to each tuple.
    owners: FxHashMap<FourTuple, SockAddr>,
    /// Stream slab; `None` slots are free (listed in `free`).
    streams: Vec<Option<(FourTuple, Stream)>>,
    free: Vec<StreamId>,
    /// Endpoints whose tuple is unknown and that hold sends.
    pub unbound_senders: usize,
}

impl Sockets {
    /// The endpoint for `sk`, created (of unknown side, not fresh) when new.
    pub fn endpoint(&mut self, sk: SockAddr) -> &mut Endpoint {
        self.endpoints
            .entry(sk)
            .or_insert_with(|| Endpoint::new(false, Side::Unknown))
    }

    /// Creates (or replaces, for a reused pointer) the endpoint of a socket whose
    /// handshake is being seen.
    pub fn fresh_endpoint(&mut self, sk: SockAddr, side: Side) -> Option<Endpoint> {
        let old = self.remove(sk);
        self.endpoints.insert(sk, Endpoint::new(true, side));
        old
    }

    /// Keeps a send on a socket whose tuple is not known yet, for replay at binding.
    pub fn queue_early(&mut self, sk: SockAddr, n: u64, origin: Origin) {
        let ep = self.endpoint(sk);
        if ep.early_sends.is_empty() {
            self.unbound_senders += 1;
        }
        self.endpoint(sk).early_sends.push((n, origin));
    }

    /// Mutable access to a stream.
    pub fn stream(&mut self, id: StreamId) -> &mut Stream {
        &mut self.streams[id as usize]
            .as_mut()
            .expect("stream ids held by endpoints are live")
            .1
    }

    /// Mutable access to a stream that may have been freed since its id was taken.
    pub fn stream_opt(&mut self, id: StreamId) -> Option<&mut Stream> {
        self.streams.get_mut(id as usize)?.as_mut().map(|(_, s)| s)
    }

    /// Binds `sk` to `tuple` (if not bound yet): attaches both streams and replays what was
    /// seen before. Returns the pending-read resolutions the replayed sends produced.
    pub fn bind(
        &mut self,
        sk: SockAddr,
        tuple: FourTuple,
        max_segments: usize,
    ) -> Vec<(crate::stream::PendingRead, Origin)> {
        let ep = self.endpoint(sk);
        if ep.tuple.is_some() {
            return Vec::new();
        }
        ep.tuple = Some(tuple);
        let early_sends = std::mem::take(&mut ep.early_sends);
        let early_read = std::mem::take(&mut ep.early_read);
        if !early_sends.is_empty() {
            self.unbound_senders -= 1;
        }
        self.owners.insert(tuple, sk);
        let out = self.attach(tuple);
        let inp = self.attach(tuple.mirrored());
        let ep = self.endpoints.get_mut(&sk).expect("endpoint created above");
        ep.out = Some(out);
        ep.inp = Some(inp);
        if early_read > 0 {
            self.stream(inp).read(early_read);
        }
        early_sends
            .into_iter()
            .filter_map(|(n, origin)| self.stream(out).push(n, origin, max_segments))
            .collect()
    }

    fn attach(&mut self, tuple: FourTuple) -> StreamId {
        let id = match self.by_tuple.get(&tuple) {
            Some(&id) => id,
            None => {
                let slot = Some((tuple, Stream::default()));
                let id = match self.free.pop() {
                    Some(id) => {
                        self.streams[id as usize] = slot;
                        id
                    }
                    None => {
                        self.streams.push(slot);
                        (self.streams.len() - 1) as StreamId
                    }
                };
                self.by_tuple.insert(tuple, id);
                id
            }
        };
        self.stream(id).refs += 1;
        id
    }

    /// The socket at the other end of `sk`'s connection, when both are bound.
    pub fn peer(&self, sk: SockAddr) -> Option<SockAddr> {
        let tuple = self.endpoints.get(&sk)?.tuple?;
        self.owners.get(&tuple.mirrored()).copied()
    }

    /// The side of the endpoint sending on `tuple`, when it is known.
    pub fn side_of_tuple(&self, tuple: FourTuple) -> Option<Side> {
        let sk = self.owners.get(&tuple)?;
        Some(self.endpoints.get(sk)?.side).filter(|&side| side != Side::Unknown)
    }

    /// Forgets socket `sk` (closed or destroyed; its pointer may be reused), returning its
    /// endpoint so the caller can close its span.
    pub fn remove(&mut self, sk: SockAddr) -> Option<Endpoint> {
        let ep = self.endpoints.remove(&sk)?;
        if !ep.early_sends.is_empty() {
            self.unbound_senders -= 1;
        }
        if let Some(t) = ep.tuple {
            if self.owners.get(&t) == Some(&sk) {
                self.owners.remove(&t);
            }
        }
        self.release_streams(&ep);
        Some(ep)
    }

    fn release_streams(&mut self, ep: &Endpoint) {
        for id in [ep.out, ep.inp].into_iter().flatten() {
            let slot = &mut self.streams[id as usize];
            let (tuple, stream) = slot
                .as_mut()
                .expect("stream ids held by endpoints are live");
            stream.refs -= 1;
            if stream.refs == 0 {
                let tuple = *tuple;
                *slot = None;
                self.by_tuple.remove(&tuple);
                self.free.push(id);
            }
        }
    }

    /// Spans of client-side sockets whose answer has bytes sent but not read yet: the
    /// answer was still arriving.
    pub fn incomplete_answers(&self) -> Vec<SpanId> {
        self.endpoints
            .values()
            .filter(|ep| ep.side == Side::Client)
            .filter(|ep| {
                ep.inp.is_some_and(|id| {
                    self.streams[id as usize]
                        .as_ref()
                        .is_some_and(|(_, s)| s.has_unread())
                })
            })
            .filter_map(|ep| ep.span)
            .collect()
    }

    /// Live streams and their queued segments, for memory accounting.
    pub fn footprint(&self) -> (usize, usize) {
        let live = self.streams.iter().flatten();
        let segments = live.clone().map(|(_, s)| s.segments()).sum();
        (self.by_tuple.len(), segments)
    }
}
