//! The audit log and the artifact store, two tables beside the version
//! table:
//!
//! - `<version_table>_history`: one row per revision applied, reverted,
//!   stamped, failed or accepted (a checksum change an operator accepted),
//!   with who, what, when and how it ended. Written in the revision's own
//!   transaction, so a rolled-back revision never leaves an `applied` row.
//! - `<version_table>_artifacts`: content-addressed blobs, each stored once:
//!   the archive of a revision directory as it ran, and the components of
//!   plugins. They let a revision be reverted, and shown, when its directory
//!   is gone.
//!
//! Portable SQL through the [`Connection`] trait (as [`super::failed`]); only
//! the auto-increment key and the blob type differ per dialect.

use std::fmt;

use serde::{Serialize, Serializer};

use super::{cell_text, own_rows};

use crate::db::dialect::{column_exists, is_missing_column, placeholders, quote};
use crate::db::{Connection, DbError, Dialect, Statement, Value};
use crate::graph::Direction;

/// How a history row's step ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Outcome {
    /// A revision's upgrade committed.
    #[default]
    Applied,
    /// A revision's downgrade committed.
    Reverted,
    /// The version table was set without running the revision.
    Stamped,
    /// The revision failed (written after the rollback).
    Failed,
    /// An operator accepted a changed directory (`aludel accept`).
    Accepted,
    /// A failed revision an operator resolved by hand (`aludel resolve`).
    Resolved,
    /// An operator accepted the audit log as it reads, breaks and all
    /// (`aludel accept --audit-log`; see `ledger::chain`).
    Resealed,
    /// A word this version of aludel does not write: kept as read, so that
    /// the audit log hides nothing it holds.
    Other(String),
}

impl Outcome {
    pub fn as_str(&self) -> &str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Reverted => "reverted",
            Outcome::Stamped => "stamped",
            Outcome::Failed => "failed",
            Outcome::Accepted => "accepted",
            Outcome::Resolved => "resolved",
            Outcome::Resealed => "resealed",
            Outcome::Other(s) => s,
        }
    }

    /// The outcome a row's text names.
    pub fn parse(s: &str) -> Outcome {
        match s {
            "applied" => Outcome::Applied,
            "reverted" => Outcome::Reverted,
            "stamped" => Outcome::Stamped,
            "failed" => Outcome::Failed,
            "accepted" => Outcome::Accepted,
            "resolved" => Outcome::Resolved,
            "resealed" => Outcome::Resealed,
            other => Outcome::Other(other.to_string()),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The text a row stores for a direction: `none` for a row that moved
/// nothing (an accepted checksum).
pub fn direction_text(direction: Option<Direction>) -> &'static str {
    match direction {
        Some(Direction::Upgrade) => "upgrade",
        Some(Direction::Downgrade) => "downgrade",
        None => "none",
    }
}

/// The direction a row's text names; anything but `upgrade` and
/// `downgrade` moved nothing.
pub fn parse_direction(s: &str) -> Option<Direction> {
    match s {
        "upgrade" => Some(Direction::Upgrade),
        "downgrade" => Some(Direction::Downgrade),
        _ => None,
    }
}

fn serialize_direction<S: Serializer>(d: &Option<Direction>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(direction_text(*d))
}

/// What an artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// The archive of a revision directory.
    Revision,
    /// The component of a plugin that ran revisions.
    Plugin,
}

impl ArtifactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Revision => "revision",
            ArtifactKind::Plugin => "plugin",
        }
    }
}

/// One row of the audit log.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// Increasing in the order rows were written; 0 before insertion.
    pub id: i64,
    pub revision: String,
    /// None for a row that moved nothing (an accepted checksum); stored
    /// and shown as `upgrade`, `downgrade` or `none`.
    #[serde(serialize_with = "serialize_direction")]
    pub direction: Option<Direction>,
    pub outcome: Outcome,
    /// The revision directory's checksum (`v1:…`) when it was known.
    pub checksum: Option<String>,
    /// The hash of the revision's stored archive in the artifact table.
    pub artifact: Option<String>,
    /// `plugin <name>` or `component <file>`.
    pub runner: Option<String>,
    /// SHA-256 of the component that ran (the plugin's or the revision's).
    pub component_hash: Option<String>,
    /// The database user; none on SQLite, which has no users.
    pub db_user: Option<String>,
    pub os_user: Option<String>,
    pub host: Option<String>,
    pub aludel_version: String,
    /// RFC 3339, UTC, with milliseconds.
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: i64,
    pub statements: i64,
    pub rows: i64,
    pub error: Option<String>,
    /// The row's link in the hash chain (see [`super::chain`]); empty for a
    /// row written before the chain existed. Not shown: it differs on
    /// every run, and `aludel verify` checks it.
    #[serde(skip)]
    pub row_hash: String,
}

pub fn history_table(version_table: &str) -> String {
    format!("{version_table}_history")
}

pub fn artifacts_table(version_table: &str) -> String {
    format!("{version_table}_artifacts")
}

/// Creates the audit tables and the failed state's if they are missing,
/// and upgrades a history table older than the hash chain in place. On
/// MySQL this commits implicitly: callers do it before a revision's
/// transaction.
///
/// The failed state's table is created here, with the others, rather than
/// on the first failure: a table of that name that a revision made first
/// (or renamed into place, with triggers of its own) would otherwise
/// receive the failure.
pub async fn ensure_tables(conn: &mut dyn Connection, version_table: &str) -> Result<(), DbError> {
    let dialect = conn.dialect();
    let (key, blob, text, options) = match dialect {
        // Rows are never deleted, so rowids are never reused: AUTOINCREMENT
        // would only add a write to sqlite_sequence per revision.
        Dialect::Sqlite => ("id INTEGER PRIMARY KEY", "BLOB", "TEXT", ""),
        Dialect::Postgresql => ("id BIGSERIAL PRIMARY KEY", "BYTEA", "TEXT", ""),
        // LONGBLOB: a BLOB holds only 64 KiB, less than many components;
        // MEDIUMTEXT: a TEXT holds only 64 KiB, and a row that does not fit
        // is refused (or cut) by the database. utf8mb4 and a binary
        // collation: what is read back is what was hashed.
        Dialect::Mysql => (
            "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
            "LONGBLOB",
            "MEDIUMTEXT",
            " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        ),
    };
    let history = quote(dialect, &history_table(version_table));
    conn.execute_script(&format!(
        "CREATE TABLE IF NOT EXISTS {history} (\
         {key}, \
         revision VARCHAR(64) NOT NULL, \
         direction VARCHAR(16) NOT NULL, \
         outcome VARCHAR(16) NOT NULL, \
         checksum VARCHAR(80), \
         artifact VARCHAR(64), \
         runner VARCHAR(255), \
         component_hash VARCHAR(64), \
         db_user VARCHAR(255), \
         os_user VARCHAR(255), \
         host VARCHAR(255), \
         aludel_version VARCHAR(32) NOT NULL, \
         started_at VARCHAR(40) NOT NULL, \
         finished_at VARCHAR(40) NOT NULL, \
         duration_ms BIGINT NOT NULL, \
         statements BIGINT NOT NULL, \
         rows_affected BIGINT NOT NULL, \
         error {text}, \
         row_hash VARCHAR(64) NOT NULL DEFAULT ''){options}"
    ))
    .await?;
    conn.execute_script(&format!(
        "CREATE TABLE IF NOT EXISTS {} (\
         hash VARCHAR(64) NOT NULL PRIMARY KEY, \
         kind VARCHAR(16) NOT NULL, \
         size BIGINT NOT NULL, \
         content {blob} NOT NULL, \
         stored_at VARCHAR(40) NOT NULL){options}",
        quote(dialect, &artifacts_table(version_table))
    ))
    .await?;
    conn.execute_script(&super::failed::create(dialect, version_table))
        .await?;
    upgrade(conn, version_table).await
}

/// Brings tables made by an older aludel to this one's shape, once: the
/// history gains `row_hash`, its old rows keeping `''` (before the chain,
/// see [`super::chain`]); on MySQL the error columns become MEDIUMTEXT.
/// Asked of the catalogue, so that nothing fails inside a transaction.
async fn upgrade(conn: &mut dyn Connection, version_table: &str) -> Result<(), DbError> {
    let dialect = conn.dialect();
    let history = history_table(version_table);
    let probe = column_exists(dialect, &history, "row_hash");
    if !conn.query(&probe.sql, probe.params).await?.rows.is_empty() {
        return Ok(());
    }
    tracing::info!(
        "upgrading {history}: adding the hash chain's column (older rows stay unchained)"
    );
    let quoted = quote(dialect, &history);
    let alter = match dialect {
        Dialect::Mysql => format!(
            "ALTER TABLE {quoted} ADD COLUMN row_hash VARCHAR(64) NOT NULL DEFAULT '', \
             MODIFY error MEDIUMTEXT, CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        ),
        _ => format!("ALTER TABLE {quoted} ADD COLUMN row_hash VARCHAR(64) NOT NULL DEFAULT ''"),
    };
    conn.execute_script(&alter).await?;
    if dialect == Dialect::Mysql {
        conn.execute_script(&format!(
            "ALTER TABLE {} MODIFY error MEDIUMTEXT NOT NULL, MODIFY statements MEDIUMTEXT NOT NULL",
            quote(dialect, &super::failed::table_for(version_table))
        ))
        .await?;
    }
    Ok(())
}

const COLUMNS: &str = "id, revision, direction, outcome, checksum, artifact, runner, component_hash, \
     db_user, os_user, host, aludel_version, started_at, finished_at, duration_ms, statements, \
     rows_affected, error, row_hash";

fn opt(v: &Option<String>) -> Value {
    v.clone().map(Value::Text).unwrap_or(Value::Null)
}

/// Appends a row (id and hash set) to the audit log on its own.
pub async fn record(
    conn: &mut dyn Connection,
    version_table: &str,
    entry: &HistoryEntry,
) -> Result<(), DbError> {
    let statement = record_statement(conn.dialect(), version_table, entry, None);
    conn.execute(&statement.sql, statement.params).await?;
    Ok(())
}

/// The statement that appends `entry`, whose id and hash are set, to the
/// audit log; with `changed` (an expression of [`super::guard`] and its
/// parameters, numbered from 20), only when it is `''`.
pub fn record_statement(
    dialect: Dialect,
    version_table: &str,
    entry: &HistoryEntry,
    changed: Option<(String, Vec<Value>)>,
) -> Statement {
    let p = placeholders(dialect, 19);
    let mut values = p[..18].join(", ");
    values.push_str(", ");
    let row_hash = Value::Text(entry.row_hash.clone());
    let mut params = vec![
        Value::Integer(entry.id),
        Value::Text(entry.revision.clone()),
        Value::Text(direction_text(entry.direction).to_string()),
        Value::Text(entry.outcome.as_str().to_string()),
        opt(&entry.checksum),
        opt(&entry.artifact),
        opt(&entry.runner),
        opt(&entry.component_hash),
        opt(&entry.db_user),
        opt(&entry.os_user),
        opt(&entry.host),
        Value::Text(entry.aludel_version.clone()),
        Value::Text(entry.started_at.clone()),
        Value::Text(entry.finished_at.clone()),
        Value::Integer(entry.duration_ms),
        Value::Integer(entry.statements),
        Value::Integer(entry.rows),
        opt(&entry.error),
    ];
    match changed {
        Some((changed, more)) => {
            values.push_str(&super::guard::guarded(dialect, &changed, &p[18]));
            // PostgreSQL numbers its placeholders: the hash is $19 and the
            // check's from $20. `?` binds in the order of the text, where
            // the check comes first.
            if dialect == Dialect::Postgresql {
                params.push(row_hash);
                params.extend(more);
            } else {
                params.extend(more);
                params.push(row_hash);
            }
        }
        None => {
            values.push_str(&p[18]);
            params.push(row_hash);
        }
    }
    Statement::new(
        format!(
            "INSERT INTO {} ({COLUMNS}) VALUES ({values})",
            quote(dialect, &history_table(version_table))
        ),
        params,
    )
}

/// The whole audit log in the order it was written; empty when the table
/// does not exist. Reads only; call it outside a transaction (a failed
/// statement aborts a PostgreSQL transaction).
pub async fn list(
    conn: &mut dyn Connection,
    version_table: &str,
) -> Result<Vec<HistoryEntry>, DbError> {
    let dialect = conn.dialect();
    let table = quote(dialect, &history_table(version_table));
    let sql = format!("SELECT {COLUMNS} FROM {table} ORDER BY id");
    let rows = match own_rows(conn, &sql, Vec::new()).await {
        // A table of an older aludel, not upgraded yet (that is done before
        // the first write): its rows are before the chain.
        Err(e) if is_missing_column(&e) => {
            let older = COLUMNS.replace("row_hash", "'' AS row_hash");
            own_rows(
                conn,
                &format!("SELECT {older} FROM {table} ORDER BY id"),
                Vec::new(),
            )
            .await?
        }
        other => other?,
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            let text = |i: usize| cell_text(&row, i);
            let int = |i: usize| match row.get(i) {
                Some(Value::Integer(n)) => *n,
                Some(Value::Text(s)) | Some(Value::Decimal(s)) => s.parse().unwrap_or(0),
                _ => 0,
            };
            HistoryEntry {
                id: int(0),
                revision: text(1).unwrap_or_default(),
                direction: parse_direction(&text(2).unwrap_or_default()),
                outcome: Outcome::parse(&text(3).unwrap_or_default()),
                checksum: text(4),
                artifact: text(5),
                runner: text(6),
                component_hash: text(7),
                db_user: text(8),
                os_user: text(9),
                host: text(10),
                aludel_version: text(11).unwrap_or_default(),
                started_at: text(12).unwrap_or_default(),
                finished_at: text(13).unwrap_or_default(),
                duration_ms: int(14),
                statements: int(15),
                rows: int(16),
                error: text(17),
                row_hash: text(18).unwrap_or_default(),
            }
        })
        .collect())
}

/// The statement that stores `content` under `hash` unless its hash is
/// there already: the store is content-addressed, so an existing row is the
/// same content, and a plugin that runs a thousand revisions is stored once.
pub fn artifact_statement(
    dialect: Dialect,
    version_table: &str,
    hash: &str,
    kind: ArtifactKind,
    content: &[u8],
    now: &str,
) -> Statement {
    let table = quote(dialect, &artifacts_table(version_table));
    let p = placeholders(dialect, 6);
    let mut params = vec![
        Value::Text(hash.to_string()),
        Value::Text(kind.as_str().to_string()),
        Value::Integer(i64::try_from(content.len()).unwrap_or(i64::MAX)),
        Value::Blob(content.to_vec()),
        Value::Text(now.to_string()),
    ];
    let columns = "(hash, kind, size, content, stored_at)";
    let values = format!("{}, {}, {}, {}, {}", p[0], p[1], p[2], p[3], p[4]);
    // The rows it changed say whether it stored the artifact: the ledger
    // counts what the store must hold (see `super::guard`).
    let sql = match dialect {
        Dialect::Sqlite => format!("INSERT OR IGNORE INTO {table} {columns} VALUES ({values})"),
        Dialect::Postgresql => {
            format!("INSERT INTO {table} {columns} VALUES ({values}) ON CONFLICT (hash) DO NOTHING")
        }
        // Not ON DUPLICATE KEY UPDATE: with the found-rows flag sqlx sets,
        // it counts an existing row as changed. Not INSERT IGNORE: it
        // would turn any other error into a warning.
        Dialect::Mysql => {
            params.push(Value::Text(hash.to_string()));
            format!(
                "INSERT INTO {table} {columns} SELECT {values} FROM DUAL \
                 WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE hash = {})",
                p[5]
            )
        }
    };
    Statement::new(sql, params)
}

/// The artifact stored under `hash`, if any.
pub async fn load_artifact(
    conn: &mut dyn Connection,
    version_table: &str,
    hash: &str,
) -> Result<Option<Vec<u8>>, DbError> {
    let dialect = conn.dialect();
    let sql = format!(
        "SELECT content FROM {} WHERE hash = {}",
        quote(dialect, &artifacts_table(version_table)),
        placeholders(dialect, 1)[0]
    );
    Ok(own_rows(conn, &sql, vec![Value::Text(hash.to_string())])
        .await?
        .into_iter()
        .next()
        .and_then(|row| match row.into_iter().next() {
            Some(Value::Blob(b)) => Some(b),
            Some(Value::Text(t)) => Some(t.into_bytes()),
            _ => None,
        }))
}

/// The database user the connection runs as; none on SQLite.
pub async fn database_user(conn: &mut dyn Connection) -> Option<String> {
    let sql = match conn.dialect() {
        Dialect::Sqlite => return None,
        Dialect::Postgresql => "SELECT CAST(current_user AS TEXT)",
        Dialect::Mysql => "SELECT CURRENT_USER()",
    };
    match conn.query(sql, Vec::new()).await {
        Ok(rows) => rows.rows.into_iter().next().and_then(|row| {
            row.into_iter().next().and_then(|v| match v {
                Value::Text(s) => Some(s),
                Value::Blob(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                _ => None,
            })
        }),
        Err(e) => {
            // The audit row is still worth writing without it.
            tracing::warn!("cannot tell the database user: {e}");
            None
        }
    }
}

/// Who runs aludel where: the OS user (`USER`, else `USERNAME` on Windows)
/// and the host name.
pub fn os_identity() -> (Option<String>, Option<String>) {
    let user = std::env::var("USER")
        .ok()
        .or_else(|| std::env::var("USERNAME").ok())
        .filter(|u| !u.is_empty());
    let host = gethostname::gethostname()
        .into_string()
        .ok()
        .filter(|h| !h.is_empty());
    (user, host)
}

/// Every stored artifact's hash, kind and content's SHA-256, for
/// `aludel verify`. Reads every artifact: a verb an operator asks for.
pub async fn artifact_hashes(
    conn: &mut dyn Connection,
    version_table: &str,
) -> Result<Vec<(String, String, String)>, DbError> {
    let dialect = conn.dialect();
    let sql = format!(
        "SELECT hash, kind, content FROM {} ORDER BY hash",
        quote(dialect, &artifacts_table(version_table))
    );
    Ok(own_rows(conn, &sql, Vec::new())
        .await?
        .into_iter()
        .map(|row| {
            let content: &[u8] = match row.get(2) {
                Some(Value::Blob(b)) => b,
                Some(Value::Text(t)) => t.as_bytes(),
                _ => &[],
            };
            let found = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(content));
            (
                cell_text(&row, 0).unwrap_or_default(),
                cell_text(&row, 1).unwrap_or_default(),
                found,
            )
        })
        .collect())
}
