//! `RecordingMeta`: the JSON stored in the trace.dat file's kspan metadata option. It is
//! the contract between `kspan record` and the analysis side: additive changes keep
//! [`META_VERSION`]; a change that alters the meaning of a field bumps it.

use crate::error::{CaptureError, Result};
use crate::events::EventSpec;
use crate::stats::CpuLoss;
use crate::world::WorldSnapshot;
use serde::{Deserialize, Serialize};

/// Version of the metadata layout written by this crate.
pub const META_VERSION: u32 = 1;

/// Name of the pid-filtered buffer holding the target's events.
pub const MAIN_BUFFER: &str = "main";
/// Name of the unfiltered buffer holding TCP state changes of every socket.
pub const NET_BUFFER: &str = "net";

/// The suffix of the ftrace instance name of buffer `name` (main: none, net: `-net`).
pub fn instance_suffix(name: &str) -> &'static str {
    if name == NET_BUFFER {
        "-net"
    } else {
        ""
    }
}

/// Everything a recording knows besides its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingMeta {
    /// [`META_VERSION`] of the writer.
    pub meta_version: u32,
    /// Version of kspan that recorded.
    pub kspan_version: String,
    /// The recorder's command line.
    pub command_line: Vec<String>,
    /// The ftrace clock of every timestamp (`boot`).
    pub clock: String,
    /// Add to a trace timestamp (ns) to get Unix time (ns).
    pub clock_to_unix_ns: i64,
    /// Uncertainty of `clock_to_unix_ns` (ns).
    pub clock_offset_uncertainty_ns: u64,
    /// When tracing was turned on, in trace-clock ns.
    pub start_clock_ns: i64,
    /// When tracing was turned off, in trace-clock ns.
    pub stop_clock_ns: i64,
    /// What was traced, as one sentence (e.g. "netns web, pid 42").
    pub target: String,
    /// How processes that enter a target cgroup/namespace later were followed.
    pub target_following: String,
    /// The buffers, in file order.
    pub buffers: Vec<BufferMeta>,
    /// The world when tracing started.
    pub world: WorldSnapshot,
}

/// One ring buffer of the recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufferMeta {
    /// [`MAIN_BUFFER`] or [`NET_BUFFER`].
    pub name: String,
    /// True when only target tasks' events were kept (`set_event_pid`).
    pub pid_filtered: bool,
    /// Enabled events with their filters.
    pub events: Vec<EventSpec>,
    /// Final per-CPU buffer size (KiB).
    pub buffer_size_kb: u64,
    /// Per-CPU loss counters; all zero means nothing was lost.
    pub loss: Vec<CpuLoss>,
}

impl RecordingMeta {
    /// Serializes the metadata as JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("RecordingMeta is always serializable")
    }

    /// Total events the kernel reported lost, over all buffers and CPUs.
    pub fn lost_events(&self) -> u64 {
        self.buffers
            .iter()
            .flat_map(|b| &b.loss)
            .map(CpuLoss::lost)
            .sum()
    }
}

/// Reads the metadata JSON of a recording; refuses versions newer than this crate knows.
pub fn read_meta(bytes: &[u8]) -> Result<RecordingMeta> {
    let meta: RecordingMeta =
        serde_json::from_slice(bytes).map_err(|e| CaptureError::Meta(e.to_string()))?;
    if meta.meta_version > META_VERSION {
        return Err(CaptureError::Meta(format!(
            "metadata version {} is newer than the supported {META_VERSION}",
            meta.meta_version
        )));
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RecordingMeta {
        RecordingMeta {
            meta_version: META_VERSION,
            kspan_version: "0.1.0".into(),
            command_line: vec!["kspan".into(), "record".into()],
            clock: "boot".into(),
            clock_to_unix_ns: 1_700_000_000_000_000_000,
            clock_offset_uncertainty_ns: 80,
            start_clock_ns: 5,
            stop_clock_ns: 9,
            target: "pid 1".into(),
            target_following: "event-fork".into(),
            buffers: vec![BufferMeta {
                name: MAIN_BUFFER.into(),
                pid_filtered: true,
                events: vec![],
                buffer_size_kb: 4096,
                loss: vec![CpuLoss {
                    cpu: 0,
                    dropped_events: 3,
                    ..CpuLoss::default()
                }],
            }],
            world: WorldSnapshot::default(),
        }
    }

    #[test]
    fn metadata_round_trips_through_json() {
        let meta = sample();
        assert_eq!(read_meta(&meta.to_bytes()).unwrap(), meta);
        assert_eq!(meta.lost_events(), 3);
    }

    #[test]
    fn newer_versions_and_garbage_are_refused() {
        let mut meta = sample();
        meta.meta_version = META_VERSION + 1;
        let err = read_meta(&meta.to_bytes()).unwrap_err();
        assert!(err.to_string().contains("metadata version 2 is newer"));
        assert!(read_meta(b"{").is_err());
    }
}
