//! The live copy of drained pages: each drain pass of each CPU also hands its pages, and
//! how far that CPU is now complete, to a consumer in the recorder (live analysis), through
//! a queue bounded in bytes. A consumer that falls behind never slows draining: what does
//! not fit is left out of the copy (still written to the page file) and counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

/// Most bytes of pages queued for the consumer at a time.
pub const QUEUE_LIMIT_BYTES: u64 = 256 << 20;

/// Trace-clock time every event of a drained CPU is complete to, behind the time the pass
/// started: an event stamped just before a pass may be committed by its writer just after
/// the pass read that CPU (the writer was interrupted), and this leaves it room.
pub const COMMIT_MARGIN_NS: u64 = 2_000_000;

/// One drain pass of one CPU of one buffer.
#[derive(Debug)]
pub struct DrainedPages {
    /// Index of the buffer (the order of [`crate::Capture::buffers`]: main, then net).
    pub buffer: usize,
    /// CPU number.
    pub cpu: u32,
    /// The pages read, back to back, each a whole sub-buffer (empty when none was read
    /// or the queue was full).
    pub pages: Vec<u8>,
    /// Every event of this CPU stamped before this trace-clock time is in this message or
    /// an earlier one; `u64::MAX` after the last pass (tracing is off).
    pub complete_to: u64,
    queued: Arc<AtomicU64>,
}

impl Drop for DrainedPages {
    fn drop(&mut self) {
        self.queued
            .fetch_sub(self.pages.len() as u64, Ordering::Relaxed);
    }
}

/// The consumer's end: the messages, and the count of pages left out of them.
#[derive(Debug)]
pub struct LivePages {
    /// Drain passes in the order they ended (per CPU, in time order). Disconnected once
    /// every drainer finished.
    pub receiver: Receiver<DrainedPages>,
    /// Pages left out because the queue was full (the consumer fell behind).
    pub skipped_pages: Arc<AtomicU64>,
    /// Every (buffer, CPU) that sends passes: each says how far it is complete.
    pub sources: Vec<(usize, u32)>,
}

/// The drainers' end, cloned for each drainer thread.
#[derive(Debug, Clone)]
pub struct PageTap {
    sender: Sender<DrainedPages>,
    buffer: usize,
    queued: Arc<AtomicU64>,
    skipped_pages: Arc<AtomicU64>,
}

/// A connected tap and its consumer's end; [`PageTap::for_buffer`] names each buffer.
pub fn page_tap() -> (PageTap, LivePages) {
    let (sender, receiver) = channel();
    let skipped_pages = Arc::new(AtomicU64::new(0));
    let tap = PageTap {
        sender,
        buffer: 0,
        queued: Arc::new(AtomicU64::new(0)),
        skipped_pages: skipped_pages.clone(),
    };
    (
        tap,
        LivePages {
            receiver,
            skipped_pages,
            sources: Vec::new(),
        },
    )
}

impl PageTap {
    /// The same tap, for the drainers of buffer number `buffer`.
    pub fn for_buffer(&self, buffer: usize) -> PageTap {
        PageTap {
            buffer,
            ..self.clone()
        }
    }

    /// Whether `bytes` more fit in the queue; when not, they are counted as skipped.
    pub fn admit(&self, bytes: u64, page_size: usize) -> bool {
        let queued = self.queued.fetch_add(bytes, Ordering::Relaxed);
        if queued + bytes <= QUEUE_LIMIT_BYTES {
            return true;
        }
        self.queued.fetch_sub(bytes, Ordering::Relaxed);
        self.skipped_pages
            .fetch_add(bytes / page_size.max(1) as u64, Ordering::Relaxed);
        false
    }

    /// Hands a pass's `pages` (already admitted, or empty) to the consumer; a consumer
    /// that is gone is ignored (the recording goes on).
    pub fn send(&self, cpu: u32, pages: Vec<u8>, complete_to: u64) {
        let _ = self.sender.send(DrainedPages {
            buffer: self.buffer,
            cpu,
            pages,
            complete_to,
            queued: self.queued.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_bounded_in_bytes_and_frees_as_messages_are_consumed() {
        let (tap, live) = page_tap();
        let tap = tap.for_buffer(1);
        let half = QUEUE_LIMIT_BYTES / 2;
        assert!(tap.admit(half, 4096));
        tap.send(3, vec![0; half as usize], 10);
        assert!(tap.admit(half, 4096));
        tap.send(3, vec![0; half as usize], 20);
        assert!(!tap.admit(8192, 4096), "a full queue admits nothing");
        assert_eq!(live.skipped_pages.load(Ordering::Relaxed), 2);
        let first = live.receiver.recv().unwrap();
        assert_eq!((first.buffer, first.cpu, first.complete_to), (1, 3, 10));
        drop(first);
        assert!(tap.admit(8192, 4096), "consumed pages make room");
    }
}
