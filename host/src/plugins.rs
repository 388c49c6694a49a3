//! Plugins: components that many revisions share. `sql` is built into the
//! binary (build.rs compiles `plugins/sql` for wasm32-wasip2 and embeds it);
//! a project may add its own as `plugins/<name>.wasm` beside `aludel.toml`.
//! Built-in names cannot be shadowed, so a project file can never replace
//! the code that runs every SQL revision.

use std::borrow::Cow;

use crate::project::Project;

/// The built-in `sql` plugin.
pub static SQL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/aludel_plugin_sql.wasm"));

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
    let path = project.root.join("plugins").join(format!("{name}.wasm"));
    std::fs::read(&path).map(Cow::Owned).map_err(|e| {
        format!(
            "no such plugin: built in is `sql`, and {} cannot be read ({e})",
            path.display()
        )
    })
}
