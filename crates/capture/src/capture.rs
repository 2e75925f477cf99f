//! `Capture`: everything a finished recording produced, before it becomes a trace.dat
//! file: per-buffer, per-CPU raw page files, per-CPU stats, event formats, saved
//! cmdlines/tgids, and the kspan metadata.

use crate::meta::RecordingMeta;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// A directory removed with its content on drop (the per-CPU page files). Its owner holds
/// an exclusive `flock` on it for as long as it lives, released by the kernel when the
/// owner dies however it dies: a sweep by another process tells a live recording's
/// directory from a dead recorder's by trying the lock, without trusting pids.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
    lock: Option<File>,
}

impl TempDir {
    /// Creates the directory `path` (which must not exist) and locks it.
    pub fn create(path: PathBuf) -> io::Result<TempDir> {
        fs::create_dir(&path)?;
        match lock(&path) {
            Ok(Some(lock)) => Ok(TempDir {
                path,
                lock: Some(lock),
            }),
            other => {
                let _ = fs::remove_dir(&path);
                Err(other
                    .err()
                    .unwrap_or_else(|| io::Error::from_raw_os_error(libc::EWOULDBLOCK)))
            }
        }
    }

    /// Takes over the directory of a recorder that is gone: `None` while another process
    /// (its recorder, or a sweep salvaging it) holds its lock.
    pub fn adopt(path: PathBuf) -> io::Result<Option<TempDir>> {
        Ok(lock(&path)?.map(|lock| TempDir {
            path,
            lock: Some(lock),
        }))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Unlocks the directory and keeps it (with its content) instead of removing it: for
    /// data that could not be turned into a file and must not be lost.
    pub fn keep(mut self) -> PathBuf {
        self.lock = None;
        std::mem::take(&mut self.path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.lock.is_some() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// An exclusive, non-blocking `flock` on directory `dir`: `None` when another open file
/// description holds it.
fn lock(dir: &Path) -> io::Result<Option<File>> {
    let file = File::open(dir)?;
    // SAFETY: flock on an fd this function owns; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(Some(file));
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(None),
        _ => Err(err),
    }
}

/// Name of the temporary directory of recording `serial` of process `pid`.
pub fn temp_dir_name(pid: u32, serial: u32) -> String {
    format!(".kspan-{pid}-{serial}.tmp")
}

/// The recorder pid and recording serial in a temporary directory's name, if `name` is one.
pub fn temp_dir_owner(name: &str) -> Option<(u32, u32)> {
    let (pid, serial) = name
        .strip_prefix(".kspan-")?
        .strip_suffix(".tmp")?
        .split_once('-')?;
    Some((pid.parse().ok()?, serial.parse().ok()?))
}

/// What the kernel told about itself for a recording: everything a trace.dat needs besides
/// the pages. Read at the start (for the salvage manifest) and again at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelTexts {
    /// Sub-buffer page size in bytes.
    pub page_size: usize,
    /// Text of `events/header_page`.
    pub header_page: String,
    /// Text of `events/header_event`.
    pub header_event: String,
    /// Formats of every enabled event, both buffers.
    pub formats: Vec<EventFormat>,
    /// Formats of ftrace's own events (`events/ftrace/*/format`).
    pub ftrace_formats: Vec<String>,
    /// Text of `printk_formats`.
    pub printk_formats: String,
    /// Text of `saved_cmdlines` (pid → comm).
    pub saved_cmdlines: String,
    /// Text of `saved_tgids` (tid → tgid).
    pub saved_tgids: String,
}

/// The `format` file of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFormat {
    /// Event system.
    pub system: String,
    /// Event name.
    pub name: String,
    /// The event's type id (the `ID:` line), as found in `common_type`.
    pub id: u16,
    /// The whole `format` text.
    pub text: String,
}

impl EventFormat {
    /// Builds it from a `format` text; `None` when the text has no `ID:` line.
    pub fn parse(system: &str, name: &str, text: String) -> Option<EventFormat> {
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("ID:"))
            .and_then(|v| v.trim().parse().ok())?;
        Some(EventFormat {
            system: system.to_string(),
            name: name.to_string(),
            id,
            text,
        })
    }

    /// The `offset:` of field `field` in the record, read from the format text.
    pub fn field_offset(&self, field: &str) -> Option<usize> {
        let line = self.text.lines().find(|l| {
            l.trim_start()
                .strip_prefix("field:")
                .and_then(|d| d.split(';').next())
                .and_then(|d| d.split_whitespace().last())
                .map(|n| n.split('[').next() == Some(field))
                .unwrap_or(false)
        })?;
        let rest = &line[line.find("offset:")? + 7..];
        rest[..rest.find(';')?].parse().ok()
    }
}

/// One CPU's data of one buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuCapture {
    /// CPU number.
    pub cpu: u32,
    /// File of raw sub-buffer pages, back to back, each `page_size` bytes.
    pub pages_path: PathBuf,
    /// Number of pages in the file.
    pub pages: u64,
    /// The text of `per_cpu/cpuN/stats` at the end of the recording.
    pub stats_text: String,
}

/// One ring buffer (ftrace instance) of the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferCapture {
    /// Buffer name (`meta::MAIN_BUFFER` or `meta::NET_BUFFER`).
    pub name: String,
    /// Per-CPU data, by CPU number.
    pub cpus: Vec<CpuCapture>,
}

/// A finished recording, ready to be written as trace.dat. Its page files are deleted
/// when it is dropped.
#[derive(Debug)]
pub struct Capture {
    /// Page size, event formats and the other kernel texts.
    pub kernel: KernelTexts,
    /// The buffers, main first.
    pub buffers: Vec<BufferCapture>,
    /// The kspan metadata (store as JSON: [`RecordingMeta::to_bytes`]).
    pub meta: RecordingMeta,
    /// What the `--bpftrace` scripts printed (stored in the trace.dat option
    /// [`kspan_bpftrace::BPFTRACE_OPTION`]); `None` when none ran.
    pub bpftrace: Option<kspan_bpftrace::BpftraceRecording>,
    /// The payload heads (their chunk file is in `dir`; stored in the trace.dat option
    /// [`kspan_heads::HEADS_OPTION`]); `None` when recorded with `--payload-bytes 0`.
    pub heads: Option<kspan_bpf::HeadsRecorded>,
    /// The BPF backend's socket-call records (their chunk file is in `dir`; stored in the
    /// trace.dat option [`kspan_heads::CALLS_OPTION`]); `None` with the ftrace backend.
    pub calls: Option<kspan_bpf::CallsRecorded>,
    /// Holds the page files.
    pub dir: TempDir,
}

impl Capture {
    /// The format of the event with type id `id`.
    pub fn format_by_id(&self, id: u16) -> Option<&EventFormat> {
        self.kernel.formats.iter().find(|f| f.id == id)
    }

    /// The format of `system:name`.
    pub fn format(&self, system: &str, name: &str) -> Option<&EventFormat> {
        self.kernel
            .formats
            .iter()
            .find(|f| f.system == system && f.name == name)
    }

    /// Raw pages over all buffers and CPUs.
    pub fn pages(&self) -> u64 {
        self.buffers
            .iter()
            .flat_map(|b| &b.cpus)
            .map(|c| c.pages)
            .sum()
    }

    /// Total bytes of raw pages over all buffers and CPUs.
    pub fn data_bytes(&self) -> u64 {
        self.pages() * self.kernel.page_size as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_id_and_field_offsets_are_read() {
        let text = "name: sock_send_length\nID: 2284\nformat:\n\
            \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
            \tfield:void * sk;\toffset:8;\tsize:8;\tsigned:0;\n\
            \tfield:int ret;\toffset:20;\tsize:4;\tsigned:1;\n\
            \tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;\n";
        let f = EventFormat::parse("sock", "sock_send_length", text.to_string()).unwrap();
        assert_eq!(f.id, 2284);
        assert_eq!(f.field_offset("ret"), Some(20));
        assert_eq!(f.field_offset("sk"), Some(8));
        assert_eq!(f.field_offset("saddr"), Some(32));
        assert_eq!(f.field_offset("nope"), None);
    }
}
