//! What the wakeups through each futex word say about it: a lock that threads pass among
//! themselves, or a channel that carries work from some threads to others.
//!
//! A wakeup from inside `futex()` names the word it went through (`uaddr` at the waker's
//! syscall entry). A lock — a mutex, an interpreter lock such as CPython's GIL, a condition
//! variable every thread waits on — is taken and released by every thread that uses it, so
//! the same threads show up as wakers and as woken. A work queue or a per-thread parking
//! word carries wakeups one way: producers wake consumers, a thread's own parking word only
//! ever wakes that thread. This holds whatever the language or runtime, and is measured per
//! word on the recording itself, never assumed from a program's name.
//!
//! One lock is often several words: a condition variable and the mutex it is used with
//! (CPython's GIL is both, in one struct), and glibc's condition variable alternates between
//! two group words, so a thread released through one word may release the next waiter
//! through another. Words are therefore grouped by the 64-byte line they lie in: the words
//! of one synchronization object share it, while per-thread parking words and separate
//! queues live in separate objects.

use crate::event::Tid;
use crate::fxhash::FxHashMap;

/// Threads remembered per word: the most recent distinct ones woken through it.
const RECENT: usize = 32;
/// Words remembered at most; past that the history starts afresh (memory stays bounded
/// however many futex words a program uses).
const MAX_WORDS: usize = 1 << 16;

/// The wakeups seen through one futex word.
#[derive(Debug, Default, Clone)]
struct Word {
    /// The last [`RECENT`] distinct threads woken through it, oldest first.
    woken: Vec<Tid>,
}

impl Word {
    fn woke(&mut self, tid: Tid) {
        if let Some(i) = self.woken.iter().position(|&t| t == tid) {
            self.woken.remove(i);
        } else if self.woken.len() == RECENT {
            self.woken.remove(0);
        }
        self.woken.push(tid);
    }
}

/// Futex words by process and 64-byte line (see the module's doc).
#[derive(Debug, Default)]
pub(crate) struct Futexes {
    words: FxHashMap<(i32, i64), Word>,
}

/// Bits of an address below its 64-byte line.
const LINE_BITS: u32 = 6;

impl Futexes {
    /// Records that `waker` (of process `tgid`) woke `target` through word `addr`, and says
    /// whether that passes a lock on: the waker was itself woken through that word before
    /// (a thread releasing what it once waited for). A producer waking a consumer through a
    /// queue, or any thread unparking another through that thread's own word, was never
    /// woken through it.
    pub fn wake(&mut self, tgid: i32, addr: i64, waker: Tid, target: Tid) -> bool {
        let key = (tgid, addr >> LINE_BITS);
        if self.words.len() >= MAX_WORDS && !self.words.contains_key(&key) {
            self.words.clear();
        }
        let word = self.words.entry(key).or_default();
        let lock = word.woken.contains(&waker);
        word.woke(target);
        lock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_releasing_what_it_waited_for_passes_a_lock() {
        let mut f = Futexes::default();
        assert!(!f.wake(1, 0x10, 11, 12), "nothing known of the word yet");
        assert!(f.wake(1, 0x10, 12, 13), "12 was woken through it");
        assert!(f.wake(1, 0x10, 13, 11));
        assert!(!f.wake(1, 0x10, 14, 11), "14 never waited on it");
    }

    #[test]
    fn producers_waking_consumers_make_a_channel() {
        let mut f = Futexes::default();
        for producer in 20..30 {
            for consumer in [11, 12] {
                assert!(!f.wake(1, 0x20, producer, consumer));
            }
        }
        // A consumer passing the queue's wakeup on to another is not the producer: that
        // wakeup hands nothing over.
        assert!(f.wake(1, 0x20, 11, 12));
    }

    #[test]
    fn the_words_of_one_lock_object_are_one_lock() {
        let mut f = Futexes::default();
        // 12 was released through a mutex word; it releases the next waiter through the
        // condition variable beside it: the same lock.
        assert!(!f.wake(1, 0x10f4, 11, 12));
        assert!(f.wake(1, 0x10dc, 12, 13));
        // A word in another line is another object.
        assert!(!f.wake(1, 0x1100, 12, 14));
    }

    #[test]
    fn a_parking_word_only_ever_wakes_its_thread() {
        let mut f = Futexes::default();
        for waker in 20..40 {
            assert!(!f.wake(1, 0x30, waker, 11));
        }
        assert!(!f.wake(2, 0x10, 5, 6), "words of other processes are apart");
    }
}
