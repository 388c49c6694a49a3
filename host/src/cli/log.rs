//! `aludel log`: the audit log, for people (a table) or for machines
//! (`--format json`: an array of objects with every field). Reads only.

use aludel::ledger::HistoryEntry;
use aludel::ops::LogFilter;
use clap::{Args, ValueEnum};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Global;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only rows of this revision (an id or a prefix of one).
    #[arg(long)]
    pub revision: Option<String>,
    /// Only rows started at or after this time (RFC 3339, e.g. 2026-01-31T00:00:00Z).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<OffsetDateTime>,
    /// Only rows started before this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<OffsetDateTime>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| format!("`{s}` is not an RFC 3339 time such as 2026-01-31T12:00:00Z: {e}"))
}

pub async fn run(args: LogArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let filter = LogFilter {
        revision: args.revision,
        since: args.since,
        until: args.until,
    };
    let entries = aludel::ops::audit_log(&project, &global.options(), &filter).await?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&entries)?),
        Format::Table => print_table(&entries),
    }
    Ok(())
}

fn print_table(entries: &[HistoryEntry]) {
    if entries.is_empty() {
        eprintln!("the audit log is empty");
        return;
    }
    let header = [
        "started",
        "revision",
        "direction",
        "outcome",
        "ms",
        "stmts",
        "rows",
        "who",
        "runner",
    ];
    let rows: Vec<[String; 9]> = entries
        .iter()
        .map(|e| {
            let who = format!(
                "{}@{}{}",
                e.os_user.as_deref().unwrap_or("?"),
                e.host.as_deref().unwrap_or("?"),
                e.db_user
                    .as_deref()
                    .map(|u| format!(" (db {u})"))
                    .unwrap_or_default()
            );
            [
                e.started_at.clone(),
                e.revision.clone(),
                aludel::ledger::history::direction_text(e.direction).to_string(),
                e.outcome.to_string(),
                e.duration_ms.to_string(),
                e.statements.to_string(),
                e.rows.to_string(),
                who,
                e.runner.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!(
        "{}",
        line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>())
    );
    for (row, entry) in rows.iter().zip(entries) {
        println!("{}", line(row));
        if let Some(error) = &entry.error {
            // The revision's own text, stored as it came: escaped to print.
            let error = aludel::escape::controls(error);
            println!("  error: {}", error.replace('\n', "\n  "));
        }
    }
}
