//! Fuzzes the salvage of a dead recorder's directory from its manifest: whatever the
//! manifest holds (damaged JSON, absurd page sizes, CPU numbers or buffer lists, texts the
//! writer cannot use), salvaging ends in a file, an empty directory or a kept directory
//! with a reason, without panicking; and it writes only inside its own scratch directory.
#![no_main]

use kspan_capture::capture::TempDir;
use kspan_capture::drain::pages_file_name;
use kspan_capture::salvage::{Manifest, Salvage, Stale};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

/// A scratch directory of this fuzzing process, emptied before each input.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kspan-fuzz-salvage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory in the temporary directory");
    dir
}

fuzz_target!(|data: &[u8]| {
    let parent = scratch();
    let dir = TempDir::create(parent.join(".kspan-1-0.tmp")).expect("a fresh directory");
    let manifest = Manifest::parse(data);
    if let Ok(m) = &manifest {
        // Two pages of zeros (empty pages) for the first buffer's first CPU, if it has one.
        if let Some((name, cpu)) = m.buffers.first().and_then(|(n, c)| Some((n, *c.first()?))) {
            let page = m.kernel.page_size.clamp(1, 1 << 16);
            let _ = std::fs::write(dir.path().join(pages_file_name(name, cpu)), vec![0; 2 * page]);
        }
    }
    let stale = Stale {
        pid: 1,
        serial: 0,
        dir,
        manifest,
    };
    let outcome = stale.salvage();
    if let Salvage::Saved { to, .. } = &outcome {
        assert_eq!(to.parent(), Some(parent.as_path()), "written beside its directory");
    }
    std::hint::black_box(outcome.to_string());
    let _ = std::fs::remove_dir_all(&parent);
});
