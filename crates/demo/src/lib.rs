//! kspan-demo: a small social-network application (nginx, redis, memcached, PostgreSQL
//! and our own services in five concurrency designs) on network namespaces, with
//! ground-truth logs of every request, so kspan's reconstruction can be checked exactly.
//!
//! See docs/ground-truth.md for the log formats.

pub mod plan;
pub mod proto;
pub mod svc;
pub mod topology;
pub mod truth;
pub mod wire;

mod app;
mod cgroup;
mod error;
mod launch;
mod netns;
mod stores;

pub use app::{status, teardown, App, Config, HostInfo};
pub use error::{Error, Result};
