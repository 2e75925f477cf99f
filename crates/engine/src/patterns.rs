//! The calls each kind of request makes, learnt from the recording itself.
//!
//! A request's endpoint signature (a hash of what its first bytes say it is: `GET /par`,
//! `SET`) names what its handler does; handlers of one endpoint make the same calls. Each
//! time a request that no other request of its process overlapped starts its response,
//! the signatures of its calls are one observation of its endpoint (alone, every call of
//! the process was its own). A late call may be missing from one, so an observation may
//! count too few calls but rarely too many: an endpoint makes `n` calls of a signature
//! when `n` is the largest count seen in at least a fifth of at least [`MIN_SEEN`]
//! observations.

use crate::fxhash::FxHashMap;

/// Observations an endpoint needs before its pattern is used.
pub const MIN_SEEN: u32 = 8;

/// Calls of one signature counted per observation, at most.
const MAX_COUNT: usize = 8;

/// What the requests of one endpoint of one process were seen calling.
#[derive(Debug, Default)]
struct Observed {
    /// Observations.
    seen: u32,
    /// Per call signature: how many observations saw it made 1, 2, … times.
    counts: FxHashMap<u64, [u32; MAX_COUNT]>,
}

/// Poll rounds after its read counted for a request's first call, at most.
const MAX_LAG: usize = 4;

/// Call patterns by (process, request signature).
#[derive(Debug, Default)]
pub(crate) struct CallPatterns {
    by_endpoint: FxHashMap<(i32, u64), Observed>,
    /// Per endpoint of an event loop's process: how many requests made their first call
    /// 0, 1, 2, … poll rounds after the round that read them.
    first_call_lags: FxHashMap<(i32, u64), [u32; MAX_LAG]>,
}

impl CallPatterns {
    /// A request of process `pid` with signature `request` made (at least) the calls with
    /// signatures `calls` (any order).
    pub fn learn(&mut self, pid: i32, request: u64, calls: &[u64]) {
        let seen = self.by_endpoint.entry((pid, request)).or_default();
        seen.seen = seen.seen.saturating_add(1);
        let mut sorted = calls.to_vec();
        sorted.sort_unstable();
        for run in sorted.chunk_by(|a, b| a == b) {
            let n = run.len().min(MAX_COUNT);
            let hist = seen.counts.entry(run[0]).or_default();
            hist[n - 1] = hist[n - 1].saturating_add(1);
        }
    }

    /// A request of process `pid` with signature `request`, read by an event loop, made its
    /// first call `lag` poll rounds after the round that read it.
    pub fn learn_lag(&mut self, pid: i32, request: u64, lag: u32) {
        if let Some(n) = self
            .first_call_lags
            .entry((pid, request))
            .or_default()
            .get_mut(lag as usize)
        {
            *n = n.saturating_add(1);
        }
    }

    /// How many poll rounds after its read a request of process `pid` with signature
    /// `request` makes its first call: the lag of at least 95 % of at least [`MIN_SEEN`]
    /// requests (a handler run inline: 0; a task woken by the read: 1; a task that only
    /// starts sub-tasks, which call a round later: 2).
    pub fn first_call_lag(&self, pid: i32, request: u64) -> Option<u32> {
        let lags = self.first_call_lags.get(&(pid, request))?;
        let seen: u32 = lags.iter().sum();
        let (lag, n) = lags.iter().enumerate().max_by_key(|(_, n)| **n)?;
        (seen >= MIN_SEEN && u64::from(*n) * 20 >= u64::from(seen) * 19).then_some(lag as u32)
    }

    /// How many calls with signature `call` a request of process `pid` with signature
    /// `request` makes, once its endpoint was seen often enough.
    pub fn expected(&self, pid: i32, request: u64, call: u64) -> Option<u16> {
        let seen = self.by_endpoint.get(&(pid, request))?;
        if seen.seen < MIN_SEEN {
            return None;
        }
        let Some(hist) = seen.counts.get(&call) else {
            return Some(0);
        };
        let n = hist
            .iter()
            .rposition(|&k| u64::from(k) * 5 >= u64::from(seen.seen))
            .map_or(0, |i| i + 1);
        Some(n as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_call_lag_needs_enough_agreeing_requests() {
        let mut p = CallPatterns::default();
        for _ in 0..MIN_SEEN - 1 {
            p.learn_lag(1, 10, 2);
        }
        assert_eq!(p.first_call_lag(1, 10), None);
        p.learn_lag(1, 10, 2);
        assert_eq!(p.first_call_lag(1, 10), Some(2));
        p.learn_lag(1, 10, 1);
        assert_eq!(p.first_call_lag(1, 10), None, "8 of 9 is below 95 %");
        p.learn_lag(1, 10, 9);
        assert_eq!(p.first_call_lag(2, 10), None);
    }

    #[test]
    fn an_endpoint_makes_the_most_calls_seen_often_enough() {
        let mut p = CallPatterns::default();
        for _ in 0..MIN_SEEN - 1 {
            p.learn(1, 10, &[7, 8, 7]);
        }
        assert_eq!(p.expected(1, 10, 7), None);
        // Observations missing a call (linked elsewhere) do not lower the count.
        p.learn(1, 10, &[7]);
        assert_eq!(p.expected(1, 10, 7), Some(2));
        assert_eq!(p.expected(1, 10, 8), Some(1));
        assert_eq!(p.expected(1, 10, 9), Some(0));
        assert_eq!(p.expected(2, 10, 7), None);
        // A count seen in fewer than a fifth of the observations is noise.
        p.learn(1, 10, &[8, 8]);
        assert_eq!(p.expected(1, 10, 8), Some(1));
        for _ in 0..2 {
            p.learn(1, 10, &[8, 8]);
        }
        assert_eq!(p.expected(1, 10, 8), Some(2));
    }
}
