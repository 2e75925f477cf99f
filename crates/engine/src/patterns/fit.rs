//! How many calls of one kind each endpoint makes, found as the only counts a stretch of a
//! process's traffic can be split by.
//!
//! Two kernel facts bound every call of a request/response handler: it is written after
//! its request was read, and its answer is read before its request's response is written.
//! If each request of endpoint `e` makes `n[e]` calls of a kind, the calls of a stretch of
//! traffic can be handed to the requests so that each call goes to a request whose span
//! contains it and each request gets exactly its endpoint's count. Whether such a split
//! exists is decided greedily: in order of writing, each call goes to the request with room
//! that ends first (the deadline-first rule, optimal for intervals that contain points).
//! Calls no request can take and room left unfilled are violations: close to zero for the
//! true counts, hundreds for wrong ones on a few hundred requests (docs/engine.md,
//! "Endpoint patterns"), however many requests overlapped. Counts that no stretch can tell
//! apart (an endpoint too rare, a mix that never varies) are not reported.

use crate::event::Timestamp;

/// A call or a request: from its first byte written (call) or read (request) to its
/// answer's (call) or response's (request) first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Interval {
    /// Its first byte.
    pub start: Timestamp,
    /// The first byte of its answer or response.
    pub end: Timestamp,
}

/// Largest count of one kind of call per request considered.
pub(crate) const MAX_COUNT: u8 = 4;

/// Requests of an endpoint a stretch needs before its count is reported.
const MIN_REQUESTS: usize = 8;

/// Violations by which every other count of an endpoint must do worse than the one
/// reported, at least, and per request of that endpoint in the stretch (in hundredths).
const MIN_MARGIN: usize = 8;
const MARGIN_PER_HUNDRED: usize = 5;

/// Local-search steps, at most.
const MAX_STEPS: usize = 16;

/// Count vectors tried one by one at most (up to four endpoints with counts 0 to
/// [`MAX_COUNT`]); with more endpoints a local search decides.
const EVERY_COUNT_UP_TO: usize = 625;

/// The requests of a stretch (sorted by start) with their endpoint's index.
pub(crate) struct Stretch<'a> {
    /// Requests, by start, with their endpoint's index and whether they owe their calls:
    /// a request the stretch holds only part of (it started before the stretch, or is
    /// still in progress at its end) takes calls but leaves no violation for room unfilled.
    pub requests: &'a [(Interval, usize, bool)],
    /// Requests per endpoint index.
    pub per_endpoint: &'a [usize],
}

impl Stretch<'_> {
    /// Calls (sorted by start) that no split gives a request, plus room left unfilled,
    /// when endpoint `e`'s requests make `counts[e]` calls each.
    fn violations(&self, calls: &[Interval], counts: &[u8]) -> usize {
        // Requests in progress at the current call: (end, room left, owes its calls).
        let mut live: Vec<(Timestamp, u8, bool)> = Vec::new();
        let mut next = 0;
        let mut bad = 0;
        let unfilled = |room: u8, owes: bool| if owes { usize::from(room) } else { 0 };
        for c in calls {
            live.retain(|&(end, room, owes)| {
                let keep = end >= c.start;
                if !keep {
                    bad += unfilled(room, owes);
                }
                keep
            });
            while let Some(&(r, e, owes)) = self
                .requests
                .get(next)
                .filter(|(r, _, _)| r.start <= c.start)
            {
                next += 1;
                if r.end >= c.start {
                    live.push((r.end, counts[e], owes));
                } else {
                    bad += unfilled(counts[e], owes);
                }
            }
            let taker = live
                .iter_mut()
                .filter(|(end, room, _)| *room > 0 && *end >= c.end)
                .min_by_key(|(end, _, _)| *end);
            match taker {
                Some((_, room, _)) => *room -= 1,
                None => bad += 1,
            }
        }
        bad += live
            .iter()
            .map(|&(_, room, owes)| unfilled(room, owes))
            .sum::<usize>();
        bad += self.requests[next..]
            .iter()
            .map(|&(_, e, owes)| unfilled(counts[e], owes))
            .sum::<usize>();
        bad
    }

    /// The counts per endpoint index that split `calls` best: `Some(n)` for each endpoint
    /// whose count every other count does clearly worse than, `None` for the others. With
    /// few endpoints every count vector is tried, so "every other" is every one; with more,
    /// a local search from `start` (the counts known so far) decides among neighbours, and
    /// may stop at a vector that only its neighbours do worse than.
    pub fn fit(&self, calls: &[Interval], start: &[u8], floors: &[u8]) -> Vec<Option<u8>> {
        let k = start.len();
        let vectors = (usize::from(MAX_COUNT) + 1).checked_pow(k as u32);
        let found = if vectors.is_some_and(|n| n <= EVERY_COUNT_UP_TO) {
            Some(self.best_of_all(calls, floors))
        } else {
            self.best_nearby(calls, start, floors)
        };
        let Some((best, counts, rival)) = found.filter(|&(best, _, _)| best * 10 <= calls.len())
        else {
            return vec![None; k];
        };
        (0..k)
            .map(|e| {
                let n = self.per_endpoint[e];
                let margin = MIN_MARGIN.max(n * MARGIN_PER_HUNDRED / 100);
                (n >= MIN_REQUESTS && rival[e] >= best + margin).then_some(counts[e])
            })
            .collect()
    }

    /// Tries every count vector at or above `floors` (one per endpoint): the fewest
    /// violations, the vector with them (the first found on a tie), and per endpoint the
    /// fewest violations of any such vector that gives it another count.
    fn best_of_all(&self, calls: &[Interval], floors: &[u8]) -> (usize, Vec<u8>, Vec<usize>) {
        let k = floors.len();
        let all: Vec<(Vec<u8>, usize)> = every_count(k)
            .filter(|counts| above(counts, floors))
            .map(|counts| {
                let v = self.violations(calls, &counts);
                (counts, v)
            })
            .collect();
        let (counts, best) = all
            .iter()
            .min_by_key(|(_, v)| *v)
            .cloned()
            .unwrap_or_default();
        let rival = (0..k)
            .map(|e| {
                all.iter()
                    .filter(|(c, _)| c[e] != counts[e])
                    .map(|&(_, v)| v)
                    .min()
                    .unwrap_or(usize::MAX)
            })
            .collect();
        (best, counts, rival)
    }

    /// A local search from `start` (at or above `floors`), one step at a time to the best
    /// neighbour at or above them: the fewest violations found, the vector with them, and
    /// per endpoint the fewest violations of a neighbour that changes its count (one whose
    /// count only moves together with another's is not told apart either); `None` if it did
    /// not settle in [`MAX_STEPS`].
    fn best_nearby(
        &self,
        calls: &[Interval],
        start: &[u8],
        floors: &[u8],
    ) -> Option<(usize, Vec<u8>, Vec<usize>)> {
        let k = start.len();
        let mut counts = start.to_vec();
        let mut best = self.violations(calls, &counts);
        let mut rival = vec![usize::MAX; k];
        for _ in 0..MAX_STEPS {
            rival.fill(usize::MAX);
            let mut improved = None;
            for trial in neighbours(&counts).filter(|c| above(c, floors)) {
                let v = self.violations(calls, &trial);
                for e in (0..k).filter(|&e| trial[e] != counts[e]) {
                    rival[e] = rival[e].min(v);
                }
                if v < improved.as_ref().map_or(best, |(b, _)| *b) {
                    improved = Some((v, trial));
                }
            }
            match improved {
                Some((v, trial)) => (best, counts) = (v, trial),
                None => return Some((best, counts, rival)),
            }
        }
        None
    }
}

/// Whether every count is at least its floor.
fn above(counts: &[u8], floors: &[u8]) -> bool {
    counts.iter().zip(floors).all(|(c, f)| c >= f)
}

/// Every count vector of `k` endpoints (each count 0 to [`MAX_COUNT`]).
fn every_count(k: usize) -> impl Iterator<Item = Vec<u8>> {
    let base = usize::from(MAX_COUNT) + 1;
    (0..base.pow(k as u32)).map(move |mut i| {
        (0..k)
            .map(|_| {
                let v = (i % base) as u8;
                i /= base;
                v
            })
            .collect()
    })
}

/// Every count vector one step from `counts`: one endpoint's count changed to any other
/// value, or one call moved from one endpoint's count to another's.
fn neighbours(counts: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let k = counts.len();
    let single = (0..k).flat_map(move |e| {
        (0..=MAX_COUNT)
            .filter(move |&v| v != counts[e])
            .map(move |v| {
                let mut c = counts.to_vec();
                c[e] = v;
                c
            })
    });
    let moves = (0..k).flat_map(move |from| {
        (0..k)
            .filter(move |&to| to != from && counts[from] > 0 && counts[to] < MAX_COUNT)
            .map(move |to| {
                let mut c = counts.to_vec();
                c[from] -= 1;
                c[to] += 1;
                c
            })
    });
    single.chain(moves)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(start: Timestamp, end: Timestamp) -> Interval {
        Interval { start, end }
    }

    /// Three endpoints (1, 2 and 2 calls), four requests always overlapping, the second
    /// endpoint's calls in parallel and the third's in sequence: the counts are found
    /// though no request ran alone.
    #[test]
    fn counts_are_found_under_constant_overlap() {
        let mut requests = Vec::new();
        let mut calls = Vec::new();
        // A fixed pseudo-random order of endpoints and start gaps (a linear congruential
        // sequence), so which requests overlap varies.
        let mut seed = 12345u64;
        let mut next = |m: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        let mut start = 0;
        for _ in 0..240 {
            let e = next(3) as usize;
            start += 10 + next(30);
            let end = start + [40, 70, 90][e];
            requests.push((iv(start, end), e, true));
            match e {
                0 => calls.push(iv(start + 5, start + 35)),
                1 => {
                    calls.push(iv(start + 5, start + 60));
                    calls.push(iv(start + 6, start + 65));
                }
                _ => {
                    calls.push(iv(start + 5, start + 40));
                    calls.push(iv(start + 45, start + 85));
                }
            }
        }
        calls.sort();
        let per_endpoint: Vec<usize> = (0..3)
            .map(|e| requests.iter().filter(|r| r.1 == e).count())
            .collect();
        let stretch = Stretch {
            requests: &requests,
            per_endpoint: &per_endpoint,
        };
        assert_eq!(
            stretch.fit(&calls, &[1, 1, 1], &[0, 0, 0]),
            vec![Some(1), Some(2), Some(2)]
        );
        // Whatever the counts known before (the search starts there).
        for start in every_count(3) {
            assert_eq!(
                stretch.fit(&calls, &start, &[0, 0, 0]),
                vec![Some(1), Some(2), Some(2)],
                "from {start:?}"
            );
        }
    }

    /// A saturated pool: every request waits in a queue most of its time, so up to a dozen
    /// overlap; endpoint 0 (two thirds of the requests) makes 2 calls, endpoint 1 makes 1.
    /// Endpoint 1's requests last `short` (else as long as endpoint 0's). Requests and calls
    /// by start.
    fn saturated_pool(short: bool) -> (Vec<(Interval, usize, bool)>, Vec<Interval>) {
        let mut requests = Vec::new();
        let mut calls = Vec::new();
        let mut seed = 777u64;
        let mut next = |m: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        let mut start = 0;
        for i in 0..300 {
            let e = usize::from(i % 3 == 2);
            start += 5 + next(10);
            let (long, brief) = (120 + next(60), 40 + next(40));
            let len = if short && e == 1 { brief } else { long };
            requests.push((iv(start, start + len), e, true));
            for _ in 0..[2, 1][e] {
                let at = start + 1 + next(len - 30);
                calls.push(iv(at, at + 5 + next(20)));
            }
        }
        requests.sort();
        calls.sort();
        (requests, calls)
    }

    /// Swapped counts (1 and 3) make as many calls in all as the true ones and split them
    /// almost as well, but every vector one step from them does worse: the counts are found
    /// from there too.
    #[test]
    fn counts_are_found_from_a_swapped_start_under_saturation() {
        let (requests, calls) = saturated_pool(true);
        let per_endpoint = [200, 100];
        let stretch = Stretch {
            requests: &requests,
            per_endpoint: &per_endpoint,
        };
        // The swapped counts are a local optimum: every neighbour does worse.
        let swapped = stretch.violations(&calls, &[1, 3]);
        assert!(neighbours(&[1, 3]).all(|n| stretch.violations(&calls, &n) > swapped));
        assert_eq!(
            stretch.fit(&calls, &[1, 3], &[0, 0]),
            vec![Some(2), Some(1)]
        );
    }

    /// When both endpoints' requests last as long, the swapped counts split the calls as
    /// well as the true ones: no count is reported, unless sure links showed endpoint 0's
    /// requests making 2 calls (its floor), which leaves only the true counts.
    #[test]
    fn a_floor_from_sure_links_tells_apart_what_the_split_cannot() {
        let (requests, calls) = saturated_pool(false);
        let per_endpoint = [200, 100];
        let stretch = Stretch {
            requests: &requests,
            per_endpoint: &per_endpoint,
        };
        assert_eq!(
            stretch.violations(&calls, &[1, 3]),
            stretch.violations(&calls, &[2, 1])
        );
        assert_eq!(stretch.fit(&calls, &[1, 1], &[0, 0]), vec![None, None]);
        assert_eq!(
            stretch.fit(&calls, &[1, 1], &[2, 0]),
            vec![Some(2), Some(1)]
        );
    }

    /// A client's queue with four connections, cut into a ledger of a few dozen requests:
    /// requests of two endpoints (two of `0` for one of `1`, each making one call) arrive
    /// faster than one connection serves them, and each call waits for a free connection,
    /// first in, first out. The requests in progress at each edge of the ledger are held
    /// only in part (`owes` false). Returns the ledger's requests (all of them owing when
    /// `cut` is false) and calls.
    fn queued_ledger(cut: bool) -> (Vec<(Interval, usize, bool)>, Vec<Interval>) {
        let (from, to) = (400, 1600);
        let mut free = [0u64; 4];
        let mut requests = Vec::new();
        let mut calls = Vec::new();
        for i in 0..200u64 {
            let read = i * 10;
            let conn = (0..4).min_by_key(|&c| free[c]).unwrap_or(0);
            let written = read.max(free[conn]) + 1;
            let answer = written + 50;
            free[conn] = answer;
            let span = iv(read, answer + 1);
            if span.end < from || read >= to {
                continue;
            }
            let whole = read >= from && span.end <= to;
            if whole || cut {
                requests.push((span, usize::from(i % 3 == 2), whole));
            }
            if written >= from && written < to {
                calls.push(iv(written, answer));
            }
        }
        (requests, calls)
    }

    /// In that queue the whole requests alone cannot tell 1 + 1 calls from other counts
    /// (the calls of the dozens of requests queued at the edges have no request in the
    /// stretch), while the requests held in part, taking calls without owing any, leave
    /// only 1 + 1 once sure links showed endpoint 0's requests making one (its floor: as
    /// everywhere under constant overlap, 0 + 3 splits the calls as well).
    #[test]
    fn requests_held_in_part_tell_counts_a_short_queued_ledger_cannot() {
        let (whole, calls) = queued_ledger(false);
        let per_endpoint = [
            whole.iter().filter(|r| r.1 == 0).count(),
            whole.iter().filter(|r| r.1 == 1).count(),
        ];
        let stretch = Stretch {
            requests: &whole,
            per_endpoint: &per_endpoint,
        };
        assert_ne!(
            stretch.fit(&calls, &[1, 1], &[1, 0]),
            vec![Some(1), Some(1)]
        );
        let (cut, _) = queued_ledger(true);
        let stretch = Stretch {
            requests: &cut,
            per_endpoint: &per_endpoint,
        };
        assert_eq!(stretch.violations(&calls, &[1, 1]), 0);
        assert_eq!(stretch.violations(&calls, &[0, 3]), 0);
        assert_eq!(
            stretch.fit(&calls, &[1, 1], &[1, 0]),
            vec![Some(1), Some(1)]
        );
    }

    /// Two endpoints whose requests always come in the same pair, at the same times: 1 + 3
    /// calls split as well as 2 + 2, so neither count is reported.
    #[test]
    fn counts_that_no_split_tells_apart_are_not_reported() {
        let mut requests = Vec::new();
        let mut calls = Vec::new();
        for i in 0..100u64 {
            let start = i * 100;
            requests.push((iv(start, start + 50), 0, true));
            requests.push((iv(start, start + 50), 1, true));
            for j in 0..4 {
                calls.push(iv(start + 1 + j, start + 20));
            }
        }
        requests.sort();
        let stretch = Stretch {
            requests: &requests,
            per_endpoint: &[100, 100],
        };
        assert_eq!(stretch.fit(&calls, &[1, 1], &[0, 0]), vec![None, None]);
    }

    /// An endpoint seen on too few requests gets no count, the others still do.
    #[test]
    fn a_rare_endpoint_gets_no_count() {
        let mut requests = Vec::new();
        let mut calls = Vec::new();
        for i in 0..100u64 {
            let start = i * 100;
            let e = usize::from(i % 20 == 0);
            requests.push((iv(start, start + 50), e, true));
            if e == 0 {
                calls.push(iv(start + 1, start + 20));
            }
        }
        let stretch = Stretch {
            requests: &requests,
            per_endpoint: &[95, 5],
        };
        assert_eq!(stretch.fit(&calls, &[1, 1], &[0, 0]), vec![Some(1), None]);
    }
}
