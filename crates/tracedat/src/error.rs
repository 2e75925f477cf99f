//! The crate's typed errors: each names the problem and what to do about it.

use std::path::PathBuf;

/// Everything that can go wrong while parsing, reading or writing trace data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system I/O error on a named file.
    #[error("cannot access {path}: {source}; check that the file exists and is readable/writable")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An I/O error that is not tied to one file (e.g. reading a page source).
    #[error("I/O error while {context}: {source}")]
    IoContext {
        /// What was being done.
        context: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The first bytes are not `\x17\x08\x44tracing`.
    #[error(
        "not a trace.dat file (wrong magic); pass a file written by trace-cmd or kspan record"
    )]
    BadMagic,
    /// The file declares a version this crate does not read.
    #[error("trace.dat version {0:?} is not supported; only versions 6 and 7 are read (convert with `trace-cmd convert --file-version 7`)")]
    UnsupportedVersion(String),
    /// The file names a compression algorithm this crate does not know.
    #[error("unknown compression algorithm {0:?}; only none, zlib and zstd are supported (convert with `trace-cmd convert --compression none`)")]
    UnknownCompression(String),
    /// The file ends before a structure it announces.
    #[error("file is truncated: {what} at offset {offset} needs {needed} bytes but only {available} remain; the recording was probably interrupted, record again")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// How many bytes were needed.
        needed: u64,
        /// How many bytes were left.
        available: u64,
    },
    /// A structure holds a value that cannot be right.
    #[error("corrupt {what} at offset {offset}: {detail}; the file is damaged, record again")]
    Corrupt {
        /// The structure being read.
        what: &'static str,
        /// Where it starts (file offset, or offset in the page for page errors).
        offset: u64,
        /// What is wrong with it.
        detail: String,
    },
    /// Decompressing a section or chunk failed.
    #[error(
        "cannot decompress {what} at offset {offset}: {detail}; the file is damaged, record again"
    )]
    Decompress {
        /// The structure being decompressed.
        what: &'static str,
        /// Its file offset.
        offset: u64,
        /// The decompressor's message.
        detail: String,
    },
    /// An event format file could not be parsed.
    #[error(
        "cannot parse event format {name:?}: {detail}; the format text is not what tracefs writes"
    )]
    Format {
        /// The event's name, or the first line of the text.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// A field name was looked up on an event that does not have it.
    #[error("event {event:?} has no field {field:?}; check the field name against the event's format file")]
    NoSuchField {
        /// The event's name.
        event: String,
        /// The requested field.
        field: String,
    },
    /// A value passed to the writer cannot be represented in the file.
    #[error("cannot write trace.dat: {0}")]
    Write(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds a [`Error::Corrupt`].
    pub(crate) fn corrupt(what: &'static str, offset: u64, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            what,
            offset,
            detail: detail.into(),
        }
    }
}
