//! The calls each kind of request makes, and when an event loop acts on it, learnt from the
//! recording itself.
//!
//! A request's endpoint signature (a hash of what its first bytes say it is: `GET /par`,
//! `SET`) names what its handler does; handlers of one endpoint make the same calls. Each
//! process's requests and calls, with their signatures and times, fill a ledger; every few
//! hundred requests the counts that split the ledger's calls between its requests are
//! fitted ([`fit`]) and replace the earlier ones for the endpoints they tell apart.

mod fit;
mod rounds;

use crate::event::Tid;
use crate::event::Timestamp;
use crate::fxhash::FxHashMap;
pub(crate) use fit::Interval;
use fit::Stretch;
use rounds::{decide_wave, LagTally, LoopLedger, WaveVotes};

/// Requests in a process's (or loop's) first ledger, doubling with each fit up to the last
/// size: counts early in a recording, and steadier ones later. Each fit still reports only
/// what its requests tell apart.
const FIRST_STRETCH: usize = 16;
const STRETCH: usize = 256;

/// Ledgers fitted in a row at first; after them one in [`REFIT_EVERY`] is (the counts of a
/// service seldom change, and a fit costs a few passes over its ledger's calls).
const FIT_FIRST: u32 = 6;
const REFIT_EVERY: u32 = 4;

/// Requests a ledger holds before its fit, after `fitted` earlier fits.
fn stretch_size(fitted: u32) -> usize {
    (FIRST_STRETCH << fitted.min(8)).min(STRETCH)
}

/// Endpoints and call signatures a ledger keeps apart, at most (the most frequent ones).
const MAX_ENDPOINTS: usize = 16;
const MAX_CALL_KINDS: usize = 32;

/// Calls a ledger holds, at most: past it, the stretch closes early.
const MAX_CALLS: usize = 16 * STRETCH;

/// Requests of an endpoint, at least (and per hundred of them), that must show a number of
/// calls linked by sure evidence before the fit takes it as the endpoint's floor: one wrong
/// sure link does not raise it.
const FLOOR_QUORUM: u32 = 2;
const FLOOR_PER_HUNDRED: u32 = 5;

/// The floor of an endpoint's count of a kind of call, from `seen` (how many of its
/// `requests` requests had each number of such calls linked by sure evidence): the largest
/// number that enough of them reached.
fn floor(seen: Option<&[u32; fit::MAX_COUNT as usize + 1]>, requests: usize) -> u8 {
    let Some(seen) = seen else {
        return 0;
    };
    let quorum =
        FLOOR_QUORUM.max(u32::try_from(requests).unwrap_or(u32::MAX) * FLOOR_PER_HUNDRED / 100);
    let mut reached = 0;
    for n in (1..seen.len()).rev() {
        reached += seen[n];
        if reached >= quorum {
            return n as u8;
        }
    }
    0
}

/// A process's requests and calls since its last fit.
#[derive(Debug, Default)]
struct Ledger {
    /// When it opened (0 for a process's first: all it did since the recording started):
    /// requests and calls that started earlier are left out (their other half is in no
    /// ledger).
    since: Timestamp,
    /// Requests with their endpoint signature.
    requests: Vec<(Interval, u64)>,
    /// Requests that started before the ledger opened, with their endpoint signature: their
    /// earlier calls are in no ledger, so they take calls in the fit without owing any.
    straddling: Vec<(Interval, u64)>,
    /// Calls by signature.
    calls: FxHashMap<u64, Vec<Interval>>,
    /// Calls held.
    held: usize,
    /// Per (endpoint, call signature): how many of the endpoint's requests had each number
    /// of such calls linked to them by sure evidence (see [`CallPatterns::note_request`]).
    sure: FxHashMap<(u64, u64), [u32; fit::MAX_COUNT as usize + 1]>,
    /// Ledgers of this process closed before.
    fitted: u32,
}

/// Call patterns and event-loop lags by process and signature.
#[derive(Debug, Default)]
pub(crate) struct CallPatterns {
    /// Per process: its traffic since the last fit.
    ledgers: FxHashMap<i32, Ledger>,
    /// Per (process, call signature): the calls of that kind each endpoint's requests make.
    counts: FxHashMap<(i32, u64), FxHashMap<u64, u8>>,
    /// Per process: the call signatures with counts (the keys of `counts`).
    kinds: FxHashMap<i32, Vec<u64>>,
    /// Per event loop (thread): its rounds since the last fit.
    loops: FxHashMap<Tid, LoopLedger>,
    /// Per (event loop, endpoint, [`Lag`]): what its rounds so far say of each lag.
    lag_tallies: FxHashMap<(Tid, u64, Lag), LagTally>,
    /// Per (event loop, endpoint, [`Lag`]): the lag its rounds allow.
    lags: FxHashMap<(Tid, u64, Lag), u32>,
    /// Per (event loop, endpoint): the votes of its rounds so far on its first wave.
    wave_votes: FxHashMap<(Tid, u64), WaveVotes>,
    /// Per (event loop, endpoint): the calls its handler writes in its first-call round.
    waves: FxHashMap<(Tid, u64), u32>,
}

/// What an event loop did in a poll round, as its lags' ledger counts it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LoopNote {
    /// It wrote a call's first byte.
    Write,
    /// It read a call's answer's first byte.
    Answer,
    /// It wrote the response of a request with endpoint signature `sig`, read in round
    /// `read`, which made calls (as linked so far) or not.
    Response {
        /// The round that read the request.
        read: u32,
        /// The request's endpoint signature.
        sig: u64,
        /// Calls were linked to it.
        calls: bool,
    },
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
    /// A request of process `pid` with endpoint signature `request` spanned `span` (read to
    /// first response byte); `sure` says how many calls of each signature were linked to it
    /// by evidence that names the request (a thread, a connection, a response): its endpoint
    /// makes at least that many, which the fit takes as a floor. True when the process's
    /// ledger is full: the caller closes it ([`CallPatterns::close`]).
    #[must_use]
    pub fn note_request(
        &mut self,
        pid: i32,
        request: u64,
        span: Interval,
        sure: &[(u64, u8)],
    ) -> bool {
        let ledger = self.ledgers.entry(pid).or_default();
        if span.start < ledger.since {
            ledger.straddling.push((span, request));
            return false;
        }
        ledger.requests.push((span, request));
        for &(call, n) in sure {
            let seen = ledger.sure.entry((request, call)).or_default();
            seen[usize::from(n.min(fit::MAX_COUNT))] += 1;
        }
        ledger.requests.len() >= stretch_size(ledger.fitted)
    }

    /// A call of process `pid` with signature `call` spanned `span` (written to first
    /// answer byte). True when the process's ledger is full: the caller closes it
    /// ([`CallPatterns::close`]).
    #[must_use]
    pub fn note_call(&mut self, pid: i32, call: u64, span: Interval) -> bool {
        let ledger = self.ledgers.entry(pid).or_default();
        if span.start < ledger.since
            || (ledger.calls.len() >= MAX_CALL_KINDS && !ledger.calls.contains_key(&call))
        {
            return false;
        }
        ledger.calls.entry(call).or_default().push(span);
        ledger.held += 1;
        ledger.held >= MAX_CALLS
    }

    /// Fits process `pid`'s ledger and opens a new one, now. `open` holds the process's
    /// requests still in progress (start, endpoint signature): the ledger already holds some
    /// of their calls, so in the fit they take calls without owing any, as the requests
    /// that started before the ledger opened do. Without them every request in progress at
    /// either edge of a ledger shows as a violation, which under saturation (a dozen
    /// requests queued at each edge of a ledger of a few dozen) hides the true counts.
    pub fn close(&mut self, pid: i32, now: Timestamp, open: &[(Timestamp, u64)]) {
        let Some(ledger) = self.ledgers.get_mut(&pid) else {
            return;
        };
        let done = std::mem::replace(
            ledger,
            Ledger {
                since: now,
                fitted: ledger.fitted.saturating_add(1),
                ..Ledger::default()
            },
        );
        if done.fitted >= FIT_FIRST && done.fitted % REFIT_EVERY != 0 {
            return;
        }
        let mut frequency: FxHashMap<u64, usize> = FxHashMap::default();
        for &(_, sig) in &done.requests {
            *frequency.entry(sig).or_default() += 1;
        }
        let mut endpoints: Vec<(u64, usize)> = frequency.into_iter().collect();
        endpoints.sort_unstable_by_key(|&(sig, n)| (std::cmp::Reverse(n), sig));
        endpoints.truncate(MAX_ENDPOINTS);
        let index = |sig: u64| endpoints.iter().position(|&(s, _)| s == sig);
        let owing = done.requests.iter().map(|&(span, sig)| (span, sig, true));
        let straddling = done
            .straddling
            .iter()
            .map(|&(span, sig)| (span, sig, false));
        let in_progress = open.iter().map(|&(start, sig)| {
            let span = Interval {
                start,
                end: Timestamp::MAX,
            };
            (span, sig, false)
        });
        let mut requests: Vec<(Interval, usize, bool)> = owing
            .chain(straddling)
            .chain(in_progress)
            .filter_map(|(span, sig, owes)| Some((span, index(sig)?, owes)))
            .collect();
        requests.sort_unstable();
        let whole: Vec<(Interval, usize, bool)> =
            requests.iter().copied().filter(|r| r.2).collect();
        let per_endpoint: Vec<usize> = endpoints.iter().map(|&(_, n)| n).collect();
        // First the requests the ledger holds whole, alone: the calls of the others show as
        // violations, as many for every count vector. Where that tells no count apart (a
        // ledger of a few dozen requests with a dozen queued at each edge), the requests held
        // only in part take calls too, without owing any; that favours higher counts (their
        // room absorbs calls of the whole requests' counts), so it only decides what the
        // whole requests alone leave open.
        let whole = Stretch {
            requests: &whole,
            per_endpoint: &per_endpoint,
        };
        let with_edges = Stretch {
            requests: &requests,
            per_endpoint: &per_endpoint,
        };
        for (call, mut calls) in done.calls {
            calls.sort_unstable();
            let kinds = self.kinds.entry(pid).or_default();
            if !kinds.contains(&call) {
                kinds.push(call);
            }
            let known = self.counts.entry((pid, call)).or_default();
            let floors: Vec<u8> = endpoints
                .iter()
                .map(|&(sig, n)| floor(done.sure.get(&(sig, call)), n))
                .collect();
            let start: Vec<u8> = endpoints
                .iter()
                .zip(&floors)
                .map(|((sig, _), &f)| known.get(sig).copied().unwrap_or(1).max(f))
                .collect();
            let mut fitted = whole.fit(&calls, &start, &floors);
            if fitted.contains(&None) {
                let edges = with_edges.fit(&calls, &start, &floors);
                for (n, e) in fitted.iter_mut().zip(edges) {
                    *n = n.or(e);
                }
            }
            for (&(sig, _), n) in endpoints.iter().zip(fitted) {
                if let Some(n) = n {
                    known.insert(sig, n);
                }
            }
        }
    }

    /// Event loop `tid` did `note` in poll round `round`.
    pub fn note_loop(&mut self, tid: Tid, round: u32, note: LoopNote) {
        let ledger = self.loops.entry(tid).or_insert_with(|| LoopLedger::new(0));
        match note {
            LoopNote::Write => ledger.note_write(round),
            LoopNote::Answer => ledger.note_answer(round),
            LoopNote::Response { read, sig, calls } => ledger.note_request(read, round, sig, calls),
        }
        if !ledger.full() {
            return;
        }
        let (fits, closed) = ledger.fit(round);
        for fit in fits {
            for (kind, tally) in [
                (Lag::FirstCall, fit.first_call),
                (Lag::Response, fit.response),
            ] {
                let all = self.lag_tallies.entry((tid, fit.sig, kind)).or_default();
                all.add(&tally);
                match all.decide() {
                    Some(lag) => self.lags.insert((tid, fit.sig, kind), lag),
                    // What its rounds say now no longer tells a lag apart.
                    None => self.lags.remove(&(tid, fit.sig, kind)),
                };
            }
        }
        let first_call: FxHashMap<u64, u32> = self
            .lags
            .iter()
            .filter(|&(&(t, _, kind), _)| t == tid && kind == Lag::FirstCall)
            .map(|(&(_, sig, _), &lag)| (sig, lag))
            .collect();
        for (sig, new) in closed.wave_votes(&first_call) {
            let all = self.wave_votes.entry((tid, sig)).or_default();
            for (wave, n) in new {
                *all.entry(wave).or_default() += n;
            }
            if let Some(wave) = decide_wave(all) {
                self.waves.insert((tid, sig), wave);
            }
        }
    }

    /// Thread `tid` of process `pid` exited: its loop's ledger and lags go, and when it was
    /// the process's main thread, the process's ledger and counts too (bounded memory
    /// over threads and processes that come and go).
    pub fn forget(&mut self, tid: Tid, pid: i32) {
        if self.loops.remove(&tid).is_some() {
            self.lags.retain(|&(t, _, _), _| t != tid);
            self.lag_tallies.retain(|&(t, _, _), _| t != tid);
            self.waves.retain(|&(t, _), _| t != tid);
            self.wave_votes.retain(|&(t, _), _| t != tid);
        }
        if tid == pid {
            self.ledgers.remove(&pid);
            self.counts.retain(|&(p, _), _| p != pid);
            self.kinds.remove(&pid);
        }
    }

    /// The lag of kind `kind` of event loop `tid`'s requests with signature `request`, once
    /// its rounds told it apart. First call: 0 for a handler run inline, 1 for a task
    /// woken by the read, 2 for a task that only starts sub-tasks which call a round later.
    /// Response: 1 for a task woken by its last answer, more when it waits for sub-tasks.
    pub fn lag(&self, tid: Tid, request: u64, kind: Lag) -> Option<u32> {
        self.lags.get(&(tid, request, kind)).copied()
    }

    /// How many calls event loop `tid`'s handler of endpoint `request` writes in the round
    /// of its first call, once its rounds told it apart (2 for a handler that starts two
    /// sub-tasks that call at once).
    pub fn wave(&self, tid: Tid, request: u64) -> Option<u32> {
        self.waves.get(&(tid, request)).copied()
    }

    /// Whether process `pid`'s first ledger has been fitted (whatever it told apart): before
    /// it, no count of the process can be known.
    pub fn fitted_once(&self, pid: i32) -> bool {
        self.ledgers.get(&pid).is_some_and(|l| l.fitted > 0)
    }

    /// The call signatures of process `pid` that have fitted counts.
    pub fn kinds_of(&self, pid: i32) -> &[u64] {
        self.kinds.get(&pid).map_or(&[], Vec::as_slice)
    }

    /// Whether a request of process `pid` with signature `request` has made every call its
    /// endpoint makes, `made(call)` counting the calls with signature `call` it made: false
    /// while a kind of call of the process has no count for that endpoint.
    pub fn made_all(&self, pid: i32, request: u64, made: impl Fn(u64) -> usize) -> bool {
        let kinds = self.kinds_of(pid);
        !kinds.is_empty()
            && kinds.iter().all(|&call| {
                self.expected(pid, request, call)
                    .is_some_and(|n| made(call) >= usize::from(n))
            })
    }

    /// How many calls with signature `call` a request of process `pid` with signature
    /// `request` makes, once a fit told its endpoint's count apart.
    pub fn expected(&self, pid: i32, request: u64, call: u64) -> Option<u16> {
        self.counts
            .get(&(pid, call))?
            .get(&request)
            .map(|&n| u16::from(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process's first ledger is fitted after its first stretch of requests, however
    /// much they overlapped; a call signature never written has no count.
    #[test]
    fn the_first_stretch_gives_counts() {
        let mut p = CallPatterns::default();
        assert!(!p.note_call(1, 7, Interval { start: 0, end: 1 }));
        for i in 0..FIRST_STRETCH as u64 {
            let start = 10 + i * 10;
            let call = Interval {
                start: start + 1,
                end: start + 12,
            };
            assert!(!p.note_call(1, 7, call));
            let span = Interval {
                start,
                end: start + 15,
            };
            assert_eq!(
                p.expected(1, 10, 7),
                None,
                "no fit before the stretch is full"
            );
            if p.note_request(1, 10, span, &[]) {
                p.close(1, start + 15, &[]);
            }
        }
        // The call that started before the ledger opened is left out.
        assert_eq!(p.expected(1, 10, 7), Some(1));
        assert_eq!(p.expected(1, 10, 8), None);
        assert_eq!(p.expected(2, 10, 7), None);
    }
}
