//! What the runtime puts in place of a connection it closed because a
//! revision's statement would not stop (see `runtime::stop_in_the_database`):
//! every call fails at once, saying so, instead of waiting behind that
//! statement. Closing the real connection is what ends the transaction:
//! the server rolls it back when it notices the client gone (PostgreSQL 14
//! and later within 2 s, `client_connection_check_interval`; MySQL when the
//! statement ends).

use async_trait::async_trait;

use super::{Connection, Cursor, DbError, Dialect, RowSet, Value};

/// The message every call on an abandoned connection fails with.
pub const MESSAGE: &str = "aludel closed this connection because a revision's statement did not \
                           stop when its time limit passed; the database rolls its transaction \
                           back when it notices";

/// A closed connection of `dialect`: see the module doc.
pub struct Abandoned {
    dialect: Dialect,
    transactional_ddl: bool,
}

impl Abandoned {
    /// Stands in for `conn`, which is dropped, and so closed.
    pub fn replacing(conn: Box<dyn Connection>) -> Self {
        let replacement = Abandoned {
            dialect: conn.dialect(),
            transactional_ddl: conn.transactional_ddl(),
        };
        drop(conn);
        replacement
    }
}

fn closed<T>() -> Result<T, DbError> {
    Err(DbError::new(MESSAGE))
}

#[async_trait]
impl Connection for Abandoned {
    fn dialect(&self) -> Dialect {
        self.dialect
    }

    fn transactional_ddl(&self) -> bool {
        self.transactional_ddl
    }

    async fn begin(&mut self) -> Result<(), DbError> {
        closed()
    }

    async fn commit(&mut self) -> Result<(), DbError> {
        closed()
    }

    async fn rollback(&mut self) -> Result<(), DbError> {
        closed()
    }

    async fn execute(&mut self, _sql: &str, _params: Vec<Value>) -> Result<u64, DbError> {
        closed()
    }

    async fn query(&mut self, _sql: &str, _params: Vec<Value>) -> Result<RowSet, DbError> {
        closed()
    }

    async fn execute_many(&mut self, _sql: &str, _rows: Vec<Vec<Value>>) -> Result<u64, DbError> {
        closed()
    }

    async fn execute_script(&mut self, _sql: &str) -> Result<u64, DbError> {
        closed()
    }

    async fn open_cursor(&mut self, _sql: &str, _params: Vec<Value>) -> Result<Cursor, DbError> {
        closed()
    }

    async fn cursor_next(
        &mut self,
        _cursor: &mut Cursor,
        _max: u32,
    ) -> Result<Vec<Vec<Value>>, DbError> {
        closed()
    }

    async fn close_cursor(&mut self, _cursor: Cursor) -> Result<(), DbError> {
        closed()
    }

    async fn transaction_ended(&mut self) -> Result<bool, DbError> {
        closed()
    }
}
