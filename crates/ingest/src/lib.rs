//! The one converter between event sources and the engine (samply's model: live recording and
//! file replay go through the same code).
//!
//! - [`decode`]: ftrace records → engine [`Event`](kspan_engine::Event)s, with every field
//!   handle resolved once per event type.
//! - [`syscalls`]: which syscall tracepoints mean what to the engine.
//! - [`world`]: a recording's metadata → the engine's start-of-recording [`World`](kspan_engine::World).

pub mod decode;
pub mod syscalls;
pub mod world;

pub use decode::{Decoder, SumRequest};
pub use world::{service_name, world_from_meta};
