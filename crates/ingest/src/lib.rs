//! The one converter between event sources and the engine (samply's model: live recording and
//! file replay go through the same code).
//!
//! - [`decode`]: ftrace records → engine [`Event`](kspan_engine::Event)s, with every field
//!   handle resolved once per event type.
//! - [`syscalls`]: which syscall tracepoints mean what to the engine.
//! - [`live`]: a live recording's drained pages → the same event stream, merged as a file's.
//! - [`merge`]: a second time-ordered source (bpftrace, imported files) merged into the stream.
//! - [`bpftrace`]: bpftrace output stored in a recording → engine events.
//! - [`calls`]: the BPF backend's socket-call records → the ftrace events they replace.
//! - [`heads`]: payload heads (`kspan record --payload-bytes`) → endpoint-signature events.
//! - [`psv`]: the original MiSeRTrace's pipe-separated lines → engine events.
//! - [`world`]: a recording's metadata → the engine's start-of-recording [`World`](kspan_engine::World).

pub mod bpftrace;
pub mod calls;
pub mod decode;
pub mod heads;
pub mod live;
pub mod merge;
pub mod psv;
pub mod syscalls;
pub mod world;

pub use bpftrace::{bpftrace_events, BpftraceEvents};
pub use calls::CallEvents;
pub use decode::{Decoder, SumRequest};
pub use heads::head_events;
pub use merge::ExtraEvents;
pub use world::{service_name, world_from_meta};
