//! The time by which the sender must be done, set once when the analysis ends; a sender
//! waiting to retry wakes as soon as it is set.

use std::sync::{Condvar, Mutex};
use std::time::Instant;

/// A stop time shared by the sink (which sets it) and the sender (which waits on it).
#[derive(Default)]
pub(super) struct Deadline {
    at: Mutex<Option<Instant>>,
    set: Condvar,
}

impl Deadline {
    /// Sets the stop time (the first call wins) and wakes a waiting sender.
    pub(super) fn set(&self, at: Instant) {
        let mut guard = self.at.lock().unwrap_or_else(|e| e.into_inner());
        guard.get_or_insert(at);
        self.set.notify_all();
    }

    /// The stop time, once set.
    pub(super) fn get(&self) -> Option<Instant> {
        *self.at.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps until `until`, or until the stop time if that is earlier, whenever it is set.
    pub(super) fn sleep_until(&self, until: Instant) {
        let mut guard = self.at.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let end = guard.map_or(until, |stop| stop.min(until));
            let now = Instant::now();
            if now >= end {
                return;
            }
            guard = self
                .set
                .wait_timeout(guard, end - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn setting_it_wakes_a_long_sleep() {
        let deadline = Arc::new(Deadline::default());
        let sleeper = Arc::clone(&deadline);
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            sleeper.sleep_until(Instant::now() + Duration::from_secs(60))
        });
        std::thread::sleep(Duration::from_millis(50));
        deadline.set(Instant::now());
        thread.join().unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        let first = deadline.get().unwrap();
        deadline.set(Instant::now() + Duration::from_secs(5));
        assert_eq!(deadline.get(), Some(first), "the first stop time stays");
    }
}
