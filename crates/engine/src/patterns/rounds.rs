//! In how many poll rounds an event loop acts on what it read, per endpoint: the only lag
//! its rounds allow.
//!
//! A loop runs a request's handler a fixed number of rounds after the round that read it
//! (inline: 0; a task woken by the read: 1; a task that first spawns sub-tasks: 2), and
//! writes a response a fixed number of rounds after the round that read its last answer.
//! With the true first-call lag `L` of an endpoint, every one of its requests read in round
//! `r` is followed by a call written in round `r + L`; with the true response lag, every
//! response written in round `s` follows an answer read in round `s - L`. Any other lag
//! leaves requests with no such round, however many requests the loop interleaves, so the
//! lag with (almost) none is reported when every other one leaves clearly more.

use super::{stretch_size, STRETCH};
use crate::fxhash::FxHashMap;

/// Calls written or answers read a ledger holds, at most: past it, it closes early.
const MAX_MARKS: usize = 16 * STRETCH;

/// One event loop's poll rounds since its last fit.
#[derive(Debug)]
pub(crate) struct LoopLedger {
    /// Its first round: requests read earlier are left out.
    since: u32,
    /// Requests: the round that read it, the round of its response, its endpoint signature,
    /// and whether calls were linked to it.
    requests: Vec<(u32, u32, u64, bool)>,
    /// Rounds in which it wrote a call (one entry per call).
    writes: Vec<u32>,
    /// Rounds in which it read a call's answer (one entry per answer).
    answers: Vec<u32>,
    /// Ledgers of this loop fitted before.
    fitted: u32,
}

/// An endpoint's lags fitted from one ledger: first call, response.
pub(crate) type Lags = (u64, Option<u32>, Option<u32>);

impl LoopLedger {
    /// A ledger opening at round `since`.
    pub fn new(since: u32) -> LoopLedger {
        LoopLedger {
            since,
            requests: Vec::new(),
            writes: Vec::new(),
            answers: Vec::new(),
            fitted: 0,
        }
    }

    /// The loop wrote a call's first byte in round `round`.
    pub fn note_write(&mut self, round: u32) {
        self.writes.push(round);
    }

    /// The loop read a call's answer's first byte in round `round`.
    pub fn note_answer(&mut self, round: u32) {
        self.answers.push(round);
    }

    /// The loop wrote, in round `response`, the response of a request with endpoint `sig`
    /// read in round `read`, which made calls or not.
    pub fn note_request(&mut self, read: u32, response: u32, sig: u64, calls: bool) {
        if read >= self.since {
            self.requests.push((read, response, sig, calls));
        }
    }

    /// True when the ledger holds enough to fit, or as much as it may.
    pub fn full(&self) -> bool {
        self.requests.len() >= stretch_size(self.fitted)
            || self.writes.len().max(self.answers.len()) >= MAX_MARKS
    }

    /// The lags each endpoint's requests allow; the ledger starts over at round `now`.
    pub fn fit(&mut self, now: u32) -> Vec<Lags> {
        let mut done = std::mem::replace(self, LoopLedger::new(now));
        self.fitted = done.fitted.saturating_add(1);
        done.writes.sort_unstable();
        done.answers.sort_unstable();
        let mut by_endpoint: FxHashMap<u64, (Vec<u32>, Vec<u32>)> = FxHashMap::default();
        for &(read, response, sig, calls) in &done.requests {
            let (reads, responses) = by_endpoint.entry(sig).or_default();
            reads.push(read);
            if calls {
                responses.push(response);
            }
        }
        by_endpoint
            .into_iter()
            .map(|(sig, (reads, responses))| {
                (
                    sig,
                    fit_lag(&reads, &done.writes, true),
                    fit_lag(&responses, &done.answers, false),
                )
            })
            .collect()
    }
}

/// Lags considered: 0 to `MAX_LAG - 1` rounds.
pub(crate) const MAX_LAG: u32 = 4;

/// Requests of an endpoint a fit needs.
const MIN_REQUESTS: usize = 8;

/// Violations by which every other lag must do worse, at least and per hundred requests.
const MIN_MARGIN: usize = 8;
const MARGIN_PER_HUNDRED: usize = 5;

/// The lag that puts a mark (a call written, an answer read) at every anchor (a request's
/// read round, a response's round) shifted by it, forward (`anchor + lag`) or backward;
/// `marks` sorted. `None` when no lag does, or another does about as well.
pub(crate) fn fit_lag(anchors: &[u32], marks: &[u32], forward: bool) -> Option<u32> {
    if anchors.len() < MIN_REQUESTS {
        return None;
    }
    let violations = |lag: u32| {
        anchors
            .iter()
            .filter(|&&a| {
                let at = if forward {
                    a.wrapping_add(lag)
                } else {
                    a.wrapping_sub(lag)
                };
                marks.binary_search(&at).is_err()
            })
            .count()
    };
    let v: Vec<usize> = (0..MAX_LAG).map(violations).collect();
    let (best, &least) = v.iter().enumerate().min_by_key(|&(_, n)| *n)?;
    let margin = MIN_MARGIN.max(anchors.len() * MARGIN_PER_HUNDRED / 100);
    let clear = v
        .iter()
        .enumerate()
        .all(|(lag, &n)| lag == best || n >= least + margin);
    (least * 10 <= anchors.len() && clear).then_some(best as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests read in rounds 0, 3, 6, … each make their first call two rounds later, while
    /// other work writes calls in every fourth round: the first-call lag is 2.
    #[test]
    fn the_lag_every_request_shows_is_found() {
        let anchors: Vec<u32> = (0..100).map(|i| i * 3).collect();
        let mut marks: Vec<u32> = anchors.iter().map(|a| a + 2).collect();
        marks.extend((0..80).map(|i| i * 4));
        marks.sort_unstable();
        marks.dedup();
        assert_eq!(fit_lag(&anchors, &marks, true), Some(2));
        // Responses one round after each request's call: a response lag of 1.
        let responses: Vec<u32> = anchors.iter().map(|a| a + 3).collect();
        assert_eq!(fit_lag(&responses, &marks, false), Some(1));
    }

    /// Marks in every round fit every lag: none is reported; too few requests neither.
    #[test]
    fn a_lag_no_round_tells_apart_is_not_reported() {
        let anchors: Vec<u32> = (0..100).collect();
        let marks: Vec<u32> = (0..110).collect();
        assert_eq!(fit_lag(&anchors, &marks, true), None);
        assert_eq!(fit_lag(&[10, 20], &[11, 21], true), None);
    }
}
