//! Bad requests fail with one clear sentence, and leave no instance and no temporary file.

mod common;

use common::*;
use kspan_capture::{EventRequest, RecordOptions, Recording, TargetSpec, TRACEFS_ROOT};
use std::path::PathBuf;

fn options(scratch: &Scratch) -> RecordOptions {
    RecordOptions {
        targets: TargetSpec {
            pids: vec![std::process::id() as i32],
            ..TargetSpec::default()
        },
        event_set: kspan_capture::EventSet::Default,
        temp_parent: scratch.path().to_path_buf(),
        tracefs_root: TRACEFS_ROOT.into(),
        ..RecordOptions::default()
    }
}

fn error_of(options: RecordOptions) -> String {
    let err = Recording::start(options)
        .err()
        .expect("the recording must not start");
    assert_eq!(
        instances_of(std::process::id()),
        Vec::<String>::new(),
        "instances removed after: {err}"
    );
    err.to_string()
}

/// One test, so that no other recording of this process runs while instances are checked.
#[test]
fn bad_requests_fail_with_one_clear_sentence_and_clean_up() {
    let scratch = Scratch::new("capture-errors");

    let mut o = options(&scratch);
    o.events = vec![EventRequest::user("sched:sched_swich", None)];
    assert_eq!(
        error_of(o),
        "unknown event `sched:sched_swich` (did you mean sched:sched_switch, sched:sched_waking?); \
         list this kernel's events with `ls /sys/kernel/tracing/events/*`"
    );

    let mut o = options(&scratch);
    o.events = vec![EventRequest::user(
        "block:block_rq_issue",
        Some("nosuch > 1"),
    )];
    assert_eq!(
        error_of(o),
        "the kernel rejected filter `nosuch > 1` on block:block_rq_issue: Field not found at \
         column 8; fix the expression (the event's fields are listed in its `format` file)"
    );

    let mut o = options(&scratch);
    o.targets.pids = vec![999_999_999];
    assert_eq!(
        error_of(o),
        "process 999999999 does not exist; check the pid with `ps`"
    );

    let mut o = options(&scratch);
    o.targets = TargetSpec::default();
    assert_eq!(
        error_of(o),
        "nothing to trace: give a command after `--`, or --pid, --cgroup, --netns or --all"
    );

    let mut o = options(&scratch);
    o.targets.netns = vec!["kspan-no-such-ns".into()];
    assert_eq!(
        error_of(o),
        "network namespace `kspan-no-such-ns` does not exist (No such file or directory (os error 2)); \
         list the namespaces with `ip netns list`"
    );

    let mut o = options(&scratch);
    o.temp_parent = PathBuf::from("/proc/sys");
    let message = error_of(o);
    assert!(
        message.starts_with("cannot write in the output directory /proc/sys (")
            && message.ends_with("); choose a writable place with -o"),
        "{message}"
    );

    let mut o = options(&scratch);
    o.command = vec!["/nonexistent/kspan-no-such-program".into()];
    assert_eq!(
        error_of(o),
        "cannot start `/nonexistent/kspan-no-such-program` (No such file or directory (os error \
         2)); check the command name and PATH"
    );

    let leftovers: Vec<_> = std::fs::read_dir(scratch.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}
