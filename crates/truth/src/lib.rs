//! kspan-truth: the accuracy checker.
//!
//! Compares kspan's traces (the OTLP JSON export, `docs/otlp.md`) with an application's
//! ground-truth logs (the demo app's services, nginx's access log and the load generator's
//! log), request by request: a request counts as exact when its kspan trace holds exactly its
//! true spans, each under its true parent, each its request's own (on the thread the truth
//! names, at the true time once the clock offset estimated by [`clock`] is removed). See
//! [`expected`] for the true tree's shape and [`matching`] for how kspan spans are paired with
//! true ones. Beside the trees, [`links`] judges kspan's link confidence and [`names`] whether
//! each span is named for what it was (when the truth states it, [`operation`]).

#![warn(missing_docs)]

pub mod clock;
pub mod error;
pub mod expected;
pub mod links;
pub mod matching;
pub mod names;
pub mod operation;
pub mod otlp;
pub mod records;
pub mod report;

pub use error::TruthError;
pub use report::Report;

use std::collections::HashMap;
use std::path::Path;

/// How a check is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    /// How far (ns) a kspan span may lie outside its true span's time (or the window the truth
    /// knows it in) and still match it, after the estimated clock offset is removed: small, so
    /// that a span of the previous request on a keep-alive connection does not pass for this
    /// one's (2 ms before the offset was estimated; 0.1 ms now).
    pub tolerance_ns: i64,
    /// The same for a root known only to nginx's 1 ms resolution (a request the load
    /// generator's log lacks).
    pub coarse_tolerance_ns: i64,
    /// kspan service name → truth service name, for services kspan names otherwise
    /// (e.g. `redis-server` → `redis`).
    pub aliases: HashMap<String, String>,
    /// How many failing requests the report lists.
    pub max_failures: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            tolerance_ns: 100_000,
            coarse_tolerance_ns: 1_000_000,
            aliases: HashMap::new(),
            max_failures: 10,
        }
    }
}

/// Checks the OTLP JSON file `otlp` against the truth directory `truth_dir`.
pub fn check(otlp: &Path, truth_dir: &Path, options: &CheckOptions) -> Result<Report, TruthError> {
    let logs = records::read_truth_dir(truth_dir)?;
    let observed = otlp::read_otlp(otlp)?;
    Ok(check_parsed(&logs, &observed, options))
}

/// Checks already-read truth logs and spans (for callers that hold them in memory).
pub fn check_parsed(
    logs: &records::TruthLogs,
    observed: &[otlp::ObservedSpan],
    options: &CheckOptions,
) -> Report {
    let expected = expected::build(logs);
    let clock = clock::estimate(&expected, observed, &options.aliases);
    let rule = matching::TimeRule {
        offset_ns: clock.offset_ns,
        tolerance_ns: options.tolerance_ns,
        coarse_tolerance_ns: options.coarse_tolerance_ns,
    };
    let matching = matching::match_spans(&expected, observed, &options.aliases, &rule);
    let sent = logs.loadgen.as_ref().map(Vec::len);
    report::judge(
        &expected,
        observed,
        &matching,
        sent,
        clock,
        options.max_failures,
    )
}
