//! `aludel heads [--verbose]`: the revisions nothing builds on.

use aludel::migrate::graph_of;
use clap::Args;

use super::Global;
use super::format::{Format, Line, entry, json, line, print_json};

#[derive(Debug, Args)]
pub struct HeadsArgs {
    /// Every detail of each head.
    #[arg(long)]
    pub verbose: bool,
    /// `json`: an array of revision objects (docs/cli.md).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub fn run(args: HeadsArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let graph = graph_of(&project)?;
    if args.format == Format::Json {
        let heads: Vec<_> = graph
            .heads()
            .iter()
            .filter_map(|id| graph.get(id))
            .map(|node| json(&project, &graph, node, None))
            .collect();
        return print_json(&heads.into());
    }
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
