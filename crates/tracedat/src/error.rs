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
    /// The path to read names a directory.
    #[error("it is a directory, not a trace file; give the path of a trace.dat written by `kspan record`")]
    IsDirectory,
    /// The path to read names nothing.
    #[error("no such file; give the path of a trace.dat written by `kspan record`")]
    NoSuchFile,
    /// The file to read may not be read by this user.
    #[error("permission denied; read it as a user allowed to (e.g. with sudo), or make it readable with chmod")]
    Unreadable,
    /// The file to read is empty.
    #[error("the file is empty, so it holds no recording (its recorder died before writing it, or the disk was full); record again")]
    Empty,
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
    /// The file ends inside the metadata a reader needs before any event (header, formats,
    /// options): nothing in it can be read.
    #[error("the file ends at byte {len}, before the end of its header (the reader needs the {what} at offset {offset}), so it holds no readable event: it was cut short (an interrupted copy, a full disk, or a recorder that died before writing it); copy it again, or record again")]
    TornHeader {
        /// The file's length.
        len: u64,
        /// The structure the cut falls in (or before).
        what: &'static str,
        /// Where that structure starts.
        offset: u64,
    },
    /// The file ends before the event data its metadata describes: every whole page
    /// before the cut is read, the rest is missing.
    #[error("{0}")]
    Torn(Torn),
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

/// Where a file that was cut short ends, and how much of its event data is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Torn {
    /// The file's length.
    pub len: u64,
    /// Where its event data should end.
    pub expected: u64,
    /// Bytes of event data (as stored, so compressed when the file is) after the cut.
    pub missing: u64,
    /// Bytes of event data the file should hold.
    pub total: u64,
}

impl std::fmt::Display for Torn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let percent = self.missing as f64 * 100.0 / self.total.max(1) as f64;
        write!(
            f,
            "the file ends at byte {} but its event data runs to byte {}: it was cut short \
             (an interrupted copy, a full disk, or a recorder that died), so {} of its {} \
             bytes of event data ({percent:.1}%) are missing; the events of every whole page \
             before the cut are read",
            self.len, self.expected, self.missing, self.total
        )
    }
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
