//! aludel's own tables, and their one owner. Beside the project's schema a
//! database holds, per version table `<t>`:
//!
//! - `<t>`: one row per current head, as Alembic's `alembic_version`
//!   ([`version`]);
//! - `<t>_history`: the audit log, and `<t>_artifacts`: the content-addressed
//!   store of revision archives and plugins ([`history`]);
//! - `<t>_failed`: revisions that failed part-way and wait for
//!   `aludel resolve` ([`failed`]).
//!
//! Everything that reads or writes them goes through this module: the
//! [`Ledger`] for statements against a connection, [`own_tables`] for the
//! list a sandbox must keep revisions away from, and [`audit`] for the pure
//! rules that read the log (which revisions are applied, which changed).
//! The SQL is portable: one text per statement serves every dialect, spelt
//! through [`crate::db`]'s quoting and placeholders.

pub mod audit;
pub mod failed;
pub mod history;
pub mod version;

use std::collections::HashSet;

use crate::db::dialect::{is_missing_table, quote, table_exists};
use crate::db::{Connection, DbError, Dialect, Statement, Value};
use crate::error::Error;

pub use audit::{Mismatch, applied_records};
pub use failed::FailedRevision;
pub use history::{ArtifactKind, HistoryEntry, Outcome};
pub use version::{HeadChange, head_changes};

/// Every table aludel keeps for `version_table`, the version table first.
/// A revision must never touch any of them.
pub fn own_tables(version_table: &str) -> [String; 4] {
    [
        version_table.to_string(),
        history::history_table(version_table),
        history::artifacts_table(version_table),
        failed::table_for(version_table),
    ]
}

/// Who runs aludel: what the audit log records of each row's author.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Who {
    /// The database user; none on SQLite, which has no users.
    pub db_user: Option<String>,
    pub os_user: Option<String>,
    pub host: Option<String>,
}

/// aludel's own tables for one version table, as one run sees them: what
/// it has learnt of them (the audit tables exist, who is running, which
/// plugins it stored) is remembered so that it is asked once per run.
#[derive(Debug)]
pub struct Ledger {
    version_table: String,
    /// The version table is known to exist, so neither reading nor
    /// creating it asks the catalogue again: two statements less per
    /// revision. Forgotten on rollback, which may undo its creation.
    version_known: bool,
    /// Offline (`--sql`), the heads the operator gave: there is no table
    /// to read, and they are what the version table holds throughout.
    offline_heads: Option<Vec<String>>,
    /// The audit tables are known to exist.
    audit_ready: bool,
    who: Option<Who>,
    /// Plugins stored in the artifact table by this run: one plugin serves
    /// many revisions and is stored (and looked up) once.
    plugins_stored: HashSet<String>,
}

impl Ledger {
    pub fn new(version_table: impl Into<String>) -> Self {
        Ledger {
            version_table: version_table.into(),
            version_known: false,
            offline_heads: None,
            audit_ready: false,
            who: None,
            plugins_stored: HashSet::new(),
        }
    }

    /// The ledger of an offline run whose version table holds `heads`.
    pub fn offline(version_table: impl Into<String>, heads: Vec<String>) -> Self {
        Ledger {
            // A database already at some revision has its version table.
            version_known: !heads.is_empty(),
            offline_heads: Some(heads),
            ..Ledger::new(version_table)
        }
    }

    pub fn version_table(&self) -> &str {
        &self.version_table
    }

    /// The heads recorded in the version table, sorted; empty when it does
    /// not exist yet. Never writes.
    pub async fn current_heads(&mut self, conn: &mut dyn Connection) -> Result<Vec<String>, Error> {
        let mut heads = match &self.offline_heads {
            Some(heads) => heads.clone(),
            None => self
                .read_heads(conn)
                .await
                .map_err(|e| Error::database("reading the version table", e))?,
        };
        heads.sort();
        Ok(heads)
    }

    async fn read_heads(&mut self, conn: &mut dyn Connection) -> Result<Vec<String>, DbError> {
        let dialect = conn.dialect();
        // Asked first rather than read and failed: a failed statement
        // aborts a PostgreSQL transaction.
        if !self.version_known && !self.version_table_exists(conn).await? {
            return Ok(Vec::new());
        }
        self.version_known = true;
        let sql = format!(
            "SELECT version_num FROM {} ORDER BY version_num",
            quote(dialect, &self.version_table)
        );
        conn.query(&sql, Vec::new())
            .await?
            .rows
            .iter()
            .map(|row| {
                cell_text(row, 0).ok_or_else(|| {
                    DbError::new(format!("{} holds a NULL version_num", self.version_table))
                })
            })
            .collect()
    }

    async fn version_table_exists(&self, conn: &mut dyn Connection) -> Result<bool, DbError> {
        let exists = table_exists(conn.dialect(), &self.version_table);
        Ok(!conn
            .query(&exists.sql, exists.params)
            .await?
            .rows
            .is_empty())
    }

    /// Creates the version table if it is missing. On MySQL this commits
    /// implicitly: callers do it before a revision's transaction.
    pub async fn ensure_version_table(&mut self, conn: &mut dyn Connection) -> Result<(), Error> {
        if self.version_known {
            return Ok(());
        }
        self.create_version_table(conn)
            .await
            .map_err(|e| Error::database("creating the version table", e))?;
        self.version_known = true;
        Ok(())
    }

    async fn create_version_table(&self, conn: &mut dyn Connection) -> Result<(), DbError> {
        // Where DDL commits implicitly (MySQL), CREATE TABLE commits even
        // when the table exists: ask first. Offline there is nobody to ask;
        // the script says IF NOT EXISTS.
        if !conn.transactional_ddl()
            && self.offline_heads.is_none()
            && self.version_table_exists(conn).await?
        {
            return Ok(());
        }
        let create = version::create(conn.dialect(), &self.version_table);
        conn.execute_script(&create).await.map(drop)
    }

    /// Empties the version table, creating it if need be (`stamp --purge`).
    pub async fn purge_version_table(&mut self, conn: &mut dyn Connection) -> Result<(), Error> {
        self.ensure_version_table(conn).await?;
        let purge = version::purge(conn.dialect(), &self.version_table);
        conn.execute(&purge.sql, purge.params)
            .await
            .map(drop)
            .map_err(|e| Error::database("emptying the version table", e))
    }

    /// Creates the audit tables once per run. Outside any transaction where
    /// DDL commits implicitly (MySQL).
    pub async fn ensure_audit_tables(&mut self, conn: &mut dyn Connection) -> Result<(), Error> {
        if self.audit_ready {
            return Ok(());
        }
        history::ensure_tables(conn, &self.version_table)
            .await
            .map_err(|e| Error::database("creating the audit tables", e))?;
        self.audit_ready = true;
        Ok(())
    }

    /// Every row of the audit log, oldest first; empty before the first
    /// run. Reads only: call it outside a transaction.
    pub async fn audit_log(&self, conn: &mut dyn Connection) -> Result<Vec<HistoryEntry>, Error> {
        history::list(conn, &self.version_table)
            .await
            .map_err(|e| Error::database("reading the audit log", e))
    }

    /// Appends `entry` to the audit log on its own (not in a batch).
    pub async fn write_history(
        &mut self,
        conn: &mut dyn Connection,
        entry: &HistoryEntry,
    ) -> Result<(), Error> {
        self.ensure_audit_tables(conn).await?;
        history::record(conn, &self.version_table, entry)
            .await
            .map_err(|e| Error::database("writing the audit log", e))
    }

    /// The statement that appends `entry` to the audit log.
    pub fn history_statement(&self, dialect: Dialect, entry: &HistoryEntry) -> Statement {
        history::record_statement(dialect, &self.version_table, entry)
    }

    /// The statement that stores `content` under `hash` unless it is there.
    pub fn artifact_statement(
        &self,
        dialect: Dialect,
        hash: &str,
        kind: ArtifactKind,
        content: &[u8],
    ) -> Statement {
        history::artifact_statement(
            dialect,
            &self.version_table,
            hash,
            kind,
            content,
            &now_rfc3339(),
        )
    }

    /// Whether this run has stored the plugin whose component is `hash`.
    pub fn plugin_stored(&self, hash: &str) -> bool {
        self.plugins_stored.contains(hash)
    }

    /// Notes that the plugin `hash` is stored by the open transaction.
    pub fn note_plugin_stored(&mut self, hash: &str) {
        self.plugins_stored.insert(hash.to_string());
    }

    /// Forgets what the transaction just rolled back had stored or created.
    pub fn rolled_back(&mut self) {
        self.version_known = false;
        self.plugins_stored.clear();
        // The audit tables may have been created inside it (a dry run);
        // asking again costs one `CREATE TABLE IF NOT EXISTS`.
        self.audit_ready = false;
    }

    /// The artifact stored under `hash`, if any.
    pub async fn load_artifact(
        &self,
        conn: &mut dyn Connection,
        hash: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        history::load_artifact(conn, &self.version_table, hash)
            .await
            .map_err(|e| Error::database("reading the artifact store", e))
    }

    /// The revisions that failed part-way and are unresolved. Reads only.
    pub async fn failures(&self, conn: &mut dyn Connection) -> Result<Vec<FailedRevision>, Error> {
        let failures = failed::list(conn, &self.version_table).await;
        failures.map_err(|e| Error::database("reading the failed revisions", e))
    }

    /// Records that a revision failed part-way, outside any transaction so
    /// that it survives the rollback.
    pub async fn record_failure(
        &self,
        conn: &mut dyn Connection,
        failure: &FailedRevision,
    ) -> Result<(), Error> {
        let recorded = failed::record(conn, &self.version_table, failure).await;
        recorded.map_err(|e| Error::database("recording the failed revision", e))
    }

    /// Ends the failed state of `revision`; false when there was none.
    pub async fn clear_failure(
        &self,
        conn: &mut dyn Connection,
        revision: &str,
    ) -> Result<bool, Error> {
        let cleared = failed::clear(conn, &self.version_table, revision).await;
        cleared.map_err(|e| Error::database("clearing the failed revision", e))
    }

    /// Who runs this: asked of the database and the OS once per run.
    pub async fn who(&mut self, conn: &mut dyn Connection) -> Who {
        if let Some(who) = &self.who {
            return who.clone();
        }
        let db_user = history::database_user(conn).await;
        let (os_user, host) = history::os_identity();
        let who = Who {
            db_user,
            os_user,
            host,
        };
        self.who = Some(who.clone());
        who
    }
}

/// The rows a query of one of aludel's own tables returns. The tables are
/// created on first use, so one that does not exist yet has none.
async fn own_rows(
    conn: &mut dyn Connection,
    sql: &str,
    params: Vec<Value>,
) -> Result<Vec<Vec<Value>>, DbError> {
    match conn.query(sql, params).await {
        Ok(rows) => Ok(rows.rows),
        Err(e) if is_missing_table(&e) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Cell `i` of a row as text, whatever type the database returned it as;
/// none for NULL or a missing cell.
fn cell_text(row: &[Value], i: usize) -> Option<String> {
    match row.get(i) {
        Some(Value::Null) | None => None,
        Some(Value::Text(s)) => Some(s.clone()),
        Some(Value::Blob(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Some(Value::Integer(n)) => Some(n.to_string()),
        Some(other) => Some(format!("{other:?}")),
    }
}

/// Now, in UTC, always with milliseconds: one fixed width, so that stored
/// times sort as text on every database.
pub fn now_rfc3339() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_tables_name_every_table_beside_the_version_table() {
        assert_eq!(
            own_tables("meta.aludel_version"),
            [
                "meta.aludel_version",
                "meta.aludel_version_history",
                "meta.aludel_version_artifacts",
                "meta.aludel_version_failed",
            ]
        );
    }

    #[test]
    fn stored_times_have_one_fixed_width() {
        let now = now_rfc3339();
        assert_eq!(now.len(), "2026-01-31T12:00:00.000Z".len(), "{now}");
        assert!(now.ends_with('Z'));
    }

    #[test]
    fn outcomes_and_directions_read_back_what_they_write() {
        for outcome in [
            Outcome::Applied,
            Outcome::Reverted,
            Outcome::Stamped,
            Outcome::Failed,
            Outcome::Accepted,
            Outcome::Resolved,
        ] {
            assert_eq!(Outcome::parse(outcome.as_str()), outcome);
        }
        assert_eq!(
            Outcome::parse("tampered"),
            Outcome::Other("tampered".into())
        );
        use crate::graph::Direction;
        for d in [Some(Direction::Upgrade), Some(Direction::Downgrade), None] {
            assert_eq!(history::parse_direction(history::direction_text(d)), d);
        }
    }
}
