//! `aludel revision -m MSG [--kind sql|rust|python|js] [--head REV [--splice]]
//! [--branch-label L] [--depends-on REV] [--rev-id ID]`
//! `aludel revision --autogenerate -m MSG [--dev] [--rename SPEC] [--no-rename SPEC]`

use std::io::IsTerminal;

use aludel::autogen::{AutogenRequest, Generated, RenameCandidate};
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
    /// Write the SQL that brings the database to the models (`[models]`
    /// in aludel.toml), proved on a scratch copy first.
    #[arg(long)]
    pub autogenerate: bool,
    /// With --autogenerate: compare with a replay of the history in a
    /// scratch database instead of the project's database.
    #[arg(long, requires = "autogenerate")]
    pub dev: bool,
    /// With --autogenerate: a rename, `TABLE.OLD=NEW` for a column (or an
    /// enum value), `OLD=NEW` for a table.
    #[arg(long, requires = "autogenerate", value_name = "SPEC")]
    pub rename: Vec<String>,
    /// With --autogenerate: `TABLE.COLUMN` or `TABLE` is dropped, not
    /// renamed, even though an added one looks like it.
    #[arg(long, requires = "autogenerate", value_name = "SPEC")]
    pub no_rename: Vec<String>,
}

pub async fn run(args: RevisionArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    if args.autogenerate {
        return autogenerate(args, &project, global).await;
    }
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

async fn autogenerate(
    args: RevisionArgs,
    project: &aludel::project::Project,
    global: &Global,
) -> anyhow::Result<()> {
    if !matches!(args.kind, Kind::Sql) {
        anyhow::bail!("--autogenerate writes SQL revisions: leave out --kind");
    }
    if !args.depends_on.is_empty() || args.splice || args.head != "head" {
        anyhow::bail!(
            "--autogenerate builds on the heads the database is at: leave out --head, --splice and --depends-on"
        );
    }
    let request = AutogenRequest {
        message: args.message,
        dev: args.dev,
        renames: args.rename,
        no_renames: args.no_rename,
        id: args.rev_id,
        branch_labels: args.branch_label,
    };
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let mut ask = |c: &RenameCandidate| -> Option<bool> {
        eprint!(
            "Is {} renamed to {}? [y]es, a rename (rows kept) / [n]o, a drop and an add: ",
            c.from, c.to
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).ok()?;
        match answer.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => Some(true),
            "n" | "no" => Some(false),
            _ => None,
        }
    };
    let ask: Option<aludel::autogen::Ask<'_>> = if terminal { Some(&mut ask) } else { None };
    match aludel::autogen::autogenerate(project, &global.options(), &request, ask).await? {
        Generated::NoChanges => {
            eprintln!("no changes detected");
        }
        Generated::Written {
            dir,
            upgrade,
            downgrade,
        } => {
            for step in upgrade.iter().filter(|s| !s.comment.is_empty()) {
                eprintln!("  {}", aludel::escape::controls(&step.comment));
            }
            for step in &upgrade {
                if let Some(why) = &step.destructive {
                    tracing::warn!("destructive upgrade: {}", aludel::escape::controls(why));
                }
            }
            let undone = downgrade.iter().filter(|s| s.destructive.is_some()).count();
            if undone > 0 {
                tracing::warn!(
                    "the downgrade has {undone} destructive statement(s), marked in downgrade.sql"
                );
            }
            println!("{}", dir.display());
        }
    }
    Ok(())
}
