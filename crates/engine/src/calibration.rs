//! How often each kind of evidence names the right request, measured per process against
//! the evidence that decides after the fact.
//!
//! The confidence of a link comes from rates measured on the bench/stacks corpus
//! (docs/engine.md, "Confidence"), but a kind of evidence can fail on a runtime that breaks
//! its premise: a Go transport hands a connection dialed for one request to another, so "the
//! connection was opened while serving the request" names the wrong one a quarter of the time
//! there. A call's answer followed by the response of the request it was for, with nothing
//! else read in between (`response`, `resumed`), is decided after the call and was right on
//! every stack of the corpus (99.4 to 100 %). Each time it names the request of a call that
//! other evidence linked first, the process's tally for that evidence counts whether they
//! agreed. Once a tally has enough checks, it caps the confidence of that evidence's links in
//! that process, and an evidence that disagrees often there no longer outranks the later one.

use crate::fxhash::FxHashMap;
use crate::model::Evidence;

/// Checks a tally needs before it says anything.
const MIN_CHECKS: u32 = 20;

/// Below this measured rate, an evidence no longer outranks the one that checks it.
const OUTRANKS_FROM: f32 = 0.9;

/// Per process and kind of evidence: (checks that agreed, checks).
#[derive(Debug, Default)]
pub(crate) struct Calibration {
    tally: FxHashMap<(i32, Evidence), (u32, u32)>,
}

impl Calibration {
    /// In process `pid`, evidence that decides after the fact named a call's request, which
    /// `earlier` had linked first: `agreed` if it was the same request.
    pub fn note(&mut self, pid: i32, earlier: Evidence, agreed: bool) {
        let (agree, checks) = self.tally.entry((pid, earlier)).or_default();
        *agree += u32::from(agreed);
        *checks += 1;
    }

    /// The rate at which `evidence` agreed in process `pid` (add-one smoothed), once it was
    /// checked often enough.
    pub fn rate(&self, pid: i32, evidence: Evidence) -> Option<f32> {
        let &(agree, checks) = self.tally.get(&(pid, evidence))?;
        (checks >= MIN_CHECKS).then(|| (agree + 1) as f32 / (checks + 2) as f32)
    }

    /// `confidence` of a link by `evidence` in process `pid`, capped by the measured rate.
    pub fn cap(&self, pid: i32, evidence: Evidence, confidence: f32) -> f32 {
        self.rate(pid, evidence)
            .map_or(confidence, |rate| confidence.min(rate))
    }

    /// Whether `evidence` still outranks the evidence that checks it in process `pid`: not
    /// once it was measured to disagree with it often.
    pub fn outranks(&self, pid: i32, evidence: Evidence) -> bool {
        self.rate(pid, evidence)
            .is_none_or(|rate| rate >= OUTRANKS_FROM)
    }

    /// Process `pid` is gone (its id may be reused).
    pub fn forget(&mut self, pid: i32) {
        self.tally.retain(|&(p, _), _| p != pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_speaks_after_enough_checks_and_only_for_its_process() {
        let mut c = Calibration::default();
        for i in 0..MIN_CHECKS {
            assert_eq!(c.rate(1, Evidence::Connection), None);
            c.note(1, Evidence::Connection, i % 4 != 0);
        }
        // 15 of 20 agreed: (15 + 1) / (20 + 2).
        let rate = c.rate(1, Evidence::Connection).unwrap();
        assert!((rate - 16.0 / 22.0).abs() < 1e-6);
        assert!((c.cap(1, Evidence::Connection, 0.98) - rate).abs() < 1e-6);
        assert!(!c.outranks(1, Evidence::Connection));
        assert_eq!(c.cap(2, Evidence::Connection, 0.98), 0.98);
        assert!(c.outranks(2, Evidence::Connection));
        assert_eq!(c.cap(1, Evidence::OwnThread, 0.99), 0.99);
        c.forget(1);
        assert_eq!(c.rate(1, Evidence::Connection), None);
    }
}
