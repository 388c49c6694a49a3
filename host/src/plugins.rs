//! Plugins: components that many revisions share. `sql` is built into the
//! binary (build.rs compiles `plugins/sql` for wasm32-wasip2 and embeds it);
//! any other plugin `<name>` is the file `<name>.wasm`, looked up in order in
//!
//! 1. the project's `plugins/` directory, beside `aludel.toml`;
//! 2. `$ALUDEL_PLUGIN_DIR`, when set and not empty;
//! 3. `plugins/` beside the `aludel` executable (where a release archive
//!    ships the interpreter plugins such as `python.wasm`);
//! 4. `target/plugins` of the checkout aludel was compiled from, when it
//!    still exists (a development build; `plugins/python/build.sh` writes
//!    there).
//!
//! Built-in names cannot be shadowed, so a project file can never replace
//! the code that runs every SQL revision. Finding a plugin needs no language
//! toolchain: only the prebuilt component.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::project::Project;

/// The built-in `sql` plugin.
pub static SQL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/aludel_plugin_sql.wasm"));

/// The environment variable naming an extra directory of plugins.
pub const PLUGIN_DIR_ENV: &str = "ALUDEL_PLUGIN_DIR";

/// The directories searched for `<name>.wasm`, in order (see the module docs).
pub fn search_path(project: &Project) -> Vec<PathBuf> {
    let mut dirs = vec![project.root.join("plugins")];
    dirs.extend(shipped_dirs());
    let checkout = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/plugins"));
    if checkout.is_dir() {
        dirs.push(checkout.to_path_buf());
    }
    dirs
}

/// Where plugins are installed apart from any project: `$ALUDEL_PLUGIN_DIR`
/// and `plugins/` beside the executable (2 and 3 of the module docs).
/// `aludel build` copies a plugin found here into a project.
pub fn shipped_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(PLUGIN_DIR_ENV).filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        dirs.push(exe_dir.join("plugins"));
    }
    dirs
}

/// The component bytes of plugin `name`, or why there are none.
pub fn find(project: &Project, name: &str) -> Result<Cow<'static, [u8]>, String> {
    if name == "sql" {
        return Ok(Cow::Borrowed(SQL));
    }
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err("a plugin name is letters, digits, `-` and `_`".into());
    }
    let file = format!("{name}.wasm");
    let dirs = search_path(project);
    for dir in &dirs {
        let path = dir.join(&file);
        match std::fs::read(&path) {
            Ok(bytes) => {
                tracing::debug!(plugin = name, path = %path.display(), "plugin found");
                return Ok(Cow::Owned(bytes));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{} cannot be read ({e})", path.display())),
        }
    }
    let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let hint = match name {
        "python" | "js" => {
            " (run `aludel build`, which builds it into the project's plugins/, or set ALUDEL_PLUGIN_DIR)"
        }
        _ => " (or set ALUDEL_PLUGIN_DIR)",
    };
    Err(format!(
        "no such plugin: built in is `sql`, and no {file} is in {}{hint}",
        searched.join(", ")
    ))
}
