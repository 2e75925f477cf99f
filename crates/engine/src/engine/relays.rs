//! Results handed back to an event loop through a wakeup channel.
//!
//! A loop that hands blocking work to a thread pool (Python's `run_in_executor`, a selector
//! handing a job to an executor, libuv's work queue) gets each result back through a wakeup
//! channel: the worker, having read the answer of its call, writes a few bytes to an eventfd,
//! a pipe or a socket pair that the loop polls, and the loop reads them and runs what the
//! result completes. For the loop this is the answer of that call, read by proxy: the
//! response or call it writes next continues the request the answer was for, exactly as if
//! it had read the answer on the call's connection itself (`response`, `resumed`).
//!
//! When the loop is asleep in its poll, the worker's channel write wakes it: that wakeup
//! relays the result at once. When the loop is busy, nobody is woken and the loop finds the
//! bytes at its next poll; the write and the read are then tied by the channel: the
//! descriptor the worker wrote and the one the loop reads next after such a wakeup (the same
//! eventfd, or the two ends of a pipe or socket pair), learnt per process from the wakeups.

use super::*;
use crate::fxhash::{FxHashMap, FxHashSet};

/// Results queued on one channel, at most (the oldest go): a loop drains its channel at
/// every poll, so more means the pair was learnt wrong.
const MAX_QUEUED: usize = 64;

/// The wakeup channels of each process: which descriptor's reads see which one's writes, and
/// the results written on each that its loop has not read yet.
#[derive(Debug, Default)]
pub(super) struct Relays {
    /// (pid, written descriptor) → read descriptor.
    ends: FxHashMap<(i32, i64), i64>,
    /// (pid, read descriptor) → calls whose results were written there, oldest first.
    queued: FxHashMap<(i32, i64), Vec<SpanId>>,
    /// Processes whose event loops took a relayed result.
    taking: FxHashSet<i32>,
}

impl Relays {
    /// Whether an event loop of process `pid` has taken a result relayed by a worker.
    pub(super) fn loops_take_results(&self, pid: i32) -> bool {
        self.taking.contains(&pid)
    }
}

impl Engine {
    /// Socket events (`sock_*_length`) are recorded: a send or read without one moved no
    /// socket bytes (a wakeup channel).
    pub(super) fn sock_events(&self) -> bool {
        self.config.bytes_from == ByteSource::SockEvents
    }

    /// `waker` wakes `target` (outside a lock): if `waker` is inside a send and `target`
    /// blocked in a poll (or in a syscall not seen, blocked since before the recording), the
    /// send may be a wakeup channel's write, known at its exit (`on_exit`).
    pub(super) fn note_woken_poller(&mut self, waker: Tid, target: Tid, now: Timestamp) {
        if !self.sock_events() || waker == target {
            return;
        }
        let polling = self.threads.map.get(&target).is_some_and(|t| match t.sys {
            Some(Syscall::Poll) => true,
            None => t.avail == Some(now),
            Some(_) => false,
        });
        if let Some(w) = self.threads.map.get_mut(&waker) {
            if polling && w.sys == Some(Syscall::Send) && !w.held_wakes.contains(&target) {
                w.held_wakes.push(target);
            }
        }
    }

    /// Worker `waker`, back with the answer of `call` (made for a request another thread
    /// read), woke event loop `tid`: the loop reads the result as if it had read the answer.
    pub(super) fn relay_answer(&mut self, waker: Tid, tid: Tid, call: SpanId) {
        if let Some(w) = self.threads.map.get_mut(&waker) {
            w.completion = None;
        }
        self.take_result(tid, call);
    }

    /// Process `pid` exited: its channels go (a new process may reuse its id and
    /// descriptors), and the results still queued on them are read by nobody.
    pub(super) fn relays_forget(&mut self, pid: i32) {
        self.relays.ends.retain(|&(p, _), _| p != pid);
        self.relays.taking.remove(&pid);
        let spans = &mut self.spans;
        self.relays.queued.retain(|&(p, _), calls| {
            if p == pid {
                calls.iter().for_each(|&call| spans.release(call));
            }
            p != pid
        });
    }

    /// Event loop `tid` reads the result of `call` relayed to it.
    fn take_result(&mut self, tid: Tid, call: SpanId) {
        let Some(th) = self.threads.map.get(&tid) else {
            return;
        };
        self.relays.taking.insert(th.tgid);
        let next = th.read_since.answer(call);
        self.set_read_since(tid, next);
        self.recent_push(tid, call, false);
    }

    /// Thread `tid` left a send on descriptor `fd` that moved no socket bytes (a wakeup
    /// channel), having woken the pollers `woken` from inside it. A poller it woke reads the
    /// channel's other end next; a result the thread still holds (it woke nobody) waits
    /// there for the loop's next read.
    pub(super) fn channel_written(&mut self, tid: Tid, fd: i64, woken: &[Tid]) {
        for &t in woken {
            if let Some(t) = self.threads.map.get_mut(&t) {
                t.channel_written = Some(fd);
            }
        }
        let Some(w) = self.threads.map.get_mut(&tid) else {
            return;
        };
        let pid = w.tgid;
        let Some(call) = w.completion else {
            return;
        };
        let Some(&read_fd) = self.relays.ends.get(&(pid, fd)) else {
            return;
        };
        w.completion = None;
        let queue = self.relays.queued.entry((pid, read_fd)).or_default();
        if queue.len() == MAX_QUEUED {
            let old = queue.remove(0);
            self.spans.release(old);
        }
        queue.push(call);
        self.spans.hold(call);
    }

    /// Thread `tid` left a read of descriptor `fd` that moved no socket bytes: after a
    /// channel write woke it, this is that channel's read end; the results queued on it are
    /// read now.
    pub(super) fn channel_read(&mut self, tid: Tid, fd: i64) {
        let Some(th) = self.threads.map.get_mut(&tid) else {
            return;
        };
        let pid = th.tgid;
        if let Some(written) = th.channel_written.take() {
            self.relays.ends.insert((pid, written), fd);
        }
        let Some(queue) = self.relays.queued.remove(&(pid, fd)) else {
            return;
        };
        // Only an event loop (a thread serving several requests) reads results this way; a
        // thread serving one request learns its result by a wakeup (`completion`). Not where
        // requests' work moves between threads (see `complete`).
        let relays = th.multiplexes && !self.readers.migrates(pid);
        for call in queue {
            self.spans.release(call);
            if relays {
                self.take_result(tid, call);
            }
        }
    }
}
