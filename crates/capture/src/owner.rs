//! A recording belongs to whoever asked for it: under `sudo` (which sets `SUDO_UID` and
//! `SUDO_GID`) the files the root recorder writes are handed to the invoking user, so that
//! `kspan analyze`, `info` and `dump` work on them without root.

use crate::error::{CaptureError, Result};
use std::path::Path;

/// The user and group that ran `sudo kspan record`, when this process runs under sudo as
/// another user than that one.
fn sudo_user() -> Option<(u32, Option<u32>)> {
    let id = |name: &str| std::env::var(name).ok()?.parse::<u32>().ok();
    let uid = id("SUDO_UID")?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    (uid != euid).then(|| (uid, id("SUDO_GID")))
}

/// Gives `path` to the user that ran `sudo` (nothing without sudo); fails with
/// [`CaptureError::Owner`] when the file system refuses.
pub fn give_to_sudo_user(path: &Path) -> Result<()> {
    let Some((uid, gid)) = sudo_user() else {
        return Ok(());
    };
    std::os::unix::fs::chown(path, Some(uid), gid).map_err(|cause| CaptureError::Owner {
        path: path.to_path_buf(),
        uid,
        cause,
    })
}
