//! kspan-heads: the first bytes of each message a traced process sent or read on a TCP
//! socket ("payload heads", captured by `kspan-bpf`), as stored in a recording and as the
//! analysis looks them up.
//!
//! - [`head`]: one head: which thread, socket descriptor and syscall, when, which bytes.
//! - [`stored`]: the trace.dat option [`HEADS_OPTION`] that holds them (zstd-compressed).
//! - [`calls`]: the BPF backend's socket-call records and their trace.dat option
//!   [`CALLS_OPTION`].
//! - [`table`]: the heads of a recording indexed by thread and by socket, for naming spans.

#![deny(missing_docs)]

pub mod calls;
pub mod head;
pub mod stored;
pub mod table;

pub use calls::{CallKind, CallRecord, StoredCalls, CALLS_OPTION};
pub use head::{Direction, Head, SyscallKind};
pub use stored::{chunk_bytes, encode_record, HeadsError, StoredHeads, CHUNK, HEADS_OPTION};
pub use table::HeadTable;
