//! `kspan demo` stopped by SIGINT, SIGTERM or SIGHUP (Ctrl-C, `kill`, its terminal closed)
//! leaves nothing running: a watcher thread waits for the signal, stops the recorder as
//! Ctrl-C does (it writes its file and removes its instances), brings the application down
//! and exits.

use kspan_capture::{signals, tracefs::process_gone};
use kspan_demo::Config;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Exit status of a demo stopped by a signal (128 + SIGINT, as shells report Ctrl-C).
const INTERRUPTED: i32 = 130;
/// How long the recorder gets to write its file before the application goes down anyway.
const RECORDER_GRACE: Duration = Duration::from_secs(30);
/// How often the watcher looks for a stop request.
const WATCH_EVERY: Duration = Duration::from_millis(50);

/// The watcher's handle: tells it which recorder to stop.
#[derive(Debug, Clone)]
pub struct Interrupt {
    recorder: Arc<AtomicU32>,
}

impl Interrupt {
    /// Turns SIGINT, SIGTERM and SIGHUP into a stop request and starts the watcher that
    /// tears down the application of `config` when one arrives.
    pub fn watch(config: Config) -> Interrupt {
        signals::install_stop_handlers();
        signals::install_hangup_handler();
        let recorder = Arc::new(AtomicU32::new(0));
        let watched = recorder.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(WATCH_EVERY);
            if signals::stop_requested() {
                stop_everything(&config, watched.load(Ordering::SeqCst));
            }
        });
        Interrupt { recorder }
    }

    /// Tells the watcher the pid of the running recorder (0: none runs any more).
    pub fn recorder(&self, pid: u32) {
        self.recorder.store(pid, Ordering::SeqCst);
    }
}

/// Stops `recorder` (when not 0) and waits for it, brings the application of `config`
/// down, and exits.
fn stop_everything(config: &Config, recorder: u32) -> ! {
    // Not eprintln!, which panics when stderr is gone (a closed terminal): nothing may
    // stop this thread before the application is down.
    let mut stderr = std::io::stderr();
    let _ = writeln!(
        stderr,
        "kspan demo: interrupted; stopping the recorder and bringing the application down…"
    );
    if recorder != 0 {
        // SAFETY: kill(2) has no memory-safety preconditions. The pid is the recorder's, our
        // child; the main thread clears it right after reaping it, so only in that instant
        // could it name a reused pid.
        unsafe { libc::kill(recorder as libc::pid_t, libc::SIGINT) };
        let start = Instant::now();
        while !process_gone(recorder as i32) && start.elapsed() < RECORDER_GRACE {
            std::thread::sleep(WATCH_EVERY);
        }
    }
    if let Err(e) = kspan_demo::teardown(config) {
        let _ = writeln!(stderr, "kspan demo: bringing the application down: {e}");
    }
    let _ = std::fs::remove_dir_all(kspan_demo::workdir(config));
    std::process::exit(INTERRUPTED)
}
