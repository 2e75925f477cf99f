//! Nothing lost when the recorder dies: after a SIGKILL of `kspan record` its guardian
//! removes its ftrace instances within a second and salvages what it recorded (up to the
//! events its buffers held when tracing was switched off) into a readable trace.dat beside
//! the requested file; when the guardian was killed too, the
//! next `kspan record` does both on its first run. Real kernel, the built `kspan` binary
//! (needs root and tracefs).

use kspan_testsupport::{kspan_instances_of as instances_of, ChildGuard, Scratch, TRACEFS};
use kspan_tracedat::TraceFile;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Polls `done` every 10 ms until it holds or `limit` passed; returns the time it took.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done().then(|| start.elapsed())
}

/// The command line of process `pid` (arguments joined by spaces), empty once it is gone.
fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// The children of process `pid`.
fn children(pid: u32) -> Vec<i32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// A running `kspan record -- COMMAND` and what it started; on drop (also when the test
/// fails) kills the processes it started that are still there and removes its instances.
struct Recorder {
    child: ChildGuard,
    /// (pid, command line) of the traced command and of the guardian.
    started: Vec<(i32, String)>,
    stderr: PathBuf,
}

impl Recorder {
    /// Starts the recorder of `command` writing `dir/kill.dat` and waits until it records.
    fn start(dir: &Path, command: &[&str]) -> Recorder {
        let stderr = dir.join("record.err");
        // The exec events, which the default set leaves out, show what was salvaged.
        let child = Command::new(env!("CARGO_BIN_EXE_kspan"))
            .args([
                "record",
                "-o",
                "kill.dat",
                "-e",
                "sched:sched_process_exec",
                "--",
            ])
            .args(command)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("kspan runs");
        let mut recorder = Recorder {
            child: ChildGuard::kill_on_drop(child),
            started: Vec::new(),
            stderr,
        };
        let pid = recorder.pid();
        // Until the traced command has run its exec (before, its command line is the
        // recorder's) and the guardian is there.
        let recording = wait_until(Duration::from_secs(20), || {
            let lines: Vec<String> = children(pid).into_iter().map(cmdline).collect();
            instances_of(pid).len() == 2
                && lines.iter().any(|l| l.starts_with(command[0]))
                && lines.iter().any(|l| l.contains(" guard "))
        });
        recorder.started = children(pid).into_iter().map(|p| (p, cmdline(p))).collect();
        assert!(
            recording.is_some(),
            "the recorder did not start: {}",
            recorder.stderr()
        );
        recorder
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The started process whose command line contains `what`.
    fn started(&self, what: &str) -> i32 {
        self.started
            .iter()
            .find(|(_, c)| c.contains(what))
            .unwrap_or_else(|| panic!("no child `{what}` in {:?}", self.started))
            .0
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        for (pid, line) in &self.started {
            // Only while the pid still runs the same command (not a reused pid).
            if cmdline(*pid) == *line {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
        }
        for name in instances_of(self.pid()) {
            let dir = Path::new(TRACEFS).join("instances").join(name);
            let _ = std::fs::write(dir.join("tracing_on"), "0");
            let _ = wait_until(Duration::from_secs(2), || std::fs::remove_dir(&dir).is_ok());
        }
    }
}

fn sigkill(pid: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
}

/// Events in `path`, how many of them are `sched_process_exec` of thread `tid`, and the
/// last one's timestamp.
fn events_of(path: &Path, tid: i32) -> (u64, u64, u64) {
    let file = TraceFile::open(path).expect("the salvaged file is readable");
    let mut events = file.events();
    let (mut all, mut exec, mut last) = (0, 0, 0);
    while let Some(rec) = events.next_event().expect("whole pages only") {
        all += 1;
        let is_exec = rec.format.is_some_and(|f| f.name == "sched_process_exec");
        exec += u64::from(is_exec && rec.pid() == tid);
        last = last.max(rec.timestamp);
    }
    (all, exec, last)
}

/// Now on CLOCK_BOOTTIME, the recordings' trace clock (ns).
fn boot_ns() -> u64 {
    kspan_capture::clock::now_ns(libc::CLOCK_BOOTTIME) as u64
}

/// A traced command that makes events until it is killed.
const BUSY: [&str; 3] = [
    "sh",
    "-c",
    "while :; do cat /proc/version > /dev/null; done",
];

/// A scratch directory with a recorder of `command` in it that recorded for `secs`, its
/// pid and the traced command's.
fn recorded_for(tag: &str, command: &[&str], secs: f64) -> (Scratch, Recorder, u32, i32) {
    let scratch = Scratch::new(tag);
    let recorder = Recorder::start(scratch.path(), command);
    let (pid, traced) = (recorder.pid(), recorder.started(&command.join(" ")));
    std::thread::sleep(Duration::from_secs_f64(secs));
    (scratch, recorder, pid, traced)
}

#[test]
fn sigkill_of_the_recorder_leaves_no_instance_and_keeps_its_data() {
    let (scratch, mut recorder, pid, traced) = recorded_for("crash-kill", &BUSY, 2.0);
    let guardian = recorder.started(" guard ");
    let killed_at = boot_ns();
    sigkill(pid as i32);
    // The guardian drains the kernel's buffers into the salvaged file first: on a loaded
    // 2-core machine (tests in parallel) that took over 1 s once.
    let gone = wait_until(Duration::from_secs(5), || instances_of(pid).is_empty());
    assert!(
        gone.is_some(),
        "instances {:?} still there 5 s after the SIGKILL",
        instances_of(pid)
    );
    recorder.child.wait().unwrap();
    let salvaged = scratch.join(format!("kill-salvaged-{pid}.dat"));
    let guardian_done = wait_until(Duration::from_secs(10), || cmdline(guardian).is_empty());
    assert!(guardian_done.is_some(), "the guardian is still running");
    let message = recorder.stderr();
    assert!(
        message.contains(&format!("is kept as ./kill-salvaged-{pid}.dat")),
        "{message}"
    );
    let (all, exec, last) = events_of(&salvaged, traced);
    assert_eq!(exec, 1, "the traced command's exec is in the salvaged file");
    assert!(all > 1000, "{all} events");
    assert!(
        last > killed_at,
        "events after the kill, still in the kernel's buffers then, are in the file too: \
         last at {last}, kill at {killed_at}; {message}"
    );
    let left: Vec<String> = std::fs::read_dir(scratch.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".kspan-"))
        .collect();
    assert_eq!(
        left,
        Vec::<String>::new(),
        "the temporary directory is gone"
    );
}

#[test]
fn the_first_rerun_cleans_up_after_a_recorder_killed_with_its_guardian() {
    let (scratch, mut recorder, pid, sleep) = recorded_for("crash-rerun", &["sleep", "30"], 1.5);
    sigkill(recorder.started(" guard "));
    sigkill(pid as i32);
    recorder.child.wait().unwrap();
    assert_eq!(
        instances_of(pid).len(),
        2,
        "no guardian left to remove them"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args(["record", "-o", "again.dat", "--", "true"])
        .current_dir(scratch.path())
        .output()
        .expect("kspan runs");
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{message}");
    assert_eq!(instances_of(pid), Vec::<String>::new(), "{message}");
    assert!(
        message.contains(&format!("is kept as ./kill-salvaged-{pid}.dat")),
        "{message}"
    );
    let (_, exec, _) = events_of(&scratch.join(format!("kill-salvaged-{pid}.dat")), sleep);
    assert_eq!(exec, 1);
}
