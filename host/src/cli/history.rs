//! `aludel history`: every revision, newest first, in Alembic's format
//! (`parent -> id (head), message`).

use aludel::migrate::graph_of;
use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct HistoryArgs {}

pub fn run(_args: HistoryArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let graph = graph_of(&project)?;
    let heads = graph.heads();
    for node in graph.walk_newest_first() {
        let parents = if node.parents.is_empty() {
            "<base>".to_string()
        } else {
            node.parents.join(", ")
        };
        let head = if heads.contains(&node.id.as_str()) {
            " (head)"
        } else {
            ""
        };
        println!("{parents} -> {}{head}, {}", node.id, node.message);
    }
    Ok(())
}
