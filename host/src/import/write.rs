//! Imported revisions on disk: an SQL revision for each Alembic revision
//! whose statements were frozen, a Python skeleton for one that must be
//! ported. Every file is written before any is kept: a failure part-way
//! removes what this import wrote.

use std::path::{Path, PathBuf};

use super::{AlembicRevision, ImportError, Imported, ImportedKind, Rendered};
use crate::db::Dialect;
use crate::graph::{check_id, check_label};
use crate::project::{Project, slugify};

/// Refuses an Alembic revision aludel cannot hold as it is: its id and
/// labels must follow aludel's rules (docs/revisions.md, Identifiers).
pub(super) fn check_usable(revision: &AlembicRevision) -> Result<(), ImportError> {
    let unusable = |why: String| ImportError::Unusable {
        id: revision.id.clone(),
        path: revision.path.clone(),
        why,
    };
    check_id(&revision.id).map_err(|e| unusable(format!("its id: {e}")))?;
    for label in &revision.branch_labels {
        check_label(label).map_err(|e| unusable(format!("its branch label {label:?}: {e}")))?;
    }
    Ok(())
}

pub(super) fn write_all(
    project: &Project,
    dialect: Dialect,
    plan: &[(AlembicRevision, Rendered)],
) -> Result<Vec<Imported>, ImportError> {
    let versions = project.versions_dir();
    std::fs::create_dir_all(&versions).map_err(|e| ImportError::Io {
        action: "make",
        path: versions.clone(),
        source: e,
    })?;
    let mut written: Vec<PathBuf> = Vec::new();
    let mut imported = Vec::new();
    let result = (|| {
        for (revision, rendered) in plan {
            let slug = slugify(&revision.message);
            let name = if slug.is_empty() {
                revision.id.clone()
            } else {
                format!("{}_{slug}", revision.id)
            };
            let dir = versions.join(&name);
            if dir.exists() {
                return Err(ImportError::Exists {
                    id: revision.id.clone(),
                    dir: Path::new("versions").join(&name),
                });
            }
            let io = |action: &'static str, path: &Path| {
                let path = path.to_path_buf();
                move |source| ImportError::Io {
                    action,
                    path,
                    source,
                }
            };
            std::fs::create_dir(&dir).map_err(io("make", &dir))?;
            written.push(dir.clone());
            let kind = porting_reason(rendered);
            let files = match &kind {
                ImportedKind::Sql => sql_files(project, dialect, revision, rendered),
                ImportedKind::NeedsPorting { reason } => {
                    python_files(project, dialect, revision, rendered, reason)
                }
            };
            for (file, text) in files {
                let path = dir.join(file);
                std::fs::write(&path, text).map_err(io("write", &path))?;
            }
            imported.push(Imported {
                id: revision.id.clone(),
                dir: Path::new("versions").join(&name),
                kind,
            });
        }
        // What was written must read back as a project: the manifests,
        // the graph's ids and labels.
        crate::project::Project::open(&project.root.join(crate::project::CONFIG_FILE))
            .map_err(crate::Error::from)?;
        Ok(())
    })();
    if let Err(e) = result {
        for dir in written {
            let _ = std::fs::remove_dir_all(dir);
        }
        return Err(e);
    }
    Ok(imported)
}

/// Why a revision must be ported by hand, or `Sql` when both directions
/// were frozen.
fn porting_reason(rendered: &Rendered) -> ImportedKind {
    let mut reasons = Vec::new();
    if let Some(why) = &rendered.upgrade.reason {
        reasons.push(format!("upgrade: {why}"));
    }
    if let Some(why) = &rendered.downgrade.reason {
        reasons.push(format!("downgrade: {why}"));
    }
    if reasons.is_empty() {
        ImportedKind::Sql
    } else {
        ImportedKind::NeedsPorting {
            reason: one_line(&reasons.join("; ")),
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn toml_list(items: &[String]) -> String {
    toml::Value::Array(
        items
            .iter()
            .map(|s| toml::Value::String(s.clone()))
            .collect(),
    )
    .to_string()
}

/// The Alembic file, as the new revision names its origin.
fn origin(project: &Project, revision: &AlembicRevision) -> String {
    let path = revision
        .path
        .strip_prefix(&project.root)
        .unwrap_or(&revision.path);
    path.display().to_string()
}

fn manifest(project: &Project, revision: &AlembicRevision, run_by: &str, extra: &[&str]) -> String {
    let mut text = format!(
        "id = {}\nparents = {}\nmessage = {}\n",
        toml_string(&revision.id),
        toml_list(&revision.parents),
        toml_string(&revision.message)
    );
    if let Some(created) = &revision.created {
        text.push_str(&format!("created = {}\n", toml_string(created)));
    }
    text.push_str(&format!(
        "branch_labels = {}\ndepends_on = {}\n\n# Imported from Alembic ({}) by `aludel import alembic`.\n{run_by}\n",
        toml_list(&revision.branch_labels),
        toml_list(&revision.depends_on),
        origin(project, revision).replace('\n', " ")
    ));
    for line in extra {
        text.push_str(line);
        text.push('\n');
    }
    text
}

fn dialect_label(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "SQLite",
        Dialect::Postgresql => "PostgreSQL",
        Dialect::Mysql => "MySQL",
    }
}

fn sql_script(
    project: &Project,
    dialect: Dialect,
    revision: &AlembicRevision,
    direction: &str,
    statements: &[String],
) -> String {
    let mut text = format!(
        "-- {}\n--\n-- Revision: {}\n-- The statements {direction}() of {} sent to a scratch {} database\n-- at its parents, recorded by `aludel import alembic`.\n",
        revision.message.replace('\n', "\n-- "),
        revision.id,
        origin(project, revision).replace('\n', " "),
        dialect_label(dialect)
    );
    for statement in statements {
        text.push('\n');
        text.push_str(statement.trim_end());
        // A `;` after a line comment would be part of the comment.
        let last = statement.trim_end().lines().last().unwrap_or("");
        text.push_str(if last.contains("--") { "\n;\n" } else { ";\n" });
    }
    text
}

fn sql_files(
    project: &Project,
    dialect: Dialect,
    revision: &AlembicRevision,
    rendered: &Rendered,
) -> Vec<(&'static str, String)> {
    // Alembic's SQLite connections run with foreign keys off (SQLite's
    // default), and batch mode's table rebuilds rely on it: a DROP TABLE
    // would otherwise cascade or fail. aludel switches them off for the
    // revision and checks every key before it commits.
    let rebuilds = dialect == Dialect::Sqlite
        && rendered
            .upgrade
            .statements
            .iter()
            .chain(&rendered.downgrade.statements)
            .any(|s| {
                s.trim_start()
                    .to_ascii_uppercase()
                    .starts_with("DROP TABLE")
            });
    let extra: &[&str] = if rebuilds {
        &["foreign_keys = false"]
    } else {
        &[]
    };
    vec![
        (
            "revision.toml",
            manifest(
                project,
                revision,
                "# The `sql` plugin runs upgrade.sql on upgrade and downgrade.sql on downgrade,\n# each as one script in the revision's transaction.\nplugin = \"sql\"",
                extra,
            ),
        ),
        (
            "upgrade.sql",
            sql_script(
                project,
                dialect,
                revision,
                "upgrade",
                &rendered.upgrade.statements,
            ),
        ),
        (
            "downgrade.sql",
            sql_script(
                project,
                dialect,
                revision,
                "downgrade",
                &rendered.downgrade.statements,
            ),
        ),
    ]
}

/// A Python literal for `s`: JSON's string syntax is Python's.
fn py_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn python_direction(
    name: &str,
    revision: &AlembicRevision,
    direction: &super::Direction,
) -> String {
    match &direction.reason {
        None => {
            let mut text = format!(
                "# What {name}() sent to the scratch database: frozen, as for an SQL revision.\n{}_STATEMENTS = [\n",
                name.to_ascii_uppercase()
            );
            for s in &direction.statements {
                text.push_str(&format!("    {},\n", py_string(s)));
            }
            text.push_str(&format!(
                "]\n\n\ndef {name}(ctx):\n    for sql in {}_STATEMENTS:\n        db.execute(sql)\n",
                name.to_ascii_uppercase()
            ));
            text
        }
        Some(reason) => {
            let mut text = format!(
                "def {name}(ctx):\n    # PORT ME: {}\n",
                one_line(reason).replace('\n', " ")
            );
            if !direction.statements.is_empty() {
                text.push_str(
                    "    # On an empty scratch database it also sent, besides what it read:\n",
                );
                for s in &direction.statements {
                    text.push_str(&format!("    #   {};\n", one_line(s)));
                }
            }
            text.push_str(&format!(
                "    raise NotImplementedError(\n        {}\n    )\n",
                py_string(&format!(
                    "revision {} was imported from Alembic and its {name}() must be ported by hand: {}",
                    revision.id,
                    one_line(reason)
                ))
            ));
            text
        }
    }
}

/// `text` inside a `"""` docstring: backslashes and quotes read as
/// themselves.
fn docstring(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn python_files(
    project: &Project,
    dialect: Dialect,
    revision: &AlembicRevision,
    rendered: &Rendered,
    reason: &str,
) -> Vec<(&'static str, String)> {
    let source = std::fs::read_to_string(&revision.path).unwrap_or_default();
    let mut py = format!(
        "\"\"\"{}\n\nImported from Alembic ({}) by `aludel import alembic`: NEEDS PORTING.\n{}\n\nPort each function that raises to aludel's Python SDK (docs/revisions.md), or\nreplace this revision with an SQL one (upgrade.sql, downgrade.sql and\n`plugin = \"sql\"` in revision.toml). The Alembic source is at the end of this\nfile. What was frozen was recorded on a scratch {} database.\n\"\"\"\n\nfrom aludel import db  # noqa: F401\n\n\n",
        docstring(&revision.message),
        docstring(&origin(project, revision).replace('\n', " ")),
        docstring(reason),
        dialect_label(dialect)
    );
    py.push_str(&python_direction("upgrade", revision, &rendered.upgrade));
    py.push_str("\n\n");
    py.push_str(&python_direction(
        "downgrade",
        revision,
        &rendered.downgrade,
    ));
    py.push_str("\n\n# The Alembic revision, as it was:\n#\n");
    for line in source.lines() {
        py.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
    }
    vec![
        (
            "revision.toml",
            manifest(
                project,
                revision,
                "# NEEDS PORTING (see migration.py): run by the shared python plugin.\nplugin = \"python\"",
                &[],
            ),
        ),
        ("migration.py", py),
    ]
}
