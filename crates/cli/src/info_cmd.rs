//! `kspan info` (not yet written).

/// Arguments of `kspan info`.
#[derive(clap::Args)]
pub struct InfoArgs {}

/// Runs `kspan info`.
pub fn run(_args: InfoArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kspan info` is not implemented yet")
}
