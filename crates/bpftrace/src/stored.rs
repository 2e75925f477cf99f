//! What a recording keeps of its bpftrace runs: a JSON blob in the trace.dat option
//! [`BPFTRACE_OPTION`] (trace-cmd skips option ids it does not know).

use crate::error::BpftraceError;
use crate::lines::{parse_output, ParsedOutput};
use serde::{Deserialize, Serialize};

/// The trace.dat option holding the runs (kspan-tracedat reserves it among kspan's options).
pub const BPFTRACE_OPTION: u16 = kspan_tracedat::options::KSPAN_BPFTRACE;

/// One script's run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptOutput {
    /// The script's path as given.
    pub path: String,
    /// The script as bpftrace ran it (with kspan's additions).
    pub script: String,
    /// What bpftrace printed on stdout.
    pub stdout: String,
    /// What bpftrace printed on stderr.
    pub stderr: String,
    /// bpftrace's exit status.
    pub exit_status: i32,
}

impl ScriptOutput {
    /// The run's events and loss counts.
    pub fn parse(&self) -> ParsedOutput {
        parse_output(&self.stdout, &self.stderr)
    }
}

/// Every bpftrace run of a recording.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpftraceRecording {
    /// The runs, in command-line order.
    pub scripts: Vec<ScriptOutput>,
}

impl BpftraceRecording {
    /// Serializes it for the trace.dat option.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("BpftraceRecording is always serializable")
    }

    /// Reads it back from the trace.dat option's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<BpftraceRecording, BpftraceError> {
        serde_json::from_slice(bytes).map_err(|e| BpftraceError::Stored(e.to_string()))
    }

    /// Events bpftrace reported lost, over every run.
    pub fn lost_events(&self) -> u64 {
        self.scripts.iter().map(|s| s.parse().lost).sum()
    }
}
