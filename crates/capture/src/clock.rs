//! The trace clock (`boot` = CLOCK_BOOTTIME) and its offset to Unix time, so that later
//! commands can print wall-clock times.

use serde::{Deserialize, Serialize};

/// The ftrace clock every recording uses.
pub const TRACE_CLOCK: &str = "boot";

/// How many back-to-back clock readings are taken; the tightest one wins.
const SAMPLES: usize = 16;

/// The offset from the boot clock to Unix time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockOffset {
    /// Add to a `boot` clock timestamp (ns) to get Unix time (ns).
    pub clock_to_unix_ns: i64,
    /// Width of the tightest BOOTTIME–REALTIME–BOOTTIME bracket: the offset's uncertainty.
    pub uncertainty_ns: u64,
}

/// Reads a clock in nanoseconds.
pub fn now_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids used here always exist.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Measures the boot→Unix offset: reads BOOTTIME, REALTIME, BOOTTIME back to back several
/// times and keeps the sample with the smallest bracket.
pub fn measure_offset() -> ClockOffset {
    (0..SAMPLES)
        .map(|_| {
            let before = now_ns(libc::CLOCK_BOOTTIME);
            let real = now_ns(libc::CLOCK_REALTIME);
            let after = now_ns(libc::CLOCK_BOOTTIME);
            ClockOffset {
                clock_to_unix_ns: real - (before + (after - before) / 2),
                uncertainty_ns: (after - before).unsigned_abs(),
            }
        })
        .min_by_key(|o| o.uncertainty_ns)
        .expect("SAMPLES > 0")
}

/// CPU time consumed so far by this process, all threads (ns): the recorder's own cost.
pub fn process_cpu_ns() -> i64 {
    now_ns(libc::CLOCK_PROCESS_CPUTIME_ID)
}
