//! kspan's reconstruction engine: end-to-end request traces from an ordered stream of
//! kernel events. Pure: no I/O, no clock, no kernel; fed [`Event`]s in time order.
//!
//! ```
//! use kspan_engine::{Config, Engine, EventNames, World};
//! let mut engine = Engine::new(World::default(), EventNames::default(), Config::default());
//! let mut traces = Vec::new();
//! // for ev in events { engine.push(&ev, &mut |t| traces.push(t)); }
//! let summary = engine.finish(&mut |t| traces.push(t));
//! assert_eq!(summary.traces, 0);
//! ```
//!
//! The rules are documented for users in `docs/engine.md`.

mod activity;
mod calibration;
mod config;
mod engine;
pub mod event;
mod fds;
mod futexes;
mod fxhash;
mod handler;
pub mod model;
mod patterns;
mod readers;
mod sockets;
mod spans;
mod stream;
mod threads;
pub mod world;

pub use config::{ByteSource, Config};
pub use engine::{Engine, Footprint};
pub use event::*;
pub use handler::SpanHandler;
pub use model::*;
pub use world::*;
