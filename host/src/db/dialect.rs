//! SQL spelling per dialect, in one place: how a name is quoted, how a
//! placeholder and a literal are written, how a statement is trimmed to be
//! embedded in another, how "no such table" is recognised and asked.
//!
//! The host writes SQL of its own only for its bookkeeping (the version
//! table, the failed state, the audit log), for cursors and for offline
//! output; a guest's SQL is never rewritten. Keeping every spelling here is
//! what lets one statement text serve every backend, and keeps the backends
//! from drifting apart.

use super::{DbError, Dialect, Statement, Value, values};

/// Quotes a possibly schema-qualified name part by part (`meta.versions` →
/// `"meta"."versions"`, or backticks on MySQL), doubling any quote inside a
/// part. Names are validated when the configuration is read; quoting is the
/// second fence.
pub(crate) fn quote(dialect: Dialect, name: &str) -> String {
    name.split('.')
        .map(|part| match dialect {
            Dialect::Mysql => format!("`{}`", part.replace('`', "``")),
            Dialect::Sqlite | Dialect::Postgresql => format!("\"{}\"", part.replace('"', "\"\"")),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The `n`th positional placeholder (from 1): `?`, or `$n` on PostgreSQL.
pub(crate) fn placeholder(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Postgresql => format!("${n}"),
        Dialect::Sqlite | Dialect::Mysql => "?".to_string(),
    }
}

/// `n` positional placeholders in `dialect`: `?` or `$1`…
pub(crate) fn placeholders(dialect: Dialect, n: usize) -> Vec<String> {
    (1..=n).map(|i| placeholder(dialect, i)).collect()
}

/// An operator as the host's own statements write it: on PostgreSQL
/// `OPERATOR(pg_catalog.=)`. An unqualified operator resolves through the
/// `search_path`, where a revision may have created one that matches its
/// operands better than any in `pg_catalog` (an `=` on two `varchar`, which
/// `pg_catalog` lacks, is an exact match wherever it stands on the path),
/// and so decide what the host's comparisons find. As written elsewhere.
pub fn op(dialect: Dialect, op: &str) -> String {
    match dialect {
        Dialect::Postgresql => format!("OPERATOR(pg_catalog.{op})"),
        Dialect::Sqlite | Dialect::Mysql => op.to_string(),
    }
}

/// A function or aggregate the host's own statements call (`count`,
/// `max`): `pg_catalog.`-qualified on PostgreSQL, for the reason of [`op`].
pub fn func(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::Postgresql => format!("pg_catalog.{name}"),
        Dialect::Sqlite | Dialect::Mysql => name.to_string(),
    }
}

/// A statement to be embedded in another (`CREATE TEMP TABLE … AS`,
/// `DECLARE … FOR`), where a trailing semicolon would end the outer one.
pub(crate) fn trim_statement(sql: &str) -> &str {
    sql.trim().trim_end_matches(';').trim_end()
}

/// Whether an error says the table does not exist: aludel's own tables are
/// created on first use, so reading one that is missing means "nothing yet".
/// The error carries no dialect, so every dialect's sign is accepted:
/// PostgreSQL's SQLSTATE 42P01, MySQL's error number 1146 (the backend's
/// code) or its SQLSTATE 42S02, SQLite's message (it has no code for it).
pub(crate) fn is_missing_table(e: &DbError) -> bool {
    matches!(
        e.code.as_deref(),
        Some("42P01") | Some("42S02") | Some("1146")
    ) || e.message.contains("no such table")
        || e.message.contains("doesn't exist")
}

/// Whether an error says a column does not exist (a table of an older
/// aludel): PostgreSQL's SQLSTATE 42703, MySQL's error 1054 or SQLSTATE
/// 42S22, SQLite's message.
pub(crate) fn is_missing_column(e: &DbError) -> bool {
    matches!(
        e.code.as_deref(),
        Some("42703") | Some("1054") | Some("42S22")
    ) || e.message.contains("no such column")
}

/// A query that returns one row when `table` (possibly `schema.table`)
/// exists and none when it does not: it asks the catalogue, so that a
/// missing version table is told apart without a failed statement (which
/// would abort a PostgreSQL transaction).
pub(crate) fn table_exists(dialect: Dialect, table: &str) -> Statement {
    let split = table.split_once('.');
    match dialect {
        Dialect::Sqlite => {
            // `schema.table` names a table of an attached database, whose
            // catalogue is that schema's sqlite_master.
            let (schema, bare) = match split {
                Some((schema, bare)) => (quote(dialect, schema), bare),
                None => ("main".to_string(), table),
            };
            Statement::new(
                format!("SELECT 1 FROM {schema}.sqlite_master WHERE type = 'table' AND name = ?"),
                vec![Value::Text(bare.to_string())],
            )
        }
        // to_regclass resolves the name as the search path would, and is
        // NULL rather than an error for a table that does not exist.
        Dialect::Postgresql => Statement::new(
            "SELECT 1 WHERE to_regclass($1) IS NOT NULL",
            vec![Value::Text(quote(dialect, table))],
        ),
        // A bare name is in the connection's current database.
        Dialect::Mysql => {
            let (schema, bare) = match split {
                Some((schema, bare)) => (Value::Text(schema.to_string()), bare),
                None => (Value::Null, table),
            };
            Statement::new(
                "SELECT 1 FROM information_schema.tables \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?",
                vec![schema, Value::Text(bare.to_string())],
            )
        }
    }
}

/// A query that returns one row when `table` (possibly `schema.table`) has
/// a column `column`, and none when it has not: asked of the catalogue, as
/// [`table_exists`], so that an older table is told apart without a failed
/// statement.
pub(crate) fn column_exists(dialect: Dialect, table: &str, column: &str) -> Statement {
    let split = table.split_once('.');
    match dialect {
        Dialect::Sqlite => {
            let (schema, bare) = match split {
                Some((schema, bare)) => (schema, bare),
                None => ("main", table),
            };
            Statement::new(
                "SELECT 1 FROM pragma_table_info(?, ?) WHERE name = ?",
                vec![
                    Value::Text(bare.to_string()),
                    Value::Text(schema.to_string()),
                    Value::Text(column.to_string()),
                ],
            )
        }
        Dialect::Postgresql => Statement::new(
            "SELECT 1 FROM pg_catalog.pg_attribute \
             WHERE attrelid = pg_catalog.to_regclass($1) AND attname = $2 AND NOT attisdropped",
            vec![
                Value::Text(quote(dialect, table)),
                Value::Text(column.to_string()),
            ],
        ),
        Dialect::Mysql => {
            let (schema, bare) = match split {
                Some((schema, bare)) => (Value::Text(schema.to_string()), bare),
                None => (Value::Null, table),
            };
            Statement::new(
                "SELECT 1 FROM information_schema.columns \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? \
                 AND column_name = ?",
                vec![
                    schema,
                    Value::Text(bare.to_string()),
                    Value::Text(column.to_string()),
                ],
            )
        }
    }
}

/// A value as a literal of `dialect`, for statements sent as text (offline
/// output, SQLite's batched bookkeeping).
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
    // PostgreSQL needs the type named, as the backend binds it; the others
    // take the text as it is.
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
        // `1e10` is a float literal everywhere; `1.0` too.
        Value::Float(f) if f.is_finite() => format!("{f:?}"),
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
        // Written bare, so it must be a number and nothing else: the same
        // check the backends apply to a bound decimal.
        Value::Decimal(s) => {
            if !values::is_plain_decimal(s) {
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

/// A guest's value as a literal for the bulk path of `execute-many`
/// (PostgreSQL and MySQL), which sends many rows as one text: the value
/// the statement receives is the one a bound parameter would give it.
///
/// Unlike [`literal`], whose text is the host's own, these values come from
/// a revision, which may have changed its session's settings first: so the
/// literal reads the same whatever `standard_conforming_strings`
/// (PostgreSQL: an `E''` string, in which only the escapes written here
/// mean anything) or `sql_mode`'s `NO_BACKSLASH_ESCAPES` and the connection
/// character set (MySQL: text as `_utf8mb4 X'…'`, bytes as `X'…'`) say.
/// Tagged text cases are checked by the same rules as a bound parameter,
/// and written in the form the backend would bind (on MySQL an instant in
/// UTC, a uuid hyphenated). `position` names the parameter in errors.
pub(crate) fn bulk_literal(
    dialect: Dialect,
    value: &Value,
    position: usize,
) -> Result<String, DbError> {
    let at = |e: values::Malformed| match dialect {
        Dialect::Postgresql => e.at_parameter(format!("${position}")),
        _ => e.at_parameter(position),
    };
    let text = |s: &str| match dialect {
        Dialect::Postgresql => format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''")),
        _ => format!("_utf8mb4 X'{}'", hex::encode(s)),
    };
    Ok(match value {
        Value::Null => "NULL".to_string(),
        Value::Boolean(true) => "TRUE".to_string(),
        Value::Boolean(false) => "FALSE".to_string(),
        Value::Integer(i) => i.to_string(),
        // MySQL reads `0.1` as an exact DECIMAL and `1e-1` as a DOUBLE,
        // which is what a bound f64 is.
        Value::Float(f) if f.is_finite() => match dialect {
            Dialect::Mysql => format!("{f:e}"),
            // Quoted, so that float8 reads it: a bare `-0.0` is a numeric,
            // which has no negative zero.
            _ => format!("'{f:?}'"),
        },
        Value::Float(f) => match dialect {
            Dialect::Postgresql if f.is_nan() => "'NaN'::float8".to_string(),
            Dialect::Postgresql if *f > 0.0 => "'Infinity'::float8".to_string(),
            Dialect::Postgresql => "'-Infinity'::float8".to_string(),
            _ => {
                return Err(DbError::new(format!(
                    "parameter {position}: {dialect} has no value for the float {f}"
                )));
            }
        },
        Value::Text(s) => text(s),
        Value::Blob(b) => match dialect {
            Dialect::Postgresql => format!("E'\\\\x{}'", hex::encode(b)),
            _ => format!("X'{}'", hex::encode(b)),
        },
        Value::Date(s) => format!(
            "'{}'",
            values::format_date(values::parse_date(s).map_err(at)?)
        ),
        Value::Time(s) => format!(
            "'{}'",
            values::format_time(values::parse_time(s).map_err(at)?)
        ),
        Value::Timestamp(s) => format!(
            "'{}'",
            values::format_timestamp(values::parse_timestamp(s).map_err(at)?)
        ),
        Value::Timestamptz(s) => {
            let instant = values::parse_timestamptz(s).map_err(at)?;
            match dialect {
                // MySQL has no type with a zone: the instant in UTC, as bound.
                Dialect::Mysql => {
                    let utc = values::format_timestamptz(instant);
                    format!("'{}'", utc.trim_end_matches('Z').replacen('T', " ", 1))
                }
                _ => format!("'{}'", values::format_timestamptz(instant)),
            }
        }
        Value::Decimal(s) => {
            values::parse_decimal(s).map_err(at)?;
            s.clone()
        }
        Value::Json(s) => {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(s) {
                return Err(DbError::new(format!(
                    "parameter {position}: not a valid JSON document: {e}"
                )));
            }
            text(s)
        }
        Value::Uuid(s) => format!(
            "'{}'",
            values::format_uuid(values::parse_uuid(s).map_err(at)?)
        ),
    })
}

/// `sql` from its first character that is neither white space nor in a
/// comment (`-- …` to the end of the line, `/* … */`).
pub(crate) fn skip_blank(sql: &str) -> &str {
    let mut rest = sql.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else {
            return rest;
        }
    }
}

/// Whether PostgreSQL's `PREPARE` can hold the statement, judged on its
/// first word after white space and comments: `SELECT`, `INSERT`,
/// `UPDATE`, `DELETE`, `MERGE`, `VALUES`, and `WITH`, `TABLE` or a
/// parenthesis that start one of them. Anything else keeps the
/// round-trip-per-row path of `execute-many`, which runs every statement.
pub(crate) fn preparable(sql: &str) -> bool {
    let rest = skip_blank(sql);
    if rest.starts_with('(') {
        return true;
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(
        word.as_str(),
        "select" | "insert" | "update" | "delete" | "merge" | "values" | "with" | "table"
    )
}

/// The PostgreSQL type a value is declared as when the bulk path of
/// `execute-many` prepares its statement: the type the backend binds it
/// as, `unknown` for NULL (the server infers it, as for a bound NULL).
pub(crate) fn bulk_pg_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "unknown",
        Value::Boolean(_) => "bool",
        Value::Integer(_) => "int8",
        Value::Float(_) => "float8",
        Value::Text(_) => "text",
        Value::Blob(_) => "bytea",
        Value::Date(_) => "date",
        Value::Time(_) => "time",
        Value::Timestamp(_) => "timestamp",
        Value::Timestamptz(_) => "timestamptz",
        Value::Decimal(_) => "numeric",
        Value::Json(_) => "json",
        Value::Uuid(_) => "uuid",
    }
}

/// `sql` with its placeholders replaced by the literals of `params`.
/// Quoted strings, quoted identifiers and comments are copied untouched, so
/// a `?` inside them is not taken for a placeholder.
pub fn inline(dialect: Dialect, sql: &str, params: &[Value]) -> Result<String, DbError> {
    Template::parse(dialect, sql).render(params, |value, _| literal(dialect, value))
}

/// A statement cut at its placeholders, once, to be rendered with many
/// rows of literals (see [`inline`]).
pub(crate) struct Template<'a> {
    sql: &'a str,
    /// The text between placeholders: one more than `slots`.
    parts: Vec<String>,
    /// The parameter (from 0) each placeholder stands for.
    slots: Vec<usize>,
    /// How many parameters the placeholders use: the highest number.
    used: usize,
}

impl<'a> Template<'a> {
    pub(crate) fn parse(dialect: Dialect, sql: &'a str) -> Self {
        let chars: Vec<char> = sql.chars().collect();
        let mut out = String::with_capacity(sql.len());
        let mut parts = Vec::new();
        let mut slots = Vec::new();
        let mut next = 0usize;
        let mut used = 0usize;
        let mut i = 0;
        let mut param = |n: usize, out: &mut String| {
            parts.push(std::mem::take(out));
            slots.push(n);
        };
        // The digits from `start` and where they end; 0 when there are none
        // (or too many to be a parameter's number).
        let number_at = |start: usize| -> (usize, usize) {
            let mut end = start;
            while end < chars.len() && chars[end].is_ascii_digit() {
                end += 1;
            }
            let n = chars[start..end]
                .iter()
                .collect::<String>()
                .parse()
                .unwrap_or(0);
            (n, end)
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
                    let (explicit, end) = number_at(i + 1);
                    let n = if end > i + 1 {
                        explicit.saturating_sub(1)
                    } else {
                        next += 1;
                        next - 1
                    };
                    param(n, &mut out);
                    used = used.max(n + 1);
                    i = end;
                }
                '$' if dialect == Dialect::Postgresql
                    && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) =>
                {
                    let (n, end) = number_at(i + 1);
                    let n = n.saturating_sub(1);
                    param(n, &mut out);
                    used = used.max(n + 1);
                    i = end;
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        parts.push(out);
        Template {
            sql,
            parts,
            slots,
            used,
        }
    }

    /// The statement with its placeholders replaced by `literal` of the
    /// parameters they name (and the parameter's number, from 1).
    pub(crate) fn render(
        &self,
        params: &[Value],
        literal: impl Fn(&Value, usize) -> Result<String, DbError>,
    ) -> Result<String, DbError> {
        let sql = self.sql;
        if self.used < params.len() {
            return Err(DbError::new(format!(
                "{} parameters were given but the statement uses {}: {sql}",
                params.len(),
                self.used
            )));
        }
        let mut out = String::with_capacity(sql.len() + 16 * self.slots.len());
        for (part, &n) in self.parts.iter().zip(&self.slots) {
            out.push_str(part);
            let value = params.get(n).ok_or_else(|| {
                DbError::new(format!(
                    "the statement has more placeholders than the {} parameters given: {sql}",
                    params.len()
                ))
            })?;
            out.push_str(&literal(value, n + 1)?);
        }
        out.push_str(self.parts.last().map_or("", String::as_str));
        Ok(out)
    }
}

/// The temporary table of a snapshot cursor, on the backends that cannot
/// stream a result while other statements run on the connection (SQLite's
/// driver steps one statement at a time; MySQL cannot interleave). The
/// cursor materialises its query into the table and pages through it by a
/// key that numbers the rows in the query's order. PostgreSQL has real
/// server-side cursors and needs none of this.
///
/// What the two share: a page is `SELECT <key>, <the query's columns> FROM
/// <table> WHERE <key> > ? ORDER BY <key> LIMIT ?`, bound with the cursor's
/// position and the batch size, and the key is the page's first column.
/// What truly differs, and stays per dialect: the key (SQLite's implicit
/// rowid, which `*` does not include; a declared auto-increment column on
/// MySQL, which `*` lists first), the schema the table lives in (`temp.`
/// on SQLite), and how it is dropped (`DROP TEMPORARY TABLE` on MySQL, the
/// form that does not commit the open transaction; SQLite has no such form).
/// How the backend learns the columns also stays in the backend: SQLite's
/// `pragma_table_info`, MySQL's description of a prepared `SELECT *`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TempTableCursor {
    Sqlite,
    Mysql,
}

impl TempTableCursor {
    /// The columns a page starts with before the query's own: the key.
    pub(crate) const KEY_COLUMNS: usize = 1;

    /// MySQL's key column, declared by the cursor's table.
    const MYSQL_KEY: &'static str = "__aludel_pos";

    fn dialect(self) -> Dialect {
        match self {
            TempTableCursor::Sqlite => Dialect::Sqlite,
            TempTableCursor::Mysql => Dialect::Mysql,
        }
    }

    /// Where the table is named in a page or a drop.
    fn table(self, name: &str) -> String {
        let quoted = quote(self.dialect(), name);
        match self {
            // A main-database table of the same name must not be read instead.
            TempTableCursor::Sqlite => format!("temp.{quoted}"),
            TempTableCursor::Mysql => quoted,
        }
    }

    /// Materialises `query` (its parameters bound as the guest gave them)
    /// into the cursor's table `name`.
    pub(crate) fn create(self, name: &str, query: &str) -> String {
        let quoted = quote(self.dialect(), name);
        let query = trim_statement(query);
        match self {
            TempTableCursor::Sqlite => format!("CREATE TEMP TABLE {quoted} AS {query}"),
            // The declared key comes first; the query's columns follow it,
            // and rows are numbered in the order the query returns them.
            TempTableCursor::Mysql => format!(
                "CREATE TEMPORARY TABLE {quoted} ({key} BIGINT NOT NULL AUTO_INCREMENT \
                 PRIMARY KEY) AS {query}",
                key = Self::MYSQL_KEY
            ),
        }
    }

    /// The next page after a position: bind the cursor's position, then the
    /// batch size.
    pub(crate) fn page(self, name: &str) -> String {
        let (select, key) = match self {
            TempTableCursor::Sqlite => ("_rowid_, *", "_rowid_"),
            TempTableCursor::Mysql => ("*", Self::MYSQL_KEY),
        };
        format!(
            "SELECT {select} FROM {} WHERE {key} > ? ORDER BY {key} LIMIT ?",
            self.table(name)
        )
    }

    pub(crate) fn drop(self, name: &str) -> String {
        let table = self.table(name);
        match self {
            TempTableCursor::Sqlite => format!("DROP TABLE IF EXISTS {table}"),
            TempTableCursor::Mysql => format!("DROP TEMPORARY TABLE IF EXISTS {table}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qualified_name_is_quoted_part_by_part_in_each_dialect() {
        assert_eq!(
            quote(Dialect::Postgresql, "meta.ver\"s"),
            "\"meta\".\"ver\"\"s\""
        );
        assert_eq!(
            quote(Dialect::Sqlite, "aludel_version"),
            "\"aludel_version\""
        );
        assert_eq!(quote(Dialect::Mysql, "a`b"), "`a``b`");
        assert_eq!(quote(Dialect::Mysql, "app.versions"), "`app`.`versions`");
    }

    #[test]
    fn an_identifier_the_host_writes_has_its_embedded_quotes_doubled() {
        assert_eq!(
            quote(Dialect::Sqlite, "aludel_version"),
            "\"aludel_version\""
        );
        assert_eq!(quote(Dialect::Sqlite, "a\"b"), "\"a\"\"b\"");
        assert_eq!(
            quote(Dialect::Postgresql, "aludel_version"),
            "\"aludel_version\""
        );
        assert_eq!(
            quote(Dialect::Postgresql, "meta.versions"),
            "\"meta\".\"versions\""
        );
    }

    #[test]
    fn placeholders_are_question_marks_except_on_postgresql() {
        assert_eq!(placeholders(Dialect::Postgresql, 2), vec!["$1", "$2"]);
        assert_eq!(placeholders(Dialect::Sqlite, 2), vec!["?", "?"]);
        assert_eq!(placeholders(Dialect::Mysql, 1), vec!["?"]);
        assert_eq!(placeholder(Dialect::Postgresql, 17), "$17");
        assert!(placeholders(Dialect::Sqlite, 0).is_empty());
    }

    #[test]
    fn an_embedded_statement_loses_its_trailing_semicolons_and_space() {
        assert_eq!(trim_statement("  SELECT 1 ;\n"), "SELECT 1");
        assert_eq!(trim_statement("SELECT ';';;"), "SELECT ';'");
        assert_eq!(trim_statement("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn a_missing_table_is_recognised_in_every_dialect() {
        let coded = |code: &str| DbError {
            message: "whatever".into(),
            code: Some(code.into()),
        };
        assert!(is_missing_table(&coded("42P01")));
        assert!(is_missing_table(&coded("1146")));
        assert!(is_missing_table(&coded("42S02")));
        assert!(is_missing_table(&DbError::new(
            "no such table: aludel_failed"
        )));
        assert!(is_missing_table(&DbError::new(
            "Table 'test.aludel_failed' doesn't exist"
        )));
        assert!(!is_missing_table(&coded("23505")));
        assert!(!is_missing_table(&DbError::new("syntax error")));
    }

    #[test]
    fn the_table_exists_query_asks_each_dialects_catalogue() {
        let s = table_exists(Dialect::Sqlite, "aludel_version");
        assert_eq!(
            s.sql,
            "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?"
        );
        assert_eq!(s.params, vec![Value::Text("aludel_version".into())]);
        let s = table_exists(Dialect::Sqlite, "other.versions");
        assert!(s.sql.starts_with("SELECT 1 FROM \"other\".sqlite_master"));
        assert_eq!(s.params, vec![Value::Text("versions".into())]);

        let s = table_exists(Dialect::Postgresql, "meta.versions");
        assert_eq!(s.sql, "SELECT 1 WHERE to_regclass($1) IS NOT NULL");
        assert_eq!(s.params, vec![Value::Text("\"meta\".\"versions\"".into())]);

        let s = table_exists(Dialect::Mysql, "aludel_version");
        assert!(s.sql.contains("COALESCE(?, DATABASE())"));
        assert_eq!(
            s.params,
            vec![Value::Null, Value::Text("aludel_version".into())]
        );
        let s = table_exists(Dialect::Mysql, "app.versions");
        assert_eq!(
            s.params,
            vec![Value::Text("app".into()), Value::Text("versions".into())]
        );
    }

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
    fn sqlite_numbered_placeholders_pick_their_parameter() {
        let out = inline(
            Dialect::Sqlite,
            "SELECT ?2, ?1",
            &[Value::Integer(1), Value::Integer(2)],
        )
        .unwrap();
        assert_eq!(out, "SELECT 2, 1");
    }

    #[test]
    fn too_few_or_too_many_parameters_are_errors() {
        assert!(inline(Dialect::Sqlite, "SELECT ?, ?", &[Value::Null]).is_err());
        assert!(inline(Dialect::Sqlite, "SELECT ?", &[Value::Null, Value::Null]).is_err());
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
    fn tagged_literals_name_their_type_on_postgresql_only() {
        let date = Value::Date("2024-02-29".into());
        assert_eq!(
            literal(Dialect::Postgresql, &date).unwrap(),
            "'2024-02-29'::date"
        );
        assert_eq!(literal(Dialect::Mysql, &date).unwrap(), "'2024-02-29'");
        assert_eq!(
            literal(Dialect::Sqlite, &Value::Boolean(true)).unwrap(),
            "1"
        );
        assert_eq!(
            literal(Dialect::Postgresql, &Value::Boolean(false)).unwrap(),
            "FALSE"
        );
    }

    #[test]
    fn a_decimal_literal_must_be_a_plain_number() {
        let decimal = |s: &str| literal(Dialect::Sqlite, &Value::Decimal(s.into()));
        assert_eq!(decimal("-123.4500").unwrap(), "-123.4500");
        // Written bare: `--1` would start a comment, `1.2.3` is no number.
        for bad in ["--1", "1.2.3", ".", "1e5", ""] {
            assert!(decimal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_float_that_is_not_finite_has_no_literal() {
        assert_eq!(literal(Dialect::Sqlite, &Value::Float(1.0)).unwrap(), "1.0");
        assert!(literal(Dialect::Sqlite, &Value::Float(f64::NAN)).is_err());
    }

    #[test]
    fn a_temp_table_cursor_pages_by_its_key_in_each_dialect() {
        let c = TempTableCursor::Sqlite;
        assert_eq!(
            c.create("_aludel_cursor_1", "SELECT 1;"),
            "CREATE TEMP TABLE \"_aludel_cursor_1\" AS SELECT 1"
        );
        assert_eq!(
            c.page("_aludel_cursor_1"),
            "SELECT _rowid_, * FROM temp.\"_aludel_cursor_1\" \
             WHERE _rowid_ > ? ORDER BY _rowid_ LIMIT ?"
        );
        assert_eq!(
            c.drop("_aludel_cursor_1"),
            "DROP TABLE IF EXISTS temp.\"_aludel_cursor_1\""
        );
        let c = TempTableCursor::Mysql;
        assert_eq!(
            c.create("_aludel_cursor_1", "SELECT 1"),
            "CREATE TEMPORARY TABLE `_aludel_cursor_1` (__aludel_pos BIGINT NOT NULL \
             AUTO_INCREMENT PRIMARY KEY) AS SELECT 1"
        );
        assert_eq!(
            c.page("_aludel_cursor_1"),
            "SELECT * FROM `_aludel_cursor_1` \
             WHERE __aludel_pos > ? ORDER BY __aludel_pos LIMIT ?"
        );
        assert_eq!(
            c.drop("_aludel_cursor_1"),
            "DROP TEMPORARY TABLE IF EXISTS `_aludel_cursor_1`"
        );
    }
}
