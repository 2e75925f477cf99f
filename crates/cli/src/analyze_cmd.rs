//! `kspan analyze` (not yet written).

/// Arguments of `kspan analyze`.
#[derive(clap::Args)]
pub struct AnalyzeArgs {}

/// Runs `kspan analyze`.
pub fn run(_args: AnalyzeArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kspan analyze` is not implemented yet")
}
