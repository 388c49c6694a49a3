//! What the host gives a guest: the `database` interface over the
//! [`Broker`], `log` and `progress`. [`HostState`], the data of one
//! revision's `Store`, holds a broker beside the WASI context, and its WIT
//! imports only convert between the generated types and the host's own.

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{database, log, progress, types};
use super::broker::{Broker, CursorId, MAX_GUEST_ERROR};
use super::sandbox::{Limits, OutputBudget};
use crate::db::{self, DbError};

/// The guest's side of a cursor: a handle whose rep is the [`CursorId`] of
/// a cursor the broker holds. Nothing of it lives in the store's resource
/// table (see [`Broker`]), so it has no value of its own.
pub enum CursorHandle {}

impl CursorId {
    fn of(handle: &Resource<CursorHandle>) -> Self {
        CursorId(handle.rep())
    }

    fn into_handle(self) -> Resource<CursorHandle> {
        Resource::new_own(self.0)
    }
}

/// The data of one revision's `Store`: the broker, and what WASI and the
/// sandbox need. The resource table holds WASI's resources only.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limits: Limits,
    pub(super) broker: Broker,
    /// Shared with the revision's stdout and stderr: what `log` may forward.
    pub(super) output: OutputBudget,
    /// A batched revision's batches (`transaction = "batched"`).
    pub(super) batches: Option<super::batched::Batches>,
}

impl HostState {
    pub fn new(wasi: WasiCtx, limits: Limits, broker: Broker) -> Self {
        HostState {
            wasi,
            table: ResourceTable::new(),
            limits,
            broker,
            output: OutputBudget::default(),
            batches: None,
        }
    }
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
    /// The message is cut to [`MAX_GUEST_ERROR`] bytes: a database's error
    /// can quote a guest's whole statement or value back at it.
    fn from(e: DbError) -> Self {
        let mut message = e.message;
        if message.len() > MAX_GUEST_ERROR {
            let mut end = MAX_GUEST_ERROR;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str(" … (cut)");
        }
        types::DbError {
            message,
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

impl types::Host for HostState {}

impl database::Host for HostState {
    async fn get_dialect(&mut self) -> wasmtime::Result<types::Dialect> {
        Ok(match self.broker.dialect() {
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
        let result = self.broker.execute(&sql, to_db(params)).await;
        Ok(result.map_err(Into::into))
    }

    async fn query(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> wasmtime::Result<Result<types::RowSet, types::DbError>> {
        let result = self.broker.query(&sql, to_db(params)).await;
        Ok(result
            .map(|set| types::RowSet {
                columns: set.columns,
                rows: to_wit_rows(set.rows),
            })
            .map_err(Into::into))
    }

    async fn open_cursor(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> wasmtime::Result<Result<Resource<CursorHandle>, types::DbError>> {
        let result = self.broker.open_cursor(&sql, to_db(params)).await;
        Ok(result.map(CursorId::into_handle).map_err(Into::into))
    }

    async fn execute_many(
        &mut self,
        sql: String,
        rows: Vec<Vec<types::Value>>,
    ) -> wasmtime::Result<Result<u64, types::DbError>> {
        let rows = rows.into_iter().map(to_db).collect();
        let result = self.broker.execute_many(&sql, rows).await;
        Ok(result.map_err(Into::into))
    }

    async fn execute_script(
        &mut self,
        sql: String,
    ) -> wasmtime::Result<Result<(), types::DbError>> {
        Ok(self.broker.execute_script(&sql).await.map_err(Into::into))
    }
}

impl database::HostCursor for HostState {
    async fn columns(&mut self, cursor: Resource<CursorHandle>) -> wasmtime::Result<Vec<String>> {
        Ok(self.broker.cursor_columns(CursorId::of(&cursor))?.to_vec())
    }

    async fn next(
        &mut self,
        cursor: Resource<CursorHandle>,
        max_rows: u32,
    ) -> wasmtime::Result<Result<Vec<Vec<types::Value>>, types::DbError>> {
        let result = self
            .broker
            .cursor_next(CursorId::of(&cursor), max_rows)
            .await?;
        Ok(result.map(to_wit_rows).map_err(Into::into))
    }

    async fn drop(&mut self, cursor: Resource<CursorHandle>) -> wasmtime::Result<()> {
        Ok(self.broker.close_cursor(CursorId::of(&cursor)).await?)
    }
}

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        if !self.output.admit(message.len()) {
            return Ok(());
        }
        let revision = self.broker.revision();
        // The guest's text, on the operator's terminal: shown, not obeyed.
        let message = crate::escape::controls(&message);
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
        self.broker.progress().report(done, total);
        Ok(())
    }
}
