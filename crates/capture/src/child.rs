//! A command started stopped at a gate: forked, but it only `exec`s once its pid is in the
//! pid filter and tracing is on, so not even its `exec` is missed. (`std::process` cannot
//! do this: its `spawn` waits for the `exec`.)

use crate::error::{CaptureError, Result};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A forked child waiting to `exec` the traced command.
#[derive(Debug)]
pub struct GatedChild {
    pid: i32,
    command: String,
    /// Writing one byte here lets the child `exec`.
    gate: Option<OwnedFd>,
    /// EOF once the `exec` succeeded (close-on-exec), or the errno of a failed one.
    exec_report: Option<OwnedFd>,
    status: Option<i32>,
}

impl GatedChild {
    /// Forks a child that waits for [`GatedChild::release`] and then runs `argv` (PATH
    /// lookup as in a shell).
    pub fn spawn(argv: &[String]) -> Result<GatedChild> {
        let command = argv.first().cloned().unwrap_or_default();
        let spawn_err = |cause: io::Error| CaptureError::Spawn {
            command: command.clone(),
            cause,
        };
        let args: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| spawn_err(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        if args.is_empty() {
            return Err(spawn_err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty command",
            )));
        }
        let mut argp: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        argp.push(std::ptr::null());
        let (gate_read, gate_write) = pipe().map_err(spawn_err)?;
        let (report_read, report_write) = pipe().map_err(spawn_err)?;
        // SAFETY: after fork the child only calls async-signal-safe functions (close, read,
        // execvp, write, _exit) on memory prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(spawn_err(io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: see the fork above; every pointer refers to memory that stays valid.
            unsafe {
                libc::close(gate_write.as_raw_fd());
                libc::close(report_read.as_raw_fd());
                let mut byte = 0u8;
                if libc::read(gate_read.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) == 1 {
                    libc::execvp(argp[0], argp.as_ptr());
                    let errno = *libc::__errno_location();
                    libc::write(report_write.as_raw_fd(), (&errno as *const i32).cast(), 4);
                }
                libc::_exit(127);
            }
        }
        drop((gate_read, report_write));
        Ok(GatedChild {
            pid,
            command,
            gate: Some(gate_write),
            exec_report: Some(report_read),
            status: None,
        })
    }

    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Lets the child `exec` the command and waits until the `exec` succeeded or failed.
    pub fn release(&mut self) -> Result<()> {
        let (Some(gate), Some(report)) = (self.gate.take(), self.exec_report.take()) else {
            return Ok(());
        };
        // SAFETY: writes one byte from a valid local to an open pipe fd.
        unsafe { libc::write(gate.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        let mut errno = [0u8; 4];
        // SAFETY: reads into a valid 4-byte buffer from an open pipe fd; it returns 0 (EOF)
        // when the exec succeeded and so closed the child's write end.
        let n = unsafe { libc::read(report.as_raw_fd(), errno.as_mut_ptr().cast(), 4) };
        if n == 4 {
            self.wait_blocking();
            return Err(CaptureError::Spawn {
                command: self.command.clone(),
                cause: io::Error::from_raw_os_error(i32::from_ne_bytes(errno)),
            });
        }
        Ok(())
    }

    /// The command's exit status once it has ended (wait status as in `waitpid`).
    pub fn try_wait(&mut self) -> Option<i32> {
        if self.status.is_none() {
            let mut status = 0;
            // SAFETY: `status` is a valid int; WNOHANG never blocks.
            if unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) } == self.pid {
                self.status = Some(status);
            }
        }
        self.status
    }

    /// Reaps a child known to be exiting.
    fn wait_blocking(&mut self) {
        if self.status.is_none() {
            let mut status = 0;
            // SAFETY: `status` is a valid int; the child is exiting, so this returns soon.
            if unsafe { libc::waitpid(self.pid, &mut status, 0) } == self.pid {
                self.status = Some(status);
            }
        }
    }

    /// How an ended command ended: "exited with status N" or "died of signal N (name)".
    pub fn describe_end(status: i32) -> String {
        if libc::WIFEXITED(status) {
            return format!("exited with status {}", libc::WEXITSTATUS(status));
        }
        let signal = libc::WTERMSIG(status);
        // SAFETY: strsignal returns a NUL-terminated string (static, or in a buffer valid
        // until the next call); it is copied at once.
        let name = unsafe { std::ffi::CStr::from_ptr(libc::strsignal(signal)) };
        format!("died of signal {signal} ({})", name.to_string_lossy())
    }
}

/// A pipe whose both ends close on exec.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created by pipe2 and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl Drop for GatedChild {
    fn drop(&mut self) {
        // A child never released exits as soon as its gate closes (here): reap it. A
        // released command keeps running (it is the user's program) and is reaped by init.
        if self.gate.take().is_some() {
            self.wait_blocking();
        }
    }
}
