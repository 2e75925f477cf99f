//! Starting bpftrace beside a recording, waiting until its probes are attached, and stopping
//! it. Its stdout and stderr go to files next to the recording (no reader threads, nothing
//! lost when the recorder is busy); they are read back when it stops.

use crate::error::BpftraceError;
use crate::script::{instrument, uses_kprobes, FLUSH_MARKER, FLUSH_WHO, READY_MARKER};
use crate::stored::ScriptOutput;
use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long bpftrace may take to compile and attach.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long bpftrace may take to exit after SIGINT before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long bpftrace may take to read the events emitted before a flush call.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Poll period while waiting.
const POLL: Duration = Duration::from_millis(20);
/// A warning bpftrace 0.17 prints on every start on kernels with memcg accounting of BPF
/// memory; it means nothing there, so it is left out of error messages.
const MEMLOCK_NOISE: &str = "couldn't set RLIMIT_MEMLOCK";

/// A running bpftrace script.
#[derive(Debug)]
pub struct BpftraceRun {
    path: PathBuf,
    script: String,
    child: Child,
    files: [PathBuf; 3],
}

impl BpftraceRun {
    /// Starts bpftrace on the script at `path`, told to follow `pids` (see
    /// [`script`](crate::script)), with its output in files under `work_dir`, and returns once
    /// every probe is attached. `tracefs` is the tracefs mount point (to check for kprobes).
    pub fn start(
        path: &Path,
        pids: &[i32],
        work_dir: &Path,
        tracefs: &Path,
    ) -> Result<BpftraceRun, BpftraceError> {
        let source = fs::read_to_string(path).map_err(|cause| BpftraceError::Script {
            path: path.to_path_buf(),
            cause,
        })?;
        if uses_kprobes(&source) && !tracefs.join("kprobe_events").exists() {
            return Err(BpftraceError::NoKprobes {
                path: path.to_path_buf(),
            });
        }
        let io = |cause| BpftraceError::Io {
            path: path.to_path_buf(),
            cause,
        };
        let stem = format!(".kspan-bpftrace-{}-{}", std::process::id(), unique_serial());
        let files = ["bt", "out", "err"].map(|ext| work_dir.join(format!("{stem}.{ext}")));
        let script = instrument(&source, pids);
        fs::write(&files[0], &script).map_err(io)?;
        let mut command = Command::new("bpftrace");
        command
            .args(["-B", "line"])
            .arg(&files[0])
            .stdin(Stdio::null())
            .stdout(File::create(&files[1]).map_err(io)?)
            .stderr(File::create(&files[2]).map_err(io)?)
            // Its own process group: a Ctrl-C meant for kspan must not stop it before kspan
            // has stopped the recording.
            .process_group(0);
        // SAFETY: the closure runs in the forked child before exec and only makes the
        // async-signal-safe prctl syscall: bpftrace gets SIGINT if kspan dies (even by
        // SIGKILL), so it never outlives the recording.
        let spawned = unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        }
        .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                remove(&files);
                return Err(match e.kind() {
                    std::io::ErrorKind::NotFound => BpftraceError::NotInstalled,
                    _ => io(e),
                });
            }
        };
        let mut run = BpftraceRun {
            path: path.to_path_buf(),
            script,
            child,
            files,
        };
        run.wait_ready()?;
        Ok(run)
    }

    /// True once `marker` is a line of bpftrace's output.
    fn printed(&self, marker: &str) -> bool {
        let out = fs::read_to_string(&self.files[1]).unwrap_or_default();
        out.lines().any(|l| l == marker)
    }

    /// Waits for the ready marker; an exit before it is a rejected script.
    fn wait_ready(&mut self) -> Result<(), BpftraceError> {
        let started = Instant::now();
        loop {
            if self.printed(READY_MARKER) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let stderr = fs::read_to_string(&self.files[2]).unwrap_or_default();
                return Err(self.rejected(status.code().unwrap_or(-1), &stderr));
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(BpftraceError::Timeout {
                    path: self.path.clone(),
                    seconds: READY_TIMEOUT.as_secs(),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// The error for a bpftrace that exited early with `stderr`.
    fn rejected(&self, status: i32, stderr: &str) -> BpftraceError {
        if stderr.contains("kprobe_events") {
            return BpftraceError::NoKprobes {
                path: self.path.clone(),
            };
        }
        // bpftrace names the file it ran (kspan's copy, same line numbers): name the user's.
        let ran = self.files[0].display().to_string();
        let user = self.path.display().to_string();
        let message: Vec<String> = stderr
            .lines()
            .filter(|l| !l.contains(MEMLOCK_NOISE))
            .map(|l| l.replace(&ran, &user))
            .collect();
        BpftraceError::Rejected {
            path: self.path.clone(),
            status,
            message: message.join("\n"),
        }
    }

    /// Waits until bpftrace has read the events emitted so far (see
    /// [`FLUSH_MARKER`](crate::script::FLUSH_MARKER)), at most [`FLUSH_TIMEOUT`].
    fn flush(&mut self) {
        // SAFETY: getpriority has no memory preconditions; no process has id FLUSH_WHO, so it
        // only fails with ESRCH (its one effect is the tracepoint kspan's probe waits for).
        unsafe { libc::getpriority(libc::PRIO_PROCESS, FLUSH_WHO) };
        let started = Instant::now();
        while !self.printed(FLUSH_MARKER) && started.elapsed() < FLUSH_TIMEOUT {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Stops bpftrace: waits until it has read every event emitted so far, then sends SIGINT
    /// (it runs `END` and exits), waits for it, and returns what it printed.
    pub fn stop(mut self) -> Result<ScriptOutput, BpftraceError> {
        self.flush();
        let pid = self.child.id() as i32;
        // SAFETY: kill has no memory preconditions; `pid` is our unreaped child, so the id
        // cannot have been reused by another process.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let started = Instant::now();
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > STOP_TIMEOUT => {
                    let _ = self.child.kill();
                }
                Ok(None) => std::thread::sleep(POLL),
                Err(cause) => {
                    return Err(BpftraceError::Io {
                        path: self.path.clone(),
                        cause,
                    })
                }
            }
        };
        let read = |p: &Path| fs::read_to_string(p).unwrap_or_default();
        Ok(ScriptOutput {
            path: self.path.display().to_string(),
            script: std::mem::take(&mut self.script),
            stdout: read(&self.files[1]),
            stderr: read(&self.files[2]),
            exit_status: status.code().unwrap_or(-1),
        })
    }
}

impl Drop for BpftraceRun {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        remove(&self.files);
    }
}

fn remove(files: &[PathBuf]) {
    for f in files {
        let _ = fs::remove_file(f);
    }
}

/// A number unique within this process, for file names.
fn unique_serial() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
