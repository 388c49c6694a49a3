//! What the host gives a guest: the `database` broker, `log` and `progress`.
//!
//! Each import is a thin wrapper over a private `*_impl` that first checks
//! the revision may still run statements (a failed statement fails the whole
//! revision), then calls the backend and counts what it did.

use std::collections::HashSet;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{database, log, progress, types};
use super::sandbox::Limits;
use crate::db::{self, Connection, DbError};

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

/// A guest's cursor, as kept in the store's resource table.
pub struct CursorHandle(db::Cursor);

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
}

/// The data of one revision's `Store`.
pub struct HostState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limits: Limits,
    pub(super) conn: Box<dyn Connection>,
    pub(super) revision: String,
    pub(super) failed: Option<FailedStatement>,
    pub(super) stats: Stats,
    pub(super) open_cursors: HashSet<u32>,
    /// Statements that changed something and succeeded, in order (capped).
    pub(super) writes: Vec<String>,
    pub(super) writes_untold: usize,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl From<DbError> for types::DbError {
    fn from(e: DbError) -> Self {
        types::DbError {
            message: e.message,
            code: e.code,
        }
    }
}

impl From<types::Value> for db::Value {
    fn from(v: types::Value) -> Self {
        use types::Value as W;
        match v {
            W::Null => db::Value::Null,
            W::Boolean(b) => db::Value::Boolean(b),
            W::Integer(i) => db::Value::Integer(i),
            W::Float(f) => db::Value::Float(f),
            W::Text(s) => db::Value::Text(s),
            W::Blob(b) => db::Value::Blob(b),
            W::Date(s) => db::Value::Date(s),
            W::Time(s) => db::Value::Time(s),
            W::Timestamp(s) => db::Value::Timestamp(s),
            W::Timestamptz(s) => db::Value::Timestamptz(s),
            W::Decimal(s) => db::Value::Decimal(s),
            W::Json(s) => db::Value::Json(s),
            W::Uuid(s) => db::Value::Uuid(s),
        }
    }
}

impl From<db::Value> for types::Value {
    fn from(v: db::Value) -> Self {
        use db::Value as D;
        match v {
            D::Null => types::Value::Null,
            D::Boolean(b) => types::Value::Boolean(b),
            D::Integer(i) => types::Value::Integer(i),
            D::Float(f) => types::Value::Float(f),
            D::Text(s) => types::Value::Text(s),
            D::Blob(b) => types::Value::Blob(b),
            D::Date(s) => types::Value::Date(s),
            D::Time(s) => types::Value::Time(s),
            D::Timestamp(s) => types::Value::Timestamp(s),
            D::Timestamptz(s) => types::Value::Timestamptz(s),
            D::Decimal(s) => types::Value::Decimal(s),
            D::Json(s) => types::Value::Json(s),
            D::Uuid(s) => types::Value::Uuid(s),
        }
    }
}

fn to_db(params: Vec<types::Value>) -> Vec<db::Value> {
    params.into_iter().map(Into::into).collect()
}

fn to_wit_rows(rows: Vec<Vec<db::Value>>) -> Vec<Vec<types::Value>> {
    rows.into_iter()
        .map(|r| r.into_iter().map(Into::into).collect())
        .collect()
}

impl HostState {
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

    /// The writes that succeeded, for a failure report.
    pub(super) fn take_writes(&mut self) -> Vec<String> {
        let mut writes = std::mem::take(&mut self.writes);
        if self.writes_untold > 0 {
            writes.push(format!("… and {} more", self.writes_untold));
        }
        writes
    }

    async fn execute_impl(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> Result<u64, DbError> {
        self.check_may_run()?;
        tracing::trace!(revision = %self.revision, "execute: {sql}");
        let result = self.conn.execute(&sql, to_db(params)).await;
        let n = self.record(&sql, result)?;
        self.stats.rows += n;
        self.remember_write(&sql);
        Ok(n)
    }

    async fn query_impl(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> Result<types::RowSet, DbError> {
        self.check_may_run()?;
        tracing::trace!(revision = %self.revision, "query: {sql}");
        let result = self.conn.query(&sql, to_db(params)).await;
        let set = self.record(&sql, result)?;
        Ok(types::RowSet {
            columns: set.columns,
            rows: to_wit_rows(set.rows),
        })
    }

    async fn execute_many_impl(
        &mut self,
        sql: String,
        rows: Vec<Vec<types::Value>>,
    ) -> Result<u64, DbError> {
        self.check_may_run()?;
        if rows.len() > MAX_MANY_ROWS {
            let e = DbError::new(format!(
                "execute-many was given {} parameter rows; the limit per call is {MAX_MANY_ROWS}: \
                 send them in batches",
                rows.len()
            ));
            return self.record(&sql, Err(e));
        }
        tracing::trace!(revision = %self.revision, rows = rows.len(), "execute-many: {sql}");
        let rows = rows.into_iter().map(to_db).collect();
        let result = self.conn.execute_many(&sql, rows).await;
        let n = self.record(&sql, result)?;
        self.stats.rows += n;
        self.remember_write(&sql);
        Ok(n)
    }

    async fn execute_script_impl(&mut self, sql: String) -> Result<(), DbError> {
        self.check_may_run()?;
        tracing::trace!(revision = %self.revision, "execute-script: {sql}");
        let result = self.conn.execute_script(&sql).await;
        if result.is_err() {
            // The database ran the script's statements one by one; those
            // before the failing one may stand where DDL is not transactional.
            self.remember_write(&format!("(possibly in part) {sql}"));
        }
        self.stats.rows += self.record(&sql, result)?;
        self.remember_write(&sql);
        Ok(())
    }

    async fn open_cursor_impl(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> Result<Resource<CursorHandle>, DbError> {
        self.check_may_run()?;
        if self.open_cursors.len() >= MAX_OPEN_CURSORS {
            let e = DbError::new(format!(
                "revision {} has {MAX_OPEN_CURSORS} cursors open, the most allowed: \
                 drop cursors it no longer reads",
                self.revision
            ));
            return self.record(&sql, Err(e));
        }
        tracing::trace!(revision = %self.revision, "open-cursor: {sql}");
        let result = self.conn.open_cursor(&sql, to_db(params)).await;
        let cursor = self.record(&sql, result)?;
        let resource = self
            .table
            .push(CursorHandle(cursor))
            .map_err(|e| DbError::new(format!("cannot hold another cursor: {e}")))?;
        self.open_cursors.insert(resource.rep());
        Ok(resource)
    }

    async fn cursor_next_impl(
        &mut self,
        cursor: &Resource<CursorHandle>,
        max_rows: u32,
    ) -> wasmtime::Result<Result<Vec<Vec<types::Value>>, DbError>> {
        if let Err(e) = self.check_may_run() {
            return Ok(Err(e));
        }
        let handle = self.table.get_mut(cursor)?;
        let result = self.conn.cursor_next(&mut handle.0, max_rows).await;
        let result = self.record("(cursor next)", result);
        Ok(result.map(to_wit_rows))
    }

    /// Closes the cursors a guest left open, so their temporary storage does
    /// not outlive the revision.
    pub(super) async fn close_leftover_cursors(&mut self) {
        for rep in std::mem::take(&mut self.open_cursors) {
            if let Ok(handle) = self.table.delete(Resource::<CursorHandle>::new_own(rep))
                && let Err(e) = self.conn.close_cursor(handle.0).await
            {
                tracing::debug!(revision = %self.revision, "closing a cursor failed: {e}");
            }
        }
    }
}

impl types::Host for HostState {}

impl database::Host for HostState {
    async fn get_dialect(&mut self) -> wasmtime::Result<types::Dialect> {
        Ok(match self.conn.dialect() {
            db::Dialect::Sqlite => types::Dialect::Sqlite,
            db::Dialect::Postgresql => types::Dialect::Postgresql,
            db::Dialect::Mysql => types::Dialect::Mysql,
        })
    }

    async fn execute(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> wasmtime::Result<Result<u64, types::DbError>> {
        Ok(self.execute_impl(sql, params).await.map_err(Into::into))
    }

    async fn query(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> wasmtime::Result<Result<types::RowSet, types::DbError>> {
        Ok(self.query_impl(sql, params).await.map_err(Into::into))
    }

    async fn open_cursor(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> wasmtime::Result<Result<Resource<CursorHandle>, types::DbError>> {
        Ok(self.open_cursor_impl(sql, params).await.map_err(Into::into))
    }

    async fn execute_many(
        &mut self,
        sql: String,
        rows: Vec<Vec<types::Value>>,
    ) -> wasmtime::Result<Result<u64, types::DbError>> {
        Ok(self.execute_many_impl(sql, rows).await.map_err(Into::into))
    }

    async fn execute_script(
        &mut self,
        sql: String,
    ) -> wasmtime::Result<Result<(), types::DbError>> {
        Ok(self.execute_script_impl(sql).await.map_err(Into::into))
    }
}

impl database::HostCursor for HostState {
    async fn columns(&mut self, cursor: Resource<CursorHandle>) -> wasmtime::Result<Vec<String>> {
        Ok(self.table.get(&cursor)?.0.columns().to_vec())
    }

    async fn next(
        &mut self,
        cursor: Resource<CursorHandle>,
        max_rows: u32,
    ) -> wasmtime::Result<Result<Vec<Vec<types::Value>>, types::DbError>> {
        Ok(self
            .cursor_next_impl(&cursor, max_rows)
            .await?
            .map_err(Into::into))
    }

    async fn drop(&mut self, cursor: Resource<CursorHandle>) -> wasmtime::Result<()> {
        self.open_cursors.remove(&cursor.rep());
        let handle = self.table.delete(cursor)?;
        if let Err(e) = self.conn.close_cursor(handle.0).await {
            tracing::debug!(revision = %self.revision, "closing a cursor failed: {e}");
        }
        Ok(())
    }
}

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let revision = &self.revision;
        match level {
            log::Level::Trace => tracing::trace!(target: "aludel::guest", %revision, "{message}"),
            log::Level::Debug => tracing::debug!(target: "aludel::guest", %revision, "{message}"),
            log::Level::Info => tracing::info!(target: "aludel::guest", %revision, "{message}"),
            log::Level::Warn => tracing::warn!(target: "aludel::guest", %revision, "{message}"),
            log::Level::Error => tracing::error!(target: "aludel::guest", %revision, "{message}"),
        }
        Ok(())
    }
}

impl progress::Host for HostState {
    async fn report(&mut self, done: u64, total: Option<u64>) -> wasmtime::Result<()> {
        match total {
            Some(total) => tracing::debug!(revision = %self.revision, "progress {done}/{total}"),
            None => tracing::debug!(revision = %self.revision, "progress {done}"),
        }
        Ok(())
    }
}
