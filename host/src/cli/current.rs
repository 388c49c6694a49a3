//! `aludel current`: the revisions the database is at, one per line,
//! marked `(head)` when nothing newer exists. Reads only.

use aludel::migrate::Migrator;
use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct CurrentArgs {}

pub async fn run(_args: CurrentArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let runtime = super::runtime(&project)?;
    let conn = super::connect(&project, global).await?;
    let mut migrator = Migrator::new(&project, &runtime, conn)?;
    let current = migrator.current().await?;
    let heads = migrator.graph().heads();
    for id in &current {
        let head = if heads.contains(&id.as_str()) {
            " (head)"
        } else {
            ""
        };
        let message = migrator
            .graph()
            .get(id)
            .map(|n| n.message.as_str())
            .unwrap_or("(not in versions/)");
        println!("{id}{head} {message}");
    }
    if current.is_empty() {
        eprintln!("the database is at base: no revision applied");
    }
    Ok(())
}
