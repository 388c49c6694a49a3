//! `aludel current [--verbose]`: the revisions the database is at, one per
//! line as Alembic prints them (`id (labels) (head)`). Reads only: it
//! neither creates the version table nor starts the WebAssembly runtime.

use aludel::migrate::graph_of;
use clap::Args;

use super::Global;
use super::format::{Format, Line, entry, json, line, print_json};

#[derive(Debug, Args)]
pub struct CurrentArgs {
    /// Every detail of each current revision.
    #[arg(long)]
    pub verbose: bool,
    /// `json`: `{"revisions": [...], "part_way": [...]}` (docs/cli.md).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub async fn run(args: CurrentArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let graph = graph_of(&project)?;
    let current = aludel::ops::current(&project, &global.options()).await?;
    if args.format == Format::Json {
        return print_current_json(&project, &graph, &current, global).await;
    }
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

/// `current --format json`: the revisions the database is at (an id not in
/// versions/ as `{"id": …, "in_versions": false}`), and every batched
/// revision part-way through.
async fn print_current_json(
    project: &aludel::project::Project,
    graph: &aludel::graph::Graph,
    current: &[String],
    global: &Global,
) -> anyhow::Result<()> {
    let revisions: Vec<_> = current
        .iter()
        .map(|id| match graph.get(id) {
            Some(node) => json(project, graph, node, Some(current)),
            None => serde_json::json!({ "id": id, "in_versions": false }),
        })
        .collect();
    let part_way: Vec<_> = aludel::ops::batch_positions(project, &global.options())
        .await?
        .into_iter()
        .map(|at| {
            serde_json::json!({
                "revision": at.revision,
                "direction": at.direction.to_string(),
                "batches": at.batches,
                "rows": at.rows,
                "position": aludel::ledger::batches::position_to_json(&at.position),
                "failure": at.failure,
            })
        })
        .collect();
    print_json(&serde_json::json!({ "revisions": revisions, "part_way": part_way }))
}
