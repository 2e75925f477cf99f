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

/// What one ledger's rounds tell of an endpoint's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoopFit {
    /// The endpoint's signature.
    pub sig: u64,
    /// Rounds from the read of a request to its first call.
    pub first_call: Option<u32>,
    /// Rounds from the read of its last answer to its response.
    pub response: Option<u32>,
    /// Calls its handler writes in the round of its first call (its first wave: 2 for a
    /// handler that starts two sub-tasks at once, 1 for sequential calls).
    pub wave: Option<u32>,
}

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

    /// The lags and first waves each endpoint's requests allow; the ledger starts over at
    /// round `now`.
    pub fn fit(&mut self, now: u32) -> Vec<LoopFit> {
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
        let mut fits: Vec<LoopFit> = by_endpoint
            .into_iter()
            .map(|(sig, (reads, responses))| LoopFit {
                sig,
                first_call: fit_lag(&reads, &done.writes, true),
                response: fit_lag(&responses, &done.answers, false),
                wave: None,
            })
            .collect();
        let lags: FxHashMap<u64, u32> = fits
            .iter()
            .filter_map(|f| Some((f.sig, f.first_call?)))
            .collect();
        let waves = fit_waves(&done.requests, &done.writes, &done.answers, &lags);
        for f in &mut fits {
            f.wave = waves.get(&f.sig).copied();
        }
        fits
    }
}

/// Marks (sorted rounds, one entry per mark) in round `round`.
fn marks_in(marks: &[u32], round: u32) -> usize {
    marks.partition_point(|&m| m <= round) - marks.partition_point(|&m| m < round)
}

/// Share of a wave's informative rounds, in percent, that must agree on it.
const WAVE_AGREEMENT_PCT: usize = 90;

/// Each endpoint's first wave: the calls its handler writes in its first-call round. A
/// round `t` tells it when every request read in the lag window before it has a known
/// first-call lag, the requests due in `t` (read `lag` rounds before) are all of one
/// endpoint, and no answer was read in `t` or the round before (an answer's task writes
/// the next call of its request then): every call written in `t` is then a first-wave call
/// of a due request, so the calls per due request is the wave. Reported when enough rounds
/// tell it and nearly all agree.
fn fit_waves(
    requests: &[(u32, u32, u64, bool)],
    writes: &[u32],
    answers: &[u32],
    lags: &FxHashMap<u64, u32>,
) -> FxHashMap<u64, u32> {
    // Per round: the endpoints due then, and whether a request read near it has no lag.
    let mut due: FxHashMap<u32, (u64, usize, bool)> = FxHashMap::default();
    let mut unknown: Vec<u32> = Vec::new();
    for &(read, _, sig, _) in requests {
        match lags.get(&sig) {
            Some(&lag) => {
                let e = due.entry(read.wrapping_add(lag)).or_insert((sig, 0, false));
                e.1 += 1;
                e.2 |= e.0 != sig;
            }
            None => unknown.push(read),
        }
    }
    unknown.sort_unstable();
    let mut votes: FxHashMap<u64, FxHashMap<u32, usize>> = FxHashMap::default();
    for (&round, &(sig, n, mixed)) in &due {
        let near_unknown =
            (0..MAX_LAG).any(|back| marks_in(&unknown, round.wrapping_sub(back)) > 0);
        let answered = marks_in(answers, round) + marks_in(answers, round.wrapping_sub(1)) > 0;
        let written = marks_in(writes, round);
        if mixed || near_unknown || answered || !written.is_multiple_of(n) {
            continue;
        }
        *votes
            .entry(sig)
            .or_default()
            .entry((written / n) as u32)
            .or_default() += 1;
    }
    votes
        .into_iter()
        .filter_map(|(sig, by_wave)| {
            let total: usize = by_wave.values().sum();
            let (&wave, &n) = by_wave
                .iter()
                .max_by_key(|&(w, n)| (*n, std::cmp::Reverse(*w)))?;
            (wave > 0 && total >= MIN_REQUESTS && n * 100 >= total * WAVE_AGREEMENT_PCT)
                .then_some((sig, wave))
        })
        .collect()
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

    /// Endpoint 1 (lag 2) writes two calls in its first-call round, endpoint 2 (lag 1) one;
    /// rounds where both are due, or that follow an answer, tell nothing; an endpoint without
    /// a lag hides the rounds near its reads.
    #[test]
    fn each_endpoint_s_first_wave_is_found_from_the_rounds_that_tell_it() {
        let mut requests = Vec::new();
        let mut writes = Vec::new();
        let mut answers = Vec::new();
        for i in 0..10u32 {
            let t = 100 * i;
            requests.push((t, t + 9, 1, true));
            writes.extend([t + 2, t + 2]);
            requests.push((t + 20, t + 29, 2, true));
            writes.push(t + 21);
            answers.push(t + 5);
        }
        // Both due in one round (three calls), and an answer before a round with an extra
        // write: neither counts.
        requests.extend([(2000, 2009, 1, true), (2001, 2009, 2, true)]);
        writes.extend([2002, 2002, 2002]);
        requests.push((3000, 3009, 1, true));
        answers.push(3001);
        writes.extend([3002, 3002, 3002]);
        writes.sort_unstable();
        answers.sort_unstable();
        let lags = FxHashMap::from_iter([(1, 2), (2, 1)]);
        let waves = fit_waves(&requests, &writes, &answers, &lags);
        assert_eq!(waves, FxHashMap::from_iter([(1, 2), (2, 1)]));
        // Requests of an endpoint with no lag read just before four of endpoint 1's rounds:
        // those tell nothing, and six are too few.
        requests.extend((0..4).map(|i| (100 * i + 1, 100 * i + 9, 3, false)));
        let waves = fit_waves(&requests, &writes, &answers, &lags);
        assert_eq!(waves, FxHashMap::from_iter([(2, 1)]));
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
