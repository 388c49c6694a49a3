//! `aludel revision -m MSG [--kind sql|rust|python|js] [--head REV [--splice]]
//! [--branch-label L] [--depends-on REV] [--rev-id ID]`

use aludel::ops::RevisionRequest;
use clap::{Args, ValueEnum};

use super::Global;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    /// upgrade.sql and downgrade.sql, run by the built-in sql plugin.
    Sql,
    /// A Rust crate built into the revision's own component by `aludel build`.
    Rust,
    /// migration.py, run by the python interpreter plugin.
    Python,
    /// migration.js, run by the js interpreter plugin.
    Js,
}

#[derive(Debug, Args)]
pub struct RevisionArgs {
    /// What the revision does; also names its directory.
    #[arg(short, long)]
    pub message: String,
    /// The template to render.
    #[arg(long, value_enum, default_value = "sql")]
    pub kind: Kind,
    /// The revision to build on: `head` (the only head), a head's id or
    /// label (`label@head`), or `base` to start a new base.
    #[arg(long, default_value = "head", allow_hyphen_values = true)]
    pub head: String,
    /// Allow --head to name a revision that is not a head, starting a new
    /// branch from it.
    #[arg(long)]
    pub splice: bool,
    /// A branch label for the new revision.
    #[arg(long)]
    pub branch_label: Vec<String>,
    /// A revision the new one depends on without descending from it.
    #[arg(long)]
    pub depends_on: Vec<String>,
    /// A revision id of your choosing instead of a random one.
    #[arg(long)]
    pub rev_id: Option<String>,
}

pub fn run(args: RevisionArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let kind = match args.kind {
        Kind::Sql => "sql",
        Kind::Rust => "rust",
        Kind::Python => "python",
        Kind::Js => "js",
    };
    let dir = aludel::ops::new_revision(
        &project,
        &RevisionRequest {
            message: args.message,
            kind: kind.to_string(),
            head: args.head,
            splice: args.splice,
            branch_labels: args.branch_label,
            depends_on: args.depends_on,
            id: args.rev_id,
        },
    )?;
    // The new directory is data: a script may want it.
    println!("{}", dir.display());
    Ok(())
}
