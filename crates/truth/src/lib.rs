//! kspan-truth: the accuracy checker.
//!
//! Compares kspan's traces (the OTLP JSON export, `docs/otlp.md`) with an application's
//! ground-truth logs (the demo app's services, nginx's access log and the load generator's
//! log), request by request: a request counts as exact when its kspan trace holds exactly its
//! true spans, each under its true parent. See [`expected`] for the true tree's shape and
//! [`matching`] for how kspan spans are paired with true ones.

#![warn(missing_docs)]

pub mod error;
pub mod expected;
pub mod matching;
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
    /// How far (ns) a kspan span may lie outside its true span's time and still match it:
    /// absorbs the skew between the boot clock kspan converts and the services' real-time clock.
    pub tolerance_ns: i64,
    /// kspan service name → truth service name, for services kspan names otherwise
    /// (e.g. `redis-server` → `redis`).
    pub aliases: HashMap<String, String>,
    /// How many failing requests the report lists.
    pub max_failures: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            tolerance_ns: 2_000_000,
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
    let matching =
        matching::match_spans(&expected, observed, &options.aliases, options.tolerance_ns);
    let sent = logs.loadgen.as_ref().map(Vec::len);
    report::judge(&expected, observed, &matching, sent, options.max_failures)
}
