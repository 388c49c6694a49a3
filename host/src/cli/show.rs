//! `aludel show REV`: everything about one revision (or several, for
//! `heads`).

use aludel::migrate::graph_of;
use clap::Args;

use super::Global;
use super::format::entry;

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// An id, a unique prefix, a branch label, `head`, `heads`, `label@head`…
    #[arg(allow_hyphen_values = true)]
    pub revision: String,
}

pub fn run(args: ShowArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let graph = graph_of(&project)?;
    let ids = graph
        .resolve(&args.revision, &[])
        .map_err(aludel::Error::from)?;
    if ids.is_empty() {
        anyhow::bail!(
            "`{}` is base, which is no revision: name a revision to show",
            args.revision
        );
    }
    for id in ids {
        let node = graph.get(&id).expect("a resolved id is in the graph");
        println!("{}", entry(&project, &graph, node, &[]));
    }
    Ok(())
}
