//! A live recording's drained pages → the engine's event stream, in the order a replay of
//! the trace.dat written from the same pages gives: by timestamp, then buffer, then CPU.
//!
//! Each CPU's events come in time order, but the CPUs are drained independently, so an
//! event is released only once every CPU was drained past its time: each drain pass says
//! how far its CPU is complete ([`DrainedPages::complete_to`]), and the merge releases
//! what lies before the smallest of these. The wait is bounded: a caller's `floor` (the
//! clock minus the longest wait it accepts) releases up to it even when a CPU is late;
//! an event that turns up behind what was already released is counted, not pushed (the
//! engine needs time order). Memory holds only the events between the slowest CPU's
//! drain and the fastest one's: a few hundred milliseconds.

use crate::decode::Decoder;
use kspan_capture::tap::DrainedPages;
use kspan_engine::{Event, Timestamp};
use kspan_tracedat::page::{Missed, Page};
use kspan_tracedat::{Endian, EventFormats, HeaderPage, Record};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// One (buffer, CPU): its decoded events not yet released, and how far it is complete.
#[derive(Debug)]
struct Source {
    buffer: usize,
    cpu: u32,
    events: VecDeque<Event>,
    complete_to: Timestamp,
}

/// What the merge met besides events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveCounts {
    /// Events the kernel flagged as lost in the pages (missed-event counts).
    pub lost_in_pages: u64,
    /// Pages that flagged lost events without a count.
    pub lost_unknown_pages: u64,
    /// Events stamped before what was already released (a CPU drained later than the
    /// bounded wait): left out of the analysis.
    pub late: u64,
    /// Pages that could not be parsed.
    pub damaged_pages: u64,
}

/// Merges the drained pages of every (buffer, CPU) of a recording into one stream.
pub struct LiveMerge {
    decoder: Decoder,
    formats: EventFormats,
    layout: HeaderPage,
    page_size: usize,
    /// Sorted by (buffer, CPU): a source's index is its rank among equal timestamps.
    sources: Vec<Source>,
    /// `(timestamp of its next event, index)` of every source with events queued.
    heads: BinaryHeap<Reverse<(Timestamp, usize)>>,
    /// Every event before this was released.
    released: Timestamp,
    counts: LiveCounts,
}

impl LiveMerge {
    /// A merge of the pages of `sources` ((buffer, CPU) pairs), each `page_size` bytes laid
    /// out as `layout`, decoded by `decoder` with the events' `formats`.
    pub fn new(
        decoder: Decoder,
        formats: EventFormats,
        layout: HeaderPage,
        page_size: usize,
        sources: &[(usize, u32)],
    ) -> LiveMerge {
        let mut sources: Vec<Source> = sources
            .iter()
            .map(|&(buffer, cpu)| Source {
                buffer,
                cpu,
                events: VecDeque::new(),
                complete_to: 0,
            })
            .collect();
        sources.sort_by_key(|s| (s.buffer, s.cpu));
        LiveMerge {
            decoder,
            formats,
            layout,
            page_size,
            sources,
            heads: BinaryHeap::new(),
            released: 0,
            counts: LiveCounts::default(),
        }
    }

    /// Decodes one drain pass's pages and queues their events.
    pub fn add(&mut self, pass: &DrainedPages) {
        let Some(index) = self
            .sources
            .iter()
            .position(|s| (s.buffer, s.cpu) == (pass.buffer, pass.cpu))
        else {
            return;
        };
        let was_empty = self.sources[index].events.is_empty();
        for page in pass.pages.chunks(self.page_size.max(1)) {
            self.add_page(index, page);
        }
        let source = &mut self.sources[index];
        source.complete_to = source.complete_to.max(pass.complete_to);
        if let (true, Some(first)) = (was_empty, source.events.front()) {
            self.heads.push(Reverse((first.ts, index)));
        }
    }

    fn add_page(&mut self, index: usize, bytes: &[u8]) {
        let Ok(page) = Page::parse(bytes, &self.layout, Endian::NATIVE) else {
            self.counts.damaged_pages += 1;
            return;
        };
        match page.missed {
            Missed::None => {}
            Missed::Count(n) => self.counts.lost_in_pages += n,
            Missed::Unknown => self.counts.lost_unknown_pages += 1,
        }
        let source = &mut self.sources[index];
        for raw in page.events() {
            let Ok(raw) = raw else {
                self.counts.damaged_pages += 1;
                break;
            };
            let mut record = Record::new(
                raw.timestamp,
                source.cpu,
                source.buffer,
                raw.data,
                None,
                Endian::NATIVE,
            );
            record.format = self.formats.by_id(record.event_id());
            let Some(event) = self.decoder.decode(&record) else {
                continue;
            };
            if event.ts < self.released {
                self.counts.late += 1;
            } else {
                source.events.push_back(event);
            }
        }
    }

    /// Passes to `push`, in order, every queued event stamped before the time all sources
    /// are complete to, or before `floor` if that is later (the bounded wait); returns that
    /// time (every event before it is out: the engine may [`advance`] to it).
    ///
    /// [`advance`]: kspan_engine::Engine::advance
    pub fn release(&mut self, floor: Timestamp, push: &mut dyn FnMut(&Event)) -> Timestamp {
        let complete = self.sources.iter().map(|s| s.complete_to).min();
        let to = complete.unwrap_or(Timestamp::MAX).max(floor);
        while let Some(&Reverse((ts, index))) = self.heads.peek() {
            if ts >= to {
                break;
            }
            self.heads.pop();
            let source = &mut self.sources[index];
            if let Some(event) = source.events.pop_front() {
                push(&event);
            }
            if let Some(next) = source.events.front() {
                self.heads.push(Reverse((next.ts, index)));
            }
        }
        self.released = self.released.max(to);
        self.released
    }

    /// The event formats the pages are decoded with.
    pub fn formats(&self) -> &EventFormats {
        &self.formats
    }

    /// Events queued, not yet released (for memory checks).
    pub fn queued(&self) -> usize {
        self.sources.iter().map(|s| s.events.len()).sum()
    }

    /// What the merge met so far.
    pub fn counts(&self) -> LiveCounts {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kspan_capture::tap::page_tap;
    use kspan_tracedat::EventFormat;

    const FORMAT: &str = "name: tick\nID: 3000\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\tfield:int seq;\toffset:8;\tsize:4;\tsigned:1;\n\nprint fmt: \"seq=%d\", REC->seq\n";

    /// A page of `tick` events at `times` (ascending), each with `common_pid` = its time.
    fn page(times: &[u64]) -> Vec<u8> {
        let mut page = vec![0u8; 4096];
        let base = times.first().copied().unwrap_or(0);
        page[..8].copy_from_slice(&base.to_ne_bytes());
        let mut body = Vec::new();
        let mut last = base;
        for &t in times {
            body.extend((3u32 | (((t - last) as u32) << 5)).to_ne_bytes());
            body.extend(3000u16.to_ne_bytes());
            body.extend([0u8, 0]);
            body.extend((t as i32).to_ne_bytes());
            body.extend(0i32.to_ne_bytes());
            last = t;
        }
        page[8..16].copy_from_slice(&(body.len() as u64).to_ne_bytes());
        page[16..16 + body.len()].copy_from_slice(&body);
        page
    }

    fn merge() -> LiveMerge {
        let mut formats = EventFormats::new();
        formats.insert(EventFormat::parse("kspan_test", FORMAT).unwrap());
        let decoder = Decoder::new(&formats, &[]).unwrap();
        let sources = [(0, 0), (0, 1), (1, 0)];
        LiveMerge::new(decoder, formats, HeaderPage::LINUX_64, 4096, &sources)
    }

    /// A drain pass of (buffer, cpu) with pages of `times`, complete to `complete_to`.
    fn pass(buffer: usize, cpu: u32, pages: &[&[u64]], complete_to: u64) -> DrainedPages {
        let (tap, live) = page_tap();
        let bytes: Vec<u8> = pages.iter().flat_map(|t| page(t)).collect();
        tap.for_buffer(buffer).send(cpu, bytes, complete_to);
        live.receiver.recv().unwrap()
    }

    fn released(m: &mut LiveMerge, floor: u64) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        m.release(floor, &mut |e| out.push((e.ts, e.cpu)));
        out
    }

    #[test]
    fn events_wait_until_every_cpu_is_drained_past_them() {
        let mut m = merge();
        m.add(&pass(0, 0, &[&[10, 20], &[30, 40]], 45));
        m.add(&pass(0, 1, &[&[15, 35]], 36));
        assert_eq!(released(&mut m, 0), vec![], "buffer 1 has not reported");
        m.add(&pass(1, 0, &[&[20]], 25));
        assert_eq!(
            released(&mut m, 0),
            vec![(10, 0), (15, 1), (20, 0), (20, 0)]
        );
        assert_eq!(m.queued(), 3);
        m.add(&pass(1, 0, &[], u64::MAX));
        m.add(&pass(0, 1, &[], u64::MAX));
        assert_eq!(released(&mut m, 0), vec![(30, 0), (35, 1), (40, 0)]);
        assert_eq!(m.queued(), 0);
    }

    #[test]
    fn equal_times_come_in_buffer_then_cpu_order_as_in_a_file() {
        let mut m = merge();
        m.add(&pass(1, 0, &[&[7]], u64::MAX));
        m.add(&pass(0, 1, &[&[7]], u64::MAX));
        m.add(&pass(0, 0, &[&[7]], u64::MAX));
        let mut order = Vec::new();
        m.release(0, &mut |e| order.push((e.ts, e.cpu, e.tid)));
        assert_eq!(order.len(), 3);
        // (buffer 0, cpu 0), (buffer 0, cpu 1), (buffer 1, cpu 0)
        assert_eq!(order.iter().map(|o| o.1).collect::<Vec<_>>(), vec![0, 1, 0]);
    }

    #[test]
    fn the_wait_is_bounded_and_late_events_are_counted_not_pushed() {
        let mut m = merge();
        m.add(&pass(0, 0, &[&[10, 50]], 60));
        m.add(&pass(1, 0, &[], 60));
        // CPU 1 of buffer 0 is silent: the floor releases up to 40 anyway.
        assert_eq!(released(&mut m, 40), vec![(10, 0)]);
        m.add(&pass(0, 1, &[&[30, 45]], 60));
        assert_eq!(m.counts().late, 1, "30 is behind the released 40");
        assert_eq!(released(&mut m, 40), vec![(45, 1), (50, 0)]);
    }
}
