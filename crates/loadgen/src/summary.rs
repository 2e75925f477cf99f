//! A load run's figures: counts, throughput and latency percentiles.

use crate::run::Outcome;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// Highest latency the histogram tracks exactly to 3 significant digits (one hour, in ns).
const MAX_TRACKED_NS: u64 = 3_600_000_000_000;

/// What a load run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Requests sent (or attempted: a failed connect counts).
    pub sent: u64,
    /// Requests answered with a status of 200–399.
    pub ok: u64,
    /// Requests answered with any other status.
    pub http_errors: u64,
    /// Requests that got no response (refused, reset, timed out).
    pub failed: u64,
    /// Of the failed, those that timed out.
    pub timeouts: u64,
    /// Open-loop requests sent late because every connection was busy at their due time.
    pub late: u64,
    /// From the start to the last answer, ns.
    pub elapsed_ns: u64,
    /// Answered requests per second over `elapsed_ns`.
    pub throughput_rps: f64,
    /// Latency of the answered requests, when any was.
    pub latency: Option<Latency>,
}

/// Latency percentiles in ns (hdrhistogram, 3 significant digits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// Largest.
    pub max_ns: u64,
}

impl Summary {
    /// Sums up the outcomes of a run that took `elapsed`.
    pub fn of(outcomes: &[Outcome], elapsed: Duration) -> Summary {
        let count = |f: &dyn Fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count() as u64;
        let mut histogram = Histogram::<u64>::new_with_bounds(1, MAX_TRACKED_NS, 3)
            .expect("constant bounds are valid");
        for latency in outcomes.iter().filter_map(|o| o.latency) {
            let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
            histogram.saturating_record(ns.max(1));
        }
        let answered = histogram.len();
        let elapsed_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        Summary {
            sent: outcomes.len() as u64,
            ok: count(&|o| (200..400).contains(&o.record.status)),
            http_errors: count(&|o| o.record.status != 0 && !(200..400).contains(&o.record.status)),
            failed: count(&|o| o.record.status == 0),
            timeouts: count(&|o| o.timed_out),
            late: count(&|o| o.late),
            elapsed_ns,
            throughput_rps: if elapsed_ns == 0 {
                0.0
            } else {
                answered as f64 * 1e9 / elapsed_ns as f64
            },
            latency: (answered > 0).then(|| Latency {
                p50_ns: histogram.value_at_quantile(0.5),
                p90_ns: histogram.value_at_quantile(0.9),
                p99_ns: histogram.value_at_quantile(0.99),
                max_ns: histogram.max(),
            }),
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "requests: {} sent, {} ok, {} other status, {} failed ({} timeouts), {} late",
            self.sent, self.ok, self.http_errors, self.failed, self.timeouts, self.late
        )?;
        writeln!(
            f,
            "throughput: {:.1} requests/s over {:.3} s",
            self.throughput_rps,
            self.elapsed_ns as f64 / 1e9
        )?;
        match &self.latency {
            Some(l) => writeln!(
                f,
                "latency: p50 {} p90 {} p99 {} max {}",
                millis(l.p50_ns),
                millis(l.p90_ns),
                millis(l.p99_ns),
                millis(l.max_ns)
            ),
            None => writeln!(f, "latency: no request was answered"),
        }
    }
}

/// ns as milliseconds with three decimals.
fn millis(ns: u64) -> String {
    format!("{}.{:03} ms", ns / 1_000_000, ns / 1000 % 1000)
}
