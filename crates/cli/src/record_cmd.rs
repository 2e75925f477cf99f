//! `kspan record` (not yet written).

/// Arguments of `kspan record`.
#[derive(clap::Args)]
pub struct RecordArgs {}

/// Runs `kspan record`.
pub fn run(_args: RecordArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kspan record` is not implemented yet")
}
