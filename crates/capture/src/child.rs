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
    gate: Option<OwnedFd>,
    status: Option<i32>,
}

impl GatedChild {
    /// Forks a child that waits for [`GatedChild::release`] and then runs `argv` (PATH
    /// lookup as in a shell).
    pub fn spawn(argv: &[String]) -> Result<GatedChild> {
        let spawn_err = |source: io::Error| CaptureError::Spawn {
            command: argv.first().cloned().unwrap_or_default(),
            cause: source,
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
        let failed = b"kspan: cannot execute the command\n";
        let mut fds = [0; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(spawn_err(io::Error::last_os_error()));
        }
        // SAFETY: both fds were just created by pipe2 and are owned by nobody else.
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: after fork the child only calls async-signal-safe functions (close, read,
        // execvp, write, _exit) on memory prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(spawn_err(io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: see the fork above; every pointer refers to memory that stays valid.
            unsafe {
                libc::close(write_end.as_raw_fd());
                let mut byte = 0u8;
                if libc::read(read_end.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) == 1 {
                    libc::execvp(argp[0], argp.as_ptr());
                    libc::write(2, failed.as_ptr().cast(), failed.len());
                }
                libc::_exit(127);
            }
        }
        drop(read_end);
        Ok(GatedChild {
            pid,
            gate: Some(write_end),
            status: None,
        })
    }

    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Lets the child `exec` the command.
    pub fn release(&mut self) {
        if let Some(gate) = self.gate.take() {
            // SAFETY: writes one byte from a valid local to an open pipe fd.
            unsafe { libc::write(gate.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        }
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

    /// The exit code of an ended command (128 + signal when killed by a signal).
    pub fn exit_code(status: i32) -> i32 {
        if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        }
    }
}

impl Drop for GatedChild {
    fn drop(&mut self) {
        // A child never released exits at once when the gate closes; reap it. A released
        // command keeps running (it is the user's program) and is reaped by init.
        if self.gate.take().is_some() && self.status.is_none() {
            let mut status = 0;
            // SAFETY: `status` is a valid int; the child exits as soon as its gate closed.
            unsafe { libc::waitpid(self.pid, &mut status, 0) };
        }
    }
}
