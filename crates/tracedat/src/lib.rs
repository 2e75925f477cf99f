//! kspan-tracedat: a lazy, zero-copy reader and a writer of ftrace `trace.dat` files.
//!
//! - [`format`]: tracefs event format files, `header_page`, and the [`EventFormats`] registry.
//! - [`page`]: one ring-buffer page (sub-buffer): header, missed-event flags, event headers.
//! - [`record`]: a decoded event view with field accessors and pre-resolved [`FieldHandle`]s.
//! - [`read`]: [`TraceFile`], one reader for v6 and v7 (none/zlib/zstd), all buffers merged in
//!   timestamp order.
//! - [`write`]: [`TraceWriter`], writes v7 (zstd or none) or v6 files that trace-cmd reads.
//! - [`text`]: one line per event, like `trace-cmd report -R`, and the `kspan info` summary.

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
pub use error::{Error, Result};
pub use format::{EventFormat, EventFormats, Field, FieldKind, HeaderPage};
pub use read::{BufferInfo, CpuData, Events, LostEvents, Metadata, TraceFile, TraceOption};
pub use record::{FieldHandle, Record, Value};
pub use write::{BufferSpec, TraceWriter, WriteOptions};
