//! `aludel show REV`: everything about one revision (or several, for
//! `heads`). With `--stored`, the files that actually ran, from the
//! artifact store in the database.

use aludel::migrate::graph_of;
use clap::Args;

use super::Global;
use super::format::entry;

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// An id, a unique prefix, a branch label, `head`, `heads`, `label@head`…
    #[arg(allow_hyphen_values = true)]
    pub revision: String,
    /// Print the files of the revision as they were stored when it last
    /// ran (or was stamped or accepted), from the database.
    #[arg(long)]
    pub stored: bool,
}

pub async fn run(args: ShowArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    if args.stored {
        return show_stored(&args.revision, &project, global).await;
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
) -> anyhow::Result<()> {
    let (entry, files) = aludel::ops::stored(project, &global.options(), revision).await?;
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
