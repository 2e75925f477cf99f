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
//! lag with (almost) none is reported when every other one leaves clearly more: counted over
//! all the loop's ledgers, as a busy loop leaves only a few requests out per ledger. The
//! same rounds tell how many calls a handler writes in its first-call round (its first
//! wave).

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
    pub first_call: LagTally,
    /// Rounds from the read of its last answer to its response.
    pub response: LagTally,
}

/// Per number of calls: the rounds that showed an endpoint's handler writing that many in
/// its first-call round (its first wave: 2 for a handler that starts two sub-tasks at once,
/// 1 for sequential calls).
pub(crate) type WaveVotes = FxHashMap<u32, usize>;

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

    /// What each endpoint's requests say of its lags; the ledger starts over at round
    /// `now`, and the closed one (marks sorted) is returned for [`LoopLedger::wave_votes`].
    pub fn fit(&mut self, now: u32) -> (Vec<LoopFit>, LoopLedger) {
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
        let fits = by_endpoint
            .into_iter()
            .map(|(sig, (reads, responses))| LoopFit {
                sig,
                first_call: LagTally::of(&reads, &done.writes, true),
                response: LagTally::of(&responses, &done.answers, false),
            })
            .collect();
        (fits, done)
    }

    /// The votes of a closed ledger's rounds on each endpoint's first wave, with the loop's
    /// first-call lags `lags` (see [`tally_waves`]).
    pub fn wave_votes(&self, lags: &FxHashMap<u64, u32>) -> FxHashMap<u64, WaveVotes> {
        tally_waves(&self.requests, &self.writes, &self.answers, lags)
    }
}

/// Marks (sorted rounds, one entry per mark) in round `round`.
fn marks_in(marks: &[u32], round: u32) -> usize {
    marks.partition_point(|&m| m <= round) - marks.partition_point(|&m| m < round)
}

/// Share of a wave's informative rounds, in percent, that must agree on it.
const WAVE_AGREEMENT_PCT: usize = 90;

/// Each endpoint's first wave, as the rounds of a ledger vote on it: the calls its handler
/// writes in its first-call round. A round `t` tells it when every request read in the lag
/// window before it has a known first-call lag (`lags`), the requests due in `t` (read `lag`
/// rounds before) are all of one endpoint, and no answer was read in `t` or the round before
/// (an answer's task writes the next call of its request then): every call written in `t`
/// is then a first-wave call of a due request, so the calls per due request is the wave.
fn tally_waves(
    requests: &[(u32, u32, u64, bool)],
    writes: &[u32],
    answers: &[u32],
    lags: &FxHashMap<u64, u32>,
) -> FxHashMap<u64, WaveVotes> {
    // Per round: the endpoint due then, how many of its requests, and whether another
    // endpoint's are due too; and the reads of requests with no lag.
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
    let mut votes: FxHashMap<u64, WaveVotes> = FxHashMap::default();
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
}

/// The first wave the votes of an endpoint's rounds (over all ledgers so far) tell: reported
/// when enough rounds voted and nearly all agree.
pub(crate) fn decide_wave(votes: &WaveVotes) -> Option<u32> {
    let total: usize = votes.values().sum();
    let (&wave, &n) = votes
        .iter()
        .max_by_key(|&(w, n)| (*n, std::cmp::Reverse(*w)))?;
    (wave > 0 && total >= MIN_REQUESTS && n * 100 >= total * WAVE_AGREEMENT_PCT).then_some(wave)
}

/// Lags considered: 0 to `MAX_LAG - 1` rounds.
pub(crate) const MAX_LAG: u32 = 4;

/// Requests of an endpoint a fit needs.
const MIN_REQUESTS: usize = 8;

/// Violations by which every other lag must do worse than the best: twice its own, and
/// this many more.
const MIN_GAP: usize = 4;

/// How many anchors (a request's read round, a response's round) each lag leaves without a
/// mark (a call written, an answer read) that far after (or before) them, over every ledger
/// of a loop so far: the true lag leaves (almost) none however busy the loop, another one
/// leaves those rounds where the loop happened to do nothing else of that kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LagTally {
    /// Per lag (0 to `MAX_LAG - 1` rounds): anchors it leaves without a mark.
    violations: [usize; MAX_LAG as usize],
    /// Anchors counted.
    anchors: usize,
}

impl LagTally {
    /// The tally of `anchors` against `marks` (sorted), marks forward (`anchor + lag`) or
    /// backward.
    pub fn of(anchors: &[u32], marks: &[u32], forward: bool) -> LagTally {
        let mut violations = [0; MAX_LAG as usize];
        for (lag, v) in (0..MAX_LAG).zip(&mut violations) {
            *v = anchors
                .iter()
                .filter(|&&a| {
                    let at = if forward {
                        a.wrapping_add(lag)
                    } else {
                        a.wrapping_sub(lag)
                    };
                    marks.binary_search(&at).is_err()
                })
                .count();
        }
        LagTally {
            violations,
            anchors: anchors.len(),
        }
    }

    /// Adds another ledger's tally.
    pub fn add(&mut self, other: &LagTally) {
        for (v, o) in self.violations.iter_mut().zip(other.violations) {
            *v += o;
        }
        self.anchors += other.anchors;
    }

    /// The lag that leaves at most one anchor in ten without a mark while every other
    /// leaves clearly more (twice as many, and [`MIN_GAP`] more); `None` before
    /// [`MIN_REQUESTS`] anchors or while another lag does about as well.
    pub fn decide(&self) -> Option<u32> {
        if self.anchors < MIN_REQUESTS {
            return None;
        }
        let v = &self.violations;
        let (best, &least) = v.iter().enumerate().min_by_key(|&(_, n)| *n)?;
        let clear = v
            .iter()
            .enumerate()
            .all(|(lag, &n)| lag == best || n >= 2 * least + MIN_GAP);
        (least * 10 <= self.anchors && clear).then_some(best as u32)
    }
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
        assert_eq!(LagTally::of(&anchors, &marks, true).decide(), Some(2));
        // Responses one round after each request's call: a response lag of 1.
        let responses: Vec<u32> = anchors.iter().map(|a| a + 3).collect();
        assert_eq!(LagTally::of(&responses, &marks, false).decide(), Some(1));
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
        let waves = |requests: &[(u32, u32, u64, bool)]| -> FxHashMap<u64, Option<u32>> {
            tally_waves(requests, &writes, &answers, &lags)
                .iter()
                .map(|(&sig, v)| (sig, decide_wave(v)))
                .collect()
        };
        assert_eq!(
            waves(&requests),
            FxHashMap::from_iter([(1, Some(2)), (2, Some(1))])
        );
        // Requests of an endpoint with no lag read just before four of endpoint 1's rounds:
        // those tell nothing, and six are too few.
        requests.extend((0..4).map(|i| (100 * i + 1, 100 * i + 9, 3, false)));
        assert_eq!(
            waves(&requests),
            FxHashMap::from_iter([(1, None), (2, Some(1))])
        );
    }

    /// A loop busy enough that the round after nearly every read writes some call: one
    /// ledger cannot tell lag 2 from lag 1 (four anchors apart at most), two together can.
    /// Another lag must leave twice the best one's violations, not merely a few more.
    #[test]
    fn ledgers_add_up_until_a_lag_stands_apart() {
        let ledger = LagTally {
            violations: [30, 3, 0, 20],
            anchors: 40,
        };
        assert_eq!(ledger.decide(), None);
        let mut all = ledger;
        all.add(&ledger);
        assert_eq!(all.violations, [60, 6, 0, 40]);
        assert_eq!(all.decide(), Some(2));
        let blurred = LagTally {
            violations: [10, 20, 30, 30],
            anchors: 200,
        };
        assert_eq!(blurred.decide(), None);
    }

    /// Marks in every round fit every lag: none is reported; too few requests neither.
    #[test]
    fn a_lag_no_round_tells_apart_is_not_reported() {
        let anchors: Vec<u32> = (0..100).collect();
        let marks: Vec<u32> = (0..110).collect();
        assert_eq!(LagTally::of(&anchors, &marks, true).decide(), None);
        assert_eq!(LagTally::of(&[10, 20], &[11, 21], true).decide(), None);
    }
}
