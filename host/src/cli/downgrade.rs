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
    args.how
        .run(Direction::Downgrade, &args.target, global)
        .await
}
