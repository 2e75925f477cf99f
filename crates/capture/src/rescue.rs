//! What a dead recorder's ring buffers still hold is not lost either: before its instances
//! are removed, its guardian switches tracing off and moves every page left in them (the
//! last one partial) into the recorder's page files, after the whole pages the drainers
//! had written, so the salvaged file runs up to the moment tracing stopped.

use crate::meta::instance_suffix;
use crate::salvage::Stale;
use crate::tracefs::{instance_dir, write_text};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::drain::{pages_file_name, read_pages};

impl Stale {
    /// Switches off the dead recorder's instances under `root` and appends the pages they
    /// still hold to its page files; returns how many pages were moved. Best effort: a
    /// buffer that cannot be read keeps what its file already has.
    pub fn rescue_pages(&self, root: &Path) -> u64 {
        let Ok(manifest) = &self.manifest else {
            return 0;
        };
        let page_size = manifest.kernel.page_size;
        let mut moved = 0;
        for (name, cpus) in &manifest.buffers {
            let instance = instance_dir(root, self.pid, self.serial, instance_suffix(name));
            if write_text(&instance.join("tracing_on"), "0").is_err() {
                continue;
            }
            for &cpu in cpus {
                let source = instance.join(format!("per_cpu/cpu{cpu}/trace_pipe_raw"));
                let target = self.dir.path().join(pages_file_name(name, cpu));
                moved += move_pages(&source, &target, page_size).unwrap_or(0);
            }
        }
        moved
    }
}

/// Cuts `target` to whole pages of `page_size` (a drainer killed mid-write leaves a torn
/// one) and appends every page `source` (a `trace_pipe_raw`) yields until it is empty.
fn move_pages(source: &Path, target: &Path, page_size: usize) -> io::Result<u64> {
    let mut input = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(source)?;
    let mut output = OpenOptions::new().append(true).open(target)?;
    whole_pages(&output, page_size)?;
    let mut page = vec![0u8; page_size];
    read_pages(&mut input, &mut page, |page| output.write_all(page))
}

/// Cuts `file` to a whole number of pages.
fn whole_pages(file: &File, page_size: usize) -> io::Result<()> {
    let len = file.metadata()?.len();
    let page = page_size.max(1) as u64;
    file.set_len(len / page * page)
}
