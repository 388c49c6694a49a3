//! `aludel stamp REV... [--purge]`: sets the version table to the given
//! revisions without running any of them, as Alembic's stamp: for a
//! database whose schema was made by other means.

use aludel::migrate::Migrator;
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
    let runtime = super::runtime(&project)?;
    // Connect first: a URL that cannot connect is the clearer error.
    let conn = super::connect(&project, global).await?;
    let lock = super::lock(&project, global).await?;
    let mut migrator = Migrator::new(&project, &runtime, conn)?;
    let result = migrator.stamp(&args.revisions, args.purge).await;
    super::release(lock).await;
    let heads = result?;
    if heads.is_empty() {
        eprintln!("stamped: the database is at base");
    } else {
        eprintln!("stamped: the database is at {}", heads.join(", "));
    }
    Ok(())
}
