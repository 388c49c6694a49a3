//! `aludel branches [--verbose]`: every branch point and where it leads.

use aludel::migrate::graph_of;
use clap::Args;

use super::Global;
use super::format::{Line, entry, line};

#[derive(Debug, Args)]
pub struct BranchesArgs {
    /// Every detail of each branch point.
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(args: BranchesArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let graph = graph_of(&project)?;
    let plain = Line {
        parents: true,
        labels: true,
        head: true,
        tree: true,
        message: true,
    };
    for node in graph.walk_newest_first() {
        if !graph.is_branch_point(&node.id) {
            continue;
        }
        if args.verbose {
            println!("{}", entry(&project, &graph, node, &[]));
        } else {
            println!("{}", line(&graph, node, &[], plain));
        }
        let indent = " ".repeat(node.id.len());
        for child in graph.children(&node.id) {
            let child = graph.get(child).expect("a child is in the graph");
            let what = Line {
                labels: true,
                head: true,
                tree: true,
                message: true,
                parents: false,
            };
            println!("{indent} -> {}", line(&graph, child, &[], what));
        }
        println!();
    }
    Ok(())
}
