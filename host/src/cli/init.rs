//! `aludel init [DIR]`

use std::path::PathBuf;

use aludel::project::Project;
use clap::Args;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the project.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

pub fn run(args: InitArgs) -> anyhow::Result<()> {
    Project::init(&args.dir)?;
    eprintln!(
        "created an aludel project in {}: edit aludel.toml, then `aludel revision -m \"...\"`",
        super::display_path(&args.dir)
    );
    Ok(())
}
