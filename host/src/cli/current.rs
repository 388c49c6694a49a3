//! `aludel current`: the revisions the database is at, one per line,
//! marked `(head)` when nothing newer exists. Reads only: it neither
//! creates the version table nor starts the WebAssembly runtime.

use aludel::migrate::graph_of;
use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct CurrentArgs {}

pub async fn run(_args: CurrentArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let graph = graph_of(&project)?;
    let mut conn = super::connect(&project, global).await?;
    let current = conn
        .current_heads(&project.config.version_table)
        .await
        .map_err(|e| aludel::Error::Database {
            action: "reading the version table",
            source: e,
        })?;
    let heads = graph.heads();
    for id in &current {
        let head = if heads.contains(&id.as_str()) {
            " (head)"
        } else {
            ""
        };
        let message = graph
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
