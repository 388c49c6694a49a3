//! `aludel merge REVS... -m MSG [--rev-id ID]`: a revision whose parents are
//! the given revisions (typically `heads`), joining branches into one. It
//! runs no SQL of its own: its upgrade.sql and downgrade.sql start empty.

use aludel::migrate::graph_of;
use aludel::project::NewRevision;
use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The revisions to merge: ids, prefixes, labels, or `heads`.
    #[arg(required = true)]
    pub revisions: Vec<String>,
    /// What the merge is for; also names its directory.
    #[arg(short, long)]
    pub message: String,
    /// A revision id of your choosing instead of a random one.
    #[arg(long)]
    pub rev_id: Option<String>,
    /// A branch label for the merge revision.
    #[arg(long)]
    pub branch_label: Vec<String>,
}

pub fn run(args: MergeArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let graph = graph_of(&project)?;
    let mut parents: Vec<String> = Vec::new();
    for spec in &args.revisions {
        for id in graph.resolve(spec, &[]).map_err(aludel::Error::from)? {
            if !parents.contains(&id) {
                parents.push(id);
            }
        }
    }
    if parents.len() < 2 {
        anyhow::bail!(
            "merge needs at least two revisions, and `{}` names {}: \
             there is nothing to merge (see `aludel heads`)",
            args.revisions.join(" "),
            match parents.as_slice() {
                [] => "none".to_string(),
                [one] => format!("only {one}"),
                _ => unreachable!(),
            }
        );
    }
    let dir = project.new_revision(&NewRevision {
        message: args.message,
        kind: "sql".to_string(),
        parents,
        id: args.rev_id,
        branch_labels: args.branch_label,
        depends_on: Vec::new(),
    })?;
    println!("{}", dir.display());
    Ok(())
}
