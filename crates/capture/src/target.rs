//! What to trace: a command, pids, cgroups, network namespaces or everything, resolved to
//! the processes to put into the instance's `set_event_pid` (whose `event-fork` option
//! then follows every descendant).

use crate::error::{CaptureError, Result};
use crate::procfs;
use serde::{Deserialize, Serialize};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The processes a recording follows, besides a command it starts itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSpec {
    /// `--pid`: these processes, their threads and descendants.
    pub pids: Vec<i32>,
    /// `--cgroup`: every process in these cgroup v2 directories (and their sub-cgroups).
    pub cgroups: Vec<PathBuf>,
    /// `--netns`: every process inside these `ip netns` namespaces.
    pub netns: Vec<String>,
    /// `--all`: every task, no pid filter.
    pub all: bool,
}

impl TargetSpec {
    /// Checks that every named pid, cgroup and namespace exists.
    pub fn validate(&self) -> Result<()> {
        if let Some(&pid) = self.pids.iter().find(|&&p| !procfs::exists(p)) {
            return Err(CaptureError::NoSuchProcess(pid));
        }
        for name in &self.netns {
            netns_inode(name)?;
        }
        for dir in &self.cgroups {
            cgroup_procs(dir)?;
        }
        Ok(())
    }

    /// One line describing the target, for the summary and the metadata.
    pub fn describe(&self, command: &[String]) -> String {
        let mut parts = Vec::new();
        if !command.is_empty() {
            parts.push(format!("command `{}`", command.join(" ")));
        }
        parts.extend(self.pids.iter().map(|p| format!("pid {p}")));
        parts.extend(
            self.cgroups
                .iter()
                .map(|c| format!("cgroup {}", c.display())),
        );
        parts.extend(self.netns.iter().map(|n| format!("netns {n}")));
        if self.all {
            parts.push("all tasks".to_string());
        }
        parts.join(", ")
    }

    /// The processes (thread-group ids) the target covers right now, sorted. `--pid`
    /// includes descendants; namespaces and cgroups include everything inside them.
    pub fn current_processes(&self) -> Result<Vec<i32>> {
        let mut pids = procfs::with_descendants(&self.pids);
        let inodes = self
            .netns
            .iter()
            .map(|n| netns_inode(n))
            .collect::<Result<Vec<u64>>>()?;
        if !inodes.is_empty() {
            pids.extend(
                procfs::all_pids()
                    .into_iter()
                    .filter(|&p| procfs::netns_inode(p).is_some_and(|ino| inodes.contains(&ino))),
            );
        }
        for dir in &self.cgroups {
            pids.extend(cgroup_procs(dir)?);
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }
}

/// The inode of the namespace `ip netns` calls `name`.
pub fn netns_inode(name: &str) -> Result<u64> {
    fs::metadata(Path::new("/run/netns").join(name))
        .map(|m| m.ino())
        .map_err(|source| CaptureError::NoSuchNetns {
            name: name.to_string(),
            cause: source,
        })
}

/// Every process in a cgroup directory and its sub-cgroups.
fn cgroup_procs(dir: &Path) -> Result<Vec<i32>> {
    let procs = dir.join("cgroup.procs");
    let text = fs::read_to_string(&procs).map_err(|source| CaptureError::Cgroup {
        path: dir.to_path_buf(),
        cause: source,
    })?;
    let mut pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    for sub in fs::read_dir(dir).into_iter().flatten().flatten() {
        if sub.path().join("cgroup.procs").is_file() {
            pids.extend(cgroup_procs(&sub.path())?);
        }
    }
    Ok(pids)
}
