//! `aludel upgrade [TARGET]`

use aludel::graph::Direction;
use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// head, +N, a revision id or a unique prefix of one.
    #[arg(default_value = "head", allow_hyphen_values = true)]
    pub target: String,
    #[command(flatten)]
    pub how: HowArgs,
}

/// How `upgrade` and `downgrade` run: for real, as a dry run, or offline.
#[derive(Debug, Args)]
pub struct HowArgs {
    /// Run for real inside one transaction and roll it back at the end,
    /// printing what happened. Refused where DDL is not transactional.
    #[arg(long, conflicts_with = "sql")]
    pub dry_run: bool,
    /// Print the SQL instead of running it (offline mode). The target is
    /// `FROM:TO`; an upgrade may leave out `FROM:` to start at base.
    #[arg(long)]
    pub sql: bool,
}

pub async fn run(args: UpgradeArgs, global: &Global) -> anyhow::Result<()> {
    if args.how.sql {
        return super::offline::run(&args.target, Direction::Upgrade, global).await;
    }
    let project = super::open_project(global)?;
    let applied =
        aludel::ops::upgrade(&project, &global.options(), &args.target, args.how.dry_run).await?;
    super::report::steps(&applied, "applied", args.how.dry_run);
    Ok(())
}
