//! `aludel check [--dev] [--format text|json]`: compares the models with
//! the project's database (or with `--dev` a replay of the history) and
//! writes nothing. Exit 0 in sync, 1 with differences (one a line on
//! stdout), 2 when it could not compare.

use aludel::autogen::{self, Against, Comparison};
use clap::Args;

pub use super::format::Format;
use super::{Exit, Global};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Compare against the schema that replaying the history produces in
    /// a scratch database, instead of the project's database.
    #[arg(long)]
    pub dev: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub async fn run(args: CheckArgs, global: &Global) -> anyhow::Result<()> {
    let against = if args.dev {
        Against::Dev
    } else {
        Against::Live
    };
    let comparison = async {
        let project = super::open_project(global)?;
        Ok::<_, anyhow::Error>(autogen::check(&project, &global.options(), against).await?)
    }
    .await
    .map_err(Exit::could_not_compare)?;
    report(
        &comparison,
        args.format,
        "the models and the database are in sync",
        "the models differ from the database",
    )
}

/// Prints a comparison as `check` and `drift` do; Err(Exit 1) when it
/// holds differences.
pub fn report(
    comparison: &Comparison,
    format: Format,
    same: &str,
    differ: &str,
) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let changes: Vec<serde_json::Value> = comparison
                .differences()
                .map(|c| {
                    serde_json::json!({
                        "change": c.describe(),
                        "destructive": c.destructive(),
                        "detail": c,
                    })
                })
                .collect();
            let out = serde_json::json!({
                "in_sync": comparison.in_sync(),
                "dialect": comparison.dialect.to_string(),
                "changes": changes,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Text => {
            for c in comparison.differences() {
                println!("{}", aludel::escape::controls(&c.describe()));
            }
        }
    }
    if comparison.in_sync() {
        eprintln!("{same}");
        Ok(())
    } else {
        let n = comparison.differences().count();
        Err(Exit {
            code: 1,
            message: format!("{differ}: {n} difference{}", if n == 1 { "" } else { "s" }),
        }
        .into())
    }
}
