//! Test fixtures for kspan's real-kernel tests (dev-only, never published).
//!
//! The live tests of several crates need the same few things from the machine: a network
//! namespace of their own, a private ftrace instance, a scratch directory and child
//! processes. Each fixture here is a guard that removes what it made when it is dropped, so
//! a test cleans up also when it fails (panics unwind through the guards). Names carry the
//! tag the test gives, the process id and a per-process counter, so tests running in
//! parallel, in one test binary or in several, never share a namespace, an instance or a
//! directory.
//!
//! Nothing here touches the global ftrace buffer (`/sys/kernel/tracing/{tracing_on,…}`):
//! tracing fixtures work inside `instances/` only.
//!
//! Needs root for [`Netns`] and [`TraceInstance`].

#![deny(missing_docs)]

mod child;
mod command;
mod netns;
mod scratch;
mod trace_instance;

pub use child::ChildGuard;
pub use command::{ip, run};
pub use netns::Netns;
pub use scratch::Scratch;
pub use trace_instance::{kspan_instances_of, TraceInstance, TRACEFS};

/// `kspan-test-<tag>-<pid>-<n>`: a name no other fixture of any running test has.
///
/// The `kspan-test-` prefix marks leftovers as a test's (kspan's own instances are
/// `kspan-<pid>-…`, so its stale-instance sweep never takes a test's), the pid separates
/// test binaries running at once, and `n` (counting up per process) separates tests running
/// in parallel threads of one binary.
pub fn unique_name(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("kspan-test-{tag}-{}-{n}", std::process::id())
}

/// Polls `done` every 20 ms for up to `limit`; true once it held.
///
/// Why: fault tests wait for a process to end or a recorder to start, bounded so that a
/// regression fails the test instead of hanging it.
pub fn within(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    done()
}

/// Now on CLOCK_BOOTTIME in ns: the `boot` trace clock of kspan's ftrace events and BPF
/// records, for tests that compare their times with the test's own moments.
pub fn boot_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
