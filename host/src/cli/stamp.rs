//! `aludel stamp REV... [--purge]`: sets the version table to the given
//! revisions without running any of them, as Alembic's stamp: for a
//! database whose schema was made by other means.

use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct StampArgs {
    /// The revisions the database is at after the stamp: ids, `head`,
    /// `heads`, `base`, labels…
    #[arg(required = true, allow_hyphen_values = true)]
    pub revisions: Vec<String>,
    /// Empty the version table first, whatever it holds (even ids unknown
    /// to this project).
    #[arg(long)]
    pub purge: bool,
}

pub async fn run(args: StampArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let heads =
        aludel::ops::stamp(&project, &global.options(), &args.revisions, args.purge).await?;
    if heads.is_empty() {
        eprintln!("stamped: the database is at base");
    } else {
        eprintln!("stamped: the database is at {}", heads.join(", "));
    }
    Ok(())
}
