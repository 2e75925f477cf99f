//! `kspan dump` (not yet written).

/// Arguments of `kspan dump`.
#[derive(clap::Args)]
pub struct DumpArgs {}

/// Runs `kspan dump`.
pub fn run(_args: DumpArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kspan dump` is not implemented yet")
}
