//! What `kspan record` needs from the system, checked before it touches anything: root or
//! the capabilities that tracing and BPF take (CAP_SYS_ADMIN, or CAP_PERFMON with CAP_BPF),
//! and write access to tracefs. Without it the recorder stops with one sentence instead of
//! failing later on whichever tracefs file it happened to touch first.

use crate::error::{CaptureError, Result};
use std::ffi::CString;
use std::io;
use std::path::Path;

/// Bit of CAP_SYS_ADMIN in the capability sets.
const CAP_SYS_ADMIN: u32 = 21;
/// Bit of CAP_PERFMON.
const CAP_PERFMON: u32 = 38;
/// Bit of CAP_BPF.
const CAP_BPF: u32 = 39;

/// Fails with [`CaptureError::Unprivileged`] when this process can neither trace nor load
/// BPF programs, or cannot write into tracefs at `tracefs_root` (an unmounted tracefs is
/// left to [`crate::tracefs::ensure_mounted`]).
pub fn check(tracefs_root: &Path) -> Result<()> {
    let caps = effective_capabilities();
    let has = |bit: u32| caps & (1u64 << bit) != 0;
    let lacking = if !(has(CAP_SYS_ADMIN) || (has(CAP_PERFMON) && has(CAP_BPF))) {
        Some("has none of these capabilities")
    } else if !tracefs_writable(tracefs_root) {
        Some("cannot write into tracefs")
    } else {
        None
    };
    match lacking {
        Some(lacking) => Err(CaptureError::Unprivileged {
            path: tracefs_root.to_path_buf(),
            lacking,
        }),
        None => Ok(()),
    }
}

/// The effective capability set of this process (`CapEff` of /proc/self/status); none
/// when it cannot be read.
fn effective_capabilities() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// Whether this process (its effective ids) may create instances under `tracefs_root`;
/// true when tracefs is not mounted there yet.
fn tracefs_writable(tracefs_root: &Path) -> bool {
    let instances = tracefs_root.join("instances");
    let Ok(path) = CString::new(instances.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::W_OK | libc::X_OK,
            libc::AT_EACCESS,
        )
    };
    rc == 0 || io::Error::last_os_error().kind() == io::ErrorKind::NotFound
}
