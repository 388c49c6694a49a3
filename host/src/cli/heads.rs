//! `aludel heads [--verbose]`: the revisions nothing builds on.

use aludel::migrate::graph_of;
use clap::Args;

use super::Global;
use super::format::{Line, entry, line};

#[derive(Debug, Args)]
pub struct HeadsArgs {
    /// Every detail of each head.
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(args: HeadsArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let graph = graph_of(&project)?;
    for id in graph.heads() {
        let node = graph.get(id).expect("a head is in the graph");
        if args.verbose {
            println!("{}", entry(&project, &graph, node, &[]));
        } else {
            let what = Line {
                labels: true,
                head: true,
                ..Line::default()
            };
            println!("{}", line(&graph, node, &[], what));
        }
    }
    Ok(())
}
