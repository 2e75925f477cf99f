//! Traced threads: their service, request context, current syscall and scheduler state.

use crate::activity::Bucket;
use crate::event::{SockAddr, Syscall, Tid, Timestamp};
use crate::fxhash::FxHashMap;
use crate::model::{Evidence, SpanId};

/// Index of a service name in [`Threads::services`].
pub(crate) type ServiceId = u32;

/// What the scheduler is doing with a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sched {
    /// Not known yet (no scheduler event seen).
    Unknown,
    /// On a CPU.
    Running,
    /// Runnable, waiting for a CPU.
    Runnable,
    /// Blocked; the bucket says on what.
    Blocked(Bucket),
}

/// How a thread got its current context; decides whether a wakeup may replace it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CtxSource {
    /// It read the request (strong: kept while the request is in progress).
    Read,
    /// It read the answer of a call (back in the call's parent), or inherited it at
    /// creation: its own work for that request may be over.
    Returned,
    /// A wakeup from this thread handed it over.
    HandOff(Tid),
}

/// A read of an event loop that no call or response has acted on yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchRead {
    /// The request's span, or the parent of the call whose answer was read.
    pub ctx: SpanId,
    /// A request (else an answer).
    pub request: bool,
    /// The loop's poll round it was read in ([`Thread::polls`] then).
    pub round: u32,
}

/// A message an event loop read in its current or previous poll round: the work a response
/// it writes resumes (a handler runs in the round that read its request or the next).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecentRead {
    /// The request read, or the call whose answer was read.
    pub span: SpanId,
    /// A request (else an answer).
    pub request: bool,
    /// The poll round it was read in ([`Thread::polls`] then).
    pub round: u32,
    /// It holds its call's trace (an orphan's: the response may still adopt it).
    pub held: bool,
    /// The answer of a call that had no link, or only a weak one, when it was read.
    pub weak: bool,
}

/// What a thread read since it last wrote a response or went idle: when it is only one
/// call's answer, the next response it writes is the one that answer completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadSince {
    /// Nothing.
    Nothing,
    /// Only (parts of) the answer of this call.
    Answer(SpanId),
    /// A request, several answers, or work handed over by another thread.
    Several,
}

impl ReadSince {
    /// After reading the answer of `call`.
    pub fn answer(self, call: SpanId) -> ReadSince {
        match self {
            ReadSince::Nothing => ReadSince::Answer(call),
            ReadSince::Answer(c) if c == call => self,
            _ => ReadSince::Several,
        }
    }
}

/// One traced thread.
#[derive(Debug, Clone)]
pub(crate) struct Thread {
    /// Process id.
    pub tgid: i32,
    /// Its service.
    pub service: ServiceId,
    /// The span whose bytes it read last (or inherited by fork / hand-off).
    pub ctx: Option<SpanId>,
    /// How it got `ctx`.
    pub ctx_src: CtxSource,
    /// The evidence that ties it to `ctx`: what a call it makes in that context is linked by.
    pub ctx_ev: Evidence,
    /// The request it read last. Until that request's answer starts, a thread outside any
    /// event loop serves it (thread per request): wakeups from other threads are locks and
    /// interpreter-lock noise, not hand-offs.
    pub own: Option<SpanId>,
    /// It read a new request while one it had read was still in progress: it serves several
    /// requests at once (an event loop), not one at a time.
    pub multiplexes: bool,
    /// The thread that last handed it a request (a pool's acceptor), until it reads a
    /// request itself: where its next job comes from.
    pub handed_by: Option<Tid>,
    /// True once it was seen in poll/epoll: an event loop.
    pub loops: bool,
    /// For an event loop: the messages it read since it last went idle (blocked in a poll)
    /// that no call or response has acted on yet, oldest first.
    pub batch: Vec<BatchRead>,
    /// For an event loop: what it read in its current and previous poll round, oldest first
    /// (orphan calls among them are held, see [`crate::spans::Spans::hold`]).
    pub recent: Vec<RecentRead>,
    /// For an event loop: how many polls it entered (numbers its poll rounds).
    pub polls: u32,
    /// For an event loop: the read of its current batch it acted on last, the poll round
    /// it did, and how many more calls of that request's first wave it writes then.
    pub batch_last: Option<(SpanId, u32, u32)>,
    /// When it got its current context.
    pub ctx_since: Timestamp,
    /// A call it made whose answer it has not read yet: its time goes there.
    pub call: Option<SpanId>,
    /// A call it made for a request another thread read, now answered: the first thread
    /// reading a request that it wakes next is the one it did the call for (a pool worker
    /// handing back its result).
    pub completion: Option<SpanId>,
    /// It was handed work and has made no call since.
    pub handed_idle: bool,
    /// What it read since it last wrote a response or went idle.
    pub read_since: ReadSince,
    /// The descriptor and socket of its last socket send or read (a payload head names the
    /// message by descriptor).
    pub last_sock: Option<(i64, SockAddr)>,
    /// The syscall it is in, if any.
    pub sys: Option<Syscall>,
    /// Entry time of that syscall.
    pub sys_enter: Timestamp,
    /// Exit time of the last syscall it left (0 before any): a payload head stamped after
    /// it belongs to the syscall it is in now, whichever of the head's stamp and the
    /// entry event's came first.
    pub sys_exit: Timestamp,
    /// What that syscall acts on, if known: its file descriptor, or a futex word's address.
    pub sys_arg: Option<i64>,
    /// When the data of its current syscall became available: the entry, or the wakeup
    /// that ended a block inside it; `None` until either is seen (a thread already inside
    /// a syscall when the recording started).
    /// that ended a block inside it.
    pub avail: Option<Timestamp>,
    /// A span whose end moves to the exit of the current syscall.
    pub end_on_exit: Option<SpanId>,
    /// A socket send or read (`sock_*_length`, bytes moved or none found) happened in its
    /// current syscall: it is no wakeup channel.
    pub sock_io: bool,
    /// Pollers it woke from inside its current send syscall: if the syscall turns out to
    /// move no socket bytes (an eventfd, pipe or socket-pair write: a wakeup channel), each
    /// is handed its context and reads the channel's other end next; decided at its exit.
    pub held_wakes: Vec<Tid>,
    /// Its context came through a wakeup channel and it has done no socket I/O since: an
    /// event loop relaying work to another thread passes that context on with its next
    /// wakeup.
    pub relay: bool,
    /// The descriptor a thread wrote as a wakeup channel when its write woke this poller:
    /// the next descriptor this thread reads that moves no socket bytes is its other end.
    pub channel_written: Option<i64>,
    /// Scheduler state and since when.
    pub sched: Sched,
    /// Since when `sched` (and the attribution target) hold.
    pub since: Timestamp,
}

impl Thread {
    /// The span its time and events go to now: its open call, else its context.
    pub fn target(&self) -> Option<SpanId> {
        self.call.or(self.ctx)
    }

    /// Forgets an event loop's reads not acted on yet, and the one it acted on last: it
    /// went idle, or was handed other work.
    pub fn forget_batch(&mut self) {
        self.batch.clear();
        self.batch_last = None;
    }

    /// The bucket for a block starting now in `prev_state`.
    pub fn block_bucket(&self, prev_state: i64) -> Bucket {
        const TASK_UNINTERRUPTIBLE: i64 = 2;
        if prev_state & TASK_UNINTERRUPTIBLE != 0 {
            return Bucket::Io;
        }
        match self.sys {
            Some(Syscall::Recv | Syscall::Poll | Syscall::Accept | Syscall::Connect) => Bucket::Net,
            Some(Syscall::Futex) => Bucket::Futex,
            _ => Bucket::Other,
        }
    }
}

/// The traced threads and service names.
#[derive(Debug, Default)]
pub(crate) struct Threads {
    /// Threads by tid.
    pub map: FxHashMap<Tid, Thread>,
    /// Service names, indexed by [`ServiceId`].
    pub services: Vec<String>,
    service_ids: FxHashMap<String, ServiceId>,
}

impl Threads {
    /// The id of service `name`, interned.
    pub fn service(&mut self, name: &str) -> ServiceId {
        if let Some(&id) = self.service_ids.get(name) {
            return id;
        }
        let id = self.services.len() as ServiceId;
        self.services.push(name.to_string());
        self.service_ids.insert(name.to_string(), id);
        id
    }

    /// Adds a thread with no context.
    pub fn add(&mut self, tid: Tid, tgid: i32, service: ServiceId, now: Timestamp) {
        self.map.insert(
            tid,
            Thread {
                tgid,
                service,
                ctx: None,
                ctx_src: CtxSource::Returned,
                ctx_ev: Evidence::OwnThread,
                own: None,
                multiplexes: false,
                handed_by: None,
                ctx_since: now,
                loops: false,
                batch: Vec::new(),
                recent: Vec::new(),
                polls: 0,
                batch_last: None,
                call: None,
                completion: None,
                handed_idle: false,
                read_since: ReadSince::Nothing,
                last_sock: None,
                sys: None,
                sys_enter: now,
                sys_exit: 0,
                sys_arg: None,
                avail: None,
                end_on_exit: None,
                sock_io: false,
                held_wakes: Vec::new(),
                relay: false,
                channel_written: None,
                sched: Sched::Unknown,
                since: now,
            },
        );
    }
}
