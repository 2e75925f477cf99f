//! The merged event stream: one [`CpuCursor`] per (buffer, CPU) and a min-heap keyed by
//! (timestamp, buffer, CPU), so memory stays constant in the file length and equal timestamps
//! come out in buffer order, then CPU order (as `trace-cmd report` prints them).

use std::cmp::Reverse;
use std::collections::binary_heap::{BinaryHeap, PeekMut};

use crate::error::{Error, Result};
use crate::read::cpu::CpuCursor;
use crate::read::TraceFile;
use crate::record::Record;

/// Lost-event tally of one (buffer, CPU), from the pages' missed-event flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostEvents {
    /// Buffer index.
    pub buffer: usize,
    /// CPU number.
    pub cpu: u32,
    /// Sum of the stored missed-event counts.
    pub count: u64,
    /// Whether some page flagged lost events without a count.
    pub unknown: bool,
}

/// Stream of the events of all buffers and CPUs in global timestamp order.
///
/// A lending iterator: each [`Record`] borrows the stream until the next call, so decoding
/// allocates nothing per event. Loop with `while let Some(rec) = events.next_event()? { … }`.
pub struct Events<'f> {
    file: &'f TraceFile,
    cursors: Vec<CpuCursor<'f>>,
    heap: BinaryHeap<Reverse<(u64, usize, u32, usize)>>,
    /// Cursors still to be advanced and pushed before the first event (initially all).
    pending: Vec<usize>,
    /// The heap's top is the event yielded last: its cursor must advance before the next one.
    top_yielded: bool,
    setup_errors: Vec<Error>,
}

impl<'f> Events<'f> {
    pub(crate) fn new(file: &'f TraceFile) -> Self {
        let meta = file.metadata();
        let mut cursors = Vec::new();
        let mut setup_errors = Vec::new();
        for (bi, b) in meta.buffers.iter().enumerate() {
            for c in &b.cpus {
                match CpuCursor::new(file, bi, c) {
                    Ok(cur) => cursors.push(cur),
                    Err(e) => setup_errors.push(e),
                }
            }
        }
        let pending = (0..cursors.len()).rev().collect();
        Events {
            file,
            cursors,
            heap: BinaryHeap::new(),
            pending,
            top_yielded: false,
            setup_errors,
        }
    }

    /// The next event in timestamp order, `Ok(None)` at the end. A damaged page or chunk yields
    /// its error once; that CPU then ends and the other CPUs go on.
    pub fn next_event(&mut self) -> Result<Option<Record<'_>>> {
        if let Some(e) = self.setup_errors.pop() {
            return Err(e);
        }
        let meta = self.file.metadata();
        while let Some(i) = self.pending.pop() {
            let c = &mut self.cursors[i];
            c.advance(&meta.header_page, meta.endian)?;
            if let Some((ts, _)) = c.next {
                self.heap.push(Reverse((ts, c.buffer, c.cpu, i)));
            }
        }
        // The cursor yielded last is still the heap's top: advance it and fix the top in
        // place (one sift instead of a pop and a push per event).
        if self.top_yielded {
            self.top_yielded = false;
            if let Some(mut top) = self.heap.peek_mut() {
                let i = top.0 .3;
                let c = &mut self.cursors[i];
                match c.advance(&meta.header_page, meta.endian) {
                    Ok(()) => match c.next {
                        Some((ts, _)) => *top = Reverse((ts, c.buffer, c.cpu, i)),
                        None => {
                            PeekMut::pop(top);
                        }
                    },
                    Err(e) => {
                        // That CPU ends; the others go on.
                        PeekMut::pop(top);
                        return Err(e);
                    }
                }
            }
        }
        let Some(&Reverse((timestamp, _, _, i))) = self.heap.peek() else {
            return Ok(None);
        };
        self.top_yielded = true;
        let c = &self.cursors[i];
        let range = c.next.clone().map_or(0..0, |(_, r)| r);
        let data = &c.current()[range];
        let mut rec = Record {
            timestamp,
            cpu: c.cpu,
            buffer: c.buffer,
            data,
            format: None,
            endian: meta.endian,
        };
        rec.format = meta.formats.by_id(rec.event_id());
        Ok(Some(rec))
    }

    /// Lost events per (buffer, CPU) counted so far (complete once the stream has ended).
    pub fn lost_events(&self) -> Vec<LostEvents> {
        self.cursors
            .iter()
            .map(|c| LostEvents {
                buffer: c.buffer,
                cpu: c.cpu,
                count: c.lost.0,
                unknown: c.lost.1,
            })
            .collect()
    }

    /// Warnings about torn final pages met so far (each CPU's events before the tear were yielded).
    pub fn warnings(&self) -> Vec<&Error> {
        self.cursors
            .iter()
            .filter_map(|c| c.warning.as_ref())
            .collect()
    }
}
