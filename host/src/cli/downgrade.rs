//! `aludel downgrade TARGET`

use aludel::graph::Direction;
use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct DowngradeArgs {
    /// -N, base, a revision id or a unique prefix of one.
    #[arg(allow_hyphen_values = true)]
    pub target: String,
    #[command(flatten)]
    pub how: super::upgrade::HowArgs,
}

pub async fn run(args: DowngradeArgs, global: &Global) -> anyhow::Result<()> {
    if args.how.sql {
        return super::offline::run(&args.target, Direction::Downgrade, global).await;
    }
    let project = super::open_project(global)?;
    let reverted =
        aludel::ops::downgrade(&project, &global.options(), &args.target, args.how.dry_run).await?;
    super::report::steps(&reverted, "reverted", args.how.dry_run);
    Ok(())
}
