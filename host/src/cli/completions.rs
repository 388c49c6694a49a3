//! `aludel completions SHELL`: the completion script clap_complete derives
//! from the same definitions the parser uses, so it cannot fall behind.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut command = super::Cli::command();
    clap_complete::generate(
        args.shell,
        &mut command,
        "aludel",
        &mut std::io::stdout().lock(),
    );
    Ok(())
}
