//! The output convention of users' probes, and bpftrace's loss lines.
//!
//! One line per event: `KSPAN <tid> <nsecs> <name> [key=value …]`, where `tid` is the thread
//! (bpftrace's `tid`), `nsecs` the time on CLOCK_BOOTTIME (bpftrace's `nsecs`, the clock of
//! kspan's ftrace recording), `name` the event's name (no spaces) and each value a decimal
//! integer. Any other line is ignored (a script may print what it likes); a `KSPAN ` line that
//! does not follow the convention is counted as malformed. bpftrace reports events its
//! perf buffer dropped as `Lost N events`.

/// One event a user's probe printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpftraceEvent {
    /// The thread it is about.
    pub tid: i32,
    /// When, in CLOCK_BOOTTIME ns.
    pub ts: u64,
    /// The event's name as printed.
    pub name: String,
    /// `key=value` fields, in printed order.
    pub fields: Vec<(String, i64)>,
}

/// Everything read from one bpftrace run's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedOutput {
    /// Events in output order (per-CPU buffers: not globally time-ordered).
    pub events: Vec<BpftraceEvent>,
    /// Events bpftrace reported lost (sum of its `Lost N events` lines).
    pub lost: u64,
    /// `KSPAN ` lines that did not follow the convention.
    pub malformed: u64,
}

/// Why a `KSPAN ` line is not an event, or `None` when the line is not a `KSPAN ` line.
fn parse_event(line: &str) -> Option<Result<BpftraceEvent, ()>> {
    let rest = line.strip_prefix("KSPAN ")?;
    let mut words = rest.split_ascii_whitespace();
    let mut event = || -> Result<BpftraceEvent, ()> {
        let tid = words.next().ok_or(())?.parse().map_err(|_| ())?;
        let ts = words.next().ok_or(())?.parse().map_err(|_| ())?;
        let name = words.next().ok_or(())?.to_string();
        let fields = words
            .by_ref()
            .map(|kv| {
                let (k, v) = kv.split_once('=').ok_or(())?;
                let v = v
                    .parse::<i64>()
                    .or_else(|_| v.parse::<u64>().map(|u| u as i64))
                    .map_err(|_| ())?;
                Ok((k.to_string(), v))
            })
            .collect::<Result<_, ()>>()?;
        Ok(BpftraceEvent {
            tid,
            ts,
            name,
            fields,
        })
    };
    Some(event())
}

/// The count of a `Lost N events` line.
pub fn lost_count(line: &str) -> Option<u64> {
    line.trim()
        .strip_prefix("Lost ")?
        .strip_suffix(" events")?
        .parse()
        .ok()
}

/// Reads a run's output: events from `stdout`, losses from both streams.
pub fn parse_output(stdout: &str, stderr: &str) -> ParsedOutput {
    let mut out = ParsedOutput::default();
    for line in stdout.lines() {
        match parse_event(line) {
            Some(Ok(event)) => out.events.push(event),
            Some(Err(())) => out.malformed += 1,
            None => out.lost += lost_count(line).unwrap_or(0),
        }
    }
    out.lost += stderr.lines().filter_map(lost_count).sum::<u64>();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_losses_and_malformed_lines_are_told_apart() {
        let stdout = "Attaching 3 probes...\nKSPAN_READY\nKSPAN 12 1000 fault addr=4096 w=-1\n\
                      KSPAN 13 999 getpid\nKSPAN x 1 bad\nKSPAN 1 2 n k=v\nLost 7 events\n@x: 3\n";
        let got = parse_output(stdout, "Lost 2 events\nsomething else\n");
        assert_eq!(
            got.events,
            vec![
                BpftraceEvent {
                    tid: 12,
                    ts: 1000,
                    name: "fault".into(),
                    fields: vec![("addr".into(), 4096), ("w".into(), -1)],
                },
                BpftraceEvent {
                    tid: 13,
                    ts: 999,
                    name: "getpid".into(),
                    fields: vec![],
                },
            ]
        );
        assert_eq!((got.lost, got.malformed), (9, 2));
    }
}
