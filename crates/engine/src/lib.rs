//! kspan's reconstruction engine: end-to-end request traces from an ordered stream of
//! kernel events. Pure: no I/O, no clock, no kernel; fed [`Event`]s in time order.

pub mod event;
pub mod model;
pub mod world;

pub use event::*;
pub use model::*;
pub use world::*;
