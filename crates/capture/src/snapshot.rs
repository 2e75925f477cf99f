//! A recording still in progress can be read: until `kspan record` finishes, its
//! trace.dat does not exist yet, but its temporary directory holds the salvage manifest
//! and the per-CPU page files the drainers flush whole after every pass. A snapshot copies
//! the whole pages written so far and writes them as a trace.dat of their own.

use crate::capture::{temp_dir_owner, TempDir};
use crate::drain::pages_file_name;
use crate::output::{write_trace_dat, FileVersion};
use crate::salvage::{capture_from, Manifest, MANIFEST};
use crate::tracefs::process_gone;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// A trace.dat made of what a running recorder had written so far.
#[derive(Debug)]
pub struct Snapshot {
    /// The recorder's pid.
    pub pid: u32,
    /// Whole pages the snapshot holds.
    pub pages: u64,
    /// The snapshot file (the caller removes it once it has opened it).
    pub path: PathBuf,
}

/// A snapshot of the recording a live `kspan record` is writing into `output`, as a
/// trace.dat under `scratch`; `None` when no live recorder writes into `output`.
pub fn of_recording_into(output: &Path, scratch: &Path) -> Option<io::Result<Snapshot>> {
    let (pid, dir, manifest) = live_recording_into(output)?;
    Some(write_snapshot(pid, &dir, manifest, scratch))
}

/// The pid, temporary directory and manifest of a live recorder writing into `output`.
fn live_recording_into(output: &Path) -> Option<(u32, PathBuf, Manifest)> {
    let name = output.file_name()?;
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::read_dir(parent).ok()?.flatten().find_map(|entry| {
        let (pid, _) = temp_dir_owner(&entry.file_name().to_string_lossy())?;
        if process_gone(pid as i32) {
            return None;
        }
        let manifest = Manifest::parse(&fs::read(entry.path().join(MANIFEST)).ok()?).ok()?;
        (manifest.output.file_name() == Some(name)).then(|| (pid, entry.path(), manifest))
    })
}

/// Copies the whole pages of the page files in `dir` into a new directory under
/// `scratch` and writes them as a trace.dat there.
fn write_snapshot(
    pid: u32,
    dir: &Path,
    manifest: Manifest,
    scratch: &Path,
) -> io::Result<Snapshot> {
    let me = std::process::id();
    let copy = TempDir::create(scratch.join(format!("kspan-snapshot-{me}-{pid}.pages")))?;
    let page = manifest.kernel.page_size.max(1) as u64;
    for (name, cpus) in &manifest.buffers {
        for &cpu in cpus {
            let file_name = pages_file_name(name, cpu);
            let Ok(source) = File::open(dir.join(&file_name)) else {
                continue;
            };
            let whole = source.metadata()?.len() / page * page;
            let mut target = File::create(copy.path().join(&file_name))?;
            io::copy(&mut source.take(whole), &mut target)?;
        }
    }
    let path = scratch.join(format!("kspan-snapshot-{me}-{pid}.dat"));
    let capture = capture_from(manifest, copy);
    let pages = capture.pages();
    write_trace_dat(&capture, &path, FileVersion::V7Zstd).map_err(io::Error::other)?;
    Ok(Snapshot { pid, pages, path })
}
