//! SQLite through sqlx's native driver.
//!
//! Transactions are `BEGIN IMMEDIATE`: the write lock is taken before the
//! revision runs, so a second runner waits at `begin` (up to the busy
//! timeout) instead of failing half-way through a revision.
//!
//! Cursors: sqlx's SQLite driver runs one statement at a time on a worker
//! thread, so a result being stepped blocks every other statement on the
//! connection and a guest could not write while it reads. A cursor therefore
//! materialises its result into a temporary table inside the database and
//! pages through it by rowid. The host and the guest hold one batch at a time;
//! the rows are a snapshot taken when the cursor opened, as PostgreSQL's
//! default (insensitive) cursors are.
//!
//! A revision's own statements run under a guard (see `sqlite_guard`): an
//! authorizer that refuses transaction statements, ATTACH, DETACH and
//! VACUUM. The runtime switches it with `guest_statements`; the host's own
//! methods (`begin`, `commit`, `rollback`, the batches) first switch it off
//! should it still be on, so that a revision can never stop aludel ending
//! its transaction.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{
    Arguments, AssertSqlSafe, Column, ConnectOptions, Decode, Executor, Row, SqlSafeStr, Sqlite,
    Statement as _, TypeInfo, ValueRef,
};

use futures::TryStreamExt;
use sqlx::Either;

use super::dialect::{self, TempTableCursor};
use super::sqlite_deadline::Deadline;
use super::sqlite_guard::Guard;
use super::sqlite_many;
use super::{
    BatchError, BatchStage, Canceller, ConnectError, Connection, Cursor, DbError, Dialect,
    LockError, RowSet, RunLock, Session, Statement, Value,
};

/// The largest blob a batch inlines as a literal (see `execute_batch`).
const INLINE_BLOB_MAX: usize = 64 * 1024;

/// How long a statement waits for another connection's lock before failing,
/// unless the session says (`--lock-timeout`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Cursors page through a temporary table (see the module doc).
const CURSOR_TABLE: TempTableCursor = TempTableCursor::Sqlite;

pub struct SqliteBackend {
    conn: SqliteConnection,
    next_cursor: u64,
    guard: Guard,
    deadline: Deadline,
    /// The session's `--lock-timeout`, for the error that says it expired.
    busy_timeout: Option<Duration>,
}

impl SqliteBackend {
    pub async fn connect_with(url: &str, session: &Session) -> Result<Self, ConnectError> {
        let failed = |source| ConnectError::Failed {
            url: super::redact_url(url),
            source,
        };
        // Alembic creates the SQLite file on first use; so do we.
        let options = SqliteConnectOptions::from_str(url)
            .map_err(failed)?
            .create_if_missing(true)
            .busy_timeout(session.lock_timeout.unwrap_or(BUSY_TIMEOUT));
        let mut conn = options.connect().await.map_err(failed)?;
        // Installed once: switching it is then no message to sqlx's worker.
        let guard = {
            let mut handle = conn
                .lock_handle()
                .await
                .map_err(|source| ConnectError::Failed {
                    url: super::redact_url(url),
                    source,
                })?;
            Guard::install(handle.as_raw_handle())
        };
        // Also installed once, on its own hop to the worker (once a
        // connection) so that the guard's code and this stay apart.
        let deadline = {
            let mut handle = conn
                .lock_handle()
                .await
                .map_err(|source| ConnectError::Failed {
                    url: super::redact_url(url),
                    source,
                })?;
            Deadline::install(&mut handle)
        };
        Ok(SqliteBackend {
            conn,
            next_cursor: 0,
            guard,
            deadline,
            busy_timeout: session.lock_timeout,
        })
    }

    /// Before a statement of the host's own: the guard is off. The runtime
    /// switches it off once the guest returns; this keeps `commit` and
    /// `rollback` working if a path ever forgets to.
    fn host_statements(&self) {
        if self.guard.is_on() {
            tracing::debug!("the SQLite guard was still on for a host statement: switching it off");
            self.guard.set(false);
        }
    }

    async fn run(&mut self, sql: &str) -> Result<(), DbError> {
        self.script(sql).await.map(|_| ())
    }

    /// Runs the statements gathered in `script` and appends the rows each
    /// changed to `counts`; empties `script`.
    async fn run_batch_script(
        &mut self,
        script: &mut String,
        counts: &mut Vec<u64>,
    ) -> Result<(), BatchError> {
        if script.is_empty() {
            return Ok(());
        }
        let sql = std::mem::take(script);
        let busy_timeout = self.busy_timeout;
        let mut results = sqlx::raw_sql(AssertSqlSafe(sql)).fetch_many(&mut self.conn);
        loop {
            match results.try_next().await {
                Ok(Some(Either::Left(done))) => counts.push(done.rows_affected()),
                Ok(Some(Either::Right(_))) => {}
                Ok(None) => return Ok(()),
                // SQLite stops at the failing statement: the ones before
                // it have each reported their count.
                Err(e) => {
                    let e = explain_busy(busy_timeout, e.into());
                    return Err(BatchError::statement(counts.len(), e));
                }
            }
        }
    }

    async fn script(&mut self, sql: &str) -> Result<u64, DbError> {
        let done = sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut self.conn)
            .await
            .map_err(|e| explain_busy(self.busy_timeout, e.into()))?;
        Ok(done.rows_affected())
    }
}

/// A statement's error; when SQLite gave up waiting for another
/// connection's lock (`SQLITE_BUSY`, after the busy timeout), says so and
/// what to do. SQLite cannot tell who holds it.
fn explain_busy(busy_timeout: Option<Duration>, error: DbError) -> DbError {
    if error.code.as_deref() != Some("5") {
        return error;
    }
    DbError {
        message: format!(
            "{} after waiting {} for another connection to release the database's \
             write lock\n  let the program holding a transaction open on the file finish \
             (SQLite cannot say which), then run again; --lock-timeout waits longer",
            error.message,
            match busy_timeout {
                Some(t) => format!("the lock timeout ({} s, --lock-timeout)", t.as_secs_f64()),
                None => format!("{} s", BUSY_TIMEOUT.as_secs()),
            }
        ),
        code: error.code,
    }
}

fn arguments(params: Vec<Value>) -> Result<SqliteArguments, DbError> {
    let mut args = SqliteArguments::default();
    for value in params {
        let bound = match value {
            Value::Null => args.add(Option::<i64>::None),
            Value::Boolean(b) => args.add(b),
            Value::Integer(i) => args.add(i),
            Value::Float(f) => args.add(f),
            Value::Blob(b) => args.add(b),
            // SQLite has no types for these: the WIT contract stores their text.
            Value::Text(s)
            | Value::Date(s)
            | Value::Time(s)
            | Value::Timestamp(s)
            | Value::Timestamptz(s)
            | Value::Decimal(s)
            | Value::Json(s)
            | Value::Uuid(s) => args.add(s),
        };
        bound.map_err(|e| DbError::new(format!("cannot bind parameter: {e}")))?;
    }
    Ok(args)
}

fn decode_row(row: &SqliteRow, skip: usize) -> Result<Vec<Value>, DbError> {
    (skip..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                return Ok(Value::Null);
            }
            // SQLite types values, not columns: ask the value what it is.
            let type_name = raw.type_info().name().to_string();
            let value = match type_name.as_str() {
                "INTEGER" | "BOOLEAN" => {
                    Value::Integer(<i64 as Decode<Sqlite>>::decode(raw).map_err(decode_err)?)
                }
                "REAL" => Value::Float(<f64 as Decode<Sqlite>>::decode(raw).map_err(decode_err)?),
                "BLOB" => {
                    Value::Blob(<Vec<u8> as Decode<Sqlite>>::decode(raw).map_err(decode_err)?)
                }
                _ => Value::Text(<String as Decode<Sqlite>>::decode(raw).map_err(decode_err)?),
            };
            Ok(value)
        })
        .collect()
}

fn decode_err(e: sqlx::error::BoxDynError) -> DbError {
    DbError::new(format!("cannot read a result value: {e}"))
}

fn column_names(row: &SqliteRow, skip: usize) -> Vec<String> {
    row.columns()
        .iter()
        .skip(skip)
        .map(|c| c.name().to_string())
        .collect()
}

#[async_trait]
impl Connection for SqliteBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn transactional_ddl(&self) -> bool {
        true
    }

    async fn guest_statements(&mut self, on: bool) -> Result<(), DbError> {
        self.guard.set(on);
        Ok(())
    }

    fn protect_tables(&mut self, tables: &[String]) {
        self.guard.protect(tables);
    }

    async fn begin(&mut self) -> Result<(), DbError> {
        self.host_statements();
        self.run("BEGIN IMMEDIATE").await
    }

    async fn commit(&mut self) -> Result<(), DbError> {
        self.host_statements();
        self.run("COMMIT").await
    }

    async fn rollback(&mut self) -> Result<(), DbError> {
        // SQLite may already have rolled back on its own (some errors do);
        // "no transaction is active" is then the state we want.
        self.host_statements();
        match self.run("ROLLBACK").await {
            Err(e) if e.message.contains("no transaction is active") => Ok(()),
            other => other,
        }
    }

    async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, DbError> {
        // A guest statement: the guard explains what it refused.
        let result: Result<u64, DbError> = async {
            // A host statement is not cached: a guest sending its text later
            // must be prepared, and judged, under the guard.
            let persistent = self.guard.is_on();
            let done = sqlx::query_with(AssertSqlSafe(sql), arguments(params)?)
                .persistent(persistent)
                .execute(&mut self.conn)
                .await?;
            Ok(done.rows_affected())
        }
        .await;
        result.map_err(|e| self.guard.explain(e))
    }

    async fn query(&mut self, sql: &str, params: Vec<Value>) -> Result<RowSet, DbError> {
        // A guest statement: the guard explains what it refused.
        let result: Result<RowSet, DbError> = async {
            let persistent = self.guard.is_on();
            let rows = sqlx::query_with(AssertSqlSafe(sql), arguments(params)?)
                .persistent(persistent)
                .fetch_all(&mut self.conn)
                .await?;
            let columns = match rows.first() {
                Some(row) => column_names(row, 0),
                // An empty result still has columns: the prepared statement knows them.
                None => {
                    let statement = (&mut self.conn)
                        .prepare(AssertSqlSafe(sql).into_sql_str())
                        .await?;
                    statement
                        .columns()
                        .iter()
                        .map(|c| c.name().to_string())
                        .collect()
                }
            };
            let rows = rows
                .iter()
                .map(|r| decode_row(r, 0))
                .collect::<Result<_, _>>()?;
            Ok(RowSet { columns, rows })
        }
        .await;
        result.map_err(|e| self.guard.explain(e))
    }

    async fn execute_many(&mut self, sql: &str, rows: Vec<Vec<Value>>) -> Result<u64, DbError> {
        // A guest statement: the guard explains what it refused. One hop to
        // the worker for all rows (see `sqlite_many`).
        let busy_timeout = self.busy_timeout;
        let result = match self.conn.lock_handle().await {
            Ok(mut handle) => sqlite_many::execute_many(handle.as_raw_handle(), sql, rows),
            Err(e) => Err(e.into()),
        };
        result.map_err(|e| self.guard.explain(explain_busy(busy_timeout, e)))
    }

    async fn execute_script(&mut self, sql: &str) -> Result<u64, DbError> {
        // A guest statement: the guard explains what it refused.
        let result: Result<u64, DbError> = async {
            // SQLite reports, for DDL, the rows changed by the last INSERT,
            // UPDATE or DELETE before it (sqlite3_changes is not reset): a
            // CREATE TABLE after the version-table change would count its row.
            // total_changes() before and after the script, in the same round
            // trip, counts what the script itself did. The first row is the
            // prefix's; the last, the suffix's (the line break ends a trailing
            // comment).
            let wrapped = format!("SELECT total_changes();\n{sql}\n;SELECT total_changes();");
            let mut results = sqlx::raw_sql(AssertSqlSafe(wrapped)).fetch_many(&mut self.conn);
            let mut before = None;
            let mut last = None;
            while let Some(item) = results.try_next().await? {
                if let Either::Right(row) = item {
                    if before.is_none() {
                        before = Some(row.try_get::<i64, _>(0)?);
                    }
                    last = Some(row);
                }
            }
            let after = match last {
                Some(row) => row.try_get::<i64, _>(0).unwrap_or(0),
                None => 0,
            };
            Ok(u64::try_from(after - before.unwrap_or(after)).unwrap_or(0))
        }
        .await;
        result.map_err(|e| self.guard.explain(e))
    }

    /// One hop to sqlx's worker thread for the whole batch, where each
    /// statement alone would cost a hop there and back: the statements go as
    /// one script with their parameters as literals. A large blob (a
    /// plugin's component) keeps its bound parameter, since its literal
    /// would be twice its size in SQL text to parse.
    async fn execute_batch(&mut self, statements: Vec<Statement>) -> Result<Vec<u64>, BatchError> {
        self.host_statements();
        let mut counts = Vec::with_capacity(statements.len());
        // Statements gathered in `script`, not yet sent.
        let mut script = String::new();
        let mut pending = 0;
        for statement in statements {
            let large = statement
                .params
                .iter()
                .any(|v| matches!(v, Value::Blob(b) if b.len() > INLINE_BLOB_MAX));
            if large {
                self.run_batch_script(&mut script, &mut counts).await?;
                pending = 0;
                let index = counts.len();
                let rows = self
                    .execute(&statement.sql, statement.params)
                    .await
                    .map_err(|source| BatchError::statement(index, source))?;
                counts.push(rows);
            } else {
                let sql = dialect::inline(Dialect::Sqlite, &statement.sql, &statement.params)
                    .map_err(|source| BatchError::statement(counts.len() + pending, source))?;
                script.push_str(&sql);
                script.push_str(";\n");
                pending += 1;
            }
        }
        self.run_batch_script(&mut script, &mut counts).await?;
        Ok(counts)
    }

    async fn begin_with(&mut self, statements: Vec<Statement>) -> Result<Vec<u64>, BatchError> {
        let mut batch = Vec::with_capacity(statements.len() + 1);
        batch.push(Statement::new("BEGIN IMMEDIATE", Vec::new()));
        batch.extend(statements);
        // One batch to SQLite; its first statement is the BEGIN.
        let mut counts = self.execute_batch(batch).await.map_err(|e| BatchError {
            at: match e.at {
                BatchStage::Statement(0) => BatchStage::Begin,
                BatchStage::Statement(i) => BatchStage::Statement(i - 1),
                other => other,
            },
            source: e.source,
        })?;
        counts.remove(0);
        Ok(counts)
    }

    async fn execute_batch_and_commit(
        &mut self,
        mut statements: Vec<Statement>,
    ) -> Result<Vec<u64>, BatchError> {
        // SQLite stops at a failing statement: when one fails, COMMIT is
        // not reached and the transaction stays open for the rollback, as
        // after a failed COMMIT (a busy database).
        let commit = statements.len();
        statements.push(Statement::new("COMMIT", Vec::new()));
        // One batch to SQLite; its last statement is the COMMIT.
        let mut counts = self
            .execute_batch(statements)
            .await
            .map_err(|e| BatchError {
                at: match e.at {
                    BatchStage::Statement(i) if i == commit => BatchStage::Commit,
                    other => other,
                },
                source: e.source,
            })?;
        counts.pop();
        Ok(counts)
    }

    async fn open_cursor(&mut self, sql: &str, params: Vec<Value>) -> Result<Cursor, DbError> {
        // A guest statement: the guard explains what it refused.
        let result: Result<Cursor, DbError> = async {
            self.next_cursor += 1;
            let name = Cursor::name_for(self.next_cursor);
            let create = CURSOR_TABLE.create(&name, sql);
            sqlx::query_with(AssertSqlSafe(create), arguments(params)?)
                .execute(&mut self.conn)
                .await?;
            let info = format!(
                "SELECT name FROM pragma_table_info({})",
                dialect::literal(Dialect::Sqlite, &Value::Text(name.clone()))?
            );
            let columns: Vec<String> = sqlx::query_scalar(AssertSqlSafe(info))
                .fetch_all(&mut self.conn)
                .await?;
            Ok(Cursor::new(name, columns))
        }
        .await;
        result.map_err(|e| self.guard.explain(e))
    }

    async fn cursor_next(
        &mut self,
        cursor: &mut Cursor,
        max: u32,
    ) -> Result<Vec<Vec<Value>>, DbError> {
        // A guest statement: the guard explains what it refused.
        let result: Result<Vec<Vec<Value>>, DbError> = async {
            let Some(limit) = cursor.batch_size(max) else {
                return Ok(Vec::new());
            };
            let rows = sqlx::query(AssertSqlSafe(CURSOR_TABLE.page(&cursor.name)))
                .bind(cursor.position)
                .bind(i64::from(limit))
                .fetch_all(&mut self.conn)
                .await?;
            let position = match rows.last() {
                Some(last) => last.try_get::<i64, _>(0)?,
                None => cursor.position,
            };
            cursor.record_batch(limit, rows.len(), position);
            rows.iter()
                .map(|r| decode_row(r, TempTableCursor::KEY_COLUMNS))
                .collect()
        }
        .await;
        result.map_err(|e| self.guard.explain(e))
    }

    async fn close_cursor(&mut self, cursor: Cursor) -> Result<(), DbError> {
        // A guest statement: the guard explains what it refused.
        let result: Result<(), DbError> =
            async { self.run(&CURSOR_TABLE.drop(&cursor.name)).await }.await;
        result.map_err(|e| self.guard.explain(e))
    }

    fn canceller(&self) -> Option<std::sync::Arc<dyn Canceller>> {
        Some(self.deadline.canceller())
    }
}

/// The run lock on SQLite: an exclusive OS lock on a file beside the
/// database (`<db>.<name>.lock`). SQLite's own locks belong to connections
/// and would block the very connection that migrates; a file lock is held
/// apart from it, is released by the OS if the process dies, and its content
/// says who holds it. An in-memory database has no other runner to exclude.
pub struct FileLock {
    _file: Option<std::fs::File>,
}

#[async_trait]
impl RunLock for FileLock {
    async fn release(self: Box<Self>) -> Result<(), DbError> {
        // Dropping the file releases the lock; the file itself stays, so a
        // waiting runner never sees it vanish between open and lock.
        Ok(())
    }
}

const LOCK_POLL: Duration = Duration::from_millis(25);

pub async fn lock(url: &str, name: &str, timeout: Duration) -> Result<FileLock, LockError> {
    let options = SqliteConnectOptions::from_str(url).map_err(|source| ConnectError::Failed {
        url: super::redact_url(url),
        source,
    })?;
    let db = options.get_filename();
    let db_name = db.to_string_lossy();
    // `sqlite::memory:` is private to its connection: nothing to lock (sqlx
    // names it `file:sqlx-in-memory-N`, which is no file of ours either).
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default();
    if db_name.is_empty()
        || db_name == ":memory:"
        || path == ":memory:"
        || url.contains("mode=memory")
    {
        return Ok(FileLock { _file: None });
    }
    let path = std::path::PathBuf::from(format!("{db_name}.{name}.lock"));
    let target = path.display().to_string();
    let failed = |e: std::io::Error| LockError::Failed {
        target: target.clone(),
        source: DbError::new(e.to_string()),
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(failed)?;
    let started = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < timeout => {
                tokio::time::sleep(LOCK_POLL).await;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty());
                return Err(LockError::Timeout {
                    target,
                    waited: started.elapsed(),
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(failed(e)),
        }
    }
    // Say who holds the lock, for whoever waits on it.
    use std::io::Write;
    let holder = format!(
        "aludel process {} of user {}",
        std::process::id(),
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    let mut writer = &file;
    if file.set_len(0).is_ok() {
        let _ = writer.write_all(holder.as_bytes());
    }
    Ok(FileLock { _file: Some(file) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(id: i64) -> Statement {
        Statement::new("INSERT INTO t (id) VALUES (?)", vec![Value::Integer(id)])
    }

    async fn database() -> Box<dyn Connection> {
        let mut conn = super::super::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite opens");
        conn.execute_script("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .await
            .expect("the table is made");
        conn
    }

    /// Where a batch sent to the empty table `t` stopped.
    async fn stage(conn: &mut dyn Connection, commits: bool, ids: &[i64]) -> BatchStage {
        let batch = ids.iter().map(|&id| insert(id)).collect();
        let result = if commits {
            conn.execute_batch_and_commit(batch).await
        } else {
            conn.begin_with(batch).await
        };
        let stage = result.expect_err("the batch fails").at;
        conn.rollback().await.expect("rolls back");
        stage
    }

    #[tokio::test]
    async fn a_batch_names_its_begin_its_statement_or_its_commit_not_a_shifted_index() {
        let mut conn = database().await;
        let conn = conn.as_mut();
        // A duplicate key: the second statement, in either kind of batch.
        assert_eq!(stage(conn, false, &[1, 1]).await, BatchStage::Statement(1));
        conn.begin().await.expect("begins");
        assert_eq!(stage(conn, true, &[2, 2]).await, BatchStage::Statement(1));
        // A BEGIN inside an open transaction is refused.
        conn.begin().await.expect("begins");
        assert_eq!(stage(conn, false, &[3]).await, BatchStage::Begin);
        // With no transaction open, the COMMIT is what fails.
        assert_eq!(stage(conn, true, &[4]).await, BatchStage::Commit);
    }

    #[tokio::test]
    async fn execute_many_names_a_row_of_the_wrong_width_and_refuses_sql_without_a_statement() {
        let mut conn = database().await;
        let rows = vec![
            vec![Value::Integer(1)],
            vec![Value::Integer(2), Value::Integer(3)],
        ];
        let e = conn
            .execute_many("INSERT INTO t (id) VALUES (?)", rows)
            .await
            .expect_err("a row of two values for one placeholder");
        assert_eq!(
            e.message,
            "row 2 of 2 of execute-many: the statement takes 1 parameters and the row has 2"
        );
        let e = conn
            .execute_many("-- nothing\n", vec![Vec::new()])
            .await
            .expect_err("no statement");
        assert!(e.message.contains("was given no statement"), "{e}");
    }

    async fn count(conn: &mut dyn Connection) -> RowSet {
        conn.query("SELECT count(*) FROM t", Vec::new())
            .await
            .expect("the count runs")
    }

    #[tokio::test]
    async fn guest_statements_cannot_end_the_transaction_through_any_call() {
        let mut conn = database().await;
        let conn = conn.as_mut();
        conn.begin().await.expect("begins");
        conn.execute("INSERT INTO t (id) VALUES (1)", Vec::new())
            .await
            .expect("inserts");
        conn.guest_statements(true).await.expect("guard on");
        for sql in [
            "COMMIT",
            "END",
            "ROLLBACK",
            "BEGIN",
            "SAVEPOINT s",
            "RELEASE s",
        ] {
            let e = conn.execute(sql, Vec::new()).await.expect_err(sql);
            assert!(e.message.contains("cannot end or restart"), "{sql}: {e}");
            let e = conn.execute_script(sql).await.expect_err(sql);
            assert!(
                e.message.contains("was refused (not authorized)"),
                "{sql}: {e}"
            );
            conn.query(sql, Vec::new()).await.expect_err(sql);
            conn.execute_many(sql, vec![Vec::new()])
                .await
                .expect_err(sql);
            conn.open_cursor(sql, Vec::new()).await.expect_err(sql);
        }
        let e = conn
            .execute_script("ATTACH ':memory:' AS x")
            .await
            .expect_err("attach");
        assert!(e.message.contains("cannot attach files"), "{e}");
        // What a revision does every day is allowed.
        conn.execute_script(
            "CREATE TABLE u (x INTEGER);\n\
             CREATE TRIGGER u_t AFTER INSERT ON u BEGIN INSERT INTO t (id) VALUES (NEW.x); END;\n\
             INSERT INTO u (x) VALUES (2);",
        )
        .await
        .expect("DDL, DML and a trigger run");
        let mut cursor = conn
            .open_cursor("SELECT id FROM t", Vec::new())
            .await
            .expect("a cursor opens");
        assert_eq!(
            conn.cursor_next(&mut cursor, 10)
                .await
                .expect("reads")
                .len(),
            2
        );
        conn.close_cursor(cursor).await.expect("closes");
        conn.guest_statements(false).await.expect("guard off");

        // Still in the host's transaction: its rollback undoes everything.
        conn.rollback().await.expect("rolls back");
        assert_eq!(count(conn).await.rows, vec![vec![Value::Integer(0)]]);
        conn.execute_script("ATTACH ':memory:' AS x; DETACH x")
            .await
            .expect("the host itself may attach");
    }

    #[tokio::test]
    async fn the_hosts_own_statements_work_even_if_the_guard_was_left_on() {
        let mut conn = database().await;
        let conn = conn.as_mut();
        conn.guest_statements(true).await.expect("guard on");
        conn.begin().await.expect("begin switches the guard off");
        conn.guest_statements(true).await.expect("guard on");
        conn.execute_batch_and_commit(vec![insert(1)])
            .await
            .expect("the batch commits");
        conn.guest_statements(true).await.expect("guard on");
        conn.begin_with(vec![insert(2)]).await.expect("begins");
        conn.guest_statements(true).await.expect("guard on");
        conn.rollback().await.expect("rolls back");
        assert_eq!(count(conn).await.rows, vec![vec![Value::Integer(1)]]);
    }

    #[tokio::test]
    async fn guest_statements_cannot_load_an_extension_or_reach_a_file_by_any_other_way() {
        let mut conn = database().await;
        let conn = conn.as_mut();
        // Extension loading is off in this build whatever the guard says.
        // (Another text than below: sqlx would reuse this prepared statement,
        // which the guard, off, never judged.)
        let e = conn
            .query("SELECT load_extension('/tmp/other.so')", Vec::new())
            .await
            .expect_err("load_extension with the guard off");
        assert!(e.message.contains("not authorized"), "{e}");
        let compiled: Vec<String> = conn
            .query("PRAGMA compile_options", Vec::new())
            .await
            .expect("compile options")
            .rows
            .into_iter()
            .map(|r| format!("{r:?}"))
            .collect();
        assert!(
            !compiled.iter().any(|o| o.contains("ENABLE_DBPAGE_VTAB")),
            "{compiled:?}"
        );
        conn.guest_statements(true).await.expect("guard on");
        for sql in [
            "SELECT load_extension('/tmp/nosuch.so')",
            "SELECT LOAD_EXTENSION('/tmp/nosuch.so', 'entry')",
        ] {
            let e = conn.query(sql, Vec::new()).await.expect_err(sql);
            assert!(e.message.contains("load_extension() was refused"), "{e}");
            assert!(e.message.contains("cannot load extensions"), "{e}");
        }
        for sql in [
            "PRAGMA temp_store_directory = '/tmp'",
            "PRAGMA TEMP_STORE_DIRECTORY",
            "PRAGMA main.data_store_directory = '/tmp'",
        ] {
            let e = conn.execute_script(sql).await.expect_err(sql);
            let refused = e.message.to_lowercase();
            assert!(refused.contains("_directory was refused"), "{sql}: {e}");
        }
        // The shell's file functions and the raw-page table are not there.
        for sql in [
            "SELECT readfile('/etc/passwd')",
            "SELECT writefile('/tmp/aludel-guard-probe', 'x')",
            "SELECT edit('x')",
        ] {
            let e = conn.query(sql, Vec::new()).await.expect_err(sql);
            assert!(e.message.contains("no such function"), "{sql}: {e}");
        }
        let e = conn
            .query("SELECT * FROM sqlite_dbpage", Vec::new())
            .await
            .expect_err("sqlite_dbpage");
        assert!(e.message.contains("no such table"), "{e}");
        // A revision's own functions and pragmas still run.
        conn.query("SELECT lower('A'), json('[1]')", Vec::new())
            .await
            .expect("functions run");
        conn.execute_script("PRAGMA foreign_keys = ON")
            .await
            .expect("a pragma runs");
        conn.guest_statements(false).await.expect("guard off");
    }

    #[tokio::test]
    async fn guest_statements_may_read_aludels_tables_but_never_change_or_shadow_them() {
        let mut conn = database().await;
        conn.execute_script("CREATE TABLE aludel_version (version_num VARCHAR(32))")
            .await
            .expect("the host makes its table");
        // The host prepares (and would have cached) a write of its own.
        let host_write = "DELETE FROM aludel_version WHERE version_num = ?";
        conn.execute(host_write, vec![Value::Text("x".into())])
            .await
            .expect("the host writes");
        conn.protect_tables(&["aludel_version".to_string()]);
        conn.guest_statements(true).await.expect("on");
        conn.query("SELECT version_num FROM aludel_version", Vec::new())
            .await
            .expect("a revision may read aludel's tables");
        let refused = [
            host_write,
            "INSERT INTO aludel_version VALUES ('x')",
            "UPDATE ALUDEL_VERSION SET version_num = 'y'",
            "DROP TABLE aludel_version",
            "ALTER TABLE aludel_version RENAME TO v2",
            "CREATE TEMP TABLE aludel_version (version_num TEXT)",
            "CREATE TEMP TRIGGER keep_out BEFORE INSERT ON main.aludel_version \
             BEGIN SELECT RAISE(IGNORE); END",
            "CREATE INDEX aludel_by_num ON aludel_version (version_num)",
            "PRAGMA writable_schema = ON",
            "PRAGMA journal_mode = OFF",
        ];
        for sql in refused {
            let params = if sql.contains('?') {
                vec![Value::Text("x".into())]
            } else {
                Vec::new()
            };
            let err = conn.execute(sql, params).await.expect_err(sql);
            assert!(
                err.message.contains("was refused"),
                "{sql}: {}",
                err.message
            );
        }
        // Through a trigger of the revision's own table, refused when the
        // statement that fires it is prepared.
        conn.execute_script(
            "CREATE TRIGGER fires AFTER INSERT ON t BEGIN DELETE FROM aludel_version; END",
        )
        .await
        .expect("a trigger on its own table is the revision's business");
        let err = conn
            .execute("INSERT INTO t (id) VALUES (1)", Vec::new())
            .await
            .expect_err("the trigger's DELETE is refused");
        assert!(
            err.message.contains("DELETE FROM aludel_version"),
            "{}",
            err.message
        );
        conn.guest_statements(false).await.expect("off");
    }
}
