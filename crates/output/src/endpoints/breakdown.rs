//! Where a span's time went, as the endpoint table and the report show it: the engine's
//! [`Activity`] without its event counts.

use kspan_engine::Activity;
use serde::Serialize;

/// A span's kernel time (ns) by state, and its bytes; also a sum or mean over spans.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Breakdown {
    /// On a CPU.
    pub cpu: u64,
    /// Runnable, waiting in a run queue.
    pub runnable: u64,
    /// Blocked on a socket.
    pub net: u64,
    /// Blocked in uninterruptible sleep (disk and other IO).
    pub io: u64,
    /// Blocked in a futex (locks, condition variables, queues).
    pub futex: u64,
    /// Blocked on anything else.
    pub other: u64,
    /// Bytes read from the span's connections.
    pub bytes_in: u64,
    /// Bytes written to them.
    pub bytes_out: u64,
}

impl Breakdown {
    /// The breakdown of one span's activity.
    pub fn of(a: &Activity) -> Breakdown {
        Breakdown {
            cpu: a.on_cpu_ns,
            runnable: a.runnable_ns,
            net: a.blocked_net_ns,
            io: a.blocked_io_ns,
            futex: a.blocked_futex_ns,
            other: a.blocked_other_ns,
            bytes_in: a.bytes_in,
            bytes_out: a.bytes_out,
        }
    }

    /// The time fields by the names the tree output gives them (`cpu`, `runnable`, `net`,
    /// `io`, `futex`, `other`), in that order.
    pub fn states(&self) -> [(&'static str, u64); 6] {
        [
            ("cpu", self.cpu),
            ("runnable", self.runnable),
            ("net", self.net),
            ("io", self.io),
            ("futex", self.futex),
            ("other", self.other),
        ]
    }

    fn fields_mut(&mut self) -> [&mut u64; 8] {
        [
            &mut self.cpu,
            &mut self.runnable,
            &mut self.net,
            &mut self.io,
            &mut self.futex,
            &mut self.other,
            &mut self.bytes_in,
            &mut self.bytes_out,
        ]
    }

    /// Adds `other` field by field (saturating).
    pub fn add(&mut self, other: &Breakdown) {
        let mut other = other.clone();
        for (mine, theirs) in self.fields_mut().into_iter().zip(other.fields_mut()) {
            *mine = mine.saturating_add(*theirs);
        }
    }

    /// This sum over `count` spans as a mean per span (itself when `count` is 0).
    pub fn mean(&self, count: u64) -> Breakdown {
        let mut mean = self.clone();
        for field in mean.fields_mut() {
            *field /= count.max(1);
        }
        mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_means_every_field() {
        let one = Breakdown::of(&Activity {
            on_cpu_ns: 10,
            blocked_futex_ns: 4,
            bytes_out: 7,
            ..Default::default()
        });
        let mut sum = Breakdown::default();
        sum.add(&one);
        sum.add(&one);
        assert_eq!((sum.cpu, sum.futex, sum.bytes_out), (20, 8, 14));
        assert_eq!(sum.mean(2), one);
    }
}
