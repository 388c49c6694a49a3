//! The models' DDL, from `[models] sql` files or `[models] command`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::db::Dialect;
use crate::project::ModelSource;

use super::AutogenError;

/// The DDL and how errors name where it came from.
pub struct Ddl {
    pub text: String,
    pub source_name: String,
}

/// Reads the files the globs name (each glob's files sorted by name, the
/// globs in order), or runs the command in the project directory with
/// `ALUDEL_DIALECT` set to `sqlite`, `postgresql` or `mysql`.
pub fn ddl(root: &Path, source: &ModelSource, dialect: Dialect) -> Result<Ddl, AutogenError> {
    match source {
        ModelSource::Sql(globs) => {
            let mut text = String::new();
            let mut names = Vec::new();
            for pattern in globs {
                let files = expand(root, pattern)?;
                if files.is_empty() {
                    return Err(AutogenError::Models {
                        source_name: format!("`[models] sql` {pattern:?}"),
                        message:
                            "no file matches it: globs are relative to the directory of aludel.toml"
                                .into(),
                    });
                }
                for file in files {
                    let shown = file
                        .strip_prefix(root)
                        .unwrap_or(&file)
                        .display()
                        .to_string();
                    let body =
                        std::fs::read_to_string(&file).map_err(|e| AutogenError::Models {
                            source_name: shown.clone(),
                            message: format!("cannot read it: {e}"),
                        })?;
                    text.push_str(&body);
                    text.push_str("\n;\n");
                    names.push(shown);
                }
            }
            Ok(Ddl {
                text,
                source_name: names.join(", "),
            })
        }
        ModelSource::Command(command) => {
            let output =
                // One models program can serve every backend (SQLAlchemy's
                // mock engine takes the dialect): it is told which.
                shell(command)
                    .current_dir(root)
                    .env("ALUDEL_DIALECT", dialect.to_string())
                    .output()
                    .map_err(|e| AutogenError::Models {
                        source_name: format!("`{command}`"),
                        message: format!("cannot run it: {e}"),
                    })?;
            let source_name = format!("`{command}`");
            if !output.status.success() {
                return Err(AutogenError::Models {
                    source_name,
                    message: format!(
                        "it exited with {}: {}",
                        output.status,
                        String::from_utf8_lossy(&output.stderr).trim()
                    ),
                });
            }
            let text = String::from_utf8(output.stdout).map_err(|_| AutogenError::Models {
                source_name: source_name.clone(),
                message: "its output is not UTF-8".into(),
            })?;
            Ok(Ddl { text, source_name })
        }
    }
}

/// Whether `sql` holds anything but blanks, `;` and comments.
pub fn has_statement(sql: &str) -> bool {
    let mut rest = sql;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else {
            return !rest.is_empty();
        }
    }
}

fn shell(command: &str) -> Command {
    if cfg!(windows) {
        let mut c = Command::new("cmd");
        c.args(["/C", command]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", command]);
        c
    }
}

/// The files one glob names: `*` and `?` in the file name only.
fn expand(root: &Path, pattern: &str) -> Result<Vec<PathBuf>, AutogenError> {
    let path = Path::new(pattern);
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) => (d, n.to_string_lossy().into_owned()),
        _ => (Path::new(""), pattern.to_string()),
    };
    if dir.to_string_lossy().contains(['*', '?']) {
        return Err(AutogenError::Models {
            source_name: format!("`[models] sql` {pattern:?}"),
            message: "only the file name may hold `*` or `?`: list each directory".into(),
        });
    }
    let dir = root.join(dir);
    if !name.contains(['*', '?']) {
        let file = dir.join(&name);
        return Ok(if file.is_file() {
            vec![file]
        } else {
            Vec::new()
        });
    }
    let entries = match std::fs::read_dir(&dir) {
        // No directory, no file: the caller says that nothing matches.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other,
    };
    let entries = entries.map_err(|e| AutogenError::Models {
        source_name: format!("`[models] sql` {pattern:?}"),
        message: format!("cannot list {}: {e}", dir.display()),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter(|e| crate::schema::glob(&name, &e.file_name().to_string_lossy(), false))
        .map(|e| e.path())
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_of_blanks_semicolons_and_comments_holds_no_statement() {
        assert!(!has_statement(""));
        assert!(!has_statement("\n;\n -- nothing\n/* at all */ ;"));
        assert!(has_statement("-- a table\nCREATE TABLE t (id int)"));
        assert!(has_statement("/* x */ DO 0"));
    }
}
