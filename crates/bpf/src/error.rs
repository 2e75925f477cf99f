//! Errors of the BPF layer: each names the problem and the fix in one sentence.

use std::path::PathBuf;

/// Why payload-head capture could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// The kernel refused to load or attach the programs.
    #[error("loading the payload-head BPF programs failed ({0}); kspan record needs CAP_BPF and CAP_PERFMON (run it as root) and a kernel with BTF (/sys/kernel/btf/vmlinux); `--payload-bytes 0` records without heads")]
    Load(String),
    /// The kernel refused to load or attach the BPF backend's programs.
    #[error("loading the BPF backend's programs failed ({0}); `kspan record --backend bpf` needs CAP_BPF and CAP_PERFMON (run it as root), a kernel with BTF (/sys/kernel/btf/vmlinux) and BPF on tracepoints; `--backend ftrace` (the default) records without them")]
    LoadBackend(String),
    /// The traced-process map could not be updated.
    #[error("adding process {pid} to the payload-head filter failed ({cause}); `--payload-bytes 0` records without heads")]
    Filter {
        /// The process.
        pid: i32,
        /// The kernel's refusal.
        cause: String,
    },
    /// The chunk file of the heads could not be written or read.
    #[error("storing payload heads in {path} failed ({cause}); check free space in the output directory")]
    Store {
        /// The file.
        path: PathBuf,
        /// The failure.
        cause: std::io::Error,
    },
    /// Compressing the heads failed.
    #[error(transparent)]
    Heads(#[from] kspan_heads::HeadsError),
}
