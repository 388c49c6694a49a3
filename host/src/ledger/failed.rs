//! Revisions that failed part-way and left changes a rollback could not
//! undo: a revision run outside a transaction (`transaction = "none"`), or
//! one on MySQL, which commits DDL implicitly. Each is kept in a table beside
//! the version table (`<version_table>_failed`) until an operator resolves
//! it; until then every upgrade and downgrade refuses to run, so a failed
//! revision is never silently skipped.
//!
//! Written with the portable statements of the [`Connection`] trait, so
//! every backend has it without code of its own.

use crate::db::dialect::{is_missing_table, placeholders, quote};
use crate::db::{Connection, DbError, Dialect, Statement, Value};
use crate::graph::Direction;

use super::history::{direction_text, parse_direction};
use super::{cell_text, own_rows};

/// One unresolved failure.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedRevision {
    pub revision: String,
    pub direction: Direction,
    /// RFC 3339, UTC.
    pub failed_at: String,
    pub error: String,
    /// The statements that succeeded before the failure, in order.
    pub statements: Vec<String>,
}

/// The name of the table of failures for a version table.
pub fn table_for(version_table: &str) -> String {
    format!("{version_table}_failed")
}

/// `CREATE TABLE IF NOT EXISTS` of the failed state. Its texts are
/// MEDIUMTEXT on MySQL, whose TEXT holds 64 KiB: a failure whose record
/// does not fit would be lost, and the revision run again.
pub fn create(dialect: Dialect, version_table: &str) -> String {
    let text = match dialect {
        Dialect::Mysql => "MEDIUMTEXT",
        Dialect::Sqlite | Dialect::Postgresql => "TEXT",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\
         revision VARCHAR(32) NOT NULL PRIMARY KEY, \
         direction VARCHAR(16) NOT NULL, \
         failed_at VARCHAR(40) NOT NULL, \
         error {text} NOT NULL, \
         statements {text} NOT NULL)",
        quote(dialect, &table_for(version_table))
    )
}

/// The unresolved failures; none when the table does not exist. Reads only.
pub async fn list(
    conn: &mut dyn Connection,
    version_table: &str,
) -> Result<Vec<FailedRevision>, DbError> {
    let dialect = conn.dialect();
    let sql = format!(
        "SELECT revision, direction, failed_at, error, statements FROM {} ORDER BY failed_at",
        quote(dialect, &table_for(version_table))
    );
    Ok(own_rows(conn, &sql, Vec::new())
        .await?
        .into_iter()
        .map(|row| {
            let text = |i: usize| cell_text(&row, i).unwrap_or_default();
            FailedRevision {
                revision: text(0),
                // A row whose direction is unreadable is shown as an
                // upgrade's: resolving it then asks for the upgrade's plan,
                // which refuses unless it is the next step.
                direction: parse_direction(&text(1)).unwrap_or(Direction::Upgrade),
                failed_at: text(2),
                error: text(3),
                statements: serde_json::from_str(&text(4)).unwrap_or_default(),
            }
        })
        .collect())
}

/// Records a failure, replacing an earlier one of the same revision. Runs
/// outside any transaction: it must survive the rollback of the revision.
pub async fn record(
    conn: &mut dyn Connection,
    version_table: &str,
    failure: &FailedRevision,
) -> Result<(), DbError> {
    let dialect = conn.dialect();
    let table = quote(dialect, &table_for(version_table));
    ensure_table(conn, version_table).await?;
    let p = placeholders(dialect, 5);
    conn.execute(
        &format!("DELETE FROM {table} WHERE revision = {}", p[0]),
        vec![Value::Text(failure.revision.clone())],
    )
    .await?;
    let statements = serde_json::to_string(&super::cap_statements(&failure.statements))
        .unwrap_or_else(|_| "[]".into());
    conn.execute(
        &format!(
            "INSERT INTO {table} (revision, direction, failed_at, error, statements) \
             VALUES ({}, {}, {}, {}, {})",
            p[0], p[1], p[2], p[3], p[4]
        ),
        vec![
            Value::Text(failure.revision.clone()),
            Value::Text(direction_text(Some(failure.direction)).to_string()),
            Value::Text(failure.failed_at.clone()),
            Value::Text(super::cap_error(&failure.error)),
            Value::Text(statements),
        ],
    )
    .await?;
    Ok(())
}

/// Forgets the failure of `revision`; false when there was none.
pub async fn clear(
    conn: &mut dyn Connection,
    version_table: &str,
    revision: &str,
) -> Result<bool, DbError> {
    let dialect = conn.dialect();
    let sql = format!(
        "DELETE FROM {} WHERE revision = {}",
        quote(dialect, &table_for(version_table)),
        placeholders(dialect, 1)[0]
    );
    match conn
        .execute(&sql, vec![Value::Text(revision.to_string())])
        .await
    {
        Ok(n) => Ok(n > 0),
        Err(e) if is_missing_table(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates the table of failures if it is missing. On MySQL this commits
/// implicitly: callers do it outside a revision's transaction.
pub async fn ensure_table(conn: &mut dyn Connection, version_table: &str) -> Result<(), DbError> {
    let table = quote(conn.dialect(), &table_for(version_table));
    conn.execute_script(&format!(
        "CREATE TABLE IF NOT EXISTS {table} (\
         revision VARCHAR(32) NOT NULL PRIMARY KEY, \
         direction VARCHAR(16) NOT NULL, \
         failed_at VARCHAR(40) NOT NULL, \
         error TEXT NOT NULL, \
         statements TEXT NOT NULL)"
    ))
    .await
    .map(drop)
}

/// The statements that record `failure` (replacing an earlier one of the
/// same revision) in a table that exists, for a batch: what the broker runs
/// before a statement that may commit implicitly.
pub fn record_statements(
    dialect: Dialect,
    version_table: &str,
    failure: &FailedRevision,
) -> Vec<Statement> {
    let table = quote(dialect, &table_for(version_table));
    let p = placeholders(dialect, 5);
    let statements = serde_json::to_string(&failure.statements).unwrap_or_else(|_| "[]".into());
    vec![
        clear_statement(dialect, version_table, &failure.revision),
        Statement::new(
            format!(
                "INSERT INTO {table} (revision, direction, failed_at, error, statements) \
                 VALUES ({}, {}, {}, {}, {})",
                p[0], p[1], p[2], p[3], p[4]
            ),
            vec![
                Value::Text(failure.revision.clone()),
                Value::Text(direction_text(Some(failure.direction)).to_string()),
                Value::Text(failure.failed_at.clone()),
                Value::Text(failure.error.clone()),
                Value::Text(statements),
            ],
        ),
    ]
}

/// The statement that forgets the failure of `revision`, for a batch (the
/// table exists).
pub fn clear_statement(dialect: Dialect, version_table: &str, revision: &str) -> Statement {
    Statement::new(
        format!(
            "DELETE FROM {} WHERE revision = {}",
            quote(dialect, &table_for(version_table)),
            placeholders(dialect, 1)[0]
        ),
        vec![Value::Text(revision.to_string())],
    )
}
