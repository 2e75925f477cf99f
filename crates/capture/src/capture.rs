//! `Capture`: everything a finished recording produced, before it becomes a trace.dat
//! file: per-buffer, per-CPU raw page files, per-CPU stats, event formats, saved
//! cmdlines/tgids, and the kspan metadata.

use crate::meta::RecordingMeta;
use std::fs;
use std::path::{Path, PathBuf};

/// A directory removed with its content on drop (the per-CPU page files).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates the directory `path` (which must not exist).
    pub fn create(path: PathBuf) -> std::io::Result<TempDir> {
        fs::create_dir(&path)?;
        Ok(TempDir(path))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Name of the temporary directory of recording `serial` of process `pid`.
pub fn temp_dir_name(pid: u32, serial: u32) -> String {
    format!(".kspan-{pid}-{serial}.tmp")
}

/// Removes the temporary directories in `dir` left by recorders that are gone (killed
/// with SIGKILL) and returns them.
pub fn remove_stale_temp_dirs(dir: &Path) -> Vec<PathBuf> {
    let owner = |name: &str| -> Option<u32> {
        let (pid, serial) = name
            .strip_prefix(".kspan-")?
            .strip_suffix(".tmp")?
            .split_once('-')?;
        serial.parse::<u32>().ok()?;
        pid.parse().ok()
    };
    let mut removed: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            owner(&name.to_string_lossy())
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        })
        .map(|e| e.path())
        .filter(|p| fs::remove_dir_all(p).is_ok())
        .collect();
    removed.sort();
    removed
}

/// The `format` file of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Holds the page files.
    pub dir: TempDir,
}

impl Capture {
    /// The format of the event with type id `id`.
    pub fn format_by_id(&self, id: u16) -> Option<&EventFormat> {
        self.formats.iter().find(|f| f.id == id)
    }

    /// The format of `system:name`.
    pub fn format(&self, system: &str, name: &str) -> Option<&EventFormat> {
        self.formats
            .iter()
            .find(|f| f.system == system && f.name == name)
    }

    /// Total bytes of raw pages over all buffers and CPUs.
    pub fn data_bytes(&self) -> u64 {
        let pages: u64 = self
            .buffers
            .iter()
            .flat_map(|b| &b.cpus)
            .map(|c| c.pages)
            .sum();
        pages * self.page_size as u64
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
