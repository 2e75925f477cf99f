//! How calibrated kspan's link confidence is: every link (`kspan.link`, with its
//! `kspan.link.confidence`) judged against the true tree, by band of reported confidence and
//! by evidence.
//!
//! A kspan span with a parent and a link, whose own true span the matching found, is judged
//! right when its kspan parent stands for its true span's true parent (same request), wrong
//! when the parent stands for another true span or the true span is a root. When the parent
//! stands for no true span (or is not in the export), the link is not judged. The spans are
//! paired by [`crate::matching`], identity checked (a span of the previous request on a
//! reused keep-alive connection is that request's), so a link is never counted wrong for a
//! neighbour's span.

use crate::expected::Expected;
use crate::matching::Matching;
use crate::otlp::{ObservedSpan, SpanKind};
use crate::report::percent;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Lower bounds of the confidence bands; the last one is the bar for a sure link.
pub const BANDS: [f64; 6] = [0.0, 0.5, 0.7, 0.9, 0.95, 0.99];

/// Confidence from which a link counts as sure.
pub const SURE: f64 = BANDS[BANDS.len() - 1];

/// The links of a check, judged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkReport {
    /// Links judged (their span's and their parent's true spans both found).
    pub judged: usize,
    /// Of those, right.
    pub right: usize,
    /// Links whose span stands for a true span but whose parent stands for none (or is not in
    /// the export): not judged.
    pub parent_unmatched: usize,
    /// Links whose own span stands for no true span: not judged.
    pub span_unmatched: usize,
    /// The judged links per band of reported confidence, by lower bound ([`BANDS`]).
    pub bands: Vec<Band>,
    /// The judged links per evidence (`kspan.link`).
    pub by_evidence: BTreeMap<String, EvidenceTally>,
    /// The judged links reported with confidence ≥ [`SURE`] (the last band).
    pub sure: SureLinks,
    /// Of those, the links of CLIENT spans: the calls, whose request kspan infers (a SERVER
    /// span's parent is the call whose bytes it read).
    pub sure_calls: SureLinks,
}

/// The judged links of one band of reported confidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    /// The band's lower bound (inclusive); it reaches the next band's.
    pub min_confidence: f64,
    /// Links in the band.
    pub links: usize,
    /// Of those, right.
    pub right: usize,
    /// `right` over `links` (0 when the band is empty): the measured confidence.
    pub measured: f64,
    /// The mean confidence kspan reported for them (0 when the band is empty).
    pub mean_confidence: f64,
}

/// The judged links of one evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EvidenceTally {
    /// Links.
    pub links: usize,
    /// Of those, right.
    pub right: usize,
    /// Of the links, those reported with confidence ≥ [`SURE`].
    pub sure: usize,
    /// Of those, wrong.
    pub sure_wrong: usize,
}

/// The headline: links reported sure and how many were wrong.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SureLinks {
    /// Judged links reported with confidence ≥ [`SURE`].
    pub links: usize,
    /// Of those, wrong.
    pub wrong: usize,
    /// `wrong` per 1,000 `links` (0 when there are none).
    pub wrong_per_1000: f64,
}

/// What the truth says of one link.
enum Verdict {
    Right,
    Wrong,
    ParentUnmatched,
    SpanUnmatched,
}

/// Judges every link of `observed` (spans with a parent and a `kspan.link`); `by_id` maps
/// span ids to indices in `observed`.
pub fn judge_links(
    expected: &Expected,
    observed: &[ObservedSpan],
    matching: &Matching,
    by_id: &HashMap<&str, usize>,
) -> LinkReport {
    let mut report = LinkReport {
        judged: 0,
        right: 0,
        parent_unmatched: 0,
        span_unmatched: 0,
        bands: Vec::new(),
        by_evidence: BTreeMap::new(),
        sure: SureLinks::default(),
        sure_calls: SureLinks::default(),
    };
    // Per band: links, right, sum of reported confidences.
    let mut bands = [(0usize, 0usize, 0.0f64); BANDS.len()];
    for (o, span) in observed.iter().enumerate() {
        let (Some(parent), Some(link)) = (&span.parent_span_id, &span.link) else {
            continue;
        };
        let right = match verdict(o, parent, expected, matching, by_id) {
            Verdict::ParentUnmatched => {
                report.parent_unmatched += 1;
                continue;
            }
            Verdict::SpanUnmatched => {
                report.span_unmatched += 1;
                continue;
            }
            Verdict::Right => true,
            Verdict::Wrong => false,
        };
        let right_count = usize::from(right);
        report.judged += 1;
        report.right += right_count;
        let band = &mut bands[BANDS
            .iter()
            .rposition(|&b| link.confidence >= b)
            .unwrap_or(0)];
        band.0 += 1;
        band.1 += right_count;
        band.2 += link.confidence;
        let tally = report.by_evidence.entry(link.evidence.clone()).or_default();
        tally.links += 1;
        tally.right += right_count;
        if link.confidence >= SURE {
            tally.sure += 1;
            tally.sure_wrong += usize::from(!right);
            report.sure.add(right);
            if span.kind == SpanKind::Client {
                report.sure_calls.add(right);
            }
        }
    }
    report.bands = BANDS
        .iter()
        .zip(bands)
        .map(|(&min_confidence, (links, right, sum))| Band {
            min_confidence,
            links,
            right,
            measured: ratio(right as f64, links),
            mean_confidence: ratio(sum, links),
        })
        .collect();
    report
}

impl SureLinks {
    /// Counts one more sure link, right or wrong.
    fn add(&mut self, right: bool) {
        self.links += 1;
        self.wrong += usize::from(!right);
        self.wrong_per_1000 = ratio(self.wrong as f64 * 1000.0, self.links);
    }
}

/// The verdict on the link from span `o` to the span whose id is `parent`.
fn verdict(
    o: usize,
    parent: &str,
    expected: &Expected,
    matching: &Matching,
    by_id: &HashMap<&str, usize>,
) -> Verdict {
    let Some((r, s)) = matching.of_observed[o] else {
        return Verdict::SpanUnmatched;
    };
    let Some(got) = by_id.get(parent).and_then(|&p| matching.of_observed[p]) else {
        return Verdict::ParentUnmatched;
    };
    match expected.requests[r].spans[s].parent {
        Some(p) if got == (r, p) => Verdict::Right,
        _ => Verdict::Wrong,
    }
}

/// `part / whole`, 0 when `whole` is 0.
fn ratio(part: f64, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part / whole as f64
    }
}

impl fmt::Display for LinkReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "links: {} judged, {} right ({}); not judged: {} whose parent stands for no true \
             span, {} whose span stands for none",
            self.judged,
            self.right,
            percent(self.right, self.judged),
            self.parent_unmatched,
            self.span_unmatched
        )?;
        let s = &self.sure;
        let mut wrong: Vec<(&String, usize)> = self
            .by_evidence
            .iter()
            .filter(|(_, t)| t.sure_wrong > 0)
            .map(|(evidence, t)| (evidence, t.sure_wrong))
            .collect();
        wrong.sort_by_key(|&(evidence, n)| (std::cmp::Reverse(n), evidence));
        let c = &self.sure_calls;
        write!(
            f,
            "  sure links (confidence >= {SURE}): {}, {} wrong ({:.2} per 1,000); calls: {}, {} \
             wrong ({:.2} per 1,000)",
            s.links, s.wrong, s.wrong_per_1000, c.links, c.wrong, c.wrong_per_1000
        )?;
        if !wrong.is_empty() {
            let list: Vec<String> = wrong.iter().map(|(e, n)| format!("{e} {n}")).collect();
            write!(f, "; wrong by evidence: {}", list.join(", "))?;
        }
        writeln!(f)?;
        let bands: Vec<String> = self
            .bands
            .iter()
            .filter(|b| b.links > 0)
            .map(|b| {
                format!(
                    ">= {}: {}/{} right, reported {:.3}",
                    b.min_confidence, b.right, b.links, b.mean_confidence
                )
            })
            .collect();
        writeln!(f, "  by confidence: {}", bands.join("; "))?;
        let evidence: Vec<String> = self
            .by_evidence
            .iter()
            .map(|(e, t)| format!("{e} {}/{}", t.right, t.links))
            .collect();
        writeln!(f, "  by evidence (right/links): {}", evidence.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expected::{ExpectedRequest, ExpectedSpan, Timing};
    use crate::otlp::Link;

    /// A true span under `parent` (only the tree's shape matters here).
    fn want(parent: Option<usize>) -> ExpectedSpan {
        ExpectedSpan {
            service: "s".into(),
            kind: SpanKind::Server,
            local: None,
            peer: "10.0.0.1:80".parse().unwrap(),
            start: 0,
            end: 1,
            timing: Timing::Exact,
            design: None,
            parent,
            tid: None,
            operation: None,
        }
    }

    /// kspan span `id` under `parent`, linked by `evidence` with `confidence`; a CLIENT span
    /// when `id` starts with `c`, else a SERVER span.
    fn got(id: &str, parent: Option<&str>, link: Option<(&str, f64)>) -> ObservedSpan {
        ObservedSpan {
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.map(str::to_string),
            service: "s".into(),
            kind: if id.starts_with('c') {
                SpanKind::Client
            } else {
                SpanKind::Server
            },
            start: 0,
            end: 1,
            peer: None,
            local: None,
            tid: None,
            threads: vec![],
            link: link.map(|(evidence, confidence)| Link {
                evidence: evidence.into(),
                confidence,
            }),
            name: String::new(),
            protocol: Default::default(),
        }
    }

    /// Two requests of a root, a call and its callee; kspan spans paired as `pairs` says.
    fn judge(observed: &[ObservedSpan], pairs: &[Option<(usize, usize)>]) -> LinkReport {
        let request = |rid: &str| ExpectedRequest {
            rid: rid.into(),
            endpoint: "/".into(),
            spans: vec![want(None), want(Some(0)), want(Some(1))],
        };
        let expected = Expected {
            requests: vec![request("a"), request("b")],
            warnings: vec![],
        };
        let matching = Matching {
            of_expected: vec![vec![None; 3]; 2],
            of_observed: pairs.to_vec(),
            round_trips: 0,
            near_misses: vec![vec![None; 3]; 2],
        };
        let by_id = observed
            .iter()
            .enumerate()
            .map(|(o, s)| (s.span_id.as_str(), o))
            .collect();
        judge_links(&expected, observed, &matching, &by_id)
    }

    #[test]
    fn links_are_right_wrong_or_not_judged() {
        let observed = [
            got("ra", None, None),
            // Request b's root under b's callee: wrong (a true root has no parent).
            got("rb", Some("sb"), Some(("event-loop", 0.75))),
            // Request a's call under a's root: right.
            got("ca", Some("ra"), Some(("own-thread", 0.99))),
            // Request b's call under a's root: wrong (another request's span), though sure.
            got("cb", Some("ra"), Some(("resumed", 0.99))),
            // Request a's callee under a's call: right, exact evidence.
            got("sa", Some("ca"), Some(("bytes", 1.0))),
            // Request b's callee under a span that stands for no true span: not judged.
            got("sb", Some("extra"), Some(("bytes", 1.0))),
            got("extra", None, None),
            // A span that stands for no true span: not judged.
            got("other", Some("ra"), Some(("split", 0.7))),
            // A parent but no link (an older export): not counted at all.
            got("old", Some("ra"), None),
        ];
        let pairs = [
            Some((0, 0)),
            Some((1, 0)),
            Some((0, 1)),
            Some((1, 1)),
            Some((0, 2)),
            Some((1, 2)),
            None,
            None,
            None,
        ];
        let report = judge(&observed, &pairs);
        assert_eq!(
            (report.judged, report.right),
            (4, 2),
            "{:?}",
            report.by_evidence
        );
        assert_eq!((report.parent_unmatched, report.span_unmatched), (1, 1));
        let tally = |links, right, sure, sure_wrong| EvidenceTally {
            links,
            right,
            sure,
            sure_wrong,
        };
        assert_eq!(
            report.by_evidence,
            BTreeMap::from([
                ("bytes".to_string(), tally(1, 1, 1, 0)),
                ("event-loop".to_string(), tally(1, 0, 0, 0)),
                ("own-thread".to_string(), tally(1, 1, 1, 0)),
                ("resumed".to_string(), tally(1, 0, 1, 1)),
            ])
        );
        let bands: Vec<(f64, usize, usize)> = report
            .bands
            .iter()
            .map(|b| (b.min_confidence, b.links, b.right))
            .collect();
        assert_eq!(
            bands,
            [
                (0.0, 0, 0),
                (0.5, 0, 0),
                (0.7, 1, 0),
                (0.9, 0, 0),
                (0.95, 0, 0),
                (0.99, 3, 2)
            ]
        );
        let sure = &report.bands[5];
        assert!((sure.mean_confidence - (0.99 + 0.99 + 1.0) / 3.0).abs() < 1e-12);
        assert!((sure.measured - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            report.sure,
            SureLinks {
                links: 3,
                wrong: 1,
                wrong_per_1000: 1000.0 / 3.0
            }
        );
        assert_eq!(
            report.sure_calls,
            SureLinks {
                links: 2,
                wrong: 1,
                wrong_per_1000: 500.0
            }
        );
        assert_eq!(
            report.to_string(),
            "\
links: 4 judged, 2 right (50.0%); not judged: 1 whose parent stands for no true span, 1 whose span stands for none
  sure links (confidence >= 0.99): 3, 1 wrong (333.33 per 1,000); calls: 2, 1 wrong (500.00 per 1,000); wrong by evidence: resumed 1
  by confidence: >= 0.7: 0/1 right, reported 0.750; >= 0.99: 2/3 right, reported 0.993
  by evidence (right/links): bytes 1/1, event-loop 0/1, own-thread 1/1, resumed 0/1
"
        );
    }

    #[test]
    fn no_links_make_empty_bands() {
        let report = judge(&[got("ra", None, None)], &[Some((0, 0))]);
        assert_eq!(report.judged, 0);
        assert!(report
            .bands
            .iter()
            .all(|b| b.links == 0 && b.measured == 0.0));
        assert_eq!(report.sure.wrong_per_1000, 0.0);
    }
}
