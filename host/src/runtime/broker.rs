//! The `database` broker: plain Rust over a [`Connection`]. Before each
//! statement it checks the revision may still run (a failed statement fails
//! the whole revision), then it calls the backend and counts what it did.
//! It knows nothing of wasmtime, so its tests run on in-memory SQLite
//! without an engine or a store; [`super::host`] turns the WIT imports into
//! its calls.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use thiserror::Error;

use crate::db::confine::Confinement;
use crate::db::{self, Connection, DbError};
use crate::progress::Progress;

/// The most parameter rows one `execute-many` call may carry; the guest's
/// list already sits in host memory, but a bound keeps one call's work and
/// its error reporting proportionate.
const MAX_MANY_ROWS: usize = 1_000_000;
/// The most cursors a revision may hold open at once.
const MAX_OPEN_CURSORS: usize = 64;
/// How many of a revision's successful writes are remembered, and how much
/// of each, for the report of a revision that fails part-way.
const MAX_REMEMBERED_WRITES: usize = 200;
const MAX_REMEMBERED_SQL: usize = 2_000;

/// The smallest byte cap, whatever the memory limit: a revision with a
/// tiny limit still reads a few rows at a time.
const MIN_CAP: usize = 1 << 20;
/// The longest error text handed back to a guest; the full text is kept
/// for the run's own report.
pub(super) const MAX_GUEST_ERROR: usize = 64 << 10;

/// What one call may carry or return, in bytes (docs/runtime.md,
/// "Memory"). Each is half the revision's memory limit (at least
/// 1 MiB): whatever the host hands a guest must fit in the guest's
/// memory too, and what a guest sends was in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// The rows one `query` returns, and one cursor batch.
    pub result: usize,
    /// The SQL text of one statement or script.
    pub sql: usize,
    /// The parameters of one `execute-many`, all rows together.
    pub params: usize,
}

impl Caps {
    pub fn for_memory_limit(memory_limit: usize) -> Self {
        let half = (memory_limit / 2).max(MIN_CAP);
        Caps {
            result: half,
            sql: half,
            params: half,
        }
    }
}

impl Default for Caps {
    fn default() -> Self {
        Caps::for_memory_limit(256 << 20)
    }
}

/// The statements that record a revision's failed state before its first
/// statement that may commit implicitly (MySQL DDL, `CALL`, `EXECUTE`): run
/// once, in the revision's transaction, so that the implicit commit carries
/// them and a crash after it leaves the revision recorded as failed. The
/// migrator keeps a clone to learn whether they ran.
#[derive(Debug, Default)]
pub struct FailedStateHook {
    pub statements: Vec<db::Statement>,
    written: AtomicBool,
}

impl FailedStateHook {
    pub fn new(statements: Vec<db::Statement>) -> Arc<Self> {
        Arc::new(FailedStateHook {
            statements,
            written: AtomicBool::new(false),
        })
    }

    /// Whether the broker ran the statements.
    pub fn written(&self) -> bool {
        self.written.load(Ordering::Acquire)
    }
}

/// Which of the broker's open cursors a guest means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CursorId(pub(super) u32);

/// A cursor the broker does not hold. The component model only hands the
/// host handles it gave out and the guest still owns, so this is a host bug:
/// the imports trap on it rather than answer the guest.
#[derive(Debug, Error)]
#[error("no open cursor {}", .0.0)]
pub struct UnknownCursor(CursorId);

/// The first statement of a revision that the database refused.
#[derive(Debug, Clone)]
pub struct FailedStatement {
    pub sql: String,
    pub error: DbError,
}

/// Counts reported in the run's outcome.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub statements: u64,
    pub rows: u64,
    /// Statements whose SQL the judge could not read (MySQL `CALL`,
    /// `EXECUTE`, `PREPARE`): after such a revision the host checks
    /// aludel's tables whole (`ledger::Ledger::deep_check`).
    pub unreadable: u64,
    /// Batches a batched revision committed before its last (runtime::batched).
    pub batches: u64,
}

/// Every statement of one revision goes through here.
///
/// The broker owns the revision's open cursors itself, keyed by
/// [`CursorId`], and gives the guest that id as the rep of its handle,
/// rather than keeping them in the store's `ResourceTable`: then the cap
/// counts the one collection that holds them, closing leftovers walks it,
/// and no wasmtime type is needed to open, read or close one.
pub struct Broker {
    conn: Box<dyn Connection>,
    revision: String,
    failed: Option<FailedStatement>,
    stats: Stats,
    cursors: BTreeMap<CursorId, db::Cursor>,
    last_cursor: u32,
    /// Statements that changed something and succeeded, in order (capped).
    writes: Vec<String>,
    writes_untold: usize,
    /// The lexical judge of every statement's text (none: nothing judged,
    /// as in the unit tests of the counting).
    confinement: Option<Confinement>,
    failed_state: Option<Arc<FailedStateHook>>,
    caps: Caps,
    /// Where the revision's progress goes (`progress.report`, and the
    /// host's own reports for it).
    progress: Progress,
}

impl Broker {
    pub fn new(conn: Box<dyn Connection>, revision: &str) -> Self {
        Broker {
            conn,
            revision: revision.to_string(),
            failed: None,
            stats: Stats::default(),
            cursors: BTreeMap::new(),
            last_cursor: 0,
            writes: Vec::new(),
            writes_untold: 0,
            confinement: None,
            failed_state: None,
            caps: Caps::default(),
            progress: Progress::default(),
        }
    }

    /// Judges every statement's text with `confinement` before it is sent.
    pub fn confined(mut self, confinement: Confinement) -> Self {
        self.confinement = Some(confinement);
        self
    }

    /// Runs `hook`'s statements once, before the first statement that may
    /// commit implicitly.
    pub fn recording_failure(mut self, hook: Option<Arc<FailedStateHook>>) -> Self {
        self.failed_state = hook;
        self
    }

    pub fn capped(mut self, caps: Caps) -> Self {
        self.caps = caps;
        self
    }

    /// Tells `progress` how far the revision has come.
    pub fn reporting_to(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// The observer of the run: `report(done, total)` says how far the
    /// revision has come, whoever counts (the guest, or the host for it).
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    pub fn revision(&self) -> &str {
        &self.revision
    }

    pub fn dialect(&self) -> db::Dialect {
        self.conn.dialect()
    }

    /// The statement that failed the revision, if one did: the first the
    /// database refused, whether or not the guest looked at its error.
    pub fn failed(&self) -> Option<&FailedStatement> {
        self.failed.as_ref()
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The connection, for the host's own statements between a batched
    /// revision's batches (runtime::batched); never for the guest's.
    pub(super) fn connection(&mut self) -> &mut dyn Connection {
        self.conn.as_mut()
    }

    pub(super) fn has_open_cursors(&self) -> bool {
        !self.cursors.is_empty()
    }

    #[cfg(test)] // the runtime never needs the count, only the cap does
    pub fn open_cursors(&self) -> usize {
        self.cursors.len()
    }

    /// The connection back, for the caller to commit or roll back, and the
    /// writes that succeeded, for the report of a revision that fails
    /// part-way.
    pub fn finish(self) -> (Box<dyn Connection>, Vec<String>) {
        let mut writes = self.writes;
        if self.writes_untold > 0 {
            writes.push(format!("… and {} more", self.writes_untold));
        }
        (self.conn, writes)
    }

    /// Refuses further statements once one failed: the revision will roll
    /// back whatever it does next, and on PostgreSQL the transaction is
    /// already aborted.
    fn check_may_run(&self) -> Result<(), DbError> {
        match &self.failed {
            None => Ok(()),
            Some(f) => Err(DbError::new(format!(
                "an earlier statement of revision {} failed ({}); \
                 the revision will be rolled back, so no further statements run",
                self.revision, f.error.message
            ))),
        }
    }

    fn record<T>(&mut self, sql: &str, result: Result<T, DbError>) -> Result<T, DbError> {
        self.stats.statements += 1;
        if let Err(e) = &result {
            tracing::debug!(revision = %self.revision, "statement failed: {e}");
            if self.failed.is_none() {
                self.failed = Some(FailedStatement {
                    sql: sql.to_string(),
                    error: e.clone(),
                });
            }
        }
        result
    }

    fn remember_write(&mut self, sql: &str) {
        if self.writes.len() >= MAX_REMEMBERED_WRITES {
            self.writes_untold += 1;
            return;
        }
        let sql = sql.trim();
        let mut end = sql.len().min(MAX_REMEMBERED_SQL);
        while !sql.is_char_boundary(end) {
            end -= 1;
        }
        self.writes.push(sql[..end].to_string());
    }

    /// The checks before a statement's text is sent: its size, the
    /// judge's verdict, and the failed state before anything that may
    /// commit implicitly. A refusal fails the revision, as a statement the
    /// database refused would.
    async fn admit(&mut self, sql: &str) -> Result<(), DbError> {
        if sql.len() > self.caps.sql {
            let e = DbError {
                message: format!(
                    "a statement of {} bytes was refused: one call may send at most {} MiB of \
                     SQL (half the revision's memory limit); split it into several calls, \
                     and pass data as parameters",
                    sql.len(),
                    self.caps.sql >> 20
                ),
                code: Some(db::CAP_CODE.into()),
            };
            return self.record(sql, Err(e));
        }
        let Some(confinement) = &self.confinement else {
            return Ok(());
        };
        let judgement = match confinement.judge(sql) {
            Ok(judgement) => judgement,
            Err(refused) => {
                let e = DbError {
                    message: refused.to_string(),
                    code: Some("aludel:confined".into()),
                };
                return self.record(sql, Err(e));
            }
        };
        if judgement.unreadable {
            self.stats.unreadable += 1;
        }
        if judgement.may_commit_implicitly
            && let Some(hook) = self.failed_state.take()
        {
            tracing::debug!(
                revision = %self.revision,
                "recording the failed state before a statement that may commit implicitly"
            );
            let result = self.conn.execute_batch(hook.statements.clone()).await;
            let result = result.map(drop).map_err(|e| DbError {
                message: format!(
                    "cannot record the failed state before a statement that commits \
                     implicitly, so it was not run: {}",
                    e.source.message
                ),
                code: e.source.code,
            });
            self.record(sql, result)?;
            // Not a statement of the revision's.
            self.stats.statements -= 1;
            hook.written.store(true, Ordering::Release);
        }
        Ok(())
    }

    pub async fn execute(&mut self, sql: &str, params: Vec<db::Value>) -> Result<u64, DbError> {
        self.check_may_run()?;
        self.admit(sql).await?;
        tracing::trace!(revision = %self.revision, "execute: {sql}");
        let result = self.conn.execute(sql, params).await;
        let n = self.record(sql, result)?;
        self.stats.rows += n;
        self.remember_write(sql);
        Ok(n)
    }

    pub async fn query(
        &mut self,
        sql: &str,
        params: Vec<db::Value>,
    ) -> Result<db::RowSet, DbError> {
        self.check_may_run()?;
        self.admit(sql).await?;
        tracing::trace!(revision = %self.revision, "query: {sql}");
        let result = self.conn.query_bounded(sql, params, self.caps.result).await;
        self.record(sql, result)
    }

    pub async fn execute_many(
        &mut self,
        sql: &str,
        rows: Vec<Vec<db::Value>>,
    ) -> Result<u64, DbError> {
        self.check_may_run()?;
        if rows.len() > MAX_MANY_ROWS {
            let e = DbError::new(format!(
                "execute-many was given {} parameter rows; the limit per call is {MAX_MANY_ROWS}: \
                 send them in batches",
                rows.len()
            ));
            return self.record(sql, Err(e));
        }
        let bytes: usize = rows.iter().map(|r| db::row_size(r)).sum();
        if bytes > self.caps.params {
            let e = DbError {
                message: format!(
                    "execute-many was given {} MiB of parameters; the limit per call is {} MiB \
                     (half the revision's memory limit): send the rows in batches",
                    bytes >> 20,
                    self.caps.params >> 20
                ),
                code: Some(db::CAP_CODE.into()),
            };
            return self.record(sql, Err(e));
        }
        self.admit(sql).await?;
        tracing::trace!(revision = %self.revision, rows = rows.len(), "execute-many: {sql}");
        let result = self.conn.execute_many(sql, rows).await;
        let n = self.record(sql, result)?;
        self.stats.rows += n;
        self.remember_write(sql);
        Ok(n)
    }

    pub async fn execute_script(&mut self, sql: &str) -> Result<(), DbError> {
        self.check_may_run()?;
        self.admit(sql).await?;
        tracing::trace!(revision = %self.revision, "execute-script: {sql}");
        let result = self.conn.execute_script(sql).await;
        if result.is_err() {
            // The database ran the script's statements one by one; those
            // before the failing one may stand where DDL is not transactional.
            self.remember_write(&format!("(possibly in part) {sql}"));
        }
        self.stats.rows += self.record(sql, result)?;
        self.remember_write(sql);
        Ok(())
    }

    pub async fn open_cursor(
        &mut self,
        sql: &str,
        params: Vec<db::Value>,
    ) -> Result<CursorId, DbError> {
        self.check_may_run()?;
        if self.cursors.len() >= MAX_OPEN_CURSORS {
            let e = DbError::new(format!(
                "revision {} has {MAX_OPEN_CURSORS} cursors open, the most allowed: \
                 drop cursors it no longer reads",
                self.revision
            ));
            return self.record(sql, Err(e));
        }
        self.admit(sql).await?;
        tracing::trace!(revision = %self.revision, "open-cursor: {sql}");
        let result = self.conn.open_cursor(sql, params).await;
        let mut cursor = self.record(sql, result)?;
        cursor.max_bytes = self.caps.result;
        let id = self.unused_cursor_id();
        self.cursors.insert(id, cursor);
        Ok(id)
    }

    /// An id no open cursor has. The search ends: at most
    /// [`MAX_OPEN_CURSORS`] ids are taken, of 2^32.
    fn unused_cursor_id(&mut self) -> CursorId {
        loop {
            self.last_cursor = self.last_cursor.wrapping_add(1);
            let id = CursorId(self.last_cursor);
            if !self.cursors.contains_key(&id) {
                return id;
            }
        }
    }

    pub fn cursor_columns(&self, id: CursorId) -> Result<&[String], UnknownCursor> {
        match self.cursors.get(&id) {
            Some(cursor) => Ok(cursor.columns()),
            None => Err(UnknownCursor(id)),
        }
    }

    /// The next batch of a cursor. The outer error is the host's (see
    /// [`UnknownCursor`]), the inner one the guest's to handle.
    pub async fn cursor_next(
        &mut self,
        id: CursorId,
        max_rows: u32,
    ) -> Result<Result<Vec<Vec<db::Value>>, DbError>, UnknownCursor> {
        if let Err(e) = self.check_may_run() {
            return Ok(Err(e));
        }
        let cursor = self.cursors.get_mut(&id).ok_or(UnknownCursor(id))?;
        let max_bytes = cursor.max_bytes;
        let result = self.conn.cursor_next(cursor, max_rows).await;
        // PostgreSQL and MySQL stop as the batch passes the cap; a backend
        // that reads a batch whole (SQLite, at most MAX_CURSOR_BATCH rows)
        // is held to it here.
        let result = result.and_then(|rows| {
            if rows.iter().map(|r| db::row_size(r)).sum::<usize>() > max_bytes {
                Err(db::result_too_large("a cursor batch", max_bytes))
            } else {
                Ok(rows)
            }
        });
        Ok(self.record("(cursor next)", result))
    }

    /// Closes a cursor the guest dropped. A backend that fails to close it
    /// is only logged: the guest is done with it either way, and the
    /// transaction's end frees what is left.
    pub async fn close_cursor(&mut self, id: CursorId) -> Result<(), UnknownCursor> {
        let cursor = self.cursors.remove(&id).ok_or(UnknownCursor(id))?;
        if let Err(e) = self.conn.close_cursor(cursor).await {
            tracing::debug!(revision = %self.revision, "closing a cursor failed: {e}");
        }
        Ok(())
    }

    /// Closes the cursors a guest left open, so their temporary storage does
    /// not outlive the revision.
    pub async fn close_leftover_cursors(&mut self) {
        for (_, cursor) in std::mem::take(&mut self.cursors) {
            if let Err(e) = self.conn.close_cursor(cursor).await {
                tracing::debug!(revision = %self.revision, "closing a cursor failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The broker on a real in-memory SQLite database: what it refuses,
    //! counts and remembers, with no WebAssembly involved.

    use super::*;
    use db::Value;

    const REVISION: &str = "b70c0e000001";

    /// A broker for a database in which `setup` has run, outside the
    /// broker, so that it counts nothing of it.
    async fn broker_after(setup: &str) -> Broker {
        let mut conn = db::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite opens");
        if !setup.is_empty() {
            conn.execute_script(setup).await.expect("the setup runs");
        }
        Broker::new(conn, REVISION)
    }

    async fn broker_with_table() -> Broker {
        broker_after("CREATE TABLE t (x INTEGER)").await
    }

    /// Reads the database behind the broker's back, once it is done.
    async fn count(conn: &mut Box<dyn Connection>, sql: &str) -> i64 {
        let set = conn.query(sql, Vec::new()).await.expect("the count runs");
        match set.rows[..] {
            [ref row] => match row[..] {
                [Value::Integer(n)] => n,
                _ => panic!("not a count: {row:?}"),
            },
            _ => panic!("not one row: {:?}", set.rows),
        }
    }

    const BAD: &str = "INSERT INTO nowhere (x) VALUES (1)";

    fn assert_refused(what: &str, result: Result<impl std::fmt::Debug, DbError>) {
        let e = result.expect_err(what);
        assert!(
            e.message.starts_with(&format!(
                "an earlier statement of revision {REVISION} failed (no such table: nowhere)"
            )),
            "{what}: {}",
            e.message
        );
        assert!(
            e.message.contains("no further statements run"),
            "{what}: {}",
            e.message
        );
    }

    #[tokio::test]
    async fn a_failed_statement_refuses_every_later_call_and_is_the_one_reported() {
        let mut b = broker_with_table().await;
        let cursor = b.open_cursor("SELECT x FROM t", Vec::new()).await.unwrap();
        let e = b.execute(BAD, Vec::new()).await.expect_err("no such table");
        assert!(e.message.contains("no such table: nowhere"), "{e}");
        let counted = b.stats();

        let insert = "INSERT INTO t (x) VALUES (1)";
        assert_refused("execute", b.execute(insert, Vec::new()).await);
        assert_refused("query", b.query("SELECT x FROM t", Vec::new()).await);
        assert_refused(
            "execute-many",
            b.execute_many(insert, vec![Vec::new()]).await,
        );
        assert_refused("execute-script", b.execute_script(insert).await);
        assert_refused(
            "open-cursor",
            b.open_cursor("SELECT x FROM t", Vec::new()).await,
        );
        assert_refused("cursor next", b.cursor_next(cursor, 10).await.unwrap());
        // A statement that would fail too does not take the first one's place.
        assert_refused("a second bad statement", b.execute(BAD, Vec::new()).await);

        let failed = b.failed().expect("the revision failed");
        assert_eq!(failed.sql, BAD);
        assert!(failed.error.message.contains("no such table: nowhere"));
        assert_eq!(
            b.stats().statements,
            counted.statements,
            "refusals are not statements"
        );
        assert_eq!(b.stats().rows, counted.rows);
        let (mut conn, writes) = b.finish();
        assert!(writes.is_empty(), "nothing was written: {writes:?}");
        assert_eq!(count(&mut conn, "SELECT count(*) FROM t").await, 0);
    }

    #[tokio::test]
    async fn a_failure_the_guest_ignores_still_fails_the_revision_whichever_call_it_was() {
        let mut b = broker_with_table().await;
        let _ = b.execute(BAD, Vec::new()).await;
        assert_eq!(b.failed().map(|f| f.sql.as_str()), Some(BAD), "execute");

        let mut b = broker_with_table().await;
        let _ = b.query("SELECT y FROM t", Vec::new()).await;
        assert_eq!(
            b.failed().map(|f| f.sql.as_str()),
            Some("SELECT y FROM t"),
            "query"
        );

        let mut b = broker_with_table().await;
        let _ = b.execute_many(BAD, vec![Vec::new(), Vec::new()]).await;
        assert_eq!(
            b.failed().map(|f| f.sql.as_str()),
            Some(BAD),
            "execute-many"
        );

        let mut b = broker_with_table().await;
        let script = "INSERT INTO t (x) VALUES (1); INSERT INTO nowhere (x) VALUES (2)";
        let _ = b.execute_script(script).await;
        assert_eq!(
            b.failed().map(|f| f.sql.as_str()),
            Some(script),
            "execute-script"
        );

        let mut b = broker_with_table().await;
        let _ = b.open_cursor("SELECT y FROM t", Vec::new()).await;
        assert_eq!(
            b.failed().map(|f| f.sql.as_str()),
            Some("SELECT y FROM t"),
            "open-cursor"
        );
    }

    #[tokio::test]
    async fn statements_and_rows_are_counted_for_every_kind_of_call() {
        let mut b = broker_with_table().await;
        let one = |n: i64| vec![Value::Integer(n)];

        let n = b.execute("INSERT INTO t (x) VALUES (?)", one(1)).await;
        assert_eq!(n, Ok(1));
        assert_eq!((b.stats().statements, b.stats().rows), (1, 1));

        let n = b
            .execute_many("INSERT INTO t (x) VALUES (?)", vec![one(2), one(3), one(4)])
            .await;
        assert_eq!(n, Ok(3));
        assert_eq!((b.stats().statements, b.stats().rows), (2, 4));

        // One call is one statement however many the script holds; its rows
        // are what all of them changed: 4 updated, then 1 deleted.
        b.execute_script("UPDATE t SET x = x * 10; DELETE FROM t WHERE x = 40")
            .await
            .unwrap();
        assert_eq!((b.stats().statements, b.stats().rows), (3, 9));

        // Rows read are not rows changed.
        let set = b
            .query("SELECT x FROM t ORDER BY x", Vec::new())
            .await
            .unwrap();
        assert_eq!(set.rows, vec![one(10), one(20), one(30)]);
        assert_eq!((b.stats().statements, b.stats().rows), (4, 9));

        let cursor = b.open_cursor("SELECT x FROM t", Vec::new()).await.unwrap();
        assert_eq!(b.cursor_columns(cursor).unwrap(), ["x"]);
        let batch = b.cursor_next(cursor, 2).await.unwrap().unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!((b.stats().statements, b.stats().rows), (6, 9));
        b.close_cursor(cursor).await.unwrap();
        assert_eq!(
            b.stats().statements,
            6,
            "closing is the host's, not a statement"
        );

        // A statement the database refused was still sent.
        let _ = b.execute(BAD, Vec::new()).await;
        assert_eq!((b.stats().statements, b.stats().rows), (7, 9));
    }

    #[tokio::test]
    async fn successful_writes_are_remembered_in_order_trimmed_and_reads_are_not() {
        let mut b = broker_with_table().await;
        b.execute("  INSERT INTO t (x) VALUES (1)\n", Vec::new())
            .await
            .unwrap();
        b.query("SELECT x FROM t", Vec::new()).await.unwrap();
        b.execute_many(
            "INSERT INTO t (x) VALUES (?)",
            vec![vec![Value::Integer(2)]],
        )
        .await
        .unwrap();
        let cursor = b.open_cursor("SELECT x FROM t", Vec::new()).await.unwrap();
        b.cursor_next(cursor, 10).await.unwrap().unwrap();
        b.execute_script("UPDATE t SET x = 3;\n").await.unwrap();
        let _ = b.execute(BAD, Vec::new()).await;
        let (_, writes) = b.finish();
        assert_eq!(
            writes,
            [
                "INSERT INTO t (x) VALUES (1)",
                "INSERT INTO t (x) VALUES (?)",
                "UPDATE t SET x = 3;",
            ]
        );
    }

    #[tokio::test]
    async fn a_failed_script_is_remembered_as_possibly_applied_in_part() {
        let mut b = broker_with_table().await;
        let script = "INSERT INTO t (x) VALUES (1); INSERT INTO nowhere (x) VALUES (2)";
        b.execute_script(script).await.expect_err("no such table");
        let (_, writes) = b.finish();
        assert_eq!(writes, [format!("(possibly in part) {script}")]);
    }

    #[tokio::test]
    async fn a_long_write_is_remembered_cut_at_a_character_boundary() {
        let mut b = broker_with_table().await;
        // 27 bytes of ASCII, then two-byte characters: byte MAX_REMEMBERED_SQL
        // falls inside one.
        let prefix = "INSERT INTO t (x) VALUES ('";
        assert_eq!(prefix.len() % 2, 1);
        let sql = format!("{prefix}{}')", "é".repeat(MAX_REMEMBERED_SQL));
        b.execute(&sql, Vec::new()).await.unwrap();
        let (_, writes) = b.finish();
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].len(), MAX_REMEMBERED_SQL - 1);
        assert!(sql.starts_with(&writes[0]));
    }

    #[tokio::test]
    async fn past_the_cap_writes_are_counted_rather_than_kept() {
        let mut b = broker_with_table().await;
        let untold = 7;
        for i in 0..MAX_REMEMBERED_WRITES + untold {
            b.execute(&format!("INSERT INTO t (x) VALUES ({i})"), Vec::new())
                .await
                .unwrap();
        }
        let (_, writes) = b.finish();
        assert_eq!(writes.len(), MAX_REMEMBERED_WRITES + 1);
        assert_eq!(writes[0], "INSERT INTO t (x) VALUES (0)");
        assert_eq!(
            writes[MAX_REMEMBERED_WRITES - 1],
            format!("INSERT INTO t (x) VALUES ({})", MAX_REMEMBERED_WRITES - 1)
        );
        assert_eq!(
            writes[MAX_REMEMBERED_WRITES],
            format!("… and {untold} more")
        );
    }

    #[tokio::test]
    async fn one_cursor_past_the_cap_fails_the_revision_with_an_error_saying_what_to_do() {
        let mut b = broker_with_table().await;
        for _ in 0..MAX_OPEN_CURSORS {
            b.open_cursor("SELECT x FROM t", Vec::new()).await.unwrap();
        }
        let e = b
            .open_cursor("SELECT x + 1 FROM t", Vec::new())
            .await
            .expect_err("one too many");
        assert_eq!(
            e.message,
            format!(
                "revision {REVISION} has {MAX_OPEN_CURSORS} cursors open, the most allowed: \
                 drop cursors it no longer reads"
            )
        );
        assert_eq!(b.open_cursors(), MAX_OPEN_CURSORS);
        let failed = b.failed().expect("the cap fails the revision");
        assert_eq!(failed.sql, "SELECT x + 1 FROM t");
        assert_eq!(b.stats().statements, MAX_OPEN_CURSORS as u64 + 1);
    }

    #[tokio::test]
    async fn a_closed_cursor_frees_its_place_under_the_cap() {
        let mut b = broker_with_table().await;
        let mut cursors = Vec::new();
        for _ in 0..MAX_OPEN_CURSORS {
            cursors.push(b.open_cursor("SELECT x FROM t", Vec::new()).await.unwrap());
        }
        b.close_cursor(cursors[3]).await.unwrap();
        let again = b.open_cursor("SELECT x FROM t", Vec::new()).await.unwrap();
        assert!(!cursors[..3].contains(&again) && !cursors[4..].contains(&again));
        assert_eq!(b.open_cursors(), MAX_OPEN_CURSORS);
        assert!(b.failed().is_none());
    }

    #[tokio::test]
    async fn leftover_cursors_are_closed_and_leave_nothing_in_the_database() {
        let mut b = broker_after("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2)").await;
        let temp_tables = "SELECT count(*) FROM sqlite_temp_master WHERE type = 'table'";
        let dropped = b.open_cursor("SELECT x FROM t", Vec::new()).await.unwrap();
        let read = b.open_cursor("SELECT x FROM t", Vec::new()).await.unwrap();
        let _untouched = b.open_cursor("SELECT x FROM t", Vec::new()).await.unwrap();
        b.cursor_next(read, 1).await.unwrap().unwrap();
        b.close_cursor(dropped).await.unwrap();
        let set = b.query(temp_tables, Vec::new()).await.unwrap();
        assert_eq!(set.rows, vec![vec![Value::Integer(2)]], "two still open");

        b.close_leftover_cursors().await;
        assert_eq!(b.open_cursors(), 0);
        assert!(
            b.cursor_next(read, 1).await.is_err(),
            "a closed cursor is gone"
        );
        assert!(b.close_cursor(dropped).await.is_err(), "closed only once");
        assert!(b.failed().is_none());
        let (mut conn, _) = b.finish();
        assert_eq!(count(&mut conn, temp_tables).await, 0);
    }

    #[tokio::test]
    async fn execute_many_refuses_more_rows_than_its_cap_before_running_any() {
        let mut b = broker_with_table().await;
        // Empty rows: the cap is checked before any is bound.
        let rows = vec![Vec::new(); MAX_MANY_ROWS + 1];
        let e = b
            .execute_many("INSERT INTO t (x) VALUES (1)", rows)
            .await
            .expect_err("over the cap");
        assert_eq!(
            e.message,
            format!(
                "execute-many was given {} parameter rows; the limit per call is \
                 {MAX_MANY_ROWS}: send them in batches",
                MAX_MANY_ROWS + 1
            )
        );
        let failed = b.failed().expect("the cap fails the revision");
        assert_eq!(failed.sql, "INSERT INTO t (x) VALUES (1)");
        assert_eq!((b.stats().statements, b.stats().rows), (1, 0));
        let (mut conn, writes) = b.finish();
        assert!(writes.is_empty(), "{writes:?}");
        assert_eq!(count(&mut conn, "SELECT count(*) FROM t").await, 0);
    }
}
