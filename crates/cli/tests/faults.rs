//! When things around the recorder go wrong: it runs unprivileged, under sudo, its disk
//! fills up, or the program it traces crashes. Each fault ends in one sentence (never a
//! panic), no ftrace instance left behind, and a file the invoking user can read. Real
//! kernel, the built `kspan` binary (needs root, tracefs and util-linux's `setpriv`).

use kspan_testsupport::{kspan_instances_of as instances_of, run, Scratch};
use kspan_tracedat::TraceFile;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// uid and gid of `nobody` / `nogroup`, the unprivileged user of these tests.
const NOBODY: u32 = 65534;

/// The built `kspan` binary run as root.
fn kspan(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kspan"));
    cmd.current_dir(dir)
        .env_remove("SUDO_UID")
        .env_remove("SUDO_GID");
    cmd
}

/// The built `kspan` binary run as `nobody`, with no group and no capability, in `scratch`.
/// It runs a copy in `scratch` (made readable to all): the build directory may lie where
/// `nobody` cannot enter (under /root). `install` makes the copy, so that no process forked
/// by another test thread inherits a descriptor open for writing on it, which would make
/// running it fail ("text file busy").
fn kspan_as_nobody(scratch: &Scratch) -> Command {
    use std::os::unix::fs::PermissionsExt;
    let copy = scratch.join("kspan");
    if !copy.exists() {
        run(Command::new("install")
            .args(["-m", "755", env!("CARGO_BIN_EXE_kspan")])
            .arg(&copy));
    }
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid", "nobody", "--regid", "nogroup", "--clear-groups"])
        .arg(copy)
        .current_dir(scratch.path());
    cmd
}

/// The error output of `out`, after checking that it is one `kspan: error:` sentence and
/// neither a panic nor a backtrace.
fn one_error(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    let errors = stderr
        .lines()
        .filter(|l| l.starts_with("kspan: error: "))
        .count();
    assert_eq!(errors, 1, "one error line: {stderr}");
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(bad), "`{bad}` in: {stderr}");
    }
    stderr
}

/// Events in the trace.dat at `path`, read to its end (an unreadable page fails the test).
fn events_in(path: &Path) -> u64 {
    let file =
        TraceFile::open(path).unwrap_or_else(|e| panic!("{} is unreadable: {e}", path.display()));
    let mut events = file.events();
    let mut count = 0;
    while events.next_event().expect("whole pages only").is_some() {
        count += 1;
    }
    count
}

/// The pid that `kspan record`'s summary or error names in `name-<pid>` (its instances).
fn recorder_pid(stderr: &str) -> u32 {
    let start = stderr
        .find("instances kspan-")
        .unwrap_or_else(|| panic!("no instance named in: {stderr}"))
        + "instances kspan-".len();
    stderr[start..]
        .split('-')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in: {stderr}"))
}

#[test]
fn under_sudo_the_recording_belongs_to_the_invoking_user_who_can_read_it() {
    let scratch = Scratch::new("faults-sudo");
    let out = run(kspan(scratch.path())
        .args([
            "record",
            "-o",
            "sudo.dat",
            "--payload-bytes",
            "0",
            "--",
            "true",
        ])
        .env("SUDO_UID", NOBODY.to_string())
        .env("SUDO_GID", NOBODY.to_string()));
    let pid = recorder_pid(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(instances_of(pid), Vec::<String>::new());
    let meta = std::fs::metadata(scratch.join("sudo.dat")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOBODY));
    let info = run(kspan_as_nobody(&scratch).args(["info", "sudo.dat"]));
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("events:"), "{text}");
}

#[test]
fn unprivileged_record_says_in_one_sentence_what_it_needs() {
    let scratch = Scratch::new("faults-unprivileged");
    let out = kspan_as_nobody(&scratch)
        .args(["record", "-o", "nobody.dat", "--", "true"])
        .output()
        .expect("setpriv runs");
    let message = one_error(&out);
    for needed in ["root", "CAP_SYS_ADMIN", "CAP_PERFMON", "CAP_BPF", "tracefs"] {
        assert!(message.contains(needed), "`{needed}` not named: {message}");
    }
    assert_eq!(
        scratch.file_names(),
        ["kspan"],
        "nothing written beside the binary"
    );
}

#[test]
fn a_crashing_traced_program_ends_the_recording_cleanly() {
    let scratch = Scratch::new("faults-segv");
    let out = run(kspan(scratch.path()).args([
        "record",
        "-o",
        "segv.dat",
        "--payload-bytes",
        "0",
        "--",
        "sh",
        "-c",
        "kill -SEGV $$",
    ]));
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(
        message.contains("the command died of signal 11"),
        "{message}"
    );
    assert_eq!(instances_of(recorder_pid(&message)), Vec::<String>::new());
    assert!(events_in(&scratch.join("segv.dat")) > 0);
}

/// A tmpfs of its own mounted on a directory, unmounted when dropped (also on a panic).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (mount's syntax, e.g. `2m`) on `dir`, creating it.
    fn mount(dir: PathBuf, size: &str) -> Tmpfs {
        std::fs::create_dir_all(&dir).unwrap();
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir));
        Tmpfs { dir }
    }

    /// Gives the mounted file system a new size.
    fn resize(&self, size: &str) {
        run(Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).output();
    }
}

/// The traced program of the full-disk test, which goes on after the recorder stopped
/// (it is the user's): killed when dropped through the pid it wrote, if it still runs it.
struct Busy {
    pid_file: PathBuf,
}

/// What the busy program runs in its loop (also how its process is recognised).
const BUSY_STEP: &str = "cat /proc/version > /dev/null";

impl Busy {
    /// The shell command line: writes its pid, then loops (100,000 times at most, so
    /// that it ends by itself should its killer fail) in that one shell process.
    fn script(&self) -> String {
        format!(
            "echo $$ > {}; i=0; while [ $i -lt 100000 ]; do {BUSY_STEP}; i=$((i+1)); done",
            self.pid_file.display()
        )
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let Some(pid) = std::fs::read_to_string(&self.pid_file)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        else {
            return;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(BUSY_STEP) {
            // SAFETY: kill has no memory-safety preconditions; the pid runs our loop.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[test]
fn a_full_disk_stops_the_recording_in_one_sentence_and_keeps_what_was_recorded() {
    let scratch = Scratch::new("faults-full");
    let disk = Tmpfs::mount(scratch.join("disk"), "2m");
    let busy = Busy {
        pid_file: scratch.join("busy.pid"),
    };
    // Its error output goes to a file: the busy program, which outlives the recorder,
    // would hold a pipe open until it ends.
    let stderr = scratch.join("record.err");
    let status = kspan(scratch.path())
        .args(["record", "-o", "disk/full.dat", "--payload-bytes", "0"])
        .args(["--duration", "240", "--", "sh", "-c", &busy.script()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .status()
        .expect("kspan runs");
    let message = one_error(&Output {
        status,
        stdout: Vec::new(),
        stderr: std::fs::read(&stderr).unwrap(),
    });
    assert!(message.contains("is full"), "{message}");
    assert!(message.contains("--cleanup-only"), "{message}");
    let pid = recorder_pid(&message);
    assert_eq!(instances_of(pid), Vec::<String>::new(), "tracing is off");
    drop(busy);

    // With room again, the kept pages become a trace.dat of whole pages, owned (like any
    // file kspan writes under sudo) by the invoking user.
    disk.resize("64m");
    run(kspan(scratch.path())
        .args(["record", "--cleanup-only", "-o", "disk/full.dat"])
        .env("SUDO_UID", NOBODY.to_string())
        .env("SUDO_GID", NOBODY.to_string()));
    let salvaged = scratch.join(format!("disk/full-salvaged-{pid}.dat"));
    assert!(events_in(&salvaged) > 1000);
    assert_eq!(std::fs::metadata(&salvaged).unwrap().uid(), NOBODY);
}
