//! Offline mode (`--sql`): a [`Connection`] that runs nothing and records
//! the SQL a run would execute, in the target dialect, with parameters
//! written as literals, so that the output can be reviewed and run by a DBA
//! with psql, mariadb or sqlite3.
//!
//! The version table's heads are the starting heads the operator gives
//! (`FROM:TO`), as in Alembic's offline mode; the run plans every step from
//! them and only records the changes, as SQL. A revision that needs
//! the result of a query cannot run offline: `query` and `open-cursor` fail
//! with an error that says so.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Connection, Cursor, DbError, Dialect, RowSet, Value};

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
    heads: Vec<String>,
    table_created: bool,
}

impl Recorder {
    /// A recorder for `dialect` whose version table starts at `heads`
    /// (what `current_heads` answers throughout).
    pub fn new(dialect: Dialect, heads: Vec<String>, script: Script) -> Self {
        Recorder {
            dialect,
            script,
            // A database already at some revision has its version table.
            table_created: !heads.is_empty(),
            heads,
        }
    }

    fn offline_error(what: &str) -> DbError {
        DbError::new(format!(
            "offline mode (--sql): {what} needs an answer from the database, which an offline run \
             cannot give; run this revision online, or make it skip the read when ctx.offline is set"
        ))
    }
}

/// A value as a literal of `dialect`.
pub fn literal(dialect: Dialect, value: &Value) -> Result<String, DbError> {
    let text = |s: &str| {
        let s = s.replace('\'', "''");
        // MySQL treats a backslash in a string as an escape unless
        // NO_BACKSLASH_ESCAPES is set.
        if dialect == Dialect::Mysql {
            format!("'{}'", s.replace('\\', "\\\\"))
        } else {
            format!("'{s}'")
        }
    };
    let typed = |s: &str, pg_type: &str| match dialect {
        Dialect::Postgresql => format!("{}::{pg_type}", text(s)),
        _ => text(s),
    };
    Ok(match value {
        Value::Null => "NULL".to_string(),
        Value::Boolean(b) => match (dialect, b) {
            (Dialect::Sqlite, true) => "1".to_string(),
            (Dialect::Sqlite, false) => "0".to_string(),
            (_, true) => "TRUE".to_string(),
            (_, false) => "FALSE".to_string(),
        },
        Value::Integer(i) => i.to_string(),
        Value::Float(f) if f.is_finite() => {
            let s = format!("{f:?}");
            // `1e10` is a float literal everywhere; `1.0` too.
            s
        }
        Value::Float(f) => {
            return Err(DbError::new(format!(
                "offline mode (--sql): the float {f} has no SQL literal"
            )));
        }
        Value::Text(s) => text(s),
        Value::Blob(b) => {
            let hex = hex::encode(b);
            match dialect {
                Dialect::Postgresql => format!("'\\x{hex}'::bytea"),
                _ => format!("X'{hex}'"),
            }
        }
        Value::Date(s) => typed(s, "date"),
        Value::Time(s) => typed(s, "time"),
        Value::Timestamp(s) => typed(s, "timestamp"),
        Value::Timestamptz(s) => typed(s, "timestamptz"),
        Value::Decimal(s) => {
            let valid = !s.is_empty()
                && s.trim_start_matches(['-', '+'])
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.');
            if !valid {
                return Err(DbError::new(format!(
                    "offline mode (--sql): {s:?} is not a decimal number"
                )));
            }
            s.clone()
        }
        Value::Json(s) => typed(s, "jsonb"),
        Value::Uuid(s) => typed(s, "uuid"),
    })
}

/// `sql` with its placeholders replaced by the literals of `params`.
/// Quoted strings, quoted identifiers and comments are copied untouched, so
/// a `?` inside them is not taken for a placeholder.
pub fn inline(dialect: Dialect, sql: &str, params: &[Value]) -> Result<String, DbError> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut next = 0usize;
    let mut used = 0usize;
    let mut i = 0;
    let param = |n: usize| -> Result<String, DbError> {
        let value = params.get(n).ok_or_else(|| {
            DbError::new(format!(
                "the statement has more placeholders than the {} parameters given: {sql}",
                params.len()
            ))
        })?;
        literal(dialect, value)
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' | '`' => {
                // Copy the quoted run, doubled quotes included.
                out.push(c);
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    if chars[i] == c {
                        if chars.get(i + 1) == Some(&c) {
                            out.push(c);
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    out.push(chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    out.push_str("*/");
                    i += 2;
                }
            }
            '?' if dialect != Dialect::Postgresql => {
                // `?NNN` numbers a parameter explicitly (SQLite).
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && chars[end].is_ascii_digit() {
                    end += 1;
                }
                let n = if end > start {
                    let n: usize = chars[start..end]
                        .iter()
                        .collect::<String>()
                        .parse()
                        .unwrap_or(0);
                    n.saturating_sub(1)
                } else {
                    let n = next;
                    next += 1;
                    n
                };
                out.push_str(&param(n)?);
                used = used.max(n + 1);
                i = end;
            }
            '$' if dialect == Dialect::Postgresql
                && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) =>
            {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && chars[end].is_ascii_digit() {
                    end += 1;
                }
                let n: usize = chars[start..end]
                    .iter()
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0);
                let n = n.saturating_sub(1);
                out.push_str(&param(n)?);
                used = used.max(n + 1);
                i = end;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    if used < params.len() {
        return Err(DbError::new(format!(
            "{} parameters were given but the statement uses {used}: {sql}",
            params.len()
        )));
    }
    Ok(out)
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

    async fn current_heads(&mut self, _table: &str) -> Result<Vec<String>, DbError> {
        let mut heads = self.heads.clone();
        heads.sort();
        Ok(heads)
    }

    async fn ensure_version_table(&mut self, table: &str) -> Result<(), DbError> {
        if !self.table_created {
            self.script
                .statement(&super::version::create(self.dialect, table));
            self.table_created = true;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_inside_strings_and_comments_are_left_alone() {
        let sql = "INSERT INTO t (a, b) VALUES (?, '?') -- what?\n/* ? */";
        let out = inline(Dialect::Sqlite, sql, &[Value::Integer(7)]).unwrap();
        assert_eq!(
            out,
            "INSERT INTO t (a, b) VALUES (7, '?') -- what?\n/* ? */"
        );
    }

    #[test]
    fn postgres_placeholders_are_numbered() {
        let out = inline(
            Dialect::Postgresql,
            "UPDATE t SET a = $2 WHERE b = $1",
            &[Value::Text("x".into()), Value::Blob(vec![0, 255])],
        )
        .unwrap();
        assert_eq!(out, "UPDATE t SET a = '\\x00ff'::bytea WHERE b = 'x'");
    }

    #[test]
    fn quotes_are_doubled_and_mysql_backslashes_escaped() {
        assert_eq!(
            literal(Dialect::Mysql, &Value::Text("O'Brien \\ x".into())).unwrap(),
            "'O''Brien \\\\ x'"
        );
        assert_eq!(
            literal(Dialect::Sqlite, &Value::Text("O'Brien \\ x".into())).unwrap(),
            "'O''Brien \\ x'"
        );
    }

    #[test]
    fn too_few_or_too_many_parameters_are_errors() {
        assert!(inline(Dialect::Sqlite, "SELECT ?, ?", &[Value::Null]).is_err());
        assert!(inline(Dialect::Sqlite, "SELECT ?", &[Value::Null, Value::Null]).is_err());
    }
}
