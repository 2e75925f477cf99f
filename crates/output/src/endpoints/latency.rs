//! Latency samples and their percentiles, for the endpoint summaries and the report's
//! service map.

use serde::Serialize;

/// Durations in nanoseconds, kept whole so that percentiles are exact.
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<u64>);

/// What the report shows of a set of durations (ns).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentiles {
    /// How many durations.
    pub count: usize,
    /// The median.
    pub p50: u64,
    /// The 90th percentile.
    pub p90: u64,
    /// The 99th percentile.
    pub p99: u64,
    /// The longest.
    pub max: u64,
}

impl Latencies {
    /// Adds one duration.
    pub fn push(&mut self, ns: u64) {
        self.0.push(ns);
    }

    /// The percentiles by the nearest-rank method (the smallest sample with at least q of
    /// the samples at or below it); all zero when there are no samples.
    pub fn percentiles(&self) -> Percentiles {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = |q: f64| -> u64 {
            let n = sorted.len();
            if n == 0 {
                return 0;
            }
            let index = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            sorted[index]
        };
        Percentiles {
            count: sorted.len(),
            p50: rank(0.5),
            p90: rank(0.9),
            p99: rank(0.99),
            max: sorted.last().copied().unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut latencies = Latencies::default();
        for ns in (1..=100).rev() {
            latencies.push(ns);
        }
        let p = latencies.percentiles();
        assert_eq!(
            (p.count, p.p50, p.p90, p.p99, p.max),
            (100, 50, 90, 99, 100)
        );
        assert_eq!(Latencies::default().percentiles().max, 0);
    }
}
