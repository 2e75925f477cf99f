//! `kspan completions SHELL`: the shell completion script, generated from the command line's
//! own definition.

use clap::CommandFactory;
use clap_complete::Shell;
use std::io::{self, Write};

/// Arguments of `kspan completions`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  kspan completions bash > /etc/bash_completion.d/kspan
  kspan completions zsh > \"${fpath[1]}/_kspan\"
  kspan completions fish > ~/.config/fish/completions/kspan.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Runs `kspan completions`: writes the script to standard output.
pub fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    clap_complete::generate(args.shell, &mut crate::Cli::command(), "kspan", &mut out);
    out.flush()?;
    Ok(())
}
