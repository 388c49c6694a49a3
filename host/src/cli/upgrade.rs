//! `aludel upgrade [TARGET]`

use aludel::migrate::Migrator;
use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// head, +N, a revision id or a unique prefix of one.
    #[arg(default_value = "head", allow_hyphen_values = true)]
    pub target: String,
}

pub async fn run(args: UpgradeArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let runtime = super::runtime(&project)?;
    let conn = super::connect(&project, global).await?;
    let mut migrator = Migrator::new(&project, &runtime, conn)?;
    let applied = migrator.upgrade(&args.target).await?;
    super::downgrade::report(&applied, "applied");
    Ok(())
}
