//! Starting a process inside a host's network namespace and its service's cgroup, with
//! its output going to a log file.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::cgroup;
use crate::error::{io_err, Result};
use crate::netns;

/// Spawns `cmd` in network namespace `ns` and cgroup `cgroup_dir`, stdout and stderr to `log`.
pub fn spawn(mut cmd: Command, ns: &str, cgroup_dir: &Path, log: &Path) -> Result<Child> {
    let ns_file = netns::open(ns)?;
    let procs = cgroup::procs_writer(cgroup_dir)?;
    let out = File::create(log).map_err(io_err(format!("create {}", log.display())))?;
    let err = out
        .try_clone()
        .map_err(io_err(format!("duplicate {}", log.display())))?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let (ns_fd, procs_fd) = (ns_file.as_raw_fd(), procs.as_raw_fd());
    // SAFETY: the hook runs in the forked child before exec. It only makes two
    // async-signal-safe system calls on descriptors that `ns_file` and `procs` keep open
    // until `spawn` returns, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(ns_fd, libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::write(procs_fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.spawn()
        .map_err(io_err(format!("start {program} in {ns}")))
}

/// The last lines of a log file, for error messages.
pub fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}
