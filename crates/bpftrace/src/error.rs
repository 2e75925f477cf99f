//! Why a bpftrace script could not be run; each message names the problem and the fix.

use std::path::PathBuf;

/// Everything that can stop a bpftrace script from running beside a recording.
#[derive(Debug, thiserror::Error)]
pub enum BpftraceError {
    /// The `bpftrace` program is not on PATH.
    #[error(
        "bpftrace is not installed (or not on PATH): install it with `apt-get install bpftrace`"
    )]
    NotInstalled,
    /// The script file could not be read.
    #[error("cannot read bpftrace script {path}: {cause}; check the path")]
    Script {
        /// The script.
        path: PathBuf,
        /// The failure.
        cause: std::io::Error,
    },
    /// The script uses kprobes, which this kernel does not have.
    #[error("bpftrace script {path} uses kprobe/kretprobe probes, but this kernel has no kprobes (no kprobe_events in tracefs): use tracepoint: or uprobe: probes instead")]
    NoKprobes {
        /// The script.
        path: PathBuf,
    },
    /// bpftrace exited before attaching its probes (the script did not compile or a probe
    /// could not attach).
    #[error("bpftrace rejected {path} (exit status {status}); fix the script:\n{message}")]
    Rejected {
        /// The script.
        path: PathBuf,
        /// bpftrace's exit status.
        status: i32,
        /// What bpftrace printed on stderr.
        message: String,
    },
    /// bpftrace did not report ready in time.
    #[error("bpftrace did not attach the probes of {path} within {seconds} s; try the script alone with `bpftrace {path}`")]
    Timeout {
        /// The script.
        path: PathBuf,
        /// How long kspan waited.
        seconds: u64,
    },
    /// Starting bpftrace or reading its output failed.
    #[error(
        "running bpftrace on {path} failed: {cause}; check that the output directory is writable"
    )]
    Io {
        /// The script.
        path: PathBuf,
        /// The failure.
        cause: std::io::Error,
    },
    /// A stored bpftrace section could not be read back.
    #[error(
        "the recording's bpftrace section is unreadable: {0}; re-record with this version of kspan"
    )]
    Stored(String),
}
