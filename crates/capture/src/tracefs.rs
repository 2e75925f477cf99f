//! Private ftrace instances: creation, file access, and removal (also of instances left
//! behind by a killed recorder). The global buffer and foreign instances are never touched.

use crate::error::{CaptureError, Result};
use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Where tracefs is mounted on current kernels.
pub const TRACEFS_ROOT: &str = "/sys/kernel/tracing";

/// Prefix of every instance kspan creates: `kspan-<recorder pid>-<n>[-net]`.
pub const INSTANCE_PREFIX: &str = "kspan-";

/// Mounts tracefs at `root` unless it is already mounted there.
pub fn ensure_mounted(root: &Path) -> Result<()> {
    let instances = root.join("instances");
    match fs::metadata(&instances) {
        Ok(m) if m.is_dir() => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(tracefs_error("reading", &instances, e))
        }
        _ => {}
    }
    let c = |s: &str| CString::new(s).expect("static string without NUL");
    let target =
        CString::new(root.as_os_str().as_encoded_bytes()).map_err(|e| CaptureError::Mount {
            path: root.to_path_buf(),
            cause: io::Error::new(io::ErrorKind::InvalidInput, e),
        })?;
    let (source, fstype) = (c("nodev"), c("tracefs"));
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the call; no data.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let cause = io::Error::last_os_error();
        if cause.raw_os_error() == Some(libc::EPERM) {
            return Err(CaptureError::NotRoot {
                path: root.to_path_buf(),
                cause,
            });
        }
        return Err(CaptureError::Mount {
            path: root.to_path_buf(),
            cause,
        });
    }
    Ok(())
}

/// Maps a tracefs I/O failure to the right error: permission problems become
/// [`CaptureError::NotRoot`].
pub fn tracefs_error(op: &'static str, path: &Path, source: io::Error) -> CaptureError {
    match source.kind() {
        io::ErrorKind::PermissionDenied => CaptureError::NotRoot {
            path: path.to_path_buf(),
            cause: source,
        },
        _ => CaptureError::Tracefs {
            op,
            path: path.to_path_buf(),
            cause: source,
        },
    }
}

/// Reads a tracefs file as text. The first read gets a large buffer: some files
/// (`events/header_page`) return their whole content on the first read and nothing after,
/// so a small first read would truncate them.
pub fn read_text(path: &Path) -> Result<String> {
    let mut bytes = Vec::with_capacity(64 * 1024);
    fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| tracefs_error("reading", path, e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Writes `value` to a tracefs file without truncating it (pid lists append).
pub fn write_text(path: &Path, value: &str) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| tracefs_error("opening", path, e))?;
    file.write_all(value.as_bytes())
        .map_err(|e| tracefs_error("writing", path, e))
}

/// One ftrace instance owned by this process; removed (with its buffers) on drop.
///
/// It keeps its directory and the `instances` directory open and reaches its files
/// through them, so that it can still switch tracing off, read its statistics and remove
/// itself after tracefs was unmounted (lazily) under the recorder; [`Instance::reachable`]
/// tells whether its path still leads to it.
#[derive(Debug)]
pub struct Instance {
    dir: PathBuf,
    opened: fs::File,
    parent: fs::File,
}

impl Instance {
    /// Creates a fresh instance `<prefix><pid>-<n><suffix>` under `root/instances`, with
    /// tracing off. `suffix` distinguishes sibling instances of one recording.
    pub fn create(root: &Path, serial: u32, suffix: &str) -> Result<Instance> {
        let dir = instance_dir(root, std::process::id(), serial, suffix);
        let parent_dir = root.join("instances");
        let parent = open_dir(&parent_dir).map_err(|e| tracefs_error("opening", &parent_dir, e))?;
        fs::create_dir(&dir).map_err(|e| tracefs_error("creating instance", &dir, e))?;
        let opened = match open_dir(&dir) {
            Ok(opened) => opened,
            Err(e) => {
                let _ = fs::remove_dir(&dir);
                return Err(tracefs_error("opening", &dir, e));
            }
        };
        let instance = Instance {
            dir,
            opened,
            parent,
        };
        instance.write("tracing_on", "0")?;
        Ok(instance)
    }

    /// The instance's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The instance's name (its directory's name).
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Writes `value` to the instance file `rel`.
    pub fn write(&self, rel: &str, value: &str) -> Result<()> {
        let path = self.dir.join(rel);
        let mut file = open_at(&self.opened, rel, libc::O_WRONLY)
            .map_err(|e| tracefs_error("opening", &path, e))?;
        file.write_all(value.as_bytes())
            .map_err(|e| tracefs_error("writing", &path, e))
    }

    /// Reads the instance file `rel`.
    pub fn read(&self, rel: &str) -> Result<String> {
        let path = self.dir.join(rel);
        let mut bytes = Vec::with_capacity(64 * 1024);
        open_at(&self.opened, rel, libc::O_RDONLY)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| tracefs_error("reading", &path, e))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// True while the instance's path leads to this instance: false once tracefs was
    /// unmounted there or the instance removed by another program.
    pub fn reachable(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (fs::metadata(&self.dir), self.opened.metadata()) {
            (Ok(now), Ok(ours)) => (now.dev(), now.ino()) == (ours.dev(), ours.ino()),
            _ => false,
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // Best effort: the directory removal below also frees the buffers and events.
        let _ = self.write("tracing_on", "0");
        let name = self.name();
        let _ = retry_while_busy(|| remove_dir_at(&self.parent, &name));
    }
}

/// Opens the directory `path` (to reach its files with [`open_at`]).
fn open_dir(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
}

/// Opens `rel` under the open directory `dir` with `flags`.
fn open_at(dir: &fs::File, rel: &str, flags: libc::c_int) -> io::Result<fs::File> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let rel = CString::new(rel).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `rel` is a NUL-terminated string that outlives the call; `dir` is open.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), rel.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by openat and is owned by nothing else.
    Ok(unsafe { fs::File::from_raw_fd(fd) })
}

/// Removes the directory `name` of the open directory `dir`.
fn remove_dir_at(dir: &fs::File, name: &str) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let name = CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call; `dir` is open.
    let rc = unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `remove` (an instance directory's removal), retrying for up to 3 s while the
/// kernel reports the instance busy (a reader that is closing its file, such as a killed
/// recorder still being torn down).
fn retry_while_busy(mut remove: impl FnMut() -> io::Result<()>) -> io::Result<()> {
    let mut last = Ok(());
    for _ in 0..150 {
        last = remove();
        match &last {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => return last,
        }
    }
    last
}

/// The directory of instance `<prefix><pid>-<serial><suffix>` under `root/instances`.
pub fn instance_dir(root: &Path, pid: u32, serial: u32, suffix: &str) -> PathBuf {
    root.join("instances")
        .join(format!("{INSTANCE_PREFIX}{pid}-{serial}{suffix}"))
}

/// Hands out per-process unique serial numbers for instance names.
pub fn next_serial() -> u32 {
    static SERIAL: AtomicU32 = AtomicU32::new(0);
    SERIAL.fetch_add(1, Ordering::Relaxed)
}

/// The recorder pid encoded in a kspan instance name, if `name` is one.
fn owner_pid(name: &str) -> Option<i32> {
    let rest = name.strip_prefix(INSTANCE_PREFIX)?;
    let (pid, rest) = rest.split_once('-')?;
    let serial = rest.strip_suffix("-net").unwrap_or(rest);
    serial.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// True when process `pid` has ended: no longer in /proc, or a zombie (dead, its files
/// closed, only waiting for its parent to collect its status).
pub fn process_gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold any
        // character: look after the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// Removes the kspan instances whose recorder process is gone (killed with SIGKILL, or
/// crashed) and that no live guardian is cleaning up, and returns their names.
pub fn remove_stale_instances(root: &Path) -> Result<Vec<String>> {
    remove_instances(root, |pid| {
        process_gone(pid) && !crate::guardian::guarded(pid)
    })
}

/// Switches off and removes the instances of recorder `pid` (its guardian's job once it
/// died) and returns their names.
pub fn remove_instances_of(root: &Path, pid: i32) -> Result<Vec<String>> {
    remove_instances(root, |owner| owner == pid)
}

/// Switches off and removes the kspan instances whose recorder pid `take` accepts.
fn remove_instances(root: &Path, take: impl Fn(i32) -> bool) -> Result<Vec<String>> {
    let dir = root.join("instances");
    let entries = fs::read_dir(&dir).map_err(|e| tracefs_error("listing", &dir, e))?;
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !owner_pid(&name).is_some_and(&take) {
            continue;
        }
        let path = entry.path();
        let _ = write_text(&path.join("tracing_on"), "0");
        match retry_while_busy(|| fs::remove_dir(&path)) {
            // Removed meanwhile by another cleaner (ENODEV: tracefs is tearing it down).
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENODEV) =>
            {
                continue
            }
            other => other.map_err(|e| tracefs_error("removing stale instance", &path, e))?,
        }
        removed.push(name);
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::{owner_pid, process_gone};

    #[test]
    fn owner_pid_parses_only_kspan_instance_names() {
        assert_eq!(owner_pid("kspan-123-0"), Some(123));
        assert_eq!(owner_pid("kspan-123-4-net"), Some(123));
        assert_eq!(owner_pid("kspan-test-foo"), None);
        assert_eq!(owner_pid("kspan-123-x"), None);
        assert_eq!(owner_pid("other-123-0"), None);
    }

    #[test]
    fn a_zombie_is_gone_and_a_live_process_is_not() {
        assert!(!process_gone(std::process::id() as i32));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        // Not waited for yet: once it has exited it stays a zombie.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !process_gone(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            process_gone(pid),
            "the exited, unreaped child counts as gone"
        );
        child.wait().unwrap();
        assert!(process_gone(pid));
    }
}
