//! `aludel show REV`: everything about one revision (or several, for
//! `heads`). With `--stored`, the files that actually ran, from the
//! artifact store in the database.

use aludel::migrate::graph_of;
use clap::Args;

use super::Global;
use super::format::{Format, entry, json, print_json};

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// An id, a unique prefix, a branch label, `head`, `heads`, `label@head`…
    #[arg(allow_hyphen_values = true)]
    pub revision: String,
    /// Print the files of the revision as they were stored when it last
    /// ran (or was stamped or accepted), from the database.
    #[arg(long)]
    pub stored: bool,
    /// `json`: an array of revision objects; with `--stored`, one object
    /// with the stored files (docs/cli.md).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub async fn run(args: ShowArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    if args.stored {
        return show_stored(&args.revision, &project, global, args.format).await;
    }
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
    if args.format == Format::Json {
        let list: Vec<_> = ids
            .iter()
            .filter_map(|id| graph.get(id))
            .map(|node| json(&project, &graph, node, None))
            .collect();
        return print_json(&list.into());
    }
    for id in ids {
        let node = graph.get(&id).expect("a resolved id is in the graph");
        println!("{}", entry(&project, &graph, node, &[]));
    }
    Ok(())
}

async fn show_stored(
    revision: &str,
    project: &aludel::project::Project,
    global: &Global,
    format: Format,
) -> anyhow::Result<()> {
    let (entry, files) = aludel::ops::stored(project, &global.options(), revision).await?;
    if format == Format::Json {
        // A file's text where it is text, its size always: JSON cannot
        // carry bytes, and `show --stored` is for reading what ran.
        let files: Vec<_> = files
            .iter()
            .map(|(path, bytes)| {
                let text = std::str::from_utf8(bytes)
                    .ok()
                    .filter(|_| !bytes.contains(&0));
                serde_json::json!({ "path": path, "bytes": bytes.len(), "text": text })
            })
            .collect();
        return print_json(&serde_json::json!({
            "revision": entry.revision,
            "artifact": entry.artifact,
            "outcome": entry.outcome.to_string(),
            "stored_at": entry.started_at,
            "checksum": entry.checksum,
            "files": files,
        }));
    }
    println!("Revision: {}", entry.revision);
    println!(
        "Stored: {} ({} at {})",
        entry.artifact.as_deref().unwrap_or(""),
        entry.outcome,
        entry.started_at
    );
    println!("Checksum: {}", entry.checksum.as_deref().unwrap_or(""));
    for (path, bytes) in &files {
        println!();
        match std::str::from_utf8(bytes) {
            Ok(text) if !bytes.contains(&0) => {
                println!("--- {path}");
                print!("{text}");
                if !text.is_empty() && !text.ends_with('\n') {
                    println!();
                }
            }
            _ => println!("--- {path} (binary, {} bytes)", bytes.len()),
        }
    }
    Ok(())
}
