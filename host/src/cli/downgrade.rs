//! `aludel downgrade TARGET`

use aludel::migrate::{Applied, Migrator};
use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct DowngradeArgs {
    /// -N, base, a revision id or a unique prefix of one.
    #[arg(allow_hyphen_values = true)]
    pub target: String,
}

pub async fn run(args: DowngradeArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let runtime = super::runtime(&project)?;
    let conn = super::connect(&project, global).await?;
    let mut migrator = Migrator::new(&project, &runtime, conn)?;
    let reverted = migrator.downgrade(&args.target).await?;
    report(&reverted, "reverted");
    Ok(())
}

/// Progress, not data: to stderr.
pub(super) fn report(steps: &[Applied], verb: &str) {
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
