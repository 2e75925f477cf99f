//! kspan-tracedat: a lazy, zero-copy reader and a writer of ftrace `trace.dat` files.
//!
//! - [`format`]: tracefs event format files, `header_page`, and the [`EventFormats`] registry.
//! - [`page`]: one ring-buffer page (sub-buffer): header, missed-event flags, event headers.
//! - [`record`]: a decoded event view with field accessors and pre-resolved [`FieldHandle`]s.
//! - [`read`]: [`TraceFile`], one reader for v6 and v7 (none/zlib/zstd), all buffers merged in
//!   timestamp order.
//! - [`write`]: [`TraceWriter`], writes v7 (zstd or none) or v6 files that trace-cmd reads.
//! - [`text`]: one line per event, like `trace-cmd report -R`, and the `kspan info` summary.
//!
//! ```no_run
//! use kspan_tracedat::{FieldHandle, TraceFile};
//!
//! let file = TraceFile::open("app.dat")?;
//! let format = file.metadata().formats.by_name("sched:sched_switch").expect("recorded");
//! let next_pid = FieldHandle::new(format, "next_pid").expect("field exists");
//! let mut events = file.events(); // all buffers and CPUs, in timestamp order
//! while let Some(rec) = events.next_event()? {
//!     if rec.event_id() == format.id {
//!         println!("{} cpu{} {} -> {:?}", rec.timestamp, rec.cpu, rec.pid(), rec.i64(next_pid));
//!     }
//! }
//! for lost in events.lost_events() {
//!     assert_eq!(lost.count, 0, "the kernel dropped events");
//! }
//! # Ok::<(), kspan_tracedat::Error>(())
//! ```

#![warn(missing_docs)]

mod bytes;
pub mod compress;
pub mod error;
pub mod format;
pub mod options;
pub mod page;
pub mod read;
pub mod record;
pub mod text;
pub mod write;

pub use bytes::Endian;
pub use compress::Compression;
pub use error::{Error, Result, Torn};
pub use format::{EventFormat, EventFormats, Field, FieldKind, HeaderPage};
pub use read::{BufferInfo, CpuData, Events, LostEvents, Metadata, TraceFile, TraceOption};
pub use record::{FieldHandle, Record, Value};
pub use write::{BufferSpec, TraceWriter, WriteOptions};
