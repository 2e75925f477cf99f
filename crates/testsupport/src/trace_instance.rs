//! A private ftrace instance.

use std::path::{Path, PathBuf};

/// Where tracefs is mounted on the test machines.
pub const TRACEFS: &str = "/sys/kernel/tracing";

/// A private ftrace instance (`instances/kspan-test-<tag>-<pid>-<n>`), with tracing off
/// until [`TraceInstance::on`]; when dropped, also on a panic, tracing and its events are
/// turned off and the instance is removed.
///
/// Why: tests that record real kernel events must neither change nor read the global buffer
/// (other tools, and other tests, use it), and must not leave an instance behind, which
/// would keep its ring buffers allocated.
#[derive(Debug)]
pub struct TraceInstance {
    name: String,
    dir: PathBuf,
}

impl TraceInstance {
    /// Creates the instance with `events` (`system/name`) enabled, tracing not yet on.
    pub fn new(tag: &str, events: &[&str]) -> TraceInstance {
        let name = crate::unique_name(tag);
        let dir = Path::new(TRACEFS).join("instances").join(&name);
        if dir.exists() {
            let _ = std::fs::remove_dir(&dir);
        }
        std::fs::create_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let inst = TraceInstance { name, dir };
        inst.write("tracing_on", "0");
        for ev in events {
            inst.write(&format!("events/{ev}/enable"), "1");
        }
        inst
    }

    /// The instance's name (what `trace-cmd -B` and trace.dat buffer names use).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The instance's directory under `instances/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `value` to the instance's `file` (e.g. `events/sched/sched_switch/filter`);
    /// panics with the path when the kernel refuses it.
    pub fn write(&self, file: &str, value: &str) {
        let p = self.dir.join(file);
        std::fs::write(&p, value).unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
    }

    /// Turns the instance's tracing on or off.
    pub fn on(&self, on: bool) {
        self.write("tracing_on", if on { "1" } else { "0" });
    }
}

/// Names of the instances of a `kspan` recorder with pid `pid` (`kspan-<pid>-…`), sorted.
///
/// Why: tests of the recorder check that its instances exist while it records and are gone
/// after it ended, however it ended.
pub fn kspan_instances_of(pid: u32) -> Vec<String> {
    let prefix = format!("kspan-{pid}-");
    let mut names: Vec<String> = std::fs::read_dir(Path::new(TRACEFS).join("instances"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    names.sort();
    names
}

/// `errno` for a resource in use.
const EBUSY: i32 = 16;

impl Drop for TraceInstance {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("tracing_on"), "0");
        let _ = std::fs::write(self.dir.join("events/enable"), "0");
        // The kernel refuses to remove an instance while something still holds it (EBUSY:
        // an event file or buffer reference being released): retry for up to a second.
        for _ in 0..100 {
            match std::fs::remove_dir(&self.dir) {
                Err(e) if e.raw_os_error() == Some(EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                _ => break,
            }
        }
    }
}
