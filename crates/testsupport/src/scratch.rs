//! A scratch directory.

use std::path::{Path, PathBuf};

/// A directory for one test's files, removed with everything in it when dropped.
///
/// Why: tests write recordings, scripts, configs and logs; the guard removes them also when
/// the test fails. Set `KSPAN_TEST_KEEP` in the environment to keep the directories (their
/// paths are printed) and inspect a failure.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A fresh, empty directory `<temp dir>/kspan-test-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> Scratch {
        let path = std::env::temp_dir().join(crate::unique_name(tag));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Scratch { path }
    }

    /// Takes over the removal of `path`, a directory the code under test creates itself
    /// (where a test must not choose the path); nothing is created here.
    pub fn adopt(path: impl Into<PathBuf>) -> Scratch {
        Scratch { path: path.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `name` inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// The names of the files and directories in it, sorted: what a test left there.
    pub fn file_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("KSPAN_TEST_KEEP").is_some() {
            eprintln!("kept {}", self.path.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
