//! `aludel current [--verbose]`: the revisions the database is at, one per
//! line as Alembic prints them (`id (labels) (head)`). Reads only: it
//! neither creates the version table nor starts the WebAssembly runtime.

use aludel::migrate::graph_of;
use clap::Args;

use super::Global;
use super::format::{Line, entry, line};

#[derive(Debug, Args)]
pub struct CurrentArgs {
    /// Every detail of each current revision.
    #[arg(long)]
    pub verbose: bool,
}

pub async fn run(args: CurrentArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let graph = graph_of(&project)?;
    let current = aludel::ops::current(&project, &global.options()).await?;
    for id in &current {
        match graph.get(id) {
            Some(node) if args.verbose => println!("{}", entry(&project, &graph, node, &[])),
            Some(node) => {
                let what = Line {
                    labels: true,
                    head: true,
                    ..Line::default()
                };
                println!("{}", line(&graph, node, &[], what));
            }
            // A database stamped or migrated by another checkout of the project.
            None => println!("{id} (not in versions/)"),
        }
    }
    if current.is_empty() {
        eprintln!("the database is at base: no revision applied");
    }
    Ok(())
}
