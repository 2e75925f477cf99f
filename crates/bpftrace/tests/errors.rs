//! bpftrace's refusals become clear errors (needs root and bpftrace).

use kspan_bpftrace::{BpftraceError, BpftraceRun};
use kspan_testsupport::Scratch;
use std::path::{Path, PathBuf};

/// Writes the user's script `user.bt` into `scratch`.
fn script(scratch: &Scratch, text: &str) -> PathBuf {
    let path = scratch.join("user.bt");
    std::fs::write(&path, text).unwrap();
    path
}

/// Files left in the directory (kspan's temporary files must be gone).
fn leftovers(scratch: &Scratch) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "user.bt")
        .collect();
    names.sort();
    names
}

const TRACEFS: &str = "/sys/kernel/tracing";

#[test]
fn a_script_that_does_not_compile_shows_bpftraces_message_with_the_users_path() {
    let scratch = Scratch::new("bt-err-syntax");
    let path = script(
        &scratch,
        "tracepoint:syscalls:sys_enter_getpid {\n  @x = nope(1);\n}\n",
    );
    let err = BpftraceRun::start(&path, &[1], scratch.path(), Path::new(TRACEFS)).unwrap_err();
    let BpftraceError::Rejected {
        status, message, ..
    } = &err
    else {
        panic!("expected a rejected script, got {err:?}");
    };
    assert_eq!(*status, 1);
    assert_eq!(
        message,
        &format!(
            "{}:2:8-12: ERROR: Unknown function: nope\n  @x = nope(1);\n       ~~~~",
            path.display()
        )
    );
    assert!(err.to_string().starts_with(&format!(
        "bpftrace rejected {} (exit status 1); fix the script:\n",
        path.display()
    )));
    assert_eq!(leftovers(&scratch), Vec::<String>::new());
}

#[test]
fn kprobes_are_refused_with_the_reason() {
    let scratch = Scratch::new("bt-err-kprobe");
    let path = script(&scratch, "kprobe:tcp_sendmsg { printf(\"x\\n\"); }\n");
    let err = BpftraceRun::start(&path, &[1], scratch.path(), Path::new(TRACEFS)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "bpftrace script {} uses kprobe/kretprobe probes, but this kernel has no kprobes (no \
             kprobe_events in tracefs): use tracepoint: or uprobe: probes instead",
            path.display()
        )
    );
}

#[test]
fn a_running_script_is_ready_then_stops_with_its_output() {
    let scratch = Scratch::new("bt-err-run");
    let me = std::process::id() as i32;
    let path = script(
        &scratch,
        "BEGIN { @n = 0; }\n\
         tracepoint:syscalls:sys_enter_getppid /@kspan_pids[pid]/ \
         { printf(\"KSPAN %d %llu getppid\\n\", tid, nsecs); }\n",
    );
    let run = BpftraceRun::start(&path, &[me], scratch.path(), Path::new(TRACEFS)).unwrap();
    for _ in 0..3 {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() };
    }
    let output = run.stop().unwrap();
    let parsed = output.parse();
    let names: Vec<&str> = parsed.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, vec!["getppid"; 3]);
    assert_eq!(
        (parsed.lost, parsed.malformed, output.exit_status),
        (0, 0, 0)
    );
    assert_eq!(leftovers(&scratch), Vec::<String>::new());
}
