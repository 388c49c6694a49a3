//! `aludel build [REV...]`

use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Only these revisions (ids); default: every revision with sources.
    pub revisions: Vec<String>,
}

pub fn run(args: BuildArgs, global: &Global) -> anyhow::Result<()> {
    let project = super::open_project(global)?;
    let built = project.build(&args.revisions)?;
    for b in &built {
        eprintln!(
            "built {} → {} ({} KiB)",
            b.revision,
            b.component_path.display(),
            b.bytes.div_ceil(1024)
        );
    }
    if built.is_empty() {
        eprintln!("nothing to build: no revision has `source = \"rust\"`");
    }
    Ok(())
}
