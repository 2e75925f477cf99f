//! Accumulating kernel activity into a span's [`Activity`]: time per scheduler state,
//! bytes, event counts per type and sums of requested fields.

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

/// Adds `ns` to the bucket's counter.
pub(crate) fn add_time(a: &mut Activity, bucket: Bucket, ns: u64) {
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

/// Where each event type's requested fields go in [`Activity::sums`].
#[derive(Debug, Default)]
pub(crate) struct SumLayout {
    /// Type id → offset of its first field in `sums`.
    offsets: FxHashMap<EventTypeId, usize>,
    /// Total number of summed fields.
    pub len: usize,
}

impl SumLayout {
    /// Lays out the fields in the order of [`EventNames::field_names`].
    pub fn new(names: &EventNames) -> SumLayout {
        let mut layout = SumLayout::default();
        for (type_id, fields) in &names.field_names {
            layout.offsets.insert(*type_id, layout.len);
            layout.len += fields.len();
        }
        layout
    }

    /// Counts one event of `type_id` and adds its `values` to the sums.
    pub fn record(&self, a: &mut Activity, type_id: EventTypeId, values: &[i64]) {
        add_count(a, type_id, 1);
        if values.is_empty() {
            return;
        }
        if let Some(&off) = self.offsets.get(&type_id) {
            if a.sums.len() < self.len {
                a.sums.resize(self.len, 0);
            }
            for (slot, v) in a.sums[off..].iter_mut().zip(values) {
                *slot += v;
            }
        }
    }
}

fn add_count(a: &mut Activity, type_id: EventTypeId, n: u64) {
    match a.counts.binary_search_by_key(&type_id, |&(t, _)| t) {
        Ok(i) => a.counts[i].1 += n,
        Err(i) => a.counts.insert(i, (type_id, n)),
    }
}

/// Adds everything in `from` to `into`.
pub(crate) fn merge(into: &mut Activity, from: &Activity) {
    into.on_cpu_ns += from.on_cpu_ns;
    into.runnable_ns += from.runnable_ns;
    into.blocked_net_ns += from.blocked_net_ns;
    into.blocked_io_ns += from.blocked_io_ns;
    into.blocked_futex_ns += from.blocked_futex_ns;
    into.blocked_other_ns += from.blocked_other_ns;
    into.bytes_in += from.bytes_in;
    into.bytes_out += from.bytes_out;
    for &(t, n) in &from.counts {
        add_count(into, t, n);
    }
    if into.sums.len() < from.sums.len() {
        into.sums.resize(from.sums.len(), 0);
    }
    for (slot, v) in into.sums.iter_mut().zip(&from.sums) {
        *slot += v;
    }
}

/// Total events counted in `a`.
pub(crate) fn event_total(a: &Activity) -> u64 {
    a.counts.iter().map(|&(_, n)| n).sum()
}
