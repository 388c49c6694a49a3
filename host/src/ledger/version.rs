//! The version table's changes in portable SQL (as [`super::failed`] and
//! [`super::history`]): one statement text per change serves every backend,
//! and the changes of a revision travel to the database in one batch with
//! its audit row (see [`Connection::execute_batch`](crate::db::Connection::execute_batch)).
//!
//! Creating and reading the table stay with each backend: they know their
//! own catalogue, and cache what they learnt of it.

use crate::db::dialect::{op, placeholders, quote};
use crate::db::{DbError, Dialect, Statement, Value};
use crate::graph::VersionChange;

/// One change to the rows of the version table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadChange<'a> {
    Insert(&'a str),
    Delete(&'a str),
    Update { from: &'a str, to: &'a str },
}

impl HeadChange<'_> {
    /// The statement that makes this change. `online`, its comparison is
    /// PostgreSQL's own by name (see `dialect::op`): it runs after a
    /// revision, on whatever the revision created. Offline it is printed
    /// for a DBA to read, as Alembic prints it.
    pub fn statement(self, dialect: Dialect, table: &str, online: bool) -> Statement {
        let table = quote(dialect, table);
        let p = placeholders(dialect, 2);
        let text = |s: &str| Value::Text(s.to_string());
        let eq = if online {
            op(dialect, "=")
        } else {
            "=".to_string()
        };
        match self {
            HeadChange::Insert(id) => Statement::new(
                format!("INSERT INTO {table} (version_num) VALUES ({})", p[0]),
                vec![text(id)],
            ),
            HeadChange::Delete(id) => Statement::new(
                format!("DELETE FROM {table} WHERE version_num {eq} {}", p[0]),
                vec![text(id)],
            ),
            HeadChange::Update { from, to } => Statement::new(
                format!(
                    "UPDATE {table} SET version_num = {} WHERE version_num {eq} {}",
                    p[0], p[1]
                ),
                vec![text(to), text(from)],
            ),
        }
    }

    /// Checks the rows the statement changed. A delete or an update must
    /// find the row the plan was made from: anything else means another
    /// runner moved the table under this one. (A second insert of the same
    /// id fails on the primary key by itself.)
    pub fn check(self, table: &str, rows: u64) -> Result<(), DbError> {
        let id = match self {
            HeadChange::Insert(_) => return Ok(()),
            HeadChange::Delete(id) | HeadChange::Update { from: id, .. } => id,
        };
        if rows == 1 {
            Ok(())
        } else {
            Err(DbError::new(format!(
                "expected revision {id} in {table}, found {rows} rows: \
                 another runner changed the version table during this run"
            )))
        }
    }
}

/// The rows of the version table a step's `change` touches, in order.
pub fn head_changes(change: &VersionChange) -> Vec<HeadChange<'_>> {
    match change {
        VersionChange::Insert { id } => vec![HeadChange::Insert(id)],
        VersionChange::Delete { id } => vec![HeadChange::Delete(id)],
        VersionChange::Update { from, to } => vec![HeadChange::Update { from, to }],
        VersionChange::Merge {
            delete,
            update_from,
            to,
        } => delete
            .iter()
            .map(|id| HeadChange::Delete(id))
            .chain([HeadChange::Update {
                from: update_from,
                to,
            }])
            .collect(),
        VersionChange::Unmerge { from, to } => match to.split_first() {
            None => vec![HeadChange::Delete(from)],
            Some((first, rest)) => [HeadChange::Update { from, to: first }]
                .into_iter()
                .chain(rest.iter().map(|id| HeadChange::Insert(id)))
                .collect(),
        },
    }
}

/// Empties the version table (`stamp --purge`).
pub fn purge(dialect: Dialect, table: &str) -> Statement {
    Statement::new(format!("DELETE FROM {}", quote(dialect, table)), Vec::new())
}

/// `CREATE TABLE IF NOT EXISTS` in the shape of Alembic's `alembic_version`,
/// so the table reads the same; its key constraint is named after the bare
/// table name (`<table>_pkc`), as Alembic names it.
pub fn create(dialect: Dialect, table: &str) -> String {
    let bare = table.rsplit('.').next().unwrap_or(table);
    format!(
        "CREATE TABLE IF NOT EXISTS {} (version_num VARCHAR(32) NOT NULL, \
         CONSTRAINT {} PRIMARY KEY (version_num))",
        quote(dialect, table),
        quote(dialect, &format!("{bare}_pkc"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_change_is_one_statement_in_the_dialects_own_placeholders() {
        let update = HeadChange::Update { from: "a", to: "b" };
        let pg = update.statement(Dialect::Postgresql, "meta.versions", true);
        assert_eq!(
            pg.sql,
            "UPDATE \"meta\".\"versions\" SET version_num = $1 \
             WHERE version_num OPERATOR(pg_catalog.=) $2"
        );
        assert_eq!(
            pg.params,
            vec![Value::Text("b".into()), Value::Text("a".into())]
        );
        let my = HeadChange::Insert("a").statement(Dialect::Mysql, "v", true);
        assert_eq!(my.sql, "INSERT INTO `v` (version_num) VALUES (?)");
    }

    #[test]
    fn a_delete_or_update_that_finds_no_row_names_the_revision() {
        let err = HeadChange::Delete("abc")
            .check("aludel_version", 0)
            .unwrap_err();
        assert!(
            err.message
                .contains("expected revision abc in aludel_version")
        );
        assert!(HeadChange::Insert("abc").check("v", 0).is_ok());
        assert!(
            HeadChange::Update { from: "a", to: "b" }
                .check("v", 1)
                .is_ok()
        );
    }

    #[test]
    fn the_key_constraint_is_named_after_the_bare_table() {
        assert_eq!(
            create(Dialect::Postgresql, "meta.v"),
            "CREATE TABLE IF NOT EXISTS \"meta\".\"v\" (version_num VARCHAR(32) NOT NULL, \
             CONSTRAINT \"v_pkc\" PRIMARY KEY (version_num))"
        );
    }
}
