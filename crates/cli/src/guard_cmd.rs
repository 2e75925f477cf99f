//! `kspan guard` (hidden): the guardian role of `kspan record`. The recorder starts it with a
//! pipe on its stdin; when the recorder dies without saying it finished, this removes its
//! ftrace instances and salvages its recording (see `kspan_capture::guardian`).

use kspan_capture::guardian;
use std::path::PathBuf;

/// Arguments of `kspan guard`.
#[derive(clap::Args)]
pub struct GuardArgs {
    /// Pid of the recorder to watch.
    #[arg(long)]
    recorder: u32,
    /// tracefs mount point.
    #[arg(long)]
    tracefs: PathBuf,
    /// Directory of the recorder's output file (and temporary directory).
    #[arg(long)]
    dir: PathBuf,
}

/// The command line that starts the guardian of this process.
pub fn command(tracefs: &std::path::Path, dir: &std::path::Path) -> std::process::Command {
    // /proc/self/exe runs this very binary even if its file was replaced meanwhile.
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.args(guardian::GUARD_ARGS)
        .arg(std::process::id().to_string())
        .arg("--tracefs")
        .arg(tracefs)
        .arg("--dir")
        .arg(dir);
    cmd
}

/// Runs `kspan guard`: waits for the recorder, then cleans up after it and says so.
pub fn run(args: GuardArgs) -> anyhow::Result<()> {
    let Some(cleanup) = guardian::watch(args.recorder, &args.tracefs, &args.dir) else {
        return Ok(());
    };
    if !cleanup.instances.is_empty() {
        eprintln!(
            "kspan: the recorder (pid {}) died; its guardian moved the {} pages its \
             instances still held into its recording, then switched off and removed \
             instances {}",
            args.recorder,
            cleanup.rescued,
            cleanup.instances.join(", ")
        );
    }
    for salvage in &cleanup.salvaged {
        eprintln!("kspan: {salvage}");
    }
    match cleanup.error {
        Some(e) => anyhow::bail!("{e}"),
        None => Ok(()),
    }
}
