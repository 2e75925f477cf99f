//! The load generator's errors: a bad configuration, or its log that could not be written.

use std::path::PathBuf;

/// Why a load run could not be started or recorded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The request mix could not be parsed.
    #[error("bad request mix {mix:?}: {reason}; write it as /path=weight,/other=weight")]
    BadMix {
        /// The mix as given.
        mix: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The run has neither a duration nor a request count, so it would never stop.
    #[error("the run is unbounded; give a duration, a request count, or both")]
    Unbounded,
    /// A count or rate that must be positive is not.
    #[error("{what} must be greater than zero")]
    NotPositive {
        /// The setting at fault.
        what: &'static str,
    },
    /// The request log could not be written.
    #[error("cannot write {path}: {error}; check that its directory exists and is writable")]
    Write {
        /// The log's path.
        path: PathBuf,
        /// The operating system's reason.
        error: std::io::Error,
    },
}
