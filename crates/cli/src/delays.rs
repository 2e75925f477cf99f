//! How long live traces took from completion (their last span's end) to output: a sink in
//! front of the outputs that notes each trace's delay in a fixed histogram of milliseconds
//! (memory does not grow with the number of traces), for the summary of `kspan live`.

use kspan_engine::{Summary, Trace};
use kspan_output::TraceSink;
use std::io;

/// Delays of a minute and more share the last bucket.
const BUCKETS_MS: usize = 60_000;

/// Counts of delays per millisecond.
pub struct Histogram {
    counts: Vec<u64>,
    n: u64,
    max_ms: u64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS_MS],
            n: 0,
            max_ms: 0,
        }
    }

    fn add(&mut self, ms: u64) {
        self.counts[(ms as usize).min(BUCKETS_MS - 1)] += 1;
        self.n += 1;
        self.max_ms = self.max_ms.max(ms);
    }

    /// The delay (ms) that `fraction` of the noted ones did not exceed; 0 when none.
    pub fn percentile(&self, fraction: f64) -> u64 {
        let wanted = ((self.n as f64 * fraction).ceil() as u64).max(1);
        let mut seen = 0;
        for (ms, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= wanted {
                return ms as u64;
            }
        }
        0
    }

    /// How many were noted, and the largest (ms).
    pub fn count_and_max(&self) -> (u64, u64) {
        (self.n, self.max_ms)
    }
}

/// A sink noting each trace's delay on the trace clock (`boot`) before passing it on.
pub struct Delays<'s> {
    inner: &'s mut dyn TraceSink,
    /// The delays noted so far.
    pub histogram: Histogram,
}

impl<'s> Delays<'s> {
    /// Notes the delays of the traces going to `inner`.
    pub fn new(inner: &'s mut dyn TraceSink) -> Delays<'s> {
        Delays {
            inner,
            histogram: Histogram::new(),
        }
    }
}

impl TraceSink for Delays<'_> {
    fn trace(&mut self, trace: &Trace) -> io::Result<()> {
        let end = trace.spans.iter().map(|s| s.end).max().unwrap_or(0) as i64;
        let now = kspan_capture::clock::now_ns(libc::CLOCK_BOOTTIME);
        self.histogram
            .add(((now - end).max(0) as u64).div_ceil(1_000_000));
        self.inner.trace(trace)
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.inner.finish(summary)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_count_from_the_smallest_delay() {
        let mut h = Histogram::new();
        for ms in [1, 10, 100, 1_000] {
            h.add(ms);
        }
        h.add(90_000);
        assert_eq!(h.count_and_max(), (5, 90_000));
        assert_eq!(h.percentile(0.5), 100);
        assert_eq!(h.percentile(0.8), 1_000);
        assert_eq!(h.percentile(0.99), BUCKETS_MS as u64 - 1);
    }
}
