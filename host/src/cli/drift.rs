//! `aludel drift [--format text|json]`: compares the project's database
//! with the schema its applied revisions produce, replayed in a scratch
//! database; each difference is what was changed by hand. Exit codes as
//! `check`: 0 none, 1 drift, 2 could not compare.

use aludel::autogen;
use clap::Args;

use super::check::{Format, report};
use super::{Exit, Global};

#[derive(Debug, Args)]
pub struct DriftArgs {
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub async fn run(args: DriftArgs, global: &Global) -> anyhow::Result<()> {
    let comparison = async {
        let project = super::open_project(global)?;
        Ok::<_, anyhow::Error>(autogen::drift(&project, &global.options()).await?)
    }
    .await
    .map_err(Exit::could_not_compare)?;
    report(
        &comparison,
        args.format,
        "no drift: the database is what its applied revisions make it",
        "the database has drifted from what its applied revisions make it",
    )
}
