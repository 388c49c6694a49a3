//! `aludel build [REV...]`: the Rust revisions' components, and the
//! interpreter plugins (python, js) the project's plugins/ lacks.

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
    // The interpreter plugins the revisions name, into plugins/, to be
    // committed with the project (aludel::plugin_build).
    let plugins = aludel::plugin_build::build_missing(&project)?;
    for p in &plugins {
        let how = match &p.copied_from {
            Some(from) => format!("copied from {}", from.display()),
            None => "built".to_string(),
        };
        eprintln!(
            "plugin {} → {} ({} KiB, {how}): commit it with the project",
            p.name,
            p.path.display(),
            p.bytes.div_ceil(1024)
        );
    }
    if built.is_empty() && plugins.is_empty() {
        eprintln!(
            "nothing to build: no revision has `source = \"rust\"`, and every plugin the \
             revisions name is in plugins/"
        );
    }
    Ok(())
}
