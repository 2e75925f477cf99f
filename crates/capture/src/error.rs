//! The errors of a recording: each names the problem and how to fix it in one sentence.

use std::io;
use std::path::PathBuf;

/// Everything that can stop a recording from starting or finishing.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// tracefs (or mounting it) was refused because the caller lacks privileges.
    #[error("access to tracefs ({path}) was refused: {cause}; run kspan record as root (e.g. with sudo)")]
    NotRoot {
        /// The tracefs path that was refused.
        path: PathBuf,
        /// The refusal.
        cause: io::Error,
    },
    /// The process lacks the privileges recording needs (checked before anything starts).
    #[error("kspan record needs root, or CAP_SYS_ADMIN (or CAP_PERFMON with CAP_BPF) and write access to tracefs ({path}), but this process {lacking}; run it with sudo")]
    Unprivileged {
        /// The tracefs mount point.
        path: PathBuf,
        /// What is missing, as the end of a clause ("has none of these capabilities").
        lacking: &'static str,
    },
    /// A written trace.dat could not be handed to the user that ran sudo.
    #[error("{path} was written but cannot be given to user {uid} (SUDO_UID): {cause}; run `sudo chown {uid} {path}` to read it without root")]
    Owner {
        /// The written file.
        path: PathBuf,
        /// The invoking user.
        uid: u32,
        /// Why chown failed.
        cause: io::Error,
    },
    /// tracefs is not mounted and mounting it failed.
    #[error("tracefs is not mounted at {path} and mounting it failed: {cause}; mount it with `mount -t tracefs nodev {path}`")]
    Mount {
        /// Where tracefs was expected.
        path: PathBuf,
        /// Why the mount failed.
        cause: io::Error,
    },
    /// A tracefs file could not be read or written.
    #[error("{op} {path} failed: {cause}; check that tracefs is mounted and that this kernel has the file")]
    Tracefs {
        /// What was being done ("writing", "reading", ...).
        op: &'static str,
        /// The tracefs file.
        path: PathBuf,
        /// The failure.
        cause: io::Error,
    },
    /// An `-e` pattern matches no event of this kernel.
    #[error("unknown event `{name}`{}; list this kernel's events with `ls /sys/kernel/tracing/events/*`", did_you_mean(.suggestions))]
    UnknownEvent {
        /// The pattern as given.
        name: String,
        /// The closest existing event names, best first.
        suggestions: Vec<String>,
    },
    /// The kernel rejected a filter expression.
    #[error("the kernel rejected filter `{filter}` on {event}: {message}; fix the expression (the event's fields are listed in its `format` file)")]
    BadFilter {
        /// `system:event`.
        event: String,
        /// The filter as given.
        filter: String,
        /// The kernel's explanation (from the event's `filter` file).
        message: String,
    },
    /// A `--pid` names no live process.
    #[error("process {0} does not exist; check the pid with `ps`")]
    NoSuchProcess(i32),
    /// A `--netns` names no namespace under /run/netns.
    #[error("network namespace `{name}` does not exist ({cause}); list the namespaces with `ip netns list`")]
    NoSuchNetns {
        /// The name as given.
        name: String,
        /// Why /run/netns/NAME could not be read.
        cause: io::Error,
    },
    /// A `--cgroup` path cannot be read.
    #[error("cannot read the cgroup {path} ({cause}); give a cgroup v2 directory, e.g. /sys/fs/cgroup/system.slice/nginx.service")]
    Cgroup {
        /// The cgroup directory as given.
        path: PathBuf,
        /// Why its cgroup.procs could not be read.
        cause: io::Error,
    },
    /// The output directory cannot hold the temporary per-CPU files.
    #[error(
        "cannot write in the output directory {dir} ({cause}); choose a writable place with -o"
    )]
    OutputDir {
        /// The directory.
        dir: PathBuf,
        /// The failure.
        cause: io::Error,
    },
    /// The traced command could not be started.
    #[error("cannot start `{command}` ({cause}); check the command name and PATH")]
    Spawn {
        /// The program name.
        command: String,
        /// The failure.
        cause: io::Error,
    },
    /// Reading the ring buffer or writing a temporary file failed.
    #[error(
        "moving trace data from {path} failed: {cause}; check free space in the output directory"
    )]
    Drain {
        /// The file being read or written.
        path: PathBuf,
        /// The failure.
        cause: io::Error,
    },
    /// The file system of the output directory filled up while recording.
    #[error("the file system holding {dir} is full, so kspan stopped recording and kept what it had recorded in that directory; free space there and run `kspan record --cleanup-only` with the same -o to turn it into a trace.dat")]
    DiskFull {
        /// The recording's temporary directory, kept with its page files.
        dir: PathBuf,
    },
    /// An instance of the recording stopped being reachable through tracefs while it ran.
    #[error("kspan stopped recording because its ftrace instance {name} vanished from {root} (tracefs was unmounted, or the instance removed, by another program); it switched tracing off, removed the instance and wrote what it had recorded until then to {output}; keep tracefs mounted at {root} while recording and record again")]
    InstanceGone {
        /// The instance's name.
        name: String,
        /// The tracefs mount point.
        root: PathBuf,
        /// The trace.dat written with the events up to then.
        output: PathBuf,
    },
    /// The trace.dat writer failed.
    #[error("writing {path} failed: {message}; check free space and permissions there")]
    Write {
        /// The output file.
        path: PathBuf,
        /// The writer's explanation.
        message: String,
    },
    /// Nothing to trace was given.
    #[error("nothing to trace: give a command after `--`, or --pid, --cgroup, --netns or --all")]
    NoTarget,
    /// The kspan metadata is not valid JSON of a known version.
    #[error("the kspan metadata is unreadable ({0}); the file was not written by a compatible `kspan record`")]
    Meta(String),
    /// The BPF backend was asked for where it cannot record.
    #[error("--backend bpf records the socket syscalls of the default or full event set into the trace.dat: it works with `kspan record` only (not `kspan live`, which reads ftrace's pages as they come) and not with --no-default-events; use --backend ftrace there")]
    BpfBackend,
    /// A `--bpftrace` script could not be run (its message names the fix).
    #[error(transparent)]
    Bpftrace(#[from] kspan_bpftrace::BpftraceError),
    /// Payload-head capture could not start or finish (its message names the fix).
    #[error(transparent)]
    Heads(#[from] kspan_bpf::BpfError),
}

/// Formats the "did you mean" part of [`CaptureError::UnknownEvent`].
fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", suggestions.join(", "))
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, CaptureError>;
