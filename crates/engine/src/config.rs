//! The engine's tunables.

/// How the engine reconstructs traces; [`Config::default`] suits most recordings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Most runs of bytes (one per message) kept queued per connection direction. Bytes
    /// beyond it keep their position but lose their context; bounds memory when the
    /// reading end is never traced (a load generator's socket).
    pub max_segments_per_stream: usize,
    /// Service names that replace the world snapshot's, by process id (tgid), e.g. from the
    /// command line's `--service PID=NAME`.
    pub service_overrides: Vec<(i32, String)>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_segments_per_stream: 64,
            service_overrides: Vec::new(),
        }
    }
}
