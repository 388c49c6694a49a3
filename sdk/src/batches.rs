//! Batched backfills: [`batches`] reads a large table a batch at a time, by
//! keyset pagination on a key column, and commits each batch the revision
//! has finished with, so that a run stopped by a failure or a crash resumes
//! after the last committed batch. For revisions with
//! `transaction = "batched"` in their revision.toml (docs/backfills.md).

use crate::bindings::aludel::migration::batches as raw;
use crate::{Error, Result, Rows, Value, db};

/// The rows of `sql` in batches of `size` rows (the revision's
/// `[batch] size` when `None`), in order of the column `key`, which must be
/// unique and among the query's columns. Each batch is committed, with its
/// last key as the position, when the next one is asked for; the last is
/// committed with the version-table change when `upgrade` returns `Ok`.
/// A run after a failure starts after the last committed position.
///
/// ```no_run
/// # fn main() -> aludel_sdk::Result<()> {
/// use aludel_sdk::{db, params};
///
/// for batch in db::batches("SELECT id, email FROM users", "id", None) {
///     let batch = batch?;
///     for row in &batch {
///         let email: String = row.get("email")?;
///         db::execute(
///             "UPDATE users SET email = ? WHERE id = ?",
///             &params![email.to_lowercase(), row.get::<i64>("id")?],
///         )?;
///     }
/// }
/// # Ok(()) }
/// ```
///
/// The host wraps the query as
/// `SELECT * FROM (<sql>) AS aludel_batch WHERE <key> > <position> ORDER BY <key> LIMIT <size>`
/// with the dialect's placeholder, so `key` is a column name as the outer
/// query sees it. Do not keep a cursor open across batches: each batch is
/// its own transaction.
pub fn batches(sql: &str, key: &str, size: Option<u32>) -> Batches {
    Batches {
        sql: sql.to_string(),
        key: key.to_string(),
        size: size.unwrap_or_else(raw::batch_size).max(1),
        position: raw::resume_position(),
        pending: None,
        done: false,
    }
}

/// The iterator [`batches`] returns.
#[derive(Debug)]
pub struct Batches {
    sql: String,
    key: String,
    size: u32,
    /// The key of the last row handed out (or resumed from).
    position: Option<Value>,
    /// Rows handed out and not yet committed.
    pending: Option<u64>,
    done: bool,
}

impl Batches {
    /// Commits the batch handed out last, if any.
    fn commit_pending(&mut self) -> Result<()> {
        if let (Some(rows), Some(position)) = (self.pending.take(), self.position.clone()) {
            raw::commit_batch(&position, rows).map_err(Error::from_db)?;
        }
        Ok(())
    }

    fn fetch(&mut self) -> Result<Option<Rows>> {
        self.commit_pending()?;
        let dialect = db::dialect();
        let (filter, params) = match &self.position {
            Some(p) => (
                format!(" WHERE {} > {}", self.key, dialect.placeholder(1)),
                vec![p.clone()],
            ),
            None => (String::new(), Vec::new()),
        };
        let sql = format!(
            "SELECT * FROM ({}) AS aludel_batch{filter} ORDER BY {} LIMIT {}",
            self.sql, self.key, self.size
        );
        let rows = db::query(&sql, &params)?;
        let Some(last) = rows.iter().last() else {
            return Ok(None);
        };
        let position = last.value(self.key.as_str()).cloned().ok_or_else(|| {
            Error::msg(format!(
                "db::batches: the query has no column {:?} to page by; its columns are {:?}",
                self.key,
                rows.columns()
            ))
        })?;
        self.position = Some(position);
        self.pending = Some(rows.len() as u64);
        Ok(Some(rows))
    }
}

impl Iterator for Batches {
    type Item = Result<Rows>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.fetch() {
            Ok(Some(rows)) => Some(Ok(rows)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
