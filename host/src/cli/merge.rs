//! `aludel merge REVS... -m MSG [--rev-id ID]`: a revision whose parents are
//! the given revisions (typically `heads`), joining branches into one. It
//! runs no SQL of its own: its upgrade.sql and downgrade.sql start empty.

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
    let dir = aludel::ops::merge(
        &project,
        &args.revisions,
        &args.message,
        args.rev_id,
        args.branch_label,
    )?;
    println!("{}", dir.display());
    Ok(())
}
