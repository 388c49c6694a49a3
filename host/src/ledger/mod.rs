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
pub mod batches;
pub mod chain;
mod deep;
pub mod failed;
pub mod guard;
pub mod history;
pub mod version;

use std::collections::HashSet;

use crate::db::dialect::{is_missing_table, quote, table_exists};
use crate::db::{Connection, DbError, Dialect, Statement, Value};
use crate::error::Error;

pub use audit::{Mismatch, applied_records};
pub use chain::{Break, ChainReport};
pub use failed::FailedRevision;
pub use history::{ArtifactKind, HistoryEntry, Outcome};
pub use version::{HeadChange, head_changes};

/// The `revision` of an audit-log row about the log itself (a reseal).
pub const AUDIT_LOG_ROW: &str = "(audit log)";

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

/// Every table of aludel's that a revision's statements must not name or
/// write: [`own_tables`] and the positions of batched revisions. The
/// positions change between a batched revision's commits, so the history
/// row's check after a revision (`guard`) does not count them; the
/// statement judge and SQLite's authorizer keep revisions away from them.
pub fn protected_tables(version_table: &str) -> Vec<String> {
    let mut tables = own_tables(version_table).to_vec();
    tables.push(batches::table_for(version_table));
    tables
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
    /// The version table as aludel's own SQL names it, resolved once per
    /// run (see [`Ledger::resolve`]); none until then.
    sql_table: Option<String>,
    /// What aludel's tables hold, as this run last wrote them: what a
    /// revision's records check them against ([`guard`]). Read with the
    /// audit tables, forgotten on rollback.
    state: Option<guard::State>,
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
            sql_table: None,
            state: None,
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

    /// The version table as aludel's own statements name it, so that no
    /// object a revision creates can stand in for it: `main.<t>` on SQLite
    /// (a `temp` table of the same name would shadow a bare one), and
    /// `<schema>.<t>` on PostgreSQL, the schema where the table is, or else
    /// the current one, asked once per run before any revision runs (a bare
    /// name would follow a `search_path` the revision set, or a table in
    /// `pg_temp`). MySQL's temporary tables shadow even qualified names:
    /// there [`unshadow`](Self::unshadow) drops them before the host writes.
    /// Until resolved (offline), the configured name.
    pub fn sql_table(&self) -> &str {
        self.sql_table.as_deref().unwrap_or(&self.version_table)
    }

    /// Resolves [`sql_table`](Self::sql_table), once.
    pub async fn resolve(&mut self, conn: &mut dyn Connection) -> Result<(), DbError> {
        if self.sql_table.is_some() || self.offline_heads.is_some() {
            return Ok(());
        }
        let qualified = self.version_table.contains('.');
        let resolved = match conn.dialect() {
            Dialect::Sqlite if !qualified => format!("main.{}", self.version_table),
            Dialect::Postgresql if !qualified => {
                let sql = "SELECT COALESCE((SELECT n.nspname::text FROM pg_catalog.pg_class c \
                           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                           WHERE c.oid = pg_catalog.to_regclass($1)), \
                           pg_catalog.current_schema()::text)";
                let rows = conn
                    .query(
                        sql,
                        vec![Value::Text(quote(Dialect::Postgresql, &self.version_table))],
                    )
                    .await?
                    .rows;
                match rows.first().and_then(|row| cell_text(row, 0)) {
                    Some(schema) => format!("{schema}.{}", self.version_table),
                    // No schema to create in: CREATE TABLE would fail as well.
                    None => self.version_table.clone(),
                }
            }
            _ => self.version_table.clone(),
        };
        self.sql_table = Some(resolved);
        Ok(())
    }

    /// [`resolve`](Self::resolve), as the error of a run.
    async fn resolve_for_run(&mut self, conn: &mut dyn Connection) -> Result<(), Error> {
        self.resolve(conn)
            .await
            .map_err(|e| Error::database("finding the version table's schema", e))
    }

    /// aludel's tables as its statements name them, the version table first.
    pub fn sql_tables(&self) -> guard::Tables {
        guard::Tables {
            names: own_tables(self.sql_table()),
        }
    }

    /// On MySQL, the statement that drops any TEMPORARY table a revision
    /// made with the name of one of aludel's: it would shadow the real one
    /// for the host's own statements, even qualified. It commits nothing.
    pub fn unshadow(&self, dialect: Dialect) -> Option<Statement> {
        (dialect == Dialect::Mysql).then(|| {
            let names: Vec<String> = own_tables(self.sql_table())
                .iter()
                .map(|t| quote(dialect, t))
                .collect();
            Statement::new(
                format!("DROP TEMPORARY TABLE IF EXISTS {}", names.join(", ")),
                Vec::new(),
            )
        })
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
        self.resolve(conn).await?;
        if !self.version_known && !self.version_table_exists(conn).await? {
            return Ok(Vec::new());
        }
        self.version_known = true;
        let sql = format!(
            "SELECT version_num FROM {} ORDER BY version_num",
            quote(dialect, self.sql_table())
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

    /// Whether Alembic manages this database and aludel does not yet: an
    /// `alembic_version` table beside where aludel's version table would
    /// be, and no version table of aludel's. Upgrading such a database from
    /// base would run again what Alembic ran; `aludel import
    /// alembic-version` adopts it instead.
    pub async fn managed_by_alembic_only(
        &mut self,
        conn: &mut dyn Connection,
    ) -> Result<bool, DbError> {
        const ALEMBIC: &str = "alembic_version";
        self.resolve(conn).await?;
        let ours = self.sql_table().to_string();
        let alembic = match ours.rsplit_once('.') {
            Some((schema, _)) => format!("{schema}.{ALEMBIC}"),
            None => ALEMBIC.to_string(),
        };
        if ours.eq_ignore_ascii_case(&alembic)
            || self.version_known
            || self.version_table_exists(conn).await?
        {
            return Ok(false);
        }
        let exists = table_exists(conn.dialect(), &alembic);
        Ok(!conn
            .query(&exists.sql, exists.params)
            .await?
            .rows
            .is_empty())
    }

    async fn version_table_exists(&self, conn: &mut dyn Connection) -> Result<bool, DbError> {
        let exists = table_exists(conn.dialect(), self.sql_table());
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
        self.resolve_for_run(conn).await?;
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
        let create = version::create(conn.dialect(), self.sql_table());
        conn.execute_script(&create).await.map(drop)
    }

    /// Empties the version table, creating it if need be (`stamp --purge`).
    pub async fn purge_version_table(&mut self, conn: &mut dyn Connection) -> Result<(), Error> {
        self.ensure_version_table(conn).await?;
        let purge = version::purge(conn.dialect(), self.sql_table());
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
        self.resolve_for_run(conn).await?;
        history::ensure_tables(conn, self.sql_table())
            .await
            .map_err(|e| Error::database("creating the audit tables", e))?;
        self.load_state(conn)
            .await
            .map_err(|e| Error::database("reading the state of the audit tables", e))?;
        self.audit_ready = true;
        Ok(())
    }

    /// Reads what the audit tables hold (one round trip): the history's
    /// head, which every row written next is chained to, and the counts a
    /// revision's records are checked against.
    async fn load_state(&mut self, conn: &mut dyn Connection) -> Result<(), DbError> {
        let dialect = conn.dialect();
        let query = self.sql_tables().state_query(dialect);
        let rows = conn.query(&query.sql, query.params).await?.rows;
        let row = rows.first().cloned().unwrap_or_default();
        let int = |i: usize| {
            cell_text(&row, i)
                .and_then(|t| t.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let mut state = guard::State {
            history_rows: int(0),
            head_id: int(1),
            head_hash: cell_text(&row, 2).unwrap_or_default(),
            artifacts: int(3),
            failed: int(4),
            oids: if dialect == Dialect::Postgresql {
                (5..8).map(int).collect()
            } else {
                Vec::new()
            },
            definition: if dialect == Dialect::Postgresql {
                cell_text(&row, 8).unwrap_or_default()
            } else {
                String::new()
            },
            ..guard::State::default()
        };
        if dialect == Dialect::Mysql {
            // Its catalogue is asked apart: one more round trip a run.
            state.definition = deep::definition(conn, &own_tables(self.sql_table())).await?;
        }
        state.open_window(None);
        self.state = Some(state);
        Ok(())
    }

    /// Opens the window in which what is written to aludel's tables is the
    /// host's or the revision's: when a transaction begins (see
    /// [`guard::State::settled_id`]).
    pub fn open_window(&mut self) {
        if let Some(state) = &mut self.state {
            state.open_window(None);
        }
    }

    /// Gives `entry` its id and its link in the chain, after the last row
    /// this run knows of, and caps its error; the state then expects it.
    fn chain(&mut self, entry: &HistoryEntry) -> Result<HistoryEntry, Error> {
        let state = self.state.as_mut().ok_or_else(|| {
            Error::Internal("a history row was written before the audit tables were read".into())
        })?;
        let mut entry = entry.clone();
        entry.error = entry.error.as_deref().map(cap_error);
        entry.id = state.head_id + 1;
        entry.row_hash = chain::row_hash(&entry, &state.head_hash);
        state.head_id = entry.id;
        state.head_hash = entry.row_hash.clone();
        state.history_rows += 1;
        Ok(entry)
    }

    /// Every row of the audit log, oldest first; empty before the first
    /// run. Reads only: call it outside a transaction.
    pub async fn audit_log(
        &mut self,
        conn: &mut dyn Connection,
    ) -> Result<Vec<HistoryEntry>, Error> {
        self.resolve_for_run(conn).await?;
        history::list(conn, self.sql_table())
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
        let dialect = conn.dialect();
        if let Some(unshadow) = self.unshadow(dialect) {
            conn.execute(&unshadow.sql, unshadow.params)
                .await
                .map_err(|e| Error::database("writing the audit log", e))?;
        }
        let entry = self.chain(entry)?;
        let written = history::record(conn, self.sql_table(), &entry).await;
        if written.is_err() {
            // The head was not written: read it again next time.
            self.audit_ready = false;
            self.state = None;
        }
        written.map_err(|e| Error::database("writing the audit log", e))
    }

    /// The statement that appends `entry` to the audit log. With `heads`
    /// (what the version table holds once the step's change is made), it
    /// also checks that the revision left aludel's tables as this run wrote
    /// them, and fails when it did not (see [`guard`]).
    pub fn history_statement(
        &mut self,
        dialect: Dialect,
        entry: &HistoryEntry,
        heads: Option<&[String]>,
    ) -> Result<(Statement, Option<guard::Expected>), Error> {
        // The check is of the state before this row.
        let changed = match (heads, &self.state) {
            (Some(heads), Some(state)) => self.sql_tables().changed(dialect, state, heads, 20),
            _ => None,
        };
        // What names the changed table where the database's error cannot
        // (MySQL), built only if the check fails (`diagnose`).
        let diagnose = match (&changed, heads, &self.state) {
            (Some(_), Some(heads), Some(state)) if dialect != Dialect::Postgresql => {
                Some((state.clone(), heads.to_vec()))
            }
            _ => None,
        };
        let entry = self.chain(entry)?;
        let statement = history::record_statement(dialect, self.sql_table(), &entry, changed);
        Ok((statement, diagnose))
    }

    /// The query naming the first of aludel's tables that is not as
    /// `state` and `heads` say, or `''`: asked after a failed check, before
    /// the rollback.
    pub fn diagnose(
        &self,
        dialect: Dialect,
        state: &guard::State,
        heads: &[String],
    ) -> Option<Statement> {
        let (sql, params) = self.sql_tables().changed(dialect, state, heads, 1)?;
        Some(Statement::new(format!("SELECT {sql}"), params))
    }

    /// After a revision that ran SQL the judge could not read (MySQL's
    /// `CALL`, `EXECUTE`, `PREPARE`), in its transaction: checks aludel's
    /// tables whole, which the history row's check does not (see
    /// `ledger::deep`). Elsewhere nothing: SQLite's authorizer and
    /// PostgreSQL's row versions leave nothing for it to find.
    pub async fn deep_check(
        &mut self,
        conn: &mut dyn Connection,
        revision: &str,
    ) -> Result<(), Error> {
        let dialect = conn.dialect();
        if dialect != Dialect::Mysql {
            return Ok(());
        }
        let what = "checking aludel's tables after SQL it could not read";
        let tables = own_tables(self.sql_table());
        // First, before any of its reads could be taken by one.
        if let Some(table) = deep::shadowed(conn, &tables).await {
            return Err(Error::OwnTableChanged {
                revision: revision.to_string(),
                table,
            });
        }
        let definition = self
            .state
            .as_ref()
            .map(|s| s.definition.clone())
            .unwrap_or_default();
        match deep::check(conn, &tables, self.sql_table(), &definition).await {
            Ok(None) => Ok(()),
            Ok(Some(table)) => Err(Error::OwnTableChanged {
                revision: revision.to_string(),
                table,
            }),
            Err(e) => Err(Error::database(what, e)),
        }
    }

    /// Notes that a batch stored `n` new artifacts.
    pub fn note_artifacts_stored(&mut self, n: u64) {
        if let Some(state) = &mut self.state {
            state.artifacts += i64::try_from(n).unwrap_or(0);
        }
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
            self.sql_table(),
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
        // asking again costs one `CREATE TABLE IF NOT EXISTS`, and reads
        // the state as the rollback left it.
        self.audit_ready = false;
        self.state = None;
    }

    /// The artifact stored under `hash`, if any.
    pub async fn load_artifact(
        &mut self,
        conn: &mut dyn Connection,
        hash: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.resolve_for_run(conn).await?;
        history::load_artifact(conn, self.sql_table(), hash)
            .await
            .map_err(|e| Error::database("reading the artifact store", e))
    }

    /// What `aludel verify` finds of the ledger itself: the audit log's
    /// chain and every stored artifact against its hash. Reads only.
    pub async fn check_integrity(&mut self, conn: &mut dyn Connection) -> Result<Integrity, Error> {
        let entries = self.audit_log(conn).await?;
        let chain = chain::check(&entries);
        let stored = history::artifact_hashes(conn, self.sql_table())
            .await
            .map_err(|e| Error::database("reading the artifact store", e))?;
        let users = |hash: &str| -> Vec<String> {
            let mut ids: Vec<String> = entries
                .iter()
                .filter(|e| {
                    e.artifact.as_deref() == Some(hash) || e.component_hash.as_deref() == Some(hash)
                })
                .map(|e| e.revision.clone())
                .collect();
            ids.dedup();
            ids
        };
        let mut artifacts = Vec::new();
        for (hash, kind, found) in &stored {
            if hash != found {
                artifacts.push(ArtifactBreak::Altered {
                    hash: hash.clone(),
                    kind: kind.clone(),
                    revisions: users(hash),
                    found: found.clone(),
                });
            }
        }
        for entry in &entries {
            if let Some(hash) = &entry.artifact
                && !stored.iter().any(|(h, _, _)| h == hash)
                && !artifacts
                    .iter()
                    .any(|a| matches!(a, ArtifactBreak::Missing { hash: h, .. } if h == hash))
            {
                artifacts.push(ArtifactBreak::Missing {
                    hash: hash.clone(),
                    revision: entry.revision.clone(),
                    row: entry.id,
                });
            }
        }
        Ok(Integrity {
            rows: entries.len(),
            chain,
            artifacts,
        })
    }

    /// The revisions that failed part-way and are unresolved. Reads only.
    pub async fn failures(
        &mut self,
        conn: &mut dyn Connection,
    ) -> Result<Vec<FailedRevision>, Error> {
        self.resolve_for_run(conn).await?;
        let failures = failed::list(conn, self.sql_table()).await;
        failures.map_err(|e| Error::database("reading the failed revisions", e))
    }

    /// Records that a revision failed part-way, outside any transaction so
    /// that it survives the rollback.
    pub async fn record_failure(
        &mut self,
        conn: &mut dyn Connection,
        failure: &FailedRevision,
    ) -> Result<(), Error> {
        self.resolve_for_run(conn).await?;
        if let Some(unshadow) = self.unshadow(conn.dialect()) {
            conn.execute(&unshadow.sql, unshadow.params)
                .await
                .map_err(|e| Error::database("recording the failed revision", e))?;
        }
        // Its count changes: read the state again before the next record.
        self.state = None;
        self.audit_ready = false;
        let recorded = failed::record(conn, self.sql_table(), failure).await;
        recorded.map_err(|e| Error::database("recording the failed revision", e))
    }

    /// Records the failed state of a revision about to run outside a
    /// transaction, before its body, for a crash to leave behind. Unlike
    /// [`record_failure`](Self::record_failure) the state the revision's
    /// closing check expects stays the one without this row: the closing
    /// batch clears it before that check (see `migrate::run`).
    pub async fn record_failure_before_body(
        &mut self,
        conn: &mut dyn Connection,
        failure: &FailedRevision,
    ) -> Result<(), Error> {
        if self.state.is_none() {
            return self.record_failure(conn, failure).await;
        }
        self.resolve_for_run(conn).await?;
        if let Some(unshadow) = self.unshadow(conn.dialect()) {
            conn.execute(&unshadow.sql, unshadow.params)
                .await
                .map_err(|e| Error::database("recording the failed revision", e))?;
        }
        let recorded = failed::record(conn, self.sql_table(), failure).await;
        recorded
            .map_err(|e| Error::database("recording the revision as failed until it ends", e))?;
        // Its statements commit one by one, each in a transaction of its
        // own: on PostgreSQL the window of its closing check opens at the
        // first transaction id not yet given out.
        let floor = if conn.dialect() == Dialect::Postgresql {
            let rows = conn
                .query(
                    "SELECT CAST(pg_catalog.txid_snapshot_xmax(pg_catalog.txid_current_snapshot()) \
                     AS pg_catalog.text)",
                    Vec::new(),
                )
                .await
                .map_err(|e| {
                    Error::database("reading the transaction id the revision starts at", e)
                })?
                .rows;
            rows.first()
                .and_then(|row| cell_text(row, 0))
                .and_then(|t| t.parse::<u64>().ok())
        } else {
            None
        };
        if let Some(state) = &mut self.state {
            state.open_window(floor);
        }
        Ok(())
    }

    /// Ends the failed state of `revision`; false when there was none.
    pub async fn clear_failure(
        &mut self,
        conn: &mut dyn Connection,
        revision: &str,
    ) -> Result<bool, Error> {
        self.resolve_for_run(conn).await?;
        self.state = None;
        self.audit_ready = false;
        let cleared = failed::clear(conn, self.sql_table(), revision).await;
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

/// What `aludel verify` found of aludel's own tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Integrity {
    /// Rows in the audit log.
    pub rows: usize,
    pub chain: chain::ChainReport,
    pub artifacts: Vec<ArtifactBreak>,
}

impl Integrity {
    pub fn is_intact(&self) -> bool {
        self.chain.breaks.is_empty() && self.artifacts.is_empty()
    }
}

/// A stored artifact that is not what the audit log says was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactBreak {
    /// Its content does not hash to the key it is stored under.
    Altered {
        hash: String,
        kind: String,
        /// The revisions whose rows name it.
        revisions: Vec<String>,
        found: String,
    },
    /// A row names an artifact the store does not hold.
    Missing {
        hash: String,
        revision: String,
        row: i64,
    },
}

impl std::fmt::Display for ArtifactBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArtifactBreak::Altered {
                hash,
                kind,
                revisions,
                found,
            } => write!(
                f,
                "stored artifact {hash} ({kind} of revision {}) was altered: its content hashes \
                 to {found}; aludel refuses to unpack or run it",
                if revisions.is_empty() {
                    "none in the audit log".to_string()
                } else {
                    revisions.join(", ")
                }
            ),
            ArtifactBreak::Missing {
                hash,
                revision,
                row,
            } => write!(
                f,
                "stored artifact {hash} of revision {revision} (audit log row {row}) is missing \
                 from the artifact store: it was deleted"
            ),
        }
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

/// The most bytes of an error text aludel stores (history and failed
/// state): a revision controls its errors, and a row too large for its
/// column would be refused (MySQL's TEXT holds 64 KiB) and the failure lost.
pub const MAX_STORED_ERROR: usize = 16 * 1024;

/// `text` as stored: whole when it fits in [`MAX_STORED_ERROR`] bytes, else
/// its start and its end around a note of how much was cut, so that both
/// the first error and the last context survive.
pub fn cap_error(text: &str) -> String {
    cap_text(text, MAX_STORED_ERROR)
}

fn cap_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let keep = max / 2 - 64;
    let mut head = keep;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - keep;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{} [... {} of {} bytes cut by aludel ...] {}",
        &text[..head],
        tail - head,
        text.len(),
        &text[tail..]
    )
}

/// The statements a failure keeps: each capped as an error is, and at most
/// the first and the last 100, around a note of how many were left out.
pub fn cap_statements(statements: &[String]) -> Vec<String> {
    const EACH: usize = 4 * 1024;
    const ENDS: usize = 100;
    let capped = |s: &String| cap_text(s, EACH);
    if statements.len() <= 2 * ENDS {
        return statements.iter().map(capped).collect();
    }
    let mut out: Vec<String> = statements[..ENDS].iter().map(capped).collect();
    out.push(format!(
        "[... {} statements not kept by aludel ...]",
        statements.len() - 2 * ENDS
    ));
    out.extend(statements[statements.len() - ENDS..].iter().map(capped));
    out
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
    fn a_long_error_keeps_its_start_and_end_and_says_it_was_cut() {
        let text = format!("START{}END", "é".repeat(40_000));
        let capped = cap_error(&text);
        assert!(capped.len() <= MAX_STORED_ERROR, "{}", capped.len());
        assert!(capped.starts_with("START") && capped.ends_with("END"));
        assert!(capped.contains(&format!("of {} bytes cut by aludel", text.len())));
        assert_eq!(cap_error("short"), "short");
        let many: Vec<String> = (0..500).map(|i| i.to_string()).collect();
        let kept = cap_statements(&many);
        assert_eq!(kept.len(), 201);
        assert_eq!((kept[0].as_str(), kept[200].as_str()), ("0", "499"));
        assert!(kept[100].contains("300 statements not kept"));
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
            Outcome::Resealed,
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
