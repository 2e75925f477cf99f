//! kspan-bpf: kspan's BPF layer, on tracepoints (this project's kernels have no kprobes).
//! Two jobs: capturing the first bytes of each message the traced processes send or read
//! on TCP sockets ("payload heads") beside the ftrace recording, and the BPF backend of
//! `kspan record --backend bpf`: one compact record per socket syscall instead of its
//! ftrace entry, socket event and exit (with the heads read by the same programs).
//!
//! - `bpf/payload.bpf.c`: the programs (compiled by `build.rs` with clang, CO-RE against the
//!   running kernel's BTF through `bpf/kernel.h`).
//! - `bpf/calls.bpf.c` and [`calls`]: the BPF backend's programs and their loader.
//! - [`programs`]: loads and attaches them through libbpf-rs, keeps the traced-process map,
//!   detaches them (dropping the links; the kernel also does when the process dies).
//! - [`drain`]: the thread that moves the ring buffer's records into compressed chunks on
//!   disk.
//! - [`record`]: one ring-buffer record → [`kspan_heads::Head`].

#![deny(missing_docs)]

pub mod calls;
pub mod drain;
pub mod error;
pub mod programs;
pub mod record;

pub use calls::{CallCapture, CallOptions, CallsRecorded};
pub use error::BpfError;
pub use programs::{HeadCapture, HeadOptions, HeadsRecorded, Programs, TracedProcesses};
