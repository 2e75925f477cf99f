//! Opens the trace.dat that `info`, `dump` and `analyze` read. A file that `kspan record`
//! is still recording (it does not exist until the recording ends) is read as far as the
//! recorder has written it, with one warning ([`kspan_capture::snapshot`]).

use anyhow::Context;
use kspan_capture::snapshot;
use kspan_tracedat::{Error, TraceFile};
use std::path::Path;

/// Opens `path`, or a snapshot of the recording in progress into it; with the snapshot,
/// the warning (also printed) that says so.
pub fn open(path: &Path) -> anyhow::Result<(TraceFile, Option<String>)> {
    let cannot = || format!("cannot read {}", path.display());
    match TraceFile::open(path) {
        Err(Error::NoSuchFile) => {}
        other => return Ok((other.with_context(cannot)?, None)),
    }
    let Some(snapshot) = snapshot::of_recording_into(path, &std::env::temp_dir()) else {
        // The recording may have ended meanwhile: its file exists now.
        return Ok((TraceFile::open(path).with_context(cannot)?, None));
    };
    let snapshot = snapshot.with_context(|| {
        format!(
            "cannot read {}: it is still being recorded, and what was recorded so far cannot be \
             copied; wait until `kspan record` has finished",
            path.display()
        )
    })?;
    let file = TraceFile::open(&snapshot.path).with_context(cannot);
    // Mapped once opened: the snapshot file is not needed any more.
    let _ = std::fs::remove_file(&snapshot.path);
    let warning = format!(
        "{} is still being recorded (by `kspan record` with pid {}), so only the {} whole \
         pages it has written so far are read; read it again once the recording has finished \
         for all of it",
        path.display(),
        snapshot.pid,
        snapshot.pages
    );
    eprintln!("kspan: warning: {warning}");
    Ok((file?, Some(warning)))
}
