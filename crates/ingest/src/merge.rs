//! A second, time-ordered event source merged into the ftrace stream: before each ftrace
//! event is pushed to the engine, every queued event stamped earlier goes first.

use kspan_engine::{Event, EventNames, Timestamp};

/// Events of another source (bpftrace, an imported file), sorted by time, with their names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtraEvents {
    events: Vec<Event>,
    next: usize,
    /// Time of `events[next]`, `Timestamp::MAX` when all are pushed: the one compare made
    /// per ftrace event when nothing is due.
    next_ts: Timestamp,
    names: EventNames,
}

impl ExtraEvents {
    /// Queues `events` (in any order: they are sorted here, stably) named by `names`.
    pub fn new(events: Vec<Event>, names: EventNames) -> ExtraEvents {
        let events = sorted_by_time(events);
        ExtraEvents {
            next_ts: events.first().map_or(Timestamp::MAX, |e| e.ts),
            events,
            next: 0,
            names,
        }
    }

    /// These events and `more` (in any order), queued together.
    pub fn with(self, more: Vec<Event>) -> ExtraEvents {
        let mut events = self.events;
        events.extend(more);
        ExtraEvents::new(events, self.names)
    }

    /// Names of the queued events' types and summed fields.
    pub fn names(&self) -> &EventNames {
        &self.names
    }

    /// Passes every queued event stamped before `ts` to `push`, in time order.
    #[inline]
    pub fn push_before(&mut self, ts: Timestamp, push: &mut dyn FnMut(&Event)) {
        if self.next_ts < ts {
            self.push_due(ts, push);
        }
    }

    fn push_due(&mut self, ts: Timestamp, push: &mut dyn FnMut(&Event)) {
        while let Some(event) = self.events.get(self.next).filter(|e| e.ts < ts) {
            push(event);
            self.next += 1;
        }
        self.next_ts = self.events.get(self.next).map_or(Timestamp::MAX, |e| e.ts);
    }

    /// Passes every event not yet pushed to `push`, in time order.
    pub fn push_rest(&mut self, push: &mut dyn FnMut(&Event)) {
        for event in &self.events[self.next..] {
            push(event);
        }
        self.next = self.events.len();
        self.next_ts = Timestamp::MAX;
    }
}

/// `events` sorted by time, stably. Sorting the events themselves (about 100 bytes each, tens
/// of thousands of payload heads' events) moved each of them many times: this sorts (time,
/// index) pairs, then moves every event once.
fn sorted_by_time(events: Vec<Event>) -> Vec<Event> {
    if events.is_sorted_by_key(|e| e.ts) {
        return events;
    }
    let mut order: Vec<(Timestamp, usize)> =
        events.iter().enumerate().map(|(i, e)| (e.ts, i)).collect();
    // The indexes are unique: the order is that of a stable sort by time.
    order.sort_unstable();
    let mut slots: Vec<Option<Event>> = events.into_iter().map(Some).collect();
    order.iter().filter_map(|&(_, i)| slots[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kspan_engine::EventKind;

    fn event(ts: Timestamp, type_id: u32) -> Event {
        Event {
            ts,
            cpu: 0,
            tid: 1,
            in_irq: false,
            type_id,
            kind: EventKind::Other { values: vec![] },
        }
    }

    #[test]
    fn queued_events_interleave_by_time() {
        let mut extra = ExtraEvents::new(
            vec![
                event(30, 1),
                event(10, 2),
                event(20, 3),
                event(Timestamp::MAX, 4),
            ],
            EventNames::default(),
        );
        let mut order = Vec::new();
        for main in [event(15, 100), event(20, 101), event(40, 102)] {
            extra.push_before(main.ts, &mut |e| order.push(e.type_id));
            order.push(main.type_id);
        }
        extra.push_rest(&mut |e| order.push(e.type_id));
        assert_eq!(order, vec![2, 100, 101, 3, 1, 102, 4]);
    }

    #[test]
    fn events_of_equal_times_keep_their_order() {
        let times = [5, 3, 5, 1, 3, 5, 1];
        let events: Vec<Event> = (0..).zip(times).map(|(i, ts)| event(ts, i)).collect();
        let mut expected = events.clone();
        expected.sort_by_key(|e| e.ts);
        assert_eq!(sorted_by_time(events), expected);
        let sorted = vec![event(1, 0), event(1, 1), event(2, 2)];
        assert_eq!(sorted_by_time(sorted.clone()), sorted);
    }
}
