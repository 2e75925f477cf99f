//! One cgroup2 group per service, so that kspan can name a process's service and the
//! demo can kill every process of a service (including forked children) at once.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{io_err, Result};

/// Creates `dir` (and its parents) as a cgroup.
pub fn create(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(io_err(format!("create cgroup {}", dir.display())))
}

/// Opens `dir/cgroup.procs` for writing (a process joins by writing "0" to it).
pub fn procs_writer(dir: &Path) -> Result<File> {
    let path = dir.join("cgroup.procs");
    OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(io_err(format!("open {}", path.display())))
}

/// The pids of the processes in cgroup `dir` (empty when it does not exist).
pub fn pids(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// True while any task (thread) of any process is still in cgroup `dir` or below;
/// `cgroup.procs` can already be empty while a dying process's threads are not.
fn populated(dir: &Path) -> bool {
    fs::read_to_string(dir.join("cgroup.events"))
        .map(|events| events.lines().any(|l| l == "populated 1"))
        .unwrap_or(false)
}

/// Freezes (`true`) or thaws every process in cgroup `dir`, waiting (up to 5 s) until
/// the kernel reports the new state.
pub fn set_frozen(dir: &Path, frozen: bool) -> Result<()> {
    let file = dir.join("cgroup.freeze");
    fs::write(&file, if frozen { "1" } else { "0" })
        .map_err(io_err(format!("write {}", file.display())))?;
    let want = if frozen { "frozen 1" } else { "frozen 0" };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let events = fs::read_to_string(dir.join("cgroup.events")).unwrap_or_default();
        if events.lines().any(|l| l == want) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Kills every process in cgroup `dir` and waits (up to 5 s) until it is empty.
pub fn kill_all(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let kill = dir.join("cgroup.kill");
    File::options()
        .write(true)
        .open(&kill)
        .and_then(|mut f| f.write_all(b"1"))
        .map_err(io_err(format!("write {}", kill.display())))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while populated(dir) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Kills the processes of every cgroup under `root`, then removes them and `root`.
pub fn remove_tree(root: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(root) else {
        return Ok(());
    };
    let children: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    for dir in &children {
        kill_all(dir)?;
        fs::remove_dir(dir).map_err(io_err(format!("remove cgroup {}", dir.display())))?;
    }
    kill_all(root)?;
    fs::remove_dir(root).map_err(io_err(format!("remove cgroup {}", root.display())))
}
