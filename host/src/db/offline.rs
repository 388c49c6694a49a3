//! Offline mode (`--sql`): a [`Connection`] that runs nothing and records
//! the SQL a run would execute, in the target dialect, with parameters
//! written as literals, so that the output can be reviewed and run by a DBA
//! with psql, mariadb or sqlite3.
//!
//! The version table's heads are the starting heads the operator gives
//! (`FROM:TO`), as in Alembic's offline mode, and the ledger's to answer
//! (`Ledger::offline`); the run plans every step from them and only records
//! the changes, as SQL. A revision that needs
//! the result of a query cannot run offline: `query` and `open-cursor` fail
//! with an error that says so.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Connection, Cursor, DbError, Dialect, RowSet, Value};

// Literals are SQL spelling, shared with the SQLite backend's batches; they
// stay reachable here, where offline output made them public.
pub use super::dialect::{inline, literal};

/// Where the recorded SQL goes; shared with the caller, who prints it when
/// the run has succeeded.
#[derive(Clone, Default)]
pub struct Script(Arc<Mutex<String>>);

impl Script {
    pub fn text(&self) -> String {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn statement(&self, sql: &str) {
        let sql = sql.trim();
        if sql.is_empty() {
            return;
        }
        let mut out = self.lock();
        out.push_str(sql);
        if !sql.ends_with(';') {
            out.push(';');
        }
        out.push_str("\n\n");
    }

    /// A `-- comment` line, e.g. which revision the statements below belong to.
    pub fn comment(&self, text: &str) {
        let mut out = self.lock();
        for line in text.lines() {
            let _ = writeln!(out, "-- {line}");
        }
        out.push('\n');
    }
}

pub struct Recorder {
    dialect: Dialect,
    script: Script,
}

impl Recorder {
    /// A recorder for `dialect` writing to `script`.
    pub fn new(dialect: Dialect, script: Script) -> Self {
        Recorder { dialect, script }
    }

    fn offline_error(what: &str) -> DbError {
        DbError::new(format!(
            "offline mode (--sql): {what} needs an answer from the database, which an offline run \
             cannot give; run this revision online, or make it skip the read when ctx.offline is set"
        ))
    }
}

#[async_trait]
impl Connection for Recorder {
    fn dialect(&self) -> Dialect {
        self.dialect
    }

    fn transactional_ddl(&self) -> bool {
        self.dialect != Dialect::Mysql
    }

    async fn begin(&mut self) -> Result<(), DbError> {
        self.script.statement(match self.dialect {
            Dialect::Mysql => "START TRANSACTION",
            _ => "BEGIN",
        });
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), DbError> {
        self.script.statement("COMMIT");
        Ok(())
    }

    async fn rollback(&mut self) -> Result<(), DbError> {
        self.script.statement("ROLLBACK");
        Ok(())
    }

    async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, DbError> {
        self.script.statement(&inline(self.dialect, sql, &params)?);
        Ok(0)
    }

    async fn query(&mut self, _sql: &str, _params: Vec<Value>) -> Result<RowSet, DbError> {
        Err(Self::offline_error("a query"))
    }

    async fn execute_many(&mut self, sql: &str, rows: Vec<Vec<Value>>) -> Result<u64, DbError> {
        for params in rows {
            self.script.statement(&inline(self.dialect, sql, &params)?);
        }
        Ok(0)
    }

    async fn execute_script(&mut self, sql: &str) -> Result<u64, DbError> {
        self.script.statement(sql);
        Ok(0)
    }

    async fn open_cursor(&mut self, _sql: &str, _params: Vec<Value>) -> Result<Cursor, DbError> {
        Err(Self::offline_error("a cursor"))
    }

    async fn cursor_next(
        &mut self,
        _cursor: &mut Cursor,
        _max: u32,
    ) -> Result<Vec<Vec<Value>>, DbError> {
        Err(Self::offline_error("a cursor"))
    }

    async fn close_cursor(&mut self, _cursor: Cursor) -> Result<(), DbError> {
        Ok(())
    }
}
