//! `aludel build` for the interpreter plugins: a project with `plugin =
//! "python"` or `plugin = "js"` revisions and no `plugins/<name>.wasm` gets
//! one built there, from sources embedded in this binary, with the same
//! pinned tools `plugins/python/build.sh` and `plugins/js/build.sh` use
//! (componentize-py from PyPI, componentize-qjs from npm), installed once
//! into aludel's cache. The component is then committed with the project
//! like a revision's `revision.wasm`: the machine that runs the migrations
//! needs neither Python nor Node.
//!
//! Why built and not embedded as `sql` is: embedding would make building
//! aludel itself need Python, Node and their registries, and the Python
//! plugin is tens of megabytes; the sources are a few kilobytes.
//!
//! A plugin found in `$ALUDEL_PLUGIN_DIR` or beside the executable (a
//! release archive) is copied instead of built: the same bits, no tools.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::project::{Project, Runner};

/// The pinned tools, as in the build scripts.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// Where the sources were taken from when this binary was built: the
/// checkout, or the package's `prebuilt/sources` (host/build.rs).
macro_rules! source {
    ($path:literal) => {
        include_str!(concat!(env!("ALUDEL_PLUGIN_SOURCES"), "/", $path))
    };
}

/// The contract every plugin is built against: the current version.
const MIGRATION_WIT: &str = source!("wit/migration.wit");

const PYTHON_FILES: &[(&str, &str)] = &[
    ("wit/migration.wit", MIGRATION_WIT),
    ("app/app.py", source!("plugins/python/app.py")),
    ("sdk/aludel.py", source!("sdk/python/aludel.py")),
];

const JS_FILES: &[(&str, &str)] = &[
    ("plugin.js", source!("plugins/js/src/plugin.js")),
    ("aludel.js", source!("sdk/js/aludel.js")),
    ("package.json", source!("plugins/js/package.json")),
    ("wit/plugin.wit", source!("plugins/js/wit/plugin.wit")),
    (
        "wit/deps/cli/cli.wit",
        source!("plugins/js/wit/deps/cli/cli.wit"),
    ),
    (
        "wit/deps/clocks/clocks.wit",
        source!("plugins/js/wit/deps/clocks/clocks.wit"),
    ),
    (
        "wit/deps/filesystem/filesystem.wit",
        source!("plugins/js/wit/deps/filesystem/filesystem.wit"),
    ),
    (
        "wit/deps/io/io.wit",
        source!("plugins/js/wit/deps/io/io.wit"),
    ),
    ("wit/deps/migration/migration.wit", MIGRATION_WIT),
];

/// The plugins `aludel build` knows how to make.
pub const BUILDABLE: &[&str] = &["python", "js"];

/// One plugin `aludel build` put into the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltPlugin {
    pub name: String,
    /// `<project>/plugins/<name>.wasm`.
    pub path: PathBuf,
    pub bytes: u64,
    /// Copied from this file rather than built.
    pub copied_from: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum PluginBuildError {
    #[error(
        "building the {plugin} plugin needs {tool}, which cannot be run ({reason}); install it, \
         or put a prebuilt {plugin}.wasm into the project's plugins/"
    )]
    NoTool {
        plugin: String,
        tool: &'static str,
        reason: String,
    },
    #[error("building the {plugin} plugin failed at `{step}`:\n{output}")]
    Step {
        plugin: String,
        step: String,
        output: String,
    },
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no cache directory for the build tools: set ALUDEL_CACHE_DIR (or HOME, or XDG_CACHE_HOME)"
    )]
    NoCache,
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PluginBuildError {
    let path = path.to_path_buf();
    move |source| PluginBuildError::Io {
        action,
        path,
        source,
    }
}

/// The interpreter plugins the project's revisions name that its
/// `plugins/` lacks, in the order of the revisions.
pub fn missing(project: &Project) -> Vec<&'static str> {
    let mut wanted = Vec::new();
    for revision in &project.revisions {
        if let Runner::Plugin { name } = &revision.runner
            && let Some(known) = BUILDABLE.iter().find(|b| *b == name)
            && !wanted.contains(known)
            && !project
                .root
                .join("plugins")
                .join(format!("{name}.wasm"))
                .is_file()
        {
            wanted.push(*known);
        }
    }
    wanted
}

/// Puts every missing interpreter plugin into the project's `plugins/`
/// (see the module docs).
pub fn build_missing(project: &Project) -> Result<Vec<BuiltPlugin>, PluginBuildError> {
    missing(project)
        .into_iter()
        .map(|name| build_one(project, name))
        .collect()
}

/// The cache directory the tools are installed into, as the runtime's.
fn tools_dir() -> Result<PathBuf, PluginBuildError> {
    if let Some(dir) = std::env::var_os(crate::ops::CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("tools"));
    }
    crate::runtime::ComponentCache::default_dir()
        .and_then(|components| components.parent().map(|p| p.join("tools")))
        .ok_or(PluginBuildError::NoCache)
}

fn build_one(project: &Project, name: &str) -> Result<BuiltPlugin, PluginBuildError> {
    let dir = project.root.join("plugins");
    std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    let out = dir.join(format!("{name}.wasm"));
    // A release ships the plugins beside the binary: the same component,
    // no tools needed.
    let shipped = crate::plugins::shipped_dirs()
        .into_iter()
        .map(|d| d.join(format!("{name}.wasm")))
        .find(|p| p.is_file());
    if let Some(from) = shipped {
        std::fs::copy(&from, &out).map_err(io("copy", &from))?;
        return finished(name, out, Some(from));
    }
    let stage = project.root.join(".aludel").join("plugin-build").join(name);
    if stage.exists() {
        std::fs::remove_dir_all(&stage).map_err(io("clear", &stage))?;
    }
    let files = if name == "python" {
        PYTHON_FILES
    } else {
        JS_FILES
    };
    for (path, text) in files {
        let file = stage.join(path);
        std::fs::create_dir_all(file.parent().expect("a staged file has a directory"))
            .map_err(io("create", &stage))?;
        std::fs::write(&file, text).map_err(io("write", &file))?;
    }
    let tmp = stage.join(format!("{name}.wasm"));
    match name {
        "python" => build_python(&stage, &tmp)?,
        _ => build_js(&stage, &tmp)?,
    }
    std::fs::rename(&tmp, &out)
        .or_else(|_| std::fs::copy(&tmp, &out).map(drop))
        .map_err(io("write", &out))?;
    let _ = std::fs::remove_dir_all(&stage);
    finished(name, out, None)
}

fn finished(
    name: &str,
    path: PathBuf,
    copied_from: Option<PathBuf>,
) -> Result<BuiltPlugin, PluginBuildError> {
    let bytes = std::fs::metadata(&path).map_err(io("read", &path))?.len();
    Ok(BuiltPlugin {
        name: name.to_string(),
        path,
        bytes,
        copied_from,
    })
}

/// Runs one step of a build; its output is the error's when it fails.
fn run(plugin: &str, tool: &'static str, command: &mut Command) -> Result<(), PluginBuildError> {
    let step = format!("{command:?}");
    let output = command.output().map_err(|e| PluginBuildError::NoTool {
        plugin: plugin.to_string(),
        tool,
        reason: e.to_string(),
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(PluginBuildError::Step {
        plugin: plugin.to_string(),
        step,
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}

fn build_python(stage: &Path, out: &Path) -> Result<(), PluginBuildError> {
    let venv = tools_dir()?.join(COMPONENTIZE_PY.replace("==", "-"));
    let tool = venv.join("bin").join("componentize-py");
    if !tool.is_file() {
        let _ = std::fs::remove_dir_all(&venv);
        run(
            "python",
            "python3 (3.10 or later, with venv)",
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
        )?;
        run(
            "python",
            "pip (with PyPI or a wheel cache)",
            Command::new(venv.join("bin").join("pip")).args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                COMPONENTIZE_PY,
            ]),
        )?;
    }
    run(
        "python",
        "componentize-py",
        Command::new(&tool)
            .arg("--wit-path")
            .arg(stage.join("wit"))
            .args([
                "--world",
                "aludel:migration/migration@0.2.0",
                "componentize",
            ])
            .arg("--python-path")
            .arg(stage.join("sdk"))
            .arg("--python-path")
            .arg(stage.join("app"))
            .arg("app")
            .arg("-o")
            .arg(out),
    )
}

fn build_js(stage: &Path, out: &Path) -> Result<(), PluginBuildError> {
    let package = source!("plugins/js/package.json");
    // One install per pinned package.json.
    let digest = hex::encode(Sha256::digest(package.as_bytes()));
    let tools = tools_dir()?.join(format!("js-plugin-{}", &digest[..16]));
    let tool = tools.join("node_modules/.bin/componentize-qjs");
    if !tool.is_file() {
        std::fs::create_dir_all(&tools).map_err(io("create", &tools))?;
        let manifest = tools.join("package.json");
        std::fs::write(&manifest, package).map_err(io("write", &manifest))?;
        run(
            "js",
            "npm (Node 18 or later, with the npm registry)",
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&tools),
        )?;
    }
    // --sync: the host does not enable the component-model async ABI.
    run(
        "js",
        "componentize-qjs",
        Command::new(&tool)
            .args([
                "--sync",
                "--wit",
                "wit",
                "--world",
                "aludel:js-plugin/plugin",
                "--js",
                "plugin.js",
                "--module-root",
                ".",
                "-o",
            ])
            .arg(out)
            .current_dir(stage),
    )
}
