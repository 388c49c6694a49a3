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
    /// Refuse to run revisions when the connection's privileges let SQL
    /// reach the database server's files or programs (a PostgreSQL
    /// superuser, MySQL's FILE, …); without it such a run warns. Also on
    /// with `untrusted = true` under [runtime]. See docs/security.md.
    #[arg(long)]
    pub untrusted: bool,
}

pub async fn run(args: UpgradeArgs, global: &Global) -> anyhow::Result<()> {
    args.how.run(Direction::Upgrade, &args.target, global).await
}

impl HowArgs {
    /// Runs `upgrade` or `downgrade` to `target` as the flags say.
    pub(super) async fn run(
        &self,
        direction: Direction,
        target: &str,
        global: &Global,
    ) -> anyhow::Result<()> {
        if self.sql {
            return super::offline::run(target, direction, global).await;
        }
        let project = super::open_project(global)?;
        let options = aludel::ops::Options {
            untrusted: self.untrusted,
            progress: super::progress::observer(global),
            ..global.options()
        };
        let steps =
            aludel::ops::migrate(&project, &options, direction, target, self.dry_run).await?;
        let verb = match direction {
            Direction::Upgrade => "applied",
            Direction::Downgrade => "reverted",
        };
        super::report::steps(&steps, verb, self.dry_run, global.quiet);
        Ok(())
    }
}
