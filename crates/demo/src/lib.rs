//! kspan-demo: a small social-network application (nginx, redis, memcached, PostgreSQL
//! and our own services in five concurrency designs) on network namespaces, with
//! ground-truth logs of every request, so kspan's reconstruction can be checked exactly.
//!
//! See docs/ground-truth.md for the log formats, the topology and the call sets.
//!
//! ```no_run
//! use kspan_demo::{App, Config};
//!
//! // Needs root: network namespaces, cgroups, nginx/redis/memcached/postgresql-15.
//! let app = App::up(&Config::default())?; // kspan-demo-svc is found next to this exe
//! let gateway = app.gateway_addr(); // 10.77.0.10:80, reachable from app.client_netns()
//! for host in app.hosts() {
//!     println!("{} {} {:?} {:?}", host.name, host.netns, host.cgroup, app.pids(host.name));
//! }
//! // ... load from the client namespace, record, then read app.truth_dir() ...
//! app.down()?; // also done by Drop, on error or panic
//! # let _ = gateway;
//! # Ok::<(), kspan_demo::Error>(())
//! ```

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

pub use app::{status, teardown, workdir, App, Config, HostInfo};
pub use error::{Error, Result};
