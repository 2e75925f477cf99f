//! A missing bpftrace says how to install it. Its own test binary: it changes PATH.

use kspan_bpftrace::BpftraceRun;
use kspan_testsupport::Scratch;
use std::path::Path;

#[test]
fn a_missing_bpftrace_says_how_to_install_it() {
    let scratch = Scratch::new("bt-missing");
    let dir = scratch.path();
    let path = dir.join("user.bt");
    std::fs::write(&path, "BEGIN { }\n").unwrap();
    // The only test of this binary: no other thread reads the environment.
    std::env::set_var("PATH", "/nonexistent");
    let err = BpftraceRun::start(&path, &[1], dir, Path::new("/sys/kernel/tracing")).unwrap_err();
    let leftovers = std::fs::read_dir(dir).unwrap().count();
    drop(scratch);
    assert_eq!(
        err.to_string(),
        "bpftrace is not installed (or not on PATH): install it with `apt-get install bpftrace`"
    );
    assert_eq!(leftovers, 1);
}
