//! `kspan demo` stopped by a signal (Ctrl-C, or `kill` once its terminal is gone) stops its
//! recorder and brings the whole application down: no service, namespace, cgroup or ftrace
//! instance is left. Real kernel, the demo's real stores (needs root and what
//! scripts/setup.sh installs).

use kspan_demo::Config;
use kspan_testsupport::{kspan_instances_of, ChildGuard, Scratch};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The namespace and cgroup prefix of this test's demo.
const PREFIX: &str = "kti";

/// Stops the recorder (once known) and brings down whatever this test's demo left, when
/// dropped (also when the test fails).
#[derive(Default)]
struct Down {
    recorder: Option<u32>,
}

impl Drop for Down {
    fn drop(&mut self) {
        if let Some(pid) = self.recorder.filter(|&pid| !gone(pid)) {
            // SAFETY: kill has no memory-safety preconditions; the pid is the recorder's,
            // checked running (as Ctrl-C would, it then writes its file and cleans up).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
            within(Duration::from_secs(30), || gone(pid));
        }
        let _ = kspan_demo::teardown(&Config::with_prefix(PREFIX));
    }
}

/// Polls `done` every 50 ms for up to `limit`; true once it held.
fn within(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

/// The pid in "recording into instances kspan-<pid>-…" of the demo's error output.
fn recorder_pid(stderr: &str) -> Option<u32> {
    let at =
        stderr.find("recording into instances kspan-")? + "recording into instances kspan-".len();
    stderr[at..].split('-').next()?.parse().ok()
}

/// True once process `pid` is gone (or a zombie: dead, waiting to be reaped).
fn gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state == "Z" || state == "X")
        })
        .unwrap_or(true)
}

/// The network namespaces of this test's demo.
fn namespaces() -> Vec<String> {
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{PREFIX}-")))
        .map(str::to_string)
        .collect()
}

#[test]
fn an_interrupted_demo_stops_its_recorder_and_brings_the_application_down() {
    let mut down = Down::default();
    let scratch = Scratch::new("demo-interrupt");
    let stderr = scratch.join("demo.err");
    // In a process group of its own, as when started in the background of a shell that
    // is gone: the signal reaches the demo alone, not its recorder.
    let demo = Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args([
            "demo",
            "--prefix",
            PREFIX,
            "--duration",
            "60s",
            "--rate",
            "20",
        ])
        .args(["--warmup", "0s", "--out"])
        .arg(scratch.join("out"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("kspan runs");
    let mut demo = ChildGuard::kill_on_drop(demo);
    let text = || std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(
        within(Duration::from_secs(90), || text()
            .contains("kspan demo: sending")),
        "the demo did not start its load: {}",
        text()
    );
    let recorder = recorder_pid(&text()).expect("the recorder's pid");
    down.recorder = Some(recorder);
    let cgroup = Config::with_prefix(PREFIX).cgroup_root;
    assert!(cgroup.exists() && !namespaces().is_empty(), "the app is up");
    std::thread::sleep(Duration::from_secs(1));
    // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child's.
    unsafe { libc::kill(demo.id() as libc::pid_t, libc::SIGINT) };
    assert!(
        within(Duration::from_secs(60), || demo
            .try_wait()
            .unwrap()
            .is_some()),
        "the demo still runs a minute after SIGINT: {}",
        text()
    );
    assert!(
        gone(recorder),
        "its recorder {recorder} still runs: {}",
        text()
    );
    assert_eq!(kspan_instances_of(recorder), Vec::<String>::new());
    assert_eq!(namespaces(), Vec::<String>::new(), "{}", text());
    assert!(!Path::new(&cgroup).exists(), "{} is left", cgroup.display());
    assert!(!demo.wait().unwrap().success(), "an interrupted demo fails");
}
