//! A dead recorder's data is never deleted: its temporary directory (per-CPU page files,
//! flushed whole pages at a time by the drainers, and the [`Manifest`] written at the
//! start) becomes a trace.dat beside the file the user asked for.
//!
//! Who salvages: the recorder's guardian at once when the recorder dies
//! ([`crate::guardian`], which first moves what the kernel still holds into the page files,
//! [`crate::rescue`]), or else the next `kspan record` writing into the same directory.
//! A directory whose lock is held (a live recording, or another salvage) is left alone.

use crate::capture::{temp_dir_owner, BufferCapture, Capture, CpuCapture, KernelTexts, TempDir};
use crate::drain::pages_file_name;
use crate::meta::RecordingMeta;
use crate::output::{write_trace_dat, FileVersion};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// File name of the manifest in a recording's temporary directory.
pub const MANIFEST: &str = "manifest.json";

/// Most CPUs a kernel has (Linux's largest NR_CPUS is 8192): a manifest naming a higher
/// CPU number is damaged.
const MAX_CPUS: u32 = 1 << 16;
/// Largest ring-buffer sub-buffer (page) size a kernel uses, in bytes.
const MAX_PAGE_SIZE: usize = 1 << 20;

/// How often a lock still held is tried again while [`adopt_stale_temp_dirs`] waits.
const LOCK_POLL: Duration = Duration::from_millis(5);

/// What a recording stores in its temporary directory when it starts, so that its pages
/// can become a trace.dat even if it dies before writing one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The trace.dat the user asked for; a salvaged file goes beside it.
    pub output: PathBuf,
    /// Page size, formats and the other kernel texts at the start.
    pub kernel: KernelTexts,
    /// The buffers in file order: name and CPUs.
    pub buffers: Vec<(String, Vec<u32>)>,
    /// The metadata as known at the start (no loss figures yet).
    pub meta: RecordingMeta,
}

impl Manifest {
    /// Writes the manifest into `dir` under a temporary name, then renames it: a recorder
    /// killed while writing leaves no half manifest.
    pub fn store(&self, dir: &Path) -> io::Result<()> {
        let tmp = dir.join(format!("{MANIFEST}.tmp"));
        let bytes = serde_json::to_vec(self).map_err(io::Error::other)?;
        fs::write(&tmp, bytes)?;
        fs::rename(&tmp, dir.join(MANIFEST))
    }

    /// Reads the manifest of `dir`.
    fn load(dir: &Path) -> io::Result<Manifest> {
        Manifest::parse(&fs::read(dir.join(MANIFEST))?)
    }

    /// Parses the bytes of a manifest file (what [`Manifest::store`] wrote, or anything a
    /// damaged disk left instead): CPU numbers and the page size must be ones a kernel
    /// can have.
    pub fn parse(bytes: &[u8]) -> io::Result<Manifest> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(io::Error::other)?;
        let cpus = manifest.buffers.iter().flat_map(|(_, cpus)| cpus);
        if let Some(cpu) = cpus.copied().find(|&cpu| cpu >= MAX_CPUS) {
            return Err(io::Error::other(format!(
                "CPU number {cpu} is beyond any kernel's {MAX_CPUS}"
            )));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&manifest.kernel.page_size) {
            return Err(io::Error::other(format!(
                "page size {} is not one of a kernel's ring buffer",
                manifest.kernel.page_size
            )));
        }
        Ok(manifest)
    }
}

/// What became of one dead recorder's temporary directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Salvage {
    /// Its pages are now the trace.dat `to`; the directory is gone.
    Saved {
        /// The recorder's pid.
        pid: u32,
        /// The new trace.dat.
        to: PathBuf,
        /// Whole pages it holds.
        pages: u64,
    },
    /// It held no page of data; removed.
    Empty {
        /// The directory.
        dir: PathBuf,
    },
    /// It could not become a file and is kept as it is.
    Kept {
        /// The directory.
        dir: PathBuf,
        /// Why, with what to do.
        reason: String,
    },
}

impl fmt::Display for Salvage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Salvage::Saved { pid, to, pages } => write!(
                f,
                "the recorder with pid {pid} stopped before writing its file (it died, or \
                 its disk was full); what it had recorded ({pages} whole pages) is kept \
                 as {}",
                to.display()
            ),
            Salvage::Empty { dir } => write!(
                f,
                "removed {}, left empty by a recorder that is gone",
                dir.display()
            ),
            Salvage::Kept { dir, reason } => write!(
                f,
                "kept {}, left by a recorder that is gone: {reason}",
                dir.display()
            ),
        }
    }
}

/// A dead recorder's temporary directory, locked by this process, with its manifest.
#[derive(Debug)]
pub struct Stale {
    /// The dead recorder's pid.
    pub pid: u32,
    /// Its recording's serial (in its instance names).
    pub serial: u32,
    /// The directory.
    pub dir: TempDir,
    /// Its manifest, if readable.
    pub manifest: io::Result<Manifest>,
}

/// Locks the temporary directories in `dir` whose recorder is gone (only those of recorder
/// `owner` when given), oldest name first, waiting up to `wait` for a lock still held. A
/// recorder that was just killed still holds its lock for a moment: the kernel releases a
/// dying process's `flock` when it puts its files, which can come after the pipe end whose
/// closing woke its guardian. Directories that cannot be opened are reported as
/// [`Salvage::Kept`]; one that is gone meanwhile (another sweep salvaged it) is skipped.
pub fn adopt_stale_temp_dirs(
    dir: &Path,
    owner: Option<u32>,
    wait: Duration,
) -> (Vec<Stale>, Vec<Salvage>) {
    let deadline = Instant::now() + wait;
    let mut found: Vec<((u32, u32), PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let id = temp_dir_owner(&e.file_name().to_string_lossy())?;
            (owner.is_none() || owner == Some(id.0)).then(|| (id, e.path()))
        })
        .collect();
    found.sort();
    let (mut stale, mut kept) = (Vec::new(), Vec::new());
    for ((pid, serial), path) in found {
        let adopted = loop {
            match TempDir::adopt(path.clone()) {
                Ok(None) if Instant::now() < deadline => thread::sleep(LOCK_POLL),
                other => break other,
            }
        };
        match adopted {
            Ok(Some(dir)) => stale.push(Stale {
                pid,
                serial,
                manifest: Manifest::load(dir.path()),
                dir,
            }),
            Ok(None) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => kept.push(Salvage::Kept {
                dir: path,
                reason: format!("it cannot be opened ({e}); check its permissions"),
            }),
        }
    }
    (stale, kept)
}

/// Salvages the temporary directories in `dir` whose recorder is gone (only those of
/// recorder `owner` when given), oldest name first. With `rescue_from` (the tracefs
/// root), the pages the recorders' instances still hold are moved in first
/// ([`Stale::rescue_pages`]); the instances themselves are left for
/// [`crate::tracefs::remove_stale_instances`].
pub fn salvage_stale_temp_dirs(
    dir: &Path,
    owner: Option<u32>,
    rescue_from: Option<&Path>,
) -> Vec<Salvage> {
    let (stale, mut done) = adopt_stale_temp_dirs(dir, owner, Duration::ZERO);
    if let Some(root) = rescue_from {
        stale.iter().for_each(|s| {
            s.rescue_pages(root);
        });
    }
    done.extend(stale.into_iter().map(Stale::salvage));
    done
}

impl Stale {
    /// Turns the directory into a trace.dat (or removes it when it holds nothing).
    pub fn salvage(self) -> Salvage {
        let Stale {
            pid,
            dir: temp,
            manifest,
            ..
        } = self;
        let manifest = match manifest {
            Ok(m) => m,
            Err(_) if holds_no_data(temp.path()) => {
                return Salvage::Empty {
                    dir: temp.path().to_path_buf(),
                }
            }
            Err(e) => {
                return Salvage::Kept {
                    reason: format!(
                        "its manifest is unreadable ({e}), so its pages cannot become a \
                         trace.dat; it was written by an older kspan, delete it when you no \
                         longer need it"
                    ),
                    dir: temp.keep(),
                }
            }
        };
        let to = salvaged_name(&manifest.output, temp.path(), pid);
        if to.exists() {
            return Salvage::Kept {
                reason: format!(
                    "{} already exists; move it away and run `kspan record --cleanup-only` there",
                    to.display()
                ),
                dir: temp.keep(),
            };
        }
        let capture = capture_from(manifest, temp);
        let pages = capture.pages();
        match write_trace_dat(&capture, &to, FileVersion::V7Zstd) {
            Ok(_) => Salvage::Saved { pid, to, pages },
            Err(e) => Salvage::Kept {
                reason: e.to_string(),
                dir: capture.dir.keep(),
            },
        }
    }
}

/// The capture a dead (or, for a [`crate::snapshot`], a running) recorder would have
/// produced: every whole page of its files in `dir`, the manifest's texts, the stop time
/// from the files' last write, no loss figures (the kernel's counters went with its
/// instances) and no payload heads (their chunk file is not salvaged yet).
pub(crate) fn capture_from(manifest: Manifest, dir: TempDir) -> Capture {
    let page_size = manifest.kernel.page_size.max(1) as u64;
    let mut last_write = None;
    let buffers = manifest
        .buffers
        .iter()
        .map(|(name, cpus)| BufferCapture {
            name: name.clone(),
            cpus: cpus
                .iter()
                .map(|&cpu| {
                    let path = dir.path().join(pages_file_name(name, cpu));
                    let meta = fs::metadata(&path).ok();
                    let written = meta.as_ref().and_then(|m| m.modified().ok());
                    last_write = last_write.max(written);
                    CpuCapture {
                        cpu,
                        pages: meta.map_or(0, |m| m.len() / page_size),
                        pages_path: path,
                        stats_text: String::new(),
                    }
                })
                .collect(),
        })
        .collect();
    let mut meta = manifest.meta;
    if let Some(unix_ns) = last_write.and_then(unix_ns) {
        meta.stop_clock_ns = meta.start_clock_ns.max(unix_ns - meta.clock_to_unix_ns);
    }
    Capture {
        kernel: manifest.kernel,
        buffers,
        meta,
        bpftrace: None,
        heads: None,
        calls: None,
        dir,
    }
}

/// A time as nanoseconds since the Unix epoch.
fn unix_ns(time: SystemTime) -> Option<i64> {
    let d = time.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_nanos()).ok()
}

/// True when every file in `dir` is empty (a recorder that died before its first page).
fn holds_no_data(dir: &Path) -> bool {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .all(|e| e.metadata().is_ok_and(|m| m.is_file() && m.len() == 0))
}

/// `<stem of output>-salvaged-<pid>.dat` in the directory of `temp` (which is the
/// output's directory: the recorder puts its temporary directory there).
pub fn salvaged_name(output: &Path, temp: &Path, pid: u32) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kspan".to_string());
    let dir = temp.parent().unwrap_or(Path::new("."));
    dir.join(format!("{stem}-salvaged-{pid}.dat"))
}

#[cfg(test)]
mod tests {
    use super::{salvaged_name, Manifest};
    use std::path::{Path, PathBuf};

    #[test]
    fn a_manifest_with_an_impossible_cpu_or_page_size_is_damaged() {
        let seed = include_bytes!("../../../fuzz/seeds/salvage/manifest.json");
        let manifest = Manifest::parse(seed).expect("the seed is a real manifest");
        let text = String::from_utf8_lossy(seed);
        let cpus = format!("{:?}", manifest.buffers[0].1).replace(' ', "");
        let cpu = text.replacen(&cpus, "[4294967295]", 1);
        let err = Manifest::parse(cpu.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CPU number 4294967295 is beyond any kernel's 65536"
        );
        let page = text.replacen("\"page_size\":4096", "\"page_size\":0", 1);
        let err = Manifest::parse(page.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "page size 0 is not one of a kernel's ring buffer"
        );
    }

    #[test]
    fn salvaged_files_go_beside_the_requested_output() {
        let temp = Path::new("/data/.kspan-7-0.tmp");
        assert_eq!(
            salvaged_name(Path::new("/data/kill.dat"), temp, 7),
            PathBuf::from("/data/kill-salvaged-7.dat")
        );
        assert_eq!(
            salvaged_name(Path::new("app"), temp, 7),
            PathBuf::from("/data/app-salvaged-7.dat")
        );
        assert_eq!(
            salvaged_name(Path::new(""), temp, 7),
            PathBuf::from("/data/kspan-salvaged-7.dat")
        );
    }
}
