//! `aludel revision -m MSG [--kind sql|rust] [--rev-id ID]`

use aludel::graph::GraphError;
use aludel::migrate::graph_of;
use aludel::project::NewRevision;
use clap::{Args, ValueEnum};

use super::Global;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    /// upgrade.sql and downgrade.sql, run by the built-in sql plugin.
    Sql,
    /// A Rust crate built into the revision's own component by `aludel build`.
    Rust,
}

#[derive(Debug, Args)]
pub struct RevisionArgs {
    /// What the revision does; also names its directory.
    #[arg(short, long)]
    pub message: String,
    /// The template to render.
    #[arg(long, value_enum, default_value = "sql")]
    pub kind: Kind,
    /// A revision id of your choosing instead of a random one.
    #[arg(long)]
    pub rev_id: Option<String>,
}

pub fn run(args: RevisionArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let graph = graph_of(&project)?;
    let heads: Vec<String> = graph.heads().iter().map(|h| h.to_string()).collect();
    if heads.len() > 1 {
        return Err(aludel::Error::from(GraphError::MultipleHeads {
            heads,
            spec: "head".into(),
        })
        .into());
    }
    let kind = match args.kind {
        Kind::Sql => "sql",
        Kind::Rust => "rust",
    };
    let dir = project.new_revision(&NewRevision {
        message: args.message,
        kind: kind.to_string(),
        parents: heads,
        id: args.rev_id,
    })?;
    // The new directory is data: a script may want it.
    println!("{}", dir.display());
    Ok(())
}
