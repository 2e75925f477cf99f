//! kspan-loadgen: the load generator of kspan's demo and accuracy checks.
//!
//! Sends HTTP/1.1 GET requests, each with a unique `X-Request-Id`, either open loop at a
//! given rate over a small keep-alive pool or closed loop over N keep-alive connections,
//! bounded by a duration and/or a request count, and logs one line per request
//! (`loadgen.jsonl`, the format [`LoadgenRecord`] describes) for the accuracy checker.
//! It opens plain sockets in its own network namespace: run it with `ip netns exec` to
//! place it in the client's.

#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod http;
pub mod mix;
pub mod run;
pub mod summary;

pub use config::{LoadConfig, Pace};
pub use error::LoadError;
pub use kspan_truth::records::LoadgenRecord;
pub use mix::Mix;
pub use summary::Summary;

use std::io::Write;
use std::path::Path;

/// A finished load run.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadRun {
    /// One line per request, by request number.
    pub records: Vec<LoadgenRecord>,
    /// The run's figures.
    pub summary: Summary,
}

/// Runs the load `config` describes; returns once the count or the duration is used up and
/// every request sent has been answered or has timed out.
pub fn run(config: &LoadConfig) -> Result<LoadRun, LoadError> {
    config.validate()?;
    let (outcomes, elapsed) = run::run_workers(config);
    let summary = Summary::of(&outcomes, elapsed);
    Ok(LoadRun {
        records: outcomes.into_iter().map(|o| o.record).collect(),
        summary,
    })
}

/// Writes `records` to `path` as JSON lines (replacing the file).
pub fn write_jsonl(path: &Path, records: &[LoadgenRecord]) -> Result<(), LoadError> {
    let write = || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for record in records {
            serde_json::to_writer(&mut out, record)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    };
    write().map_err(|error| LoadError::Write {
        path: path.to_path_buf(),
        error,
    })
}
