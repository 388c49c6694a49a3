//! The database, brokered by the host.
//!
//! Every statement runs inside the revision's transaction. Placeholders are
//! the database's own (`?` on SQLite and MySQL, `$1`, `$2`, ... on
//! PostgreSQL); the host never rewrites SQL. A statement that fails makes the
//! whole revision roll back, even if the revision ignores the error.

use std::sync::Arc;

pub use crate::batches::{Batches, batches};
use crate::bindings::aludel::migration::database as raw;
use crate::{Error, Result, Row, Rows, Value};

/// Which database the revision runs against.
pub use crate::bindings::aludel::migration::types::Dialect;

/// How many rows a [`Cursor`] asks for at a time when used as an iterator:
/// large enough that the host round trip does not show, small enough that a
/// wide row does not make the batch big.
const ITER_BATCH: u32 = 1000;

impl Dialect {
    /// The placeholder for the `n`th parameter (counting from 1): `?` on
    /// SQLite and MySQL, `$n` on PostgreSQL.
    ///
    /// ```no_run
    /// use aludel_sdk::db;
    ///
    /// let d = db::dialect();
    /// let sql = format!("UPDATE users SET name = {} WHERE id = {}", d.placeholder(1), d.placeholder(2));
    /// ```
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Sqlite | Dialect::Mysql => "?".to_owned(),
            Dialect::Postgresql => format!("${n}"),
        }
    }

    /// The dialect's name in lower case: `sqlite`, `postgresql` or `mysql`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgresql => "postgresql",
            Dialect::Mysql => "mysql",
        }
    }
}

/// The database this run talks to.
pub fn dialect() -> Dialect {
    raw::get_dialect()
}

/// Runs one statement and returns the number of rows it changed.
pub fn execute(sql: &str, params: &[Value]) -> Result<u64> {
    raw::execute(sql, params).map_err(Error::from_db)
}

/// Runs one statement and returns every row it produced. Use [`cursor`] for
/// results too large to hold at once.
pub fn query(sql: &str, params: &[Value]) -> Result<Rows> {
    let set = raw::query(sql, params).map_err(Error::from_db)?;
    Ok(Rows::new(set.columns.into(), set.rows))
}

/// Opens a cursor over the rows of one statement. The cursor sees the rows
/// as they were when it was opened; the revision may write while it is open.
pub fn cursor(sql: &str, params: &[Value]) -> Result<Cursor> {
    let inner = raw::open_cursor(sql, params).map_err(Error::from_db)?;
    let columns: Arc<[String]> = inner.columns().into();
    Ok(Cursor {
        inner,
        columns,
        buffered: Vec::new().into_iter(),
        done: false,
    })
}

/// Runs one statement once for each list of parameters, in order, and
/// returns the total number of rows changed.
pub fn execute_many(sql: &str, rows: &[Vec<Value>]) -> Result<u64> {
    raw::execute_many(sql, rows).map_err(Error::from_db)
}

/// Runs SQL text that may hold several statements, split by the database's
/// own parser. Takes no parameters.
pub fn execute_script(sql: &str) -> Result<()> {
    raw::execute_script(sql).map_err(Error::from_db)
}

/// A result read a batch at a time, so that neither the guest nor the host
/// holds more than one batch of rows.
///
/// Read it with [`Cursor::next_batch`], or iterate over it for one
/// `Result<Row>` at a time (it then fetches 1000 rows per batch):
///
/// ```no_run
/// # fn main() -> aludel_sdk::Result<()> {
/// use aludel_sdk::db;
///
/// let mut cursor = db::cursor("SELECT id FROM events", &[])?;
/// while let Some(batch) = cursor.next_batch(5000)? {
///     for row in &batch {
///         let _id: i64 = row.get(0)?;
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Cursor {
    inner: raw::Cursor,
    columns: Arc<[String]>,
    buffered: std::vec::IntoIter<Vec<Value>>,
    done: bool,
}

impl Cursor {
    /// The column names of the result.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Up to `max_rows` more rows, or `None` once the cursor is exhausted.
    /// The host caps a batch at 10,000 rows and treats 0 as 1.
    ///
    /// Rows an iteration has already fetched but not yet yielded come
    /// first, so mixing the two ways of reading loses nothing.
    pub fn next_batch(&mut self, max_rows: u32) -> Result<Option<Rows>> {
        let limit = usize::try_from(max_rows.max(1)).unwrap_or(usize::MAX);
        let pending: Vec<Vec<Value>> = self.buffered.by_ref().take(limit).collect();
        if !pending.is_empty() {
            return Ok(Some(Rows::new(Arc::clone(&self.columns), pending)));
        }
        if self.done {
            return Ok(None);
        }
        let rows = self.inner.next(max_rows).map_err(Error::from_db)?;
        if rows.is_empty() {
            self.done = true;
            return Ok(None);
        }
        Ok(Some(Rows::new(Arc::clone(&self.columns), rows)))
    }
}

impl Iterator for Cursor {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(values) = self.buffered.next() {
                return Some(Ok(Row::new(Arc::clone(&self.columns), values)));
            }
            if self.done {
                return None;
            }
            match self.inner.next(ITER_BATCH) {
                Ok(rows) if rows.is_empty() => self.done = true,
                Ok(rows) => self.buffered = rows.into_iter(),
                Err(e) => {
                    // A failed statement has rolled the revision back:
                    // yielding the error once and then ending keeps a
                    // `for` loop from spinning on it.
                    self.done = true;
                    return Some(Err(Error::from_db(e)));
                }
            }
        }
    }
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("columns", &self.columns)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
