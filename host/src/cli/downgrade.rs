//! `aludel downgrade TARGET`

use aludel::migrate::{Applied, Migrator};
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
        return super::offline::run(&args.target, aludel::graph::Direction::Downgrade, global)
            .await;
    }
    let project = super::open_project(global)?;
    let runtime = super::runtime(&project)?;
    // Connect first: a URL that cannot connect is the clearer error.
    let conn = super::connect(&project, global).await?;
    let lock = super::lock(&project, global).await?;
    let mut migrator = Migrator::new(&project, &runtime, conn)?.dry_run(args.dry_run);
    let result = migrator.downgrade(&args.target).await;
    super::release(lock).await;
    let reverted = result?;
    report(&reverted, "reverted", args.dry_run);
    Ok(())
}

/// Progress, not data: to stderr; a dry run's steps are its result, so they
/// go to stdout.
pub(super) fn report(steps: &[Applied], verb: &str, dry_run: bool) {
    if dry_run {
        for s in steps {
            println!(
                "{verb} {} ({} statements, {} rows) — rolled back",
                s.revision, s.stats.statements, s.stats.rows
            );
        }
        eprintln!("dry run: everything was rolled back; the database is unchanged");
        return;
    }
    if steps.is_empty() {
        eprintln!("nothing to do: the database is already at the target");
        return;
    }
    for s in steps {
        tracing::debug!(
            "{verb} {} in {} ms: {} statements, {} rows",
            s.revision,
            s.duration.as_millis(),
            s.stats.statements,
            s.stats.rows
        );
    }
    eprintln!(
        "{verb} {} revision{}",
        steps.len(),
        if steps.len() == 1 { "" } else { "s" }
    );
}
