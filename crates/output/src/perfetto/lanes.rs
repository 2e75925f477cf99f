//! Tracks for slices that must nest: Perfetto (and the JSON trace format) require the
//! complete slices of one thread to nest strictly, but an event-loop thread works for
//! several requests at once, so its spans can overlap without nesting. Each thread's spans
//! are put on lanes: lane 0 is the thread itself, and a span that would break the nesting
//! of every lane so far opens a new one.

/// The lane of each of `spans` (start, end), given in any order: the lowest lane on which
/// it nests inside, or follows, the spans already placed there when spans are placed by
/// start, longer first.
pub fn assign_lanes(spans: &[(u64, u64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|&i| (spans[i].0, std::cmp::Reverse(spans[i].1), i));
    // Per lane, the ends of the spans still open there, innermost last.
    let mut open: Vec<Vec<u64>> = Vec::new();
    let mut lanes = vec![0; spans.len()];
    for i in order {
        let (start, end) = spans[i];
        let lane = open.iter_mut().position(|stack| {
            while stack.last().is_some_and(|&e| e <= start) {
                stack.pop();
            }
            stack.last().is_none_or(|&e| e >= end)
        });
        let lane = lane.unwrap_or_else(|| {
            open.push(Vec::new());
            open.len() - 1
        });
        open[lane].push(end);
        lanes[i] = lane;
    }
    lanes
}

#[cfg(test)]
mod tests {
    use super::assign_lanes;

    #[test]
    fn nested_and_sequential_spans_share_the_thread() {
        assert_eq!(
            assign_lanes(&[(0, 100), (10, 20), (20, 90), (100, 150)]),
            [0, 0, 0, 0]
        );
    }

    #[test]
    fn an_overlapping_span_goes_to_the_next_free_lane() {
        // An event loop: request 2 starts while request 1 is open and outlives it; a call
        // nests in request 1; request 3 follows 1 on lane 0, request 4 overlaps it and takes
        // lane 1 again, now free; a call nests in request 3.
        let spans = [
            (0, 100),
            (50, 150),
            (60, 70),
            (120, 200),
            (155, 300),
            (160, 170),
        ];
        assert_eq!(assign_lanes(&spans), [0, 1, 0, 0, 1, 0]);
    }

    #[test]
    fn equal_starts_put_the_longer_span_outside() {
        assert_eq!(assign_lanes(&[(0, 10), (0, 30)]), [0, 0]);
    }
}
