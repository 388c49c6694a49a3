//! `aludel resolve REV --applied | --rolled-back`: clears the failed state
//! of a revision that failed part-way (outside a transaction, or with DDL on
//! MySQL), after an operator has looked at the database. In the spirit of
//! Flyway's `repair` and Prisma's `migrate resolve`: never automatic.

use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The failed revision (an id or a unique prefix).
    pub revision: String,
    /// You completed the revision by hand: record it as applied (or, for a
    /// failed downgrade, as reverted).
    #[arg(long, conflicts_with = "rolled_back")]
    pub applied: bool,
    /// You undid what the revision applied: the version table stays as it is.
    #[arg(long)]
    pub rolled_back: bool,
}

pub async fn run(args: ResolveArgs, global: &Global) -> anyhow::Result<()> {
    if args.applied == args.rolled_back {
        anyhow::bail!("say what you did: --applied or --rolled-back");
    }
    let project = super::open_project(global)?;
    let heads =
        aludel::ops::resolve(&project, &global.options(), &args.revision, args.applied).await?;
    eprintln!(
        "resolved {}: the database is at {}",
        args.revision,
        if heads.is_empty() {
            "base".to_string()
        } else {
            heads.join(", ")
        }
    );
    Ok(())
}
