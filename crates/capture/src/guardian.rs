//! Tracing never outlives the recorder: a guardian process, started by the recorder with a
//! pipe on its stdin, waits for that pipe to close. The kernel closes it when the recorder
//! ends, however it ends (SIGKILL, OOM kill, crash); unless the recorder said it finished,
//! the guardian switches off and removes the recorder's ftrace instances and salvages its
//! recording ([`crate::salvage`]) at once.
//!
//! The guardian is a separate program (`kspan` re-executed in its guardian role), not a
//! bare `fork`, because the recorder is multi-threaded and a forked child of it may only
//! call async-signal-safe functions. It runs in its own process group so that a Ctrl-C
//! meant for the recorder (which then finishes cleanly) does not reach it.

use crate::salvage::{adopt_stale_temp_dirs, Salvage, Stale};
use crate::tracefs::remove_instances_of;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// The byte a recorder sends its guardian when it finished cleanly.
const FINISHED: u8 = b'f';

/// How long the guardian waits for its dead recorder's directory lock: the kernel releases
/// it when it puts the dying recorder's files, which can come after the pipe's end that
/// woke the guardian (a loaded machine widens that gap).
const DEAD_LOCK_WAIT: Duration = Duration::from_secs(5);

/// The subcommand and flag a guardian's command line starts with, before the recorder's
/// pid: how [`guarded`] finds a live guardian.
pub const GUARD_ARGS: [&str; 2] = ["guard", "--recorder"];

/// True while a guardian of recorder `recorder` runs: the recorder's instances and files
/// are its to clean up, not a rerun's (two cleaners would race on the same instances).
pub fn guarded(recorder: i32) -> bool {
    let pid = recorder.to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.flatten().any(|entry| {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            return false;
        };
        let mut args = cmdline.split(|&b| b == 0).skip(1);
        GUARD_ARGS.iter().all(|a| args.next() == Some(a.as_bytes()))
            && args.next() == Some(pid.as_bytes())
            && entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse().ok())
                .is_some_and(|p| !crate::tracefs::process_gone(p))
    })
}

/// The recorder's handle on its guardian. Dropping it tells the guardian the recorder
/// finished cleanly, so keep it until everything the recorder made is removed.
#[derive(Debug)]
pub struct Guardian {
    pipe: Option<ChildStdin>,
    child: Child,
}

impl Guardian {
    /// Starts `command` (a program that calls [`watch`] with this process's pid) as this
    /// process's guardian, its stdin a pipe that only this process holds.
    pub fn spawn(mut command: Command) -> io::Result<Guardian> {
        let mut child = command.stdin(Stdio::piped()).process_group(0).spawn()?;
        let pipe = child.stdin.take();
        Ok(Guardian { pipe, child })
    }
}

impl Drop for Guardian {
    fn drop(&mut self) {
        if let Some(mut pipe) = self.pipe.take() {
            let _ = pipe.write_all(&[FINISHED]);
        }
        let _ = self.child.wait();
    }
}

/// What the guardian did after its recorder died.
#[derive(Debug, Default)]
pub struct Cleanup {
    /// Instances switched off and removed.
    pub instances: Vec<String>,
    /// Pages moved from those instances' buffers into the page files before that.
    pub rescued: u64,
    /// What became of the recorder's temporary directories.
    pub salvaged: Vec<Salvage>,
    /// An instance that could not be removed, as one sentence.
    pub error: Option<String>,
}

/// The guardian's side: blocks until recorder `recorder` closes the pipe on stdin. When it
/// said it finished, returns `None`; otherwise moves what its instances under
/// `tracefs_root` still hold into its page files in `dir` ([`crate::rescue`]), removes the
/// instances, salvages the page files, and says what it did.
pub fn watch(recorder: u32, tracefs_root: &Path, dir: &Path) -> Option<Cleanup> {
    ignore_hangups();
    let mut stdin = io::stdin().lock();
    let mut byte = [0u8; 1];
    let finished = loop {
        match stdin.read(&mut byte) {
            Ok(0) => break false,
            Ok(_) if byte[0] == FINISHED => break true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break false,
        }
    };
    if finished {
        return None;
    }
    let mut cleanup = Cleanup::default();
    let (stale, kept) = adopt_stale_temp_dirs(dir, Some(recorder), DEAD_LOCK_WAIT);
    cleanup.rescued = stale.iter().map(|s| s.rescue_pages(tracefs_root)).sum();
    match remove_instances_of(tracefs_root, recorder as i32) {
        Ok(names) => cleanup.instances = names,
        Err(e) => cleanup.error = Some(e.to_string()),
    }
    cleanup.salvaged = kept;
    cleanup
        .salvaged
        .extend(stale.into_iter().map(Stale::salvage));
    Some(cleanup)
}

/// Ignores SIGINT and SIGHUP: the terminal's Ctrl-C or hang-up is for the recorder; the
/// guardian must live on to clean up if the recorder dies of it.
fn ignore_hangups() {
    for signal in [libc::SIGINT, libc::SIGHUP] {
        // SAFETY: setting a signal to SIG_IGN involves no handler code and no memory.
        unsafe {
            libc::signal(signal, libc::SIG_IGN);
        }
    }
}
