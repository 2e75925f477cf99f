//! A child process that cannot outlive its test.

use std::ops::{Deref, DerefMut};
use std::process::Child;

/// A child process stopped and reaped when dropped: killed (SIGKILL) or, made with
/// [`ChildGuard::terminate_on_drop`], asked to stop (SIGTERM) and waited for.
///
/// Why: servers and clients a test starts must not keep running (holding ports, namespaces,
/// directories) when the test fails half way. Derefs to the [`Child`].
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    signal: libc::c_int,
}

impl ChildGuard {
    /// Guards `child`: SIGKILL and wait on drop.
    pub fn kill_on_drop(child: Child) -> ChildGuard {
        ChildGuard {
            child,
            signal: libc::SIGKILL,
        }
    }

    /// Guards `child`: SIGTERM and wait on drop, for servers that must stop cleanly (flush
    /// their logs) before the test reads what they wrote.
    pub fn terminate_on_drop(child: Child) -> ChildGuard {
        ChildGuard {
            child,
            signal: libc::SIGTERM,
        }
    }
}

impl Deref for ChildGuard {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.child
    }
}

impl DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill has no memory-safety preconditions; the pid is our child's, not
            // yet reaped (try_wait saw it running), so it cannot name another process.
            unsafe { libc::kill(self.child.id() as libc::pid_t, self.signal) };
        }
        let _ = self.child.wait();
    }
}
