//! `kspan check` (not yet written).

/// Arguments of `kspan check`.
#[derive(clap::Args)]
pub struct CheckArgs {}

/// Runs `kspan check`.
pub fn run(_args: CheckArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kspan check` is not implemented yet")
}
