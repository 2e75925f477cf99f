//! `kspan demo` stopped by a signal (Ctrl-C, `kill`, its terminal closed) stops its
//! recorder and brings the whole application down: no service, namespace, cgroup or ftrace
//! instance is left. Real kernel, the demo's real stores (needs root and what
//! scripts/setup.sh installs).

use kspan_capture::tracefs::process_gone;
use kspan_demo::Config;
use kspan_testsupport::{kspan_instances_of, within, ChildGuard, Scratch};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One demo at a time: each brings up a dozen processes on a shared machine.
static ONE_DEMO_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Stops the recorder (once known) and brings down whatever the demo with namespace and
/// cgroup prefix `prefix` left, when dropped (also when the test fails).
struct Down {
    prefix: &'static str,
    recorder: Option<u32>,
}

impl Drop for Down {
    fn drop(&mut self) {
        if let Some(pid) = self.recorder.filter(|&pid| !process_gone(pid as i32)) {
            // SAFETY: kill has no memory-safety preconditions; the pid is the recorder's,
            // checked running (as Ctrl-C would, it then writes its file and cleans up).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
            within(Duration::from_secs(30), || process_gone(pid as i32));
        }
        let _ = kspan_demo::teardown(&Config::with_prefix(self.prefix));
    }
}

/// The pid in "recording into instances kspan-<pid>-…" of the demo's error output.
fn recorder_pid(stderr: &str) -> Option<u32> {
    let at =
        stderr.find("recording into instances kspan-")? + "recording into instances kspan-".len();
    stderr[at..].split('-').next()?.parse().ok()
}

/// The network namespaces of the demo with prefix `prefix`.
fn namespaces(prefix: &str) -> Vec<String> {
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .map(str::to_string)
        .collect()
}

/// Runs a demo with `prefix` under load, sends it `signal`, and checks that it stopped its
/// recorder and brought everything down.
fn interrupted_demo_leaves_nothing(prefix: &'static str, signal: libc::c_int) {
    let _turn = ONE_DEMO_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut down = Down {
        prefix,
        recorder: None,
    };
    let scratch = Scratch::new(&format!("demo-{prefix}"));
    let stderr = scratch.join("demo.err");
    // In a process group of its own, as when started in the background of a shell that
    // is gone: the signal reaches the demo alone, not its recorder.
    let demo = Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args([
            "demo",
            "--prefix",
            prefix,
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
    let cgroup = Config::with_prefix(prefix).cgroup_root;
    assert!(
        cgroup.exists() && !namespaces(prefix).is_empty(),
        "the app is up"
    );
    std::thread::sleep(Duration::from_secs(1));
    // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child's.
    unsafe { libc::kill(demo.id() as libc::pid_t, signal) };
    assert!(
        within(Duration::from_secs(60), || demo
            .try_wait()
            .unwrap()
            .is_some()),
        "the demo still runs a minute after signal {signal}: {}",
        text()
    );
    assert!(
        process_gone(recorder as i32),
        "its recorder {recorder} still runs: {}",
        text()
    );
    assert_eq!(kspan_instances_of(recorder), Vec::<String>::new());
    assert_eq!(namespaces(prefix), Vec::<String>::new(), "{}", text());
    assert!(!Path::new(&cgroup).exists(), "{} is left", cgroup.display());
    assert!(!demo.wait().unwrap().success(), "an interrupted demo fails");
}

#[test]
fn an_interrupted_demo_stops_its_recorder_and_brings_the_application_down() {
    interrupted_demo_leaves_nothing("kti", libc::SIGINT);
}

#[test]
fn a_demo_whose_terminal_closed_stops_its_recorder_and_brings_the_application_down() {
    interrupted_demo_leaves_nothing("ktj", libc::SIGHUP);
}
