//! Running helper commands whose failure must fail the test.

use std::process::{Command, Output};

/// Runs `cmd` to completion and returns its output; panics, naming the command and showing
/// its error output, when it cannot start or exits unsuccessfully.
///
/// For setup steps of a test (`ip`, servers' control commands): a step that fails must stop
/// the test at once with the reason, not later with a puzzling assertion.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    out
}

/// Runs `ip ARGS…` with [`run`]: the namespace and link setup of the network fixtures.
pub fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}
