//! kspan-bpftrace: user-enabled events from bpftrace, beside kspan's own ftrace capture.
//!
//! - [`script`]: kspan's additions to a user's script (the traced-process map, the ready
//!   marker), injected as text so the script stays plain bpftrace.
//! - [`runner`]: starts bpftrace, waits until every probe is attached, stops it with SIGINT.
//! - [`lines`]: the output convention, `KSPAN <tid> <nsecs> <name> [key=value …]`, and
//!   bpftrace's `Lost N events` lines.
//! - [`stored`]: what a recording keeps of each run (the trace.dat option
//!   [`stored::BPFTRACE_OPTION`]).
//!
//! The user's side of it is documented in `docs/bpftrace.md`.

#![deny(missing_docs)]

pub mod error;
pub mod lines;
pub mod runner;
pub mod script;
pub mod stored;

pub use error::BpftraceError;
pub use lines::{parse_output, BpftraceEvent, ParsedOutput};
pub use runner::BpftraceRun;
pub use stored::{BpftraceRecording, ScriptOutput, BPFTRACE_OPTION};
