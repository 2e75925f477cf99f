//! `kspan man [SUBCOMMAND]`: the manual page (roff), generated from the command line's own
//! definition: kspan(1), or kspan-SUBCOMMAND(1).

use anyhow::Context;
use clap::CommandFactory;
use std::io::{self, Write};

/// Arguments of `kspan man`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  kspan man | man -l -
  kspan man analyze > /usr/local/share/man/man1/kspan-analyze.1")]
pub struct ManArgs {
    /// The subcommand whose page to write (kspan-SUBCOMMAND(1)); kspan(1) without it.
    pub subcommand: Option<String>,
}

/// Runs `kspan man`: writes the page to standard output.
pub fn run(args: ManArgs) -> anyhow::Result<()> {
    let kspan = crate::Cli::command();
    let command = match &args.subcommand {
        None => kspan,
        Some(name) => {
            let sub = kspan
                .find_subcommand(name)
                .filter(|c| !c.is_hide_set())
                .with_context(|| {
                    format!("kspan has no subcommand `{name}`; `kspan --help` lists them")
                })?
                .clone();
            sub.display_name(format!("kspan-{name}"))
                .bin_name(format!("kspan {name}"))
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut out = io::stdout().lock();
    clap_mangen::Man::new(command).render(&mut out)?;
    out.flush()?;
    Ok(())
}
