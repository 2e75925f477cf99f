//! Which threads of each process read requests: a process whose requests are all read by
//! one thread (a single-threaded event loop) serves every request of the process on that
//! thread, so that thread's work follows its own reads.

use crate::event::Tid;
use crate::fxhash::{FxHashMap, FxHashSet};

/// Per process: the thread that read its requests, or none when several did; and whether
/// its requests' work moves between threads.
#[derive(Debug, Default)]
pub(crate) struct RequestReaders {
    by_process: FxHashMap<i32, Option<Tid>>,
    /// Processes where a thread watched the connection of a request another thread read, or
    /// wrote its response: a runtime that runs a request's tasks on whichever thread is free
    /// (Go, tokio, Erlang's schedulers).
    migrating: FxHashSet<i32>,
}

impl RequestReaders {
    /// Thread `tid` of process `pid` read a request.
    pub fn read_by(&mut self, pid: i32, tid: Tid) {
        self.by_process
            .entry(pid)
            .and_modify(|only| {
                if *only != Some(tid) {
                    *only = None;
                }
            })
            .or_insert(Some(tid));
    }

    /// A thread of process `pid` watched the connection of a request another thread read, or
    /// wrote its response.
    pub fn moved(&mut self, pid: i32) {
        self.migrating.insert(pid);
    }

    /// True when a request's work was seen moving between threads of process `pid`: a
    /// thread's own request is then only what it read last, not what it works for.
    pub fn migrates(&self, pid: i32) -> bool {
        self.migrating.contains(&pid)
    }

    /// True when `tid` is the only thread of process `pid` seen reading requests.
    pub fn only_reader(&self, pid: i32, tid: Tid) -> bool {
        self.by_process.get(&pid) == Some(&Some(tid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_reading_thread_ends_the_single_reader() {
        let mut r = RequestReaders::default();
        r.read_by(1, 10);
        r.read_by(1, 10);
        assert!(r.only_reader(1, 10));
        assert!(!r.only_reader(1, 11));
        r.read_by(1, 11);
        assert!(!r.only_reader(1, 10));
        r.read_by(1, 10);
        assert!(!r.only_reader(1, 10), "once several, always several");
        assert!(!r.only_reader(2, 10));
    }
}
