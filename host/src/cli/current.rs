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
    // Status, not data: on stderr, as the line above.
    for at in aludel::ops::batch_positions(&project, &global.options()).await? {
        let verb = match at.direction {
            aludel::graph::Direction::Upgrade => "upgrade",
            aludel::graph::Direction::Downgrade => "downgrade",
        };
        eprintln!(
            "revision {} is part-way through its batched {verb}: {} batch(es), {} rows committed, \
             up to position {} ({}); the next `aludel {verb}` resumes it",
            at.revision,
            at.batches,
            at.rows,
            aludel::ledger::batches::position_to_json(&at.position),
            match &at.failure {
                Some(f) => format!("it failed: {}", aludel::escape::controls(f)),
                None => "its run was interrupted or is under way".to_string(),
            }
        );
    }
    Ok(())
}
