//! `.env`: the file beside `aludel.toml` (or the one `--env-file` names)
//! that holds `DATABASE_URL` and aludel's own `ALUDEL_*` settings, as
//! Alembic projects keep them. It is read before the command line is
//! parsed for good, so everything that reads these variables (clap's
//! `env =`, `ALUDEL_LOG`, `ALUDEL_CACHE_DIR`) sees its values; a variable
//! already set in the environment wins. Its values are never printed:
//! they are secrets.

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::Global;

/// What a `.env` file set.
#[derive(Debug)]
pub struct Loaded {
    pub path: PathBuf,
    /// The variables it set, by name.
    pub set: Vec<String>,
    /// The variables it held that the environment already set.
    pub overridden: Vec<String>,
}

/// Whether `.env` may set `name`: the URL and aludel's own settings. The
/// rest of a project's `.env` (its application's secrets, `RUSTFLAGS`…) is
/// not aludel's, and would reach the cargo builds of Rust revisions.
fn is_ours(name: &str) -> bool {
    name == "DATABASE_URL" || name.starts_with("ALUDEL_")
}

/// The `.env` file for `global`: the one `--env-file` names, else `.env`
/// in the directory of the configuration file.
fn path_of(global: &Global) -> (PathBuf, bool) {
    if let Some(path) = &global.env_file {
        return (path.clone(), true);
    }
    let dir = if global.config.is_dir() {
        global.config.clone()
    } else {
        global
            .config
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    };
    (dir.join(".env"), false)
}

/// Reads the `.env` file `global` names into the process environment.
/// `None`: there is no default `.env`, which is fine; a file named by
/// `--env-file` must exist.
///
/// Must run before any thread starts (it sets environment variables):
/// `main` calls it before the async runtime and the logger exist.
pub fn load(global: &Global) -> anyhow::Result<Option<Loaded>> {
    let (path, named) = path_of(global);
    if !named && !path.is_file() {
        return Ok(None);
    }
    let shown = path.display();
    let entries = dotenvy::from_path_iter(&path).map_err(|e| match e {
        dotenvy::Error::Io(io) if named => anyhow::Error::new(io).context(format!(
            "cannot read {shown}, named by --env-file: give the path of an existing file"
        )),
        other => anyhow::anyhow!("cannot read {shown}: {}", describe(&other)),
    })?;
    let mut pairs = Vec::new();
    for entry in entries {
        match entry {
            Ok(pair) => pairs.push(pair),
            Err(e) => {
                let after = match pairs.last() {
                    Some((key, _)) => format!(" (after the line that sets {key})"),
                    None => String::new(),
                };
                bail!(
                    "cannot read {shown}{after}: {}\n  \
                     write each setting as KEY=value, KEY=\"value\" or export KEY=value",
                    describe(&e)
                );
            }
        }
    }
    let mut loaded = Loaded {
        path: path.clone(),
        set: Vec::new(),
        overridden: Vec::new(),
    };
    for (key, value) in pairs {
        if !is_ours(&key) {
            continue;
        }
        if std::env::var_os(&key).is_some() {
            loaded.overridden.push(key);
            continue;
        }
        // SAFETY: called from `main` before any other thread exists (the
        // async runtime, the logger and wasmtime start after), so nothing
        // reads the environment while it changes.
        unsafe { std::env::set_var(&key, &value) };
        loaded.set.push(key);
    }
    Ok(Some(loaded))
}

/// An error of dotenvy's, without the line it quotes: that line may hold a
/// secret.
fn describe(e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(_, at) => {
            format!("a line is not KEY=value (at character {at}; its text is not shown)")
        }
        dotenvy::Error::Io(io) => io.to_string(),
        dotenvy::Error::EnvVar(var) => var.to_string(),
        _ => "it is not a .env file".to_string(),
    }
}
