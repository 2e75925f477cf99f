//! SIGINT/SIGTERM (and, where asked, SIGHUP) turn into a stop request, so that a recording
//! interrupted by Ctrl-C or `kill` still drains its buffers, writes its file and removes
//! its instances, and an interrupted demo brings its application down.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the SIGINT and SIGTERM handlers that set the stop request.
pub fn install_stop_handlers() {
    install(&[libc::SIGINT, libc::SIGTERM]);
}

/// Makes SIGHUP (the terminal closed) a stop request too, for a process that must clean up
/// rather than die of it.
pub fn install_hangup_handler() {
    install(&[libc::SIGHUP]);
}

/// Installs the handler that sets the stop request for each of `signals`.
fn install(signals: &[libc::c_int]) {
    for &signal in signals {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the
        // sigaction struct is fully initialised before use.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// True once a signal with a stop handler (SIGINT, SIGTERM, and SIGHUP where installed)
/// arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
