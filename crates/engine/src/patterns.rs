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
    /// Per (process, endpoint, [`Lag`]) of an event loop: how many requests showed a lag
    /// of 0, 1, 2, … poll rounds.
    lags: FxHashMap<(i32, u64, Lag), [u32; MAX_LAG]>,
}

/// What a lag of an event loop's request counts, in poll rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Lag {
    /// From the round that read the request to its first call.
    FirstCall,
    /// From the round that read its last call's answer to its response.
    Response,
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

    /// A request of process `pid` with signature `request`, served by an event loop, showed
    /// lag `lag` of kind `kind`.
    pub fn learn_lag(&mut self, pid: i32, request: u64, kind: Lag, lag: u32) {
        if let Some(n) = self
            .lags
            .entry((pid, request, kind))
            .or_default()
            .get_mut(lag as usize)
        {
            *n = n.saturating_add(1);
        }
    }

    /// The lag of kind `kind` of at least 95 % of at least [`MIN_SEEN`] requests of process
    /// `pid` with signature `request`. First call: 0 for a handler run inline, 1 for a task
    /// woken by the read, 2 for a task that only starts sub-tasks which call a round later.
    /// Response: 1 for a task woken by its last answer, more when it waits for sub-tasks.
    pub fn lag(&self, pid: i32, request: u64, kind: Lag) -> Option<u32> {
        let lags = self.lags.get(&(pid, request, kind))?;
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
            p.learn_lag(1, 10, Lag::FirstCall, 2);
        }
        assert_eq!(p.lag(1, 10, Lag::FirstCall), None);
        p.learn_lag(1, 10, Lag::FirstCall, 2);
        assert_eq!(p.lag(1, 10, Lag::FirstCall), Some(2));
        assert_eq!(p.lag(1, 10, Lag::Response), None);
        p.learn_lag(1, 10, Lag::FirstCall, 1);
        assert_eq!(p.lag(1, 10, Lag::FirstCall), None, "8 of 9 is below 95 %");
        p.learn_lag(1, 10, Lag::FirstCall, 9);
        assert_eq!(p.lag(2, 10, Lag::FirstCall), None);
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
