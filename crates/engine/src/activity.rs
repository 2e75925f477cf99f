//! Accumulating kernel activity for a span: time per scheduler state, bytes, event counts
//! per type and sums of requested fields.
//!
//! Counting is on the hot path (every event of a traced thread), so counts are kept per
//! dense *slot* (one per event type met, assigned on first sight) in an [`Acc`], and only
//! turned into the sorted `(type id, count)` list of [`Activity`] when a span is emitted.

use crate::event::EventTypeId;
use crate::fxhash::FxHashMap;
use crate::model::{Activity, EventNames};

/// Where a stretch of a thread's time goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bucket {
    /// Running on a CPU.
    OnCpu,
    /// Runnable, waiting for a CPU.
    Runnable,
    /// Blocked in a socket read, poll, accept or connect.
    Net,
    /// Blocked in uninterruptible sleep.
    Io,
    /// Blocked in futex.
    Futex,
    /// Blocked in anything else.
    Other,
}

/// Activity being accumulated: the [`Activity`] fields other than `counts`, and the counts
/// per slot.
#[derive(Debug, Default)]
pub(crate) struct Acc {
    /// Times, bytes and sums (its `counts` stay empty until [`Acc::into_activity`]).
    pub a: Activity,
    /// Events per slot.
    counts: Vec<u64>,
}

impl Acc {
    /// Adds `ns` to the bucket's counter.
    pub fn add_time(&mut self, bucket: Bucket, ns: u64) {
        let a = &mut self.a;
        let slot = match bucket {
            Bucket::OnCpu => &mut a.on_cpu_ns,
            Bucket::Runnable => &mut a.runnable_ns,
            Bucket::Net => &mut a.blocked_net_ns,
            Bucket::Io => &mut a.blocked_io_ns,
            Bucket::Futex => &mut a.blocked_futex_ns,
            Bucket::Other => &mut a.blocked_other_ns,
        };
        *slot += ns;
    }

    /// Adds everything in `from` and zeroes `from`, keeping its allocations (a span's tail
    /// is taken in at every write of a response and then fills up again).
    pub fn take_from(&mut self, from: &mut Acc) {
        let (into, f) = (&mut self.a, &mut from.a);
        into.on_cpu_ns += std::mem::take(&mut f.on_cpu_ns);
        into.runnable_ns += std::mem::take(&mut f.runnable_ns);
        into.blocked_net_ns += std::mem::take(&mut f.blocked_net_ns);
        into.blocked_io_ns += std::mem::take(&mut f.blocked_io_ns);
        into.blocked_futex_ns += std::mem::take(&mut f.blocked_futex_ns);
        into.blocked_other_ns += std::mem::take(&mut f.blocked_other_ns);
        into.bytes_in += std::mem::take(&mut f.bytes_in);
        into.bytes_out += std::mem::take(&mut f.bytes_out);
        add_all(&mut into.sums, &f.sums);
        f.sums.clear();
        if self.counts.len() < from.counts.len() {
            self.counts.resize(from.counts.len(), 0);
        }
        for (c, n) in self.counts.iter_mut().zip(&mut from.counts) {
            *c += std::mem::take(n);
        }
    }

    /// Events counted.
    pub fn events(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The final [`Activity`], counts sorted by type id.
    pub fn into_activity(self, layout: &Layout) -> Activity {
        let mut a = self.a;
        let mut counts = Vec::with_capacity(self.counts.iter().filter(|&&n| n > 0).count());
        for &slot in &layout.slots_by_type {
            match self.counts.get(slot as usize) {
                Some(&n) if n > 0 => counts.push((layout.types[slot as usize], n)),
                _ => {}
            }
        }
        a.counts = counts;
        a
    }
}

fn add_all(into: &mut Vec<i64>, from: &[i64]) {
    if into.len() < from.len() {
        into.resize(from.len(), 0);
    }
    for (slot, v) in into.iter_mut().zip(from) {
        *slot += v;
    }
}

/// Type ids below this are mapped to slots by direct indexing (ftrace ids are small).
const DENSE_TYPES: usize = 1 << 16;

/// Slots of event types, and where each type's requested fields go in
/// [`Activity::sums`].
#[derive(Debug)]
pub(crate) struct Layout {
    /// Type id → slot + 1 (0: no slot yet), for ids below [`DENSE_TYPES`].
    dense: Vec<u32>,
    /// Type id → slot, for larger ids (bpftrace sources).
    sparse: FxHashMap<EventTypeId, u32>,
    /// Slot → type id.
    types: Vec<EventTypeId>,
    /// Every slot, in increasing order of its type id (so that activity comes out sorted).
    slots_by_type: Vec<u32>,
    /// Type id → offset of its first field in `sums`.
    offsets: FxHashMap<EventTypeId, usize>,
}

impl Layout {
    /// Lays out the summed fields in the order of [`EventNames::field_names`].
    pub fn new(names: &EventNames) -> Layout {
        let mut offsets = FxHashMap::default();
        let mut len = 0;
        for (type_id, fields) in &names.field_names {
            offsets.insert(*type_id, len);
            len += fields.len();
        }
        Layout {
            dense: Vec::new(),
            sparse: FxHashMap::default(),
            types: Vec::new(),
            slots_by_type: Vec::new(),
            offsets,
        }
    }

    #[inline]
    fn slot(&mut self, type_id: EventTypeId) -> usize {
        let next = self.types.len() as u32;
        let slot = if (type_id as usize) < DENSE_TYPES {
            let i = type_id as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, 0);
            }
            if self.dense[i] == 0 {
                self.dense[i] = next + 1;
            }
            self.dense[i] - 1
        } else {
            *self.sparse.entry(type_id).or_insert(next)
        };
        if slot == next {
            self.types.push(type_id);
            let types = &self.types;
            let at = self
                .slots_by_type
                .partition_point(|&s| types[s as usize] < type_id);
            self.slots_by_type.insert(at, slot);
        }
        slot as usize
    }

    /// Counts one event of `type_id` and adds its `values` to the sums.
    pub fn record(&mut self, acc: &mut Acc, type_id: EventTypeId, values: &[i64]) {
        let slot = self.slot(type_id);
        if acc.counts.len() <= slot {
            // Room for every type known so far at once: one allocation per span, not one
            // per new type it meets.
            acc.counts.resize(self.types.len(), 0);
        }
        acc.counts[slot] += 1;
        if values.is_empty() {
            return;
        }
        if let Some(&off) = self.offsets.get(&type_id) {
            if acc.a.sums.len() < off + values.len() {
                acc.a.sums.resize(off + values.len(), 0);
            }
            for (slot, v) in acc.a.sums[off..].iter_mut().zip(values) {
                *slot += v;
            }
        }
    }
}
