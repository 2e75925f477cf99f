//! Small readers of /proc: processes, their threads, parents, namespaces and cgroups.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Every live process id.
pub fn all_pids() -> Vec<i32> {
    let mut pids: Vec<i32> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

/// True when a process (or thread) with this id exists.
pub fn exists(pid: i32) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// The thread ids of a process (empty when it is gone).
pub fn threads(pid: i32) -> Vec<i32> {
    let mut tids: Vec<i32> = fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    tids
}

/// The parent pid of a process, from /proc/PID/stat (the field after the `(comm)`).
pub fn parent(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// `roots` and all their descendant processes, sorted.
pub fn with_descendants(roots: &[i32]) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = all_pids()
        .into_iter()
        .filter_map(|p| Some((p, parent(p)?)))
        .collect();
    let mut found: Vec<i32> = roots.to_vec();
    let mut i = 0;
    while i < found.len() {
        let current = found[i];
        for &(child, _) in parents.iter().filter(|(_, pp)| *pp == current) {
            if !found.contains(&child) {
                found.push(child);
            }
        }
        i += 1;
    }
    found.sort_unstable();
    found
}

/// A thread's or process's comm (empty when gone).
pub fn comm(path_prefix: &str) -> String {
    fs::read_to_string(format!("{path_prefix}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

/// A process's command line, split at NULs.
pub fn cmdline(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A process's cgroup v2 path (the `0::` line of /proc/PID/cgroup).
pub fn cgroup(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        })
        .unwrap_or_default()
}

/// The inode of a process's network namespace.
pub fn netns_inode(pid: i32) -> Option<u64> {
    fs::metadata(format!("/proc/{pid}/ns/net"))
        .ok()
        .map(|m| m.ino())
}

/// `(name, inode)` of every namespace under /run/netns (created by `ip netns add`).
pub fn named_netns() -> Vec<(String, u64)> {
    fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let ino = fs::metadata(e.path()).ok()?.ino();
            Some((e.file_name().to_string_lossy().into_owned(), ino))
        })
        .collect()
}

/// Socket inodes held open by a process (from the `socket:[N]` links in /proc/PID/fd).
pub fn socket_inodes(pid: i32) -> Vec<u64> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let link = fs::read_link(e.path()).ok()?;
            let link = link.to_str()?;
            link.strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}
