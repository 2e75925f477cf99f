//! Per-CPU ring-buffer statistics (`per_cpu/cpuN/stats`): the kernel's own count of lost
//! events, read at the end of a recording so that loss is never silent.

use serde::{Deserialize, Serialize};

/// The loss-related counters of one CPU's ring buffer, plus what the drainer saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuLoss {
    /// CPU number.
    pub cpu: u32,
    /// Events overwritten before they were read (`overrun`).
    pub overrun: u64,
    /// Events lost while a write was being committed (`commit overrun`).
    pub commit_overrun: u64,
    /// Events dropped because the buffer was full (`dropped events`).
    pub dropped_events: u64,
    /// Pages read with the kernel's "events missed before this page" flag.
    pub pages_with_missed_flag: u64,
    /// Event records read from this CPU's buffer.
    pub events_read: u64,
}

impl CpuLoss {
    /// Reads the counters from the text of a `per_cpu/cpuN/stats` file (missing lines
    /// count as zero).
    pub fn from_stats_text(cpu: u32, text: &str) -> CpuLoss {
        let get = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        CpuLoss {
            cpu,
            overrun: get("overrun"),
            commit_overrun: get("commit overrun"),
            dropped_events: get("dropped events"),
            pages_with_missed_flag: 0,
            events_read: 0,
        }
    }

    /// Events the kernel counted as lost on this CPU.
    pub fn lost(&self) -> u64 {
        self.overrun + self.commit_overrun + self.dropped_events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_text_is_parsed() {
        let text = "entries: 12\noverrun: 3\ncommit overrun: 1\nbytes: 640\n\
                    oldest event ts: 5.000\nnow ts: 6.000\ndropped events: 7\nread events: 99\n";
        let loss = CpuLoss::from_stats_text(1, text);
        assert_eq!(
            loss,
            CpuLoss {
                cpu: 1,
                overrun: 3,
                commit_overrun: 1,
                dropped_events: 7,
                pages_with_missed_flag: 0,
                events_read: 0
            }
        );
        assert_eq!(loss.lost(), 11);
    }
}
