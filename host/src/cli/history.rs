//! `aludel history [-r LOWER:UPPER] [--verbose] [--indicate-current]`:
//! revisions newest first, in Alembic's format
//! (`parent -> id (head), message`).

use aludel::migrate::graph_of;
use clap::Args;

use super::Global;
use super::format::{Format, Line, entry, json, line, print_json};

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// A range `LOWER:UPPER`; either side may be empty, and `current` names
    /// the database's heads (e.g. `-r current:` for what is not yet applied).
    #[arg(short = 'r', long = "rev-range", allow_hyphen_values = true)]
    pub range: Option<String>,
    /// Every detail of each revision.
    #[arg(long)]
    pub verbose: bool,
    /// Mark the revisions the database is at with `(current)`.
    #[arg(short = 'i', long)]
    pub indicate_current: bool,
    /// `json`: an array of revision objects, newest first (docs/cli.md).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub async fn run(args: HistoryArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let graph = graph_of(&project)?;
    let (lower, upper) = match &args.range {
        None => (None, None),
        Some(range) => {
            let Some((lower, upper)) = range.split_once(':') else {
                anyhow::bail!(
                    "history range `{range}` needs a colon: LOWER:UPPER, LOWER: or :UPPER"
                );
            };
            let side = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
            (side(lower), side(upper))
        }
    };
    let needs_db = args.indicate_current
        || [&lower, &upper]
            .iter()
            .any(|s| s.as_deref() == Some("current"));
    let current = if needs_db {
        aludel::ops::current(&project, &global.options()).await?
    } else {
        Vec::new()
    };
    let nodes = graph
        .range(lower.as_deref(), upper.as_deref(), &current)
        .map_err(aludel::Error::from)?;
    let shown: &[String] = if args.indicate_current { &current } else { &[] };
    if args.format == Format::Json {
        let known = args.indicate_current.then_some(shown);
        let list: Vec<_> = nodes
            .into_iter()
            .map(|node| json(&project, &graph, node, known))
            .collect();
        return print_json(&list.into());
    }
    let what = Line {
        parents: true,
        labels: true,
        head: true,
        tree: true,
        message: true,
    };
    for node in nodes {
        if args.verbose {
            println!("{}", entry(&project, &graph, node, shown));
        } else {
            println!("{}", line(&graph, node, shown, what));
        }
    }
    Ok(())
}
