//! The checker's errors: each names the file (and line) at fault and what to do about it.

use std::path::PathBuf;

/// Why the ground truth or the traces could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {error}; check that the path exists and is readable")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The operating system's reason.
        error: std::io::Error,
    },
    /// A line of a ground-truth log is not the JSON object the log format describes.
    #[error("{path}:{line}: not a valid ground-truth record ({error}); fix or remove that line")]
    BadRecord {
        /// The log file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The JSON error.
        error: serde_json::Error,
    },
    /// The traces file is not OTLP JSON as `docs/otlp.md` describes.
    #[error("{path}: not an OTLP JSON export ({reason}); produce it with `kspan analyze --format otlp-json`")]
    BadOtlp {
        /// The traces file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The truth directory holds no gateway log, so no request can be rooted.
    #[error(
        "{0} has no gateway.jsonl; point --truth at the directory the demo app wrote its logs to"
    )]
    NoGatewayLog(PathBuf),
}
