//! `aludel import alembic`: an Alembic history turned into aludel
//! revisions, and a database Alembic manages adopted (docs/from-alembic.md).
//!
//! The Alembic side runs in Python, with Alembic itself: [`python`] finds
//! or makes an interpreter that has it, and the script embedded from
//! `render.py` lists the revisions and renders each one against a scratch
//! database of the project's dialect brought to its parents by Alembic
//! (a live connection, as production has). [`write`] turns what it found
//! into revision directories. aludel needs Python only here, never to run
//! what was imported.

mod adopt;
mod python;
mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::db::{self, Dialect};
use crate::ops::{self, Options};
use crate::project::Project;

pub use adopt::{ALEMBIC_VERSION_TABLE, adopt_alembic_version};
pub use python::{PYTHON_PINS, find_python};

/// The Python side, written to a temporary file for each run.
const RENDER_PY: &str = include_str!("render.py");

/// What went wrong while importing. Each message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    #[error(
        "importing from Alembic needs a Python 3 that can `import alembic`: {0}; name one with \
         `--python PATH`, or install python3 (with its venv module) so aludel can make its own \
         virtualenv from PyPI"
    )]
    NoPython(String),
    #[error("the Alembic side of the import failed: {0}")]
    Script(String),
    #[error(
        "revision {id} already exists in this project ({}): `aludel import alembic` never \
         overwrites a revision; remove that directory to import it again",
        dir.display()
    )]
    Exists { id: String, dir: PathBuf },
    #[error(
        "Alembic revision {id} ({}) cannot be an aludel revision: {why}",
        path.display()
    )]
    Unusable {
        id: String,
        path: PathBuf,
        why: String,
    },
    #[error(
        "rendering for {dialect} needs a scratch server: pass `--dev-url URL` (or set \
         `[models] dev_url` in aludel.toml), naming a {dialect} server where aludel may create \
         and drop databases; it never renders against the project's own database"
    )]
    NoDevUrl { dialect: Dialect },
    #[error("`--dev-url` ({url}) is not a {dialect} URL like the project's database")]
    DevUrlDialect { url: String, dialect: Dialect },
    #[error("the project's database URL ({0}) names no dialect aludel speaks")]
    UnknownDialect(String),
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the database has no {table} table: Alembic does not manage it (or uses another version \
         table: name it with --table)"
    )]
    NotAlembic { table: String },
    #[error(
        "the database is already managed by aludel ({0} exists or its audit log has rows): \
         there is nothing to adopt; `aludel current` shows where it is"
    )]
    AlreadyAludel(String),
    #[error(
        "{table} holds {id}, which is not a revision of this project: import the Alembic \
         history first (`aludel import alembic`), from the same revisions the database ran"
    )]
    UnknownHead { table: String, id: String },
    /// Boxed: aludel's own error is large, and an import error is rare.
    #[error(transparent)]
    Aludel(Box<crate::Error>),
}

impl From<crate::Error> for ImportError {
    fn from(e: crate::Error) -> Self {
        ImportError::Aludel(Box::new(e))
    }
}

/// What `aludel import alembic` is asked.
#[derive(Debug, Clone, Default)]
pub struct AlembicImport {
    /// A directory holding alembic.ini, an ini file, or the script
    /// directory itself; none: ./alembic.ini, else ./alembic.
    pub alembic_dir: Option<PathBuf>,
    /// The Python to run Alembic with.
    pub python: Option<PathBuf>,
    /// The server scratch databases are made on (PostgreSQL, MySQL).
    pub dev_url: Option<String>,
}

/// What became of one Alembic revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub id: String,
    /// The new revision directory.
    pub dir: PathBuf,
    pub kind: ImportedKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportedKind {
    /// An SQL revision: upgrade.sql and downgrade.sql as Alembic sent them.
    Sql,
    /// A Python revision skeleton that refuses to run until it is ported,
    /// and why (a direction that read data, failed, or sent what cannot be
    /// written as SQL).
    NeedsPorting { reason: String },
}

impl ImportedKind {
    pub fn name(&self) -> &'static str {
        match self {
            ImportedKind::Sql => "sql",
            ImportedKind::NeedsPorting { .. } => "needs-porting",
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            ImportedKind::Sql => "",
            ImportedKind::NeedsPorting { reason } => reason,
        }
    }
}

/// One Alembic revision as the script lists it.
#[derive(Debug, Clone, Deserialize)]
struct AlembicRevision {
    id: String,
    parents: Vec<String>,
    branch_labels: Vec<String>,
    depends_on: Vec<String>,
    message: String,
    created: Option<String>,
    path: PathBuf,
}

/// One direction of a revision as it ran on the scratch database.
#[derive(Debug, Clone, Deserialize)]
struct Direction {
    statements: Vec<String>,
    /// Why it is not frozen into SQL; none when it is.
    reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Rendered {
    id: String,
    upgrade: Direction,
    downgrade: Direction,
}

#[derive(Debug, Deserialize)]
struct Answer {
    error: Option<String>,
    #[serde(default)]
    script_location: Option<PathBuf>,
    #[serde(default)]
    revisions: Vec<AlembicRevision>,
    #[serde(default)]
    rendered: Vec<Rendered>,
}

/// `import alembic`: lists the Alembic history, refuses if any of its ids
/// is a revision here already, renders every revision and writes them all
/// into `versions/`. Returns what each became, parents first.
pub fn import_alembic(
    project: &Project,
    options: &Options,
    request: &AlembicImport,
) -> Result<Vec<Imported>, ImportError> {
    let url = ops::database_url(project, options)?;
    let dialect = db::dialect_of_url(&url)
        .ok_or_else(|| ImportError::UnknownDialect(db::redact_url(&url)))?;
    let server_url = match dialect {
        Dialect::Sqlite => None,
        _ => {
            let dev = request.dev_url.clone().or_else(|| {
                project
                    .config
                    .models
                    .as_ref()
                    .and_then(|m| m.dev_url.clone())
            });
            let dev = dev.ok_or(ImportError::NoDevUrl { dialect })?;
            if db::dialect_of_url(&dev) != Some(dialect) {
                return Err(ImportError::DevUrlDialect {
                    url: db::redact_url(&dev),
                    dialect,
                });
            }
            Some(sqlalchemy_url(&dev, dialect))
        }
    };
    let python = find_python(request.python.as_deref(), project)?;
    let work = tempfile::Builder::new()
        .prefix("aludel-import-")
        .tempdir()
        .map_err(|e| ImportError::Io {
            action: "make",
            path: std::env::temp_dir(),
            source: e,
        })?;
    let script = work.path().join("render.py");
    std::fs::write(&script, RENDER_PY).map_err(|e| ImportError::Io {
        action: "write",
        path: script.clone(),
        source: e,
    })?;
    let alembic_dir = request
        .alembic_dir
        .as_ref()
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()));

    // First the list alone, which is quick: a clash is refused before any
    // scratch database is made.
    let listed = run_script(
        &python,
        &script,
        &serde_json::json!({"mode": "list", "alembic_dir": alembic_dir}),
    )?;
    for revision in &listed.revisions {
        write::check_usable(revision)?;
        if let Some(existing) = project.revision(&revision.id) {
            return Err(ImportError::Exists {
                id: revision.id.clone(),
                dir: existing.shown_dir(),
            });
        }
    }
    tracing::info!(
        "importing {} Alembic revision(s) from {}",
        listed.revisions.len(),
        listed
            .script_location
            .as_deref()
            .unwrap_or(Path::new("?"))
            .display()
    );
    let scratch = work.path().join("scratch");
    std::fs::create_dir_all(&scratch).map_err(|e| ImportError::Io {
        action: "make",
        path: scratch.clone(),
        source: e,
    })?;
    let answer = run_script(
        &python,
        &script,
        &serde_json::json!({
            "mode": "render",
            "alembic_dir": alembic_dir,
            "dialect": dialect_name(dialect),
            "server_url": server_url,
            "scratch_dir": scratch,
        }),
    )?;
    let mut rendered: BTreeMap<String, Rendered> = answer
        .rendered
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let mut plan = Vec::new();
    for revision in answer.revisions {
        let r = rendered.remove(&revision.id).ok_or_else(|| {
            ImportError::Script(format!(
                "revision {} was listed but not rendered",
                revision.id
            ))
        })?;
        plan.push((revision, r));
    }
    write::write_all(project, dialect, &plan)
}

/// Runs the embedded script with one request and reads its answer.
fn run_script(
    python: &Path,
    script: &Path,
    request: &serde_json::Value,
) -> Result<Answer, ImportError> {
    let mut command = Command::new(python);
    command
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // The revisions run against scratch databases only: nothing in their
    // environment should lead them to a real one.
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text == "DATABASE_URL" || text.starts_with("ALUDEL_") {
            command.env_remove(&name);
        }
    }
    let mut child = command.spawn().map_err(|e| ImportError::Io {
        action: "run",
        path: python.to_path_buf(),
        source: e,
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        stdin
            .write_all(request.to_string().as_bytes())
            .map_err(|e| ImportError::Io {
                action: "write the request to",
                path: python.to_path_buf(),
                source: e,
            })?;
    }
    let output = child.wait_with_output().map_err(|e| ImportError::Io {
        action: "run",
        path: python.to_path_buf(),
        source: e,
    })?;
    let text = String::from_utf8_lossy(&output.stdout);
    let answer: Answer = serde_json::from_str(&text).map_err(|e| {
        ImportError::Script(format!(
            "{} exited with {} and an answer that is not JSON ({e}); its errors are above",
            python.display(),
            output.status
        ))
    })?;
    if let Some(error) = answer.error {
        return Err(ImportError::Script(error));
    }
    Ok(answer)
}

fn dialect_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgresql => "postgresql",
        Dialect::Mysql => "mysql",
    }
}

/// aludel's URL of a server as SQLAlchemy names it, with the driver left
/// for the script to choose (`+driver` is added there, from what that
/// Python has). The query is dropped: the scratch server is local tooling,
/// and the drivers spell TLS options each their own way.
fn sqlalchemy_url(url: &str, dialect: Dialect) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.split_once('?').map_or(rest, |(base, _)| base);
    let scheme = match dialect {
        Dialect::Postgresql => "postgresql",
        _ => "mysql",
    };
    format!("{scheme}://{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_become_sqlalchemy_urls_without_their_query() {
        assert_eq!(
            sqlalchemy_url(
                "postgres://u:p@h:5432/db?sslmode=require",
                Dialect::Postgresql
            ),
            "postgresql://u:p@h:5432/db"
        );
        assert_eq!(
            sqlalchemy_url("mariadb://root@127.0.0.1:3306/test", Dialect::Mysql),
            "mysql://root@127.0.0.1:3306/test"
        );
    }
}
