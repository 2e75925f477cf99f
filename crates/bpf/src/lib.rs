//! kspan-bpf: kspan's BPF layer. Today one job: capturing the first bytes of each message
//! the traced processes send or read on TCP sockets ("payload heads"), from syscall
//! tracepoints (this project's kernels have no kprobes), beside the ftrace recording.
//!
//! - `bpf/payload.bpf.c`: the programs (compiled by `build.rs` with clang, CO-RE against the
//!   running kernel's BTF through `bpf/kernel.h`).
//! - [`programs`]: loads and attaches them through libbpf-rs, keeps the traced-process map,
//!   detaches them (dropping the links; the kernel also does when the process dies).
//! - [`drain`]: the thread that moves the ring buffer's records into compressed chunks on
//!   disk.
//! - [`record`]: one ring-buffer record → [`kspan_heads::Head`].

#![deny(missing_docs)]

pub mod drain;
pub mod error;
pub mod programs;
pub mod record;

pub use error::BpfError;
pub use programs::{HeadCapture, HeadOptions, HeadsRecorded, TracedProcesses};
