//! kspan-capture: records the kernel tracepoints kspan needs for a set of processes,
//! from private ftrace instances, without losing events silently.
//!
//! Use: [`Recording::start`] with [`RecordOptions`], poll [`Recording::progress`] and
//! [`signals::stop_requested`], then [`Recording::finish`] to get a [`Capture`] (raw
//! per-CPU pages + formats + [`RecordingMeta`]), and hand it to [`write_trace_dat`].
//! [`read_meta`] reads the metadata back for the analysis side.

#![deny(missing_docs)]

pub mod capture;
pub mod child;
pub mod clock;
pub mod drain;
pub mod error;
pub mod event_set;
pub mod events;
pub mod guardian;
pub mod meta;
pub mod output;
pub mod owner;
pub mod privilege;
pub mod procfs;
pub mod recorder;
pub mod rescue;
pub mod salvage;
pub mod signals;
pub mod snapshot;
pub mod sockdiag;
pub mod stats;
pub mod tap;
pub mod target;
pub mod tracefs;
pub mod world;

pub use capture::Capture;
pub use error::{CaptureError, Result};
pub use event_set::{Backend, EventSet};
pub use events::EventRequest;
pub use guardian::Guardian;
pub use meta::{read_meta, RecordingMeta};
pub use output::{write_trace_dat, FileVersion};
pub use recorder::{Progress, RecordOptions, Recording};
pub use salvage::{salvage_stale_temp_dirs, Salvage};
pub use target::TargetSpec;
pub use tracefs::{remove_stale_instances, TRACEFS_ROOT};
