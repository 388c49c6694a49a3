//! Adopting a database Alembic manages: its `alembic_version` heads become
//! aludel's, by a stamp, so that `current` shows them and `upgrade` runs
//! only what is new.
//!
//! aludel keeps its own version table rather than sharing Alembic's: its
//! audit log, checksums and run lock then cover every change it makes, and
//! Alembic's table stays as Alembic left it (a way back). The stamp rows
//! record the imported directories as they are at adoption, which is not
//! what ran: Alembic ran the Python revisions, and nothing recorded their
//! content. docs/from-alembic.md says so.

use super::ImportError;
use crate::db::dialect::{quote, table_exists};
use crate::db::{Connection, Value};
use crate::ledger::history::history_table;
use crate::ops::{self, Options};
use crate::project::Project;

/// The version table Alembic uses unless env.py names another.
pub const ALEMBIC_VERSION_TABLE: &str = "alembic_version";

/// `import alembic-version`: stamps the database at the heads in Alembic's
/// version table `table`. Refuses a database aludel already manages, one
/// without that table, and heads this project does not have. Returns the
/// heads adopted, sorted.
pub async fn adopt_alembic_version(
    project: &Project,
    options: &Options,
    table: &str,
) -> Result<Vec<String>, ImportError> {
    let mut conn = ops::connect(project, options).await?;
    let own = &project.config.version_table;
    for mine in [own.clone(), history_table(own)] {
        if exists(conn.as_mut(), &mine).await? {
            return Err(ImportError::AlreadyAludel(mine));
        }
    }
    if !exists(conn.as_mut(), table).await? {
        return Err(ImportError::NotAlembic {
            table: table.to_string(),
        });
    }
    let sql = format!("SELECT version_num FROM {}", quote(conn.dialect(), table));
    let rows = conn
        .query(&sql, Vec::new())
        .await
        .map_err(|e| crate::Error::database("reading Alembic's version table", e))?
        .rows;
    drop(conn);
    let mut heads = Vec::new();
    for row in rows {
        let id = match row.first() {
            Some(Value::Text(s)) => s.clone(),
            Some(Value::Blob(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => continue,
        };
        if project.revision(&id).is_none() {
            return Err(ImportError::UnknownHead {
                table: table.to_string(),
                id,
            });
        }
        heads.push(id);
    }
    heads.sort();
    if heads.is_empty() {
        // Alembic at base: nothing applied, nothing to stamp; aludel's
        // first upgrade starts from base as well.
        return Ok(heads);
    }
    tracing::info!(
        "adopting the database at {} from {table}: recorded as stamps, with the checksums of \
         the imported directories (Alembic recorded none of what it ran)",
        heads.join(", ")
    );
    Ok(ops::stamp(project, options, &heads, false).await?)
}

async fn exists(conn: &mut dyn Connection, table: &str) -> Result<bool, ImportError> {
    let statement = table_exists(conn.dialect(), table);
    let rows = conn
        .query(&statement.sql, statement.params)
        .await
        .map_err(|e| crate::Error::database("looking for the version tables", e))?
        .rows;
    Ok(!rows.is_empty())
}
