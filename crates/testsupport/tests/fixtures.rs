//! The fixtures make what they promise and remove it on drop, also when the test panics
//! (needs root, `ip` and tracefs).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;

use kspan_testsupport::{run, ChildGuard, Netns, Scratch, TraceInstance};

/// Runs `f`, which must panic, and returns what it stored in `slot` before panicking.
fn after_panic<T>(f: impl FnOnce(&mut Option<T>)) -> T {
    let mut slot = None;
    let result = catch_unwind(AssertUnwindSafe(|| f(&mut slot)));
    assert!(result.is_err(), "the closure must panic");
    slot.expect("the closure stored its value")
}

fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

#[test]
fn netns_runs_commands_inside_and_is_deleted_on_drop_and_on_panic() {
    let ns = Netns::new("ts-netns");
    let name = ns.name().to_string();
    assert!(name.starts_with("kspan-test-ts-netns-"));
    assert!(netns_exists(&name));
    let links = run(ns.command("ip").args(["-o", "link", "show"]));
    let links = String::from_utf8_lossy(&links.stdout).into_owned();
    assert_eq!(links.lines().count(), 1, "only lo: {links}");
    assert!(links.contains("lo:") && links.contains("UP"), "{links}");
    let mut outside = Command::new("sh");
    outside.args(["-c", "echo $KSPAN_TS; ip -o link show | wc -l"]);
    outside.env("KSPAN_TS", "wrapped");
    let out = run(&mut ns.wrap(&outside));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "wrapped\n1\n");
    drop(ns);
    assert!(!netns_exists(&name));

    let name = after_panic(|slot| {
        let ns = Netns::new("ts-netns-panic");
        *slot = Some(ns.name().to_string());
        panic!("test failure");
    });
    assert!(!netns_exists(&name));
}

#[test]
fn two_fixtures_with_one_tag_get_different_names() {
    let (a, b) = (Scratch::new("ts-same"), Scratch::new("ts-same"));
    assert_ne!(a.path(), b.path());
}

#[test]
fn trace_instance_starts_off_and_is_removed_on_drop_and_on_panic() {
    let inst = TraceInstance::new("ts-inst", &["sched/sched_switch"]);
    let dir = inst.dir().to_path_buf();
    assert_eq!(dir.file_name().unwrap().to_str(), Some(inst.name()));
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
    assert_eq!(read("tracing_on"), "0\n");
    assert_eq!(read("events/sched/sched_switch/enable"), "1\n");
    inst.on(true);
    assert_eq!(read("tracing_on"), "1\n");
    drop(inst);
    assert!(!dir.exists());

    let dir: PathBuf = after_panic(|slot| {
        let inst = TraceInstance::new("ts-inst-panic", &["sched/sched_switch"]);
        inst.on(true);
        *slot = Some(inst.dir().to_path_buf());
        panic!("test failure");
    });
    assert!(!dir.exists());
}

#[test]
fn scratch_is_removed_with_its_files_and_adopted_directories_too() {
    let scratch = Scratch::new("ts-scratch");
    let dir = scratch.path().to_path_buf();
    std::fs::create_dir(scratch.join("sub")).unwrap();
    std::fs::write(scratch.join("sub/file"), "x").unwrap();
    drop(scratch);
    assert!(!dir.exists());

    let adopted = std::env::temp_dir().join(kspan_testsupport::unique_name("ts-adopt"));
    let guard = Scratch::adopt(&adopted);
    assert!(!adopted.exists(), "adopt creates nothing");
    std::fs::create_dir(&adopted).unwrap();
    drop(guard);
    assert!(!adopted.exists());
}

#[test]
fn child_guards_stop_and_reap_their_child() {
    let killed = ChildGuard::kill_on_drop(Command::new("sleep").arg("60").spawn().unwrap());
    let pid = killed.id();
    drop(killed);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "killed and reaped"
    );

    // SIGTERM: a shell trapping it writes a file before it exits.
    let scratch = Scratch::new("ts-term");
    let marker = scratch.join("terminated");
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "trap 'echo term > {}; exit 0' TERM; echo ready; while :; do sleep 0.05; done",
        marker.display()
    ));
    cmd.stdout(std::process::Stdio::piped());
    let mut term = ChildGuard::terminate_on_drop(cmd.spawn().unwrap());
    let mut ready = [0u8; 6];
    std::io::Read::read_exact(term.stdout.as_mut().unwrap(), &mut ready).unwrap();
    drop(term);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "term\n");
}
