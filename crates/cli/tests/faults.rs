//! When things around the recorder go wrong: it runs unprivileged, under sudo, its disk
//! fills up, the program it traces crashes, or tracefs is unmounted under it. Each fault
//! ends in one sentence (never a panic), no ftrace instance left behind, and a file the
//! invoking user can read. Real kernel, the built `kspan` binary (needs root, tracefs and
//! util-linux's `setpriv`, `unshare` and `nsenter`).

use kspan_testsupport::{
    kspan_instances_of as instances_of, run, within, ChildGuard, Scratch, TRACEFS,
};
use kspan_tracedat::TraceFile;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

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

/// Removes the instances a recorder left (tracing switched off first) when dropped, so
/// that a failing test leaves no tracing on either.
struct InstancesOf(u32);

impl Drop for InstancesOf {
    fn drop(&mut self) {
        for name in instances_of(self.0) {
            let dir = Path::new(TRACEFS).join("instances").join(name);
            let _ = std::fs::write(dir.join("tracing_on"), "0");
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The events `kspan record`'s summary in `text` says it read, over all its buffers
/// (lines "  main  buffer (8192 KiB/CPU): 1234 events; lost events: …").
fn summary_events(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(" events; lost events")?.0.rsplit(' ').next())
        .map(|n| n.parse::<u64>().expect("an event count"))
        .sum()
}

#[test]
fn tracefs_unmounted_under_the_recorder_stops_it_in_one_sentence_with_tracing_off() {
    let scratch = Scratch::new("faults-umount");
    let busy = Busy {
        pid_file: scratch.join("busy.pid"),
    };
    let stderr = scratch.join("record.err");
    // In a mount namespace of its own (unshare runs kspan in its own process), so that
    // unmounting tracefs there disturbs nothing else on the machine; the instances live in
    // the one tracefs the whole machine shares, where this test watches them.
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(env!("CARGO_BIN_EXE_kspan"))
        .args(["record", "-o", "umount.dat", "--payload-bytes", "0"])
        .args(["--duration", "60", "--", "sh", "-c", &busy.script()])
        .current_dir(scratch.path())
        .env_remove("SUDO_UID")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("unshare runs");
    let pid = child.id();
    let _leftovers = InstancesOf(pid);
    let mut recorder = ChildGuard::kill_on_drop(child);
    assert!(
        within(Duration::from_secs(20), || instances_of(pid).len() == 2
            && busy.pid_file.exists()),
        "not recording: {}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    // Removing an instance from outside is refused while the recorder reads its buffers.
    for name in instances_of(pid) {
        let refused = std::fs::remove_dir(Path::new(TRACEFS).join("instances").join(&name));
        assert_eq!(
            refused.map_err(|e| e.raw_os_error()),
            Err(Some(libc::EBUSY)),
            "{name}"
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    run(Command::new("nsenter")
        .arg(format!("--mount=/proc/{pid}/ns/mnt"))
        .args(["umount", "--lazy", TRACEFS]));
    assert!(
        within(Duration::from_secs(10), || recorder
            .try_wait()
            .unwrap()
            .is_some()),
        "still recording 10 s after tracefs was unmounted"
    );
    let status = recorder.wait().unwrap();
    drop(busy);
    let message = one_error(&Output {
        status,
        stdout: Vec::new(),
        stderr: std::fs::read(&stderr).unwrap(),
    });
    assert!(message.contains("vanished from"), "{message}");
    assert!(message.contains("tracefs was unmounted"), "{message}");
    assert_eq!(instances_of(pid), Vec::<String>::new(), "tracing is off");
    // The file holds every event the recorder read, as its summary says.
    let recorded = summary_events(&message);
    assert!(recorded > 1000, "{message}");
    assert_eq!(events_in(&scratch.join("umount.dat")), recorded);
}

/// The events `kspan record`'s summary in `text` says it read from its main buffer, and
/// the losses it reports there, summed over the CPUs (the line
/// "  main  buffer (4 KiB/CPU): 1234 events; lost events: cpu0 5 (1 pages flagged), cpu1 0").
fn main_buffer_figures(text: &str) -> (u64, u64) {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("main "))
        .unwrap_or_else(|| panic!("no main buffer line in: {text}"));
    let (read, lost) = line.split_once(" events; lost events: ").unwrap();
    let read = read.rsplit(' ').next().unwrap().parse().unwrap();
    let lost = lost
        .split(", ")
        .map(|cpu| cpu.split(' ').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    (read, lost)
}

/// How many `umask` calls the overflow test's program makes.
const BURST: u64 = 1_000_000;

#[test]
fn an_overflowing_buffer_reports_exactly_the_events_it_lost() {
    let scratch = Scratch::new("faults-overflow");
    // One million system calls in a tight loop into a 4 KiB-per-CPU buffer: some are lost
    // whenever the drainer is not on a CPU for a few microseconds (1-10 % in practice).
    // The umask value is one nothing else uses, and the filter keeps only those calls, so
    // the program made exactly BURST of the events this recording asks for.
    let burst = format!("import os\nfor _ in range({BURST}):\n    os.umask(0o027)\n");
    let out = run(kspan(scratch.path())
        .args(["record", "-o", "overflow.dat", "--payload-bytes", "0"])
        .args(["--buffer-kb", "4", "--no-default-events"])
        .args(["-e", "syscalls:sys_enter_umask", "-f", "mask == 23"])
        .args(["--", "python3", "-c", &burst]));
    let message = String::from_utf8_lossy(&out.stderr);
    let (read, lost) = main_buffer_figures(&message);
    assert!(lost > 0, "the buffer overflowed: {message}");
    assert_eq!(
        read + lost,
        BURST,
        "every call read or counted lost: {message}"
    );
    assert!(message.contains("events were lost"), "{message}");
    assert_eq!(instances_of(recorder_pid(&message)), Vec::<String>::new());
    // The file holds exactly the events read (and the net buffer's, none of them umask).
    let file = TraceFile::open(scratch.join("overflow.dat")).unwrap();
    let mut events = file.events();
    let mut umask = 0;
    while let Some(event) = events.next_event().expect("whole pages only") {
        umask += u64::from(event.name() == "sys_enter_umask");
    }
    assert_eq!(umask, read);
}
