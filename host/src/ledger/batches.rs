//! The positions of batched revisions (`transaction = "batched"`,
//! docs/backfills.md): one row per revision and direction in
//! `<version_table>_batches`, written in the transaction of each batch it
//! records, so that what it says was committed was committed. A row exists
//! while a batched revision has committed batches and has not finished:
//! the next run resumes after its position. The revision's final commit
//! deletes it together with the version-table change.
//!
//! Written with the portable statements of the [`Connection`] trait, as the
//! failed state is.

use crate::db::dialect::{is_missing_table, placeholders, quote, table_exists};
use crate::db::{Connection, DbError, Dialect, Statement, Value};
use crate::graph::Direction;

use super::history::{direction_text, parse_direction};
use super::{cell_text, own_rows};

/// Where a batched revision stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub revision: String,
    pub direction: Direction,
    /// The position its last committed batch gave (`commit-batch`).
    pub position: Value,
    /// Rows and batches committed so far, over every run.
    pub rows: u64,
    pub batches: u64,
    /// RFC 3339, UTC: when the last batch committed or the failure was noted.
    pub updated_at: String,
    /// Why the last run stopped, when it failed; none after a crash (or
    /// while a run is under way).
    pub failure: Option<String>,
}

/// The name of the table of positions for a version table.
pub fn table_for(version_table: &str) -> String {
    format!("{version_table}_batches")
}

/// Creates the table if it is missing. On MySQL this commits implicitly:
/// callers do it outside a revision's transaction.
pub async fn ensure_table(conn: &mut dyn Connection, version_table: &str) -> Result<(), DbError> {
    let dialect = conn.dialect();
    let text = match dialect {
        Dialect::Mysql => "MEDIUMTEXT",
        Dialect::Sqlite | Dialect::Postgresql => "TEXT",
    };
    conn.execute_script(&format!(
        "CREATE TABLE IF NOT EXISTS {} (\
         revision VARCHAR(32) NOT NULL, \
         direction VARCHAR(16) NOT NULL, \
         position {text} NOT NULL, \
         rows_done BIGINT NOT NULL, \
         batches BIGINT NOT NULL, \
         updated_at VARCHAR(40) NOT NULL, \
         failure {text}, \
         PRIMARY KEY (revision, direction))",
        quote(dialect, &table_for(version_table))
    ))
    .await
    .map(drop)
}

/// Every recorded position; none when the table does not exist. Reads only.
pub async fn list(
    conn: &mut dyn Connection,
    version_table: &str,
) -> Result<Vec<Position>, DbError> {
    let sql = format!(
        "SELECT revision, direction, position, rows_done, batches, updated_at, failure \
         FROM {} ORDER BY revision, direction",
        quote(conn.dialect(), &table_for(version_table))
    );
    Ok(own_rows(conn, &sql, Vec::new())
        .await?
        .into_iter()
        .filter_map(|row| {
            let text = |i: usize| cell_text(&row, i).unwrap_or_default();
            let count = |i: usize| text(i).parse::<u64>().unwrap_or(0);
            Some(Position {
                revision: text(0),
                direction: parse_direction(&text(1))?,
                position: position_from_json(&text(2))?,
                rows: count(3),
                batches: count(4),
                updated_at: text(5),
                failure: cell_text(&row, 6),
            })
        })
        .collect())
}

/// The position of `revision` in `direction`, if one is recorded.
pub async fn find(
    conn: &mut dyn Connection,
    version_table: &str,
    revision: &str,
    direction: Direction,
) -> Result<Option<Position>, DbError> {
    Ok(list(conn, version_table)
        .await?
        .into_iter()
        .find(|p| p.revision == revision && p.direction == direction))
}

/// The statements that record a committed batch, for the batch's own
/// transaction (the table exists).
pub fn record_statements(dialect: Dialect, version_table: &str, at: &Position) -> Vec<Statement> {
    let table = quote(dialect, &table_for(version_table));
    let p = placeholders(dialect, 6);
    vec![
        clear_statement(dialect, version_table, &at.revision, Some(at.direction)),
        Statement::new(
            format!(
                "INSERT INTO {table} \
                 (revision, direction, position, rows_done, batches, updated_at, failure) \
                 VALUES ({}, {}, {}, {}, {}, {}, NULL)",
                p[0], p[1], p[2], p[3], p[4], p[5]
            ),
            vec![
                Value::Text(at.revision.clone()),
                Value::Text(direction_text(Some(at.direction)).to_string()),
                Value::Text(position_to_json(&at.position)),
                Value::Integer(i64::try_from(at.rows).unwrap_or(i64::MAX)),
                Value::Integer(i64::try_from(at.batches).unwrap_or(i64::MAX)),
                Value::Text(at.updated_at.clone()),
            ],
        ),
    ]
}

/// The statement that forgets the position of `revision` (in `direction`,
/// or in both), for a batch (the table exists).
pub fn clear_statement(
    dialect: Dialect,
    version_table: &str,
    revision: &str,
    direction: Option<Direction>,
) -> Statement {
    let table = quote(dialect, &table_for(version_table));
    let p = placeholders(dialect, 2);
    match direction {
        Some(direction) => Statement::new(
            format!(
                "DELETE FROM {table} WHERE revision = {} AND direction = {}",
                p[0], p[1]
            ),
            vec![
                Value::Text(revision.to_string()),
                Value::Text(direction_text(Some(direction)).to_string()),
            ],
        ),
        None => Statement::new(
            format!("DELETE FROM {table} WHERE revision = {}", p[0]),
            vec![Value::Text(revision.to_string())],
        ),
    }
}

/// Notes why the run of `revision` stopped on its position row, if it has
/// one (a revision that failed in its first batch committed nothing and
/// has none). Outside any transaction: it must survive the rollback.
pub async fn note_failure(
    conn: &mut dyn Connection,
    version_table: &str,
    revision: &str,
    direction: Direction,
    error: &str,
    at: &str,
) -> Result<bool, DbError> {
    let dialect = conn.dialect();
    let p = placeholders(dialect, 4);
    let sql = format!(
        "UPDATE {} SET failure = {}, updated_at = {} WHERE revision = {} AND direction = {}",
        quote(dialect, &table_for(version_table)),
        p[0],
        p[1],
        p[2],
        p[3]
    );
    let params = vec![
        Value::Text(super::cap_error(error)),
        Value::Text(at.to_string()),
        Value::Text(revision.to_string()),
        Value::Text(direction_text(Some(direction)).to_string()),
    ];
    match conn.execute(&sql, params).await {
        Ok(n) => Ok(n > 0),
        Err(e) if is_missing_table(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Forgets every position of `revision` (`aludel resolve`): its next run
/// starts over. False when there was none.
pub async fn discard(
    conn: &mut dyn Connection,
    version_table: &str,
    revision: &str,
) -> Result<bool, DbError> {
    // Asked first rather than tolerated after: `resolve` runs this in its
    // transaction, which a missing table's error would abort on PostgreSQL.
    let exists = table_exists(conn.dialect(), &table_for(version_table));
    if conn
        .query(&exists.sql, exists.params)
        .await?
        .rows
        .is_empty()
    {
        return Ok(false);
    }
    let s = clear_statement(conn.dialect(), version_table, revision, None);
    match conn.execute(&s.sql, s.params).await {
        Ok(n) => Ok(n > 0),
        Err(e) if is_missing_table(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A position as JSON text, `{"integer":42}`: the value's case is kept, so
/// that a text key `"42"` resumes as text. A blob is its hex.
pub fn position_to_json(v: &Value) -> String {
    let (case, value) = match v {
        Value::Null => ("null", serde_json::Value::Null),
        Value::Boolean(b) => ("boolean", (*b).into()),
        Value::Integer(i) => ("integer", (*i).into()),
        Value::Float(f) => ("float", (*f).into()),
        Value::Text(s) => ("text", s.clone().into()),
        Value::Blob(b) => ("blob", hex::encode(b).into()),
        Value::Date(s) => ("date", s.clone().into()),
        Value::Time(s) => ("time", s.clone().into()),
        Value::Timestamp(s) => ("timestamp", s.clone().into()),
        Value::Timestamptz(s) => ("timestamptz", s.clone().into()),
        Value::Decimal(s) => ("decimal", s.clone().into()),
        Value::Json(s) => ("json", s.clone().into()),
        Value::Uuid(s) => ("uuid", s.clone().into()),
    };
    let mut object = serde_json::Map::new();
    object.insert(case.to_string(), value);
    serde_json::Value::Object(object).to_string()
}

/// The inverse of [`position_to_json`]; none for text it did not write.
pub fn position_from_json(text: &str) -> Option<Value> {
    let serde_json::Value::Object(object) = serde_json::from_str(text).ok()? else {
        return None;
    };
    let (case, value) = object.into_iter().next()?;
    let text = || value.as_str().map(str::to_string);
    Some(match case.as_str() {
        "null" => Value::Null,
        "boolean" => Value::Boolean(value.as_bool()?),
        "integer" => Value::Integer(value.as_i64()?),
        "float" => Value::Float(value.as_f64()?),
        "text" => Value::Text(text()?),
        "blob" => Value::Blob(hex::decode(text()?).ok()?),
        "date" => Value::Date(text()?),
        "time" => Value::Time(text()?),
        "timestamp" => Value::Timestamp(text()?),
        "timestamptz" => Value::Timestamptz(text()?),
        "decimal" => Value::Decimal(text()?),
        "json" => Value::Json(text()?),
        "uuid" => Value::Uuid(text()?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_reads_back_in_the_case_it_was_written_in() {
        for v in [
            Value::Integer(42),
            Value::Text("42".into()),
            Value::Blob(vec![0, 255]),
            Value::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
            Value::Null,
        ] {
            assert_eq!(position_from_json(&position_to_json(&v)), Some(v));
        }
        assert_eq!(position_from_json("{\"integer\":\"x\"}"), None);
        assert_eq!(position_from_json("not json"), None);
    }
}
