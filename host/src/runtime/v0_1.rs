//! `aludel:migration@0.1.0`, served over the current implementation: a
//! component built against the frozen package runs unchanged. Its types are
//! the current ones (bindings.rs points them there with `with`), so every
//! import is one call into host.rs's; a cursor is the same handle in both,
//! and the log level, an enum of its own, is the only conversion.

use wasmtime::component::Resource;

use wasmtime::component::{HasSelf, Linker};

use super::bindings::{database, log, progress, types, v0_1};
use super::host::{CursorHandle, HostState};

/// Links 0.1.0's imports beside the current ones. Its `types` interface is
/// the current module (bindings.rs), whose own `add_to_linker` would define
/// the 0.2.0 instance a second time: 0.1.0's name is defined here, empty,
/// as a types-only interface is.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.instance("aludel:migration/types@0.1.0")?;
    v0_1::database::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    v0_1::log::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    v0_1::progress::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

impl v0_1::database::Host for HostState {
    async fn get_dialect(&mut self) -> wasmtime::Result<types::Dialect> {
        database::Host::get_dialect(self).await
    }

    async fn execute(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> wasmtime::Result<Result<u64, types::DbError>> {
        database::Host::execute(self, sql, params).await
    }

    async fn query(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> wasmtime::Result<Result<types::RowSet, types::DbError>> {
        database::Host::query(self, sql, params).await
    }

    async fn open_cursor(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> wasmtime::Result<Result<Resource<CursorHandle>, types::DbError>> {
        database::Host::open_cursor(self, sql, params).await
    }

    async fn execute_many(
        &mut self,
        sql: String,
        rows: Vec<Vec<types::Value>>,
    ) -> wasmtime::Result<Result<u64, types::DbError>> {
        database::Host::execute_many(self, sql, rows).await
    }

    async fn execute_script(
        &mut self,
        sql: String,
    ) -> wasmtime::Result<Result<(), types::DbError>> {
        database::Host::execute_script(self, sql).await
    }
}

impl v0_1::database::HostCursor for HostState {
    async fn columns(&mut self, cursor: Resource<CursorHandle>) -> wasmtime::Result<Vec<String>> {
        database::HostCursor::columns(self, cursor).await
    }

    async fn next(
        &mut self,
        cursor: Resource<CursorHandle>,
        max_rows: u32,
    ) -> wasmtime::Result<Result<Vec<Vec<types::Value>>, types::DbError>> {
        database::HostCursor::next(self, cursor, max_rows).await
    }

    async fn drop(&mut self, cursor: Resource<CursorHandle>) -> wasmtime::Result<()> {
        database::HostCursor::drop(self, cursor).await
    }
}

impl v0_1::log::Host for HostState {
    async fn log(&mut self, level: v0_1::log::Level, message: String) -> wasmtime::Result<()> {
        use v0_1::log::Level as Old;
        let level = match level {
            Old::Trace => log::Level::Trace,
            Old::Debug => log::Level::Debug,
            Old::Info => log::Level::Info,
            Old::Warn => log::Level::Warn,
            Old::Error => log::Level::Error,
        };
        log::Host::log(self, level, message).await
    }
}

impl v0_1::progress::Host for HostState {
    async fn report(&mut self, done: u64, total: Option<u64>) -> wasmtime::Result<()> {
        progress::Host::report(self, done, total).await
    }
}
