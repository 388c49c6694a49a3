//! `aludel downgrade TARGET`

use aludel::graph::Direction;
use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct DowngradeArgs {
    /// -N, base, a revision id or a unique prefix of one.
    #[arg(allow_hyphen_values = true)]
    pub target: String,
    /// Run for real inside one transaction and roll it back at the end,
    /// printing what happened. Refused where DDL is not transactional.
    #[arg(long, conflicts_with = "sql")]
    pub dry_run: bool,
    /// Print the SQL instead of running it (offline mode). The target is
    /// `FROM:TO`; an upgrade may leave out `FROM:` to start at base.
    #[arg(long)]
    pub sql: bool,
}

pub async fn run(args: DowngradeArgs, global: &Global) -> anyhow::Result<()> {
    if args.sql {
        return super::offline::run(&args.target, Direction::Downgrade, global).await;
    }
    let project = super::open_project(global)?;
    let reverted =
        aludel::ops::downgrade(&project, &global.options(), &args.target, args.dry_run).await?;
    super::report::steps(&reverted, "reverted", args.dry_run);
    Ok(())
}
