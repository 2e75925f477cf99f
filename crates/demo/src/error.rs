//! Errors of bringing the demo application up or down.

use std::io;
use std::path::PathBuf;

/// Why the demo application could not be brought up or down.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Debian package the app needs is not installed.
    #[error("{program} is missing: install it with `apt-get install {package}`")]
    MissingPackage {
        /// The program looked for.
        program: PathBuf,
        /// The package that provides it.
        package: &'static str,
    },
    /// The service binary is not where it was looked for.
    #[error("the service binary {0} does not exist: build it with `cargo build -p kspan-demo` or pass its path in Config::svc_bin")]
    NoServiceBinary(PathBuf),
    /// An instance with the same prefix is already running.
    #[error("network namespace {0} already exists: another demo instance is up; bring it down with `kspan-demo-app down` or use another Config::prefix")]
    AlreadyUp(String),
    /// An external command failed.
    #[error("`{command}` failed: {detail}; the demo must run as root on a kernel with network namespaces and cgroup2")]
    Command {
        /// The command line.
        command: String,
        /// Its error output or exit status.
        detail: String,
    },
    /// A file or system call failed.
    #[error("cannot {action}: {source}; the demo must run as root")]
    Io {
        /// What was being done, naming the path.
        action: String,
        /// The cause.
        source: io::Error,
    },
    /// A process exited while it should have been starting to serve.
    #[error("{service} exited ({status}) instead of serving; see its log {log}: {tail}")]
    Exited {
        /// Service name.
        service: String,
        /// Its exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// A process did not start serving in time.
    #[error(
        "{service} did not start serving at {addr} within {secs} s; see its log {log}: {tail}"
    )]
    NotReady {
        /// Service name.
        service: String,
        /// Its address.
        addr: String,
        /// The time waited.
        secs: u64,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Wraps an I/O error with the action that failed.
pub fn io_err(action: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let action = action.into();
    move |source| Error::Io { action, source }
}
