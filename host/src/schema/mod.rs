//! The schema subsystem: inspect a database's schema into one model,
//! compare two models, and render the difference as DDL of one dialect.
//! Like the revision graph, it knows nothing of where a schema came from
//! (the models, a replayed history, the live database): that is the
//! verbs' business ([`crate::autogen`]).
//!
//! The model is dialect-neutral in its shape and dialect-specific in its
//! text. Every object carries its server's own normal form (PostgreSQL's
//! `pg_get_constraintdef`, MySQL's `information_schema` texts, SQLite's
//! PRAGMAs and its stored `CREATE` text) and two schemas are only ever
//! compared when both were read from the same server, one of them after
//! the desired DDL was applied to a scratch database: the server decides
//! what `int` or `now()` or `CHECK (a>0)` normalises to, as Atlas's dev
//! database does. What the servers still spell differently on the two
//! sides is normalised by a small table per dialect, tested on its own.
//!
//! Compared: tables, columns (type, nullability, default, identity,
//! generated expression, collation, comment), primary keys, unique, check
//! and foreign-key constraints, indexes, views, and on PostgreSQL enums and
//! free-standing sequences. Not compared, as in Alembic: triggers,
//! functions, procedures, grants, column order. docs/autogenerate.md has
//! the whole list.

pub mod diff;
pub mod mysql;
pub mod postgres;
pub mod sqlite;

use std::collections::BTreeMap;

use serde::Serialize;
use thiserror::Error;

use crate::db::{Connection, DbError, Dialect};

pub use diff::{Change, RenameCandidate, Renames, diff, rename_candidates};

/// A database schema: what aludel manages in one database (SQLite), one
/// schema (PostgreSQL: the connection's `current_schema()`) or one
/// database (MySQL: `database()`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Schema {
    pub tables: BTreeMap<String, Table>,
    pub views: BTreeMap<String, View>,
    /// PostgreSQL's enum types; empty elsewhere (MySQL's `enum(...)` is a
    /// column type).
    pub enums: BTreeMap<String, EnumType>,
    /// PostgreSQL's sequences that no column owns (those of `serial` and
    /// identity columns belong to their column); empty elsewhere.
    pub sequences: BTreeMap<String, Sequence>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Table {
    pub name: String,
    /// In the table's order. The order is not compared (as in Alembic): a
    /// column added later comes last on every backend.
    pub columns: Vec<Column>,
    pub primary_key: Option<Constraint>,
    /// Unique, check and foreign-key constraints, sorted by
    /// [`Constraint::key`].
    pub constraints: Vec<Constraint>,
    /// Indexes that back no constraint, sorted by name.
    pub indexes: Vec<Index>,
    pub comment: Option<String>,
    /// What else the dialect's `CREATE TABLE` says of the table and is
    /// compared as one text: SQLite's `WITHOUT ROWID` and `STRICT`,
    /// MySQL's engine and default character set. Empty when nothing.
    pub options: String,
    /// The dialect's whole `CREATE TABLE` statement where the server keeps
    /// one or it is written from the model (SQLite's `sqlite_master.sql`,
    /// MySQL's written in `SHOW CREATE TABLE`'s layout):
    /// what a SQLite rebuild creates the new table from. Not compared.
    #[serde(skip)]
    pub create_sql: Option<String>,
    /// The table's triggers (`CREATE TRIGGER` statements), which a SQLite
    /// rebuild recreates. Not compared.
    #[serde(skip)]
    pub triggers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Column {
    pub name: String,
    /// The type as the server spells it back (`character varying(20)`,
    /// `varchar(20)`, `VARCHAR(20)` on SQLite, whose declared type is kept
    /// as written, in upper case).
    pub data_type: String,
    pub nullable: bool,
    /// The default expression as the server spells it back; none for no
    /// default (and for a PostgreSQL identity or MySQL auto-increment).
    pub default: Option<String>,
    /// `always` or `by default` (PostgreSQL identity), `serial`
    /// (PostgreSQL, a sequence owned by the column), `auto_increment`
    /// (MySQL), `autoincrement` (SQLite's `AUTOINCREMENT` keyword).
    pub identity: Option<String>,
    pub generated: Option<Generated>,
    /// A collation the column declares, where the server tells it apart
    /// from the default (MySQL reports every text column's collation).
    pub collation: Option<String>,
    pub comment: Option<String>,
    /// The column's whole definition in the dialect's own text, where a
    /// renderer needs it: MySQL's, in `SHOW CREATE TABLE`'s layout, SQLite's
    /// column definition cut from its `CREATE TABLE`. Not compared (the
    /// fields above are).
    #[serde(skip)]
    pub definition: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Generated {
    pub expression: String,
    pub stored: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    Check,
    ForeignKey,
}

impl ConstraintKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConstraintKind::PrimaryKey => "primary key",
            ConstraintKind::Unique => "unique constraint",
            ConstraintKind::Check => "check constraint",
            ConstraintKind::ForeignKey => "foreign key",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Constraint {
    /// The name, where the server keeps one (SQLite keeps none it reports:
    /// its constraints are matched by definition).
    pub name: Option<String>,
    pub kind: ConstraintKind,
    /// The columns it is on, in order (none for a check).
    pub columns: Vec<String>,
    /// The server's normal form of what it enforces, without its name:
    /// `FOREIGN KEY (a) REFERENCES t(id) ON DELETE CASCADE`,
    /// `CHECK ((price > (0)::numeric))`. What is compared.
    pub definition: String,
    /// A foreign key's referenced table, for ordering.
    pub references: Option<String>,
}

impl Constraint {
    /// What identifies the constraint within its table: its name where it
    /// has one, else its kind and definition.
    pub fn key(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => format!("{:?} {}", self.kind, self.definition),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Index {
    pub name: String,
    pub unique: bool,
    /// The columns it reads (for an expression index, those named in it
    /// where known), so that a dropped column's indexes are known.
    pub columns: Vec<String>,
    /// The server's normal form of the index without its name (columns or
    /// expressions, order, method, predicate): what is compared.
    pub definition: String,
    /// The dialect's statement that creates it, where the server gives one
    /// (`pg_get_indexdef`, SQLite's stored `CREATE INDEX`).
    #[serde(skip)]
    pub create_sql: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct View {
    pub name: String,
    /// The server's normal form of the query.
    pub definition: String,
    /// Tables and views it reads, where the server tells them, for
    /// ordering.
    pub depends_on: Vec<String>,
    #[serde(skip)]
    pub create_sql: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnumType {
    pub name: String,
    /// In their sort order.
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sequence {
    pub name: String,
    /// Its type, start, increment, bounds, cache and cycle, in one text.
    pub definition: String,
}

/// What an inspection leaves out.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Tables aludel never manages: its own ([`crate::ledger::own_tables`])
    /// and `[models] exclude`. Each is a name or a pattern with `*` (any
    /// run of characters) and `?` (one), compared case-insensitively on
    /// SQLite and MySQL and exactly on PostgreSQL. A table left out takes
    /// its indexes, constraints and triggers with it.
    pub exclude: Vec<String>,
}

impl Scope {
    pub fn new(exclude: impl IntoIterator<Item = String>) -> Scope {
        Scope {
            exclude: exclude.into_iter().collect(),
        }
    }

    /// Whether the table or view `name` is left out.
    pub fn excludes(&self, dialect: Dialect, name: &str) -> bool {
        let fold = dialect != Dialect::Postgresql;
        self.exclude.iter().any(|pattern| glob(pattern, name, fold))
    }
}

/// `*` and `?` matching, the whole name.
pub(crate) fn glob(pattern: &str, name: &str, fold: bool) -> bool {
    let norm = |s: &str| -> Vec<char> {
        if fold {
            s.to_lowercase().chars().collect()
        } else {
            s.chars().collect()
        }
    };
    let (p, n) = (norm(pattern), norm(name));
    // Iterative matching with one backtrack point for the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[derive(Debug, Error)]
pub enum SchemaError {
    #[error("cannot read the schema ({what}): {source}")]
    Inspect {
        what: String,
        #[source]
        source: DbError,
    },
    /// The schema holds something the model cannot represent, so comparing
    /// it would claim a sameness that was not checked.
    #[error("cannot compare {what}: {why}")]
    Unsupported { what: String, why: String },
    /// A change the dialect's DDL cannot express.
    #[error("cannot write {change} in {dialect}: {why}")]
    Inexpressible {
        change: String,
        dialect: Dialect,
        why: String,
    },
}

impl SchemaError {
    pub(crate) fn inspect(what: impl Into<String>) -> impl FnOnce(DbError) -> SchemaError {
        let what = what.into();
        move |source| SchemaError::Inspect { what, source }
    }
}

/// Reads the schema of the database `conn` is connected to, leaving out
/// what `scope` excludes.
pub async fn inspect(conn: &mut dyn Connection, scope: &Scope) -> Result<Schema, SchemaError> {
    match conn.dialect() {
        Dialect::Sqlite => sqlite::inspect(conn, scope).await,
        Dialect::Postgresql => postgres::inspect(conn, scope).await,
        Dialect::Mysql => mysql::inspect(conn, scope).await,
    }
}

/// A name quoted as one identifier of `dialect` (dots and all).
pub(crate) fn ident(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
        Dialect::Sqlite | Dialect::Postgresql => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// A string literal of `dialect`, by `db::dialect`'s one rule for it.
pub(crate) fn lit(dialect: Dialect, text: &str) -> String {
    crate::db::dialect::literal(dialect, &crate::db::Value::Text(text.to_string()))
        .expect("a text value always has a literal")
}

/// How inspectors read catalog values, whatever type the driver gave:
/// text as it is, numbers in decimal, NULL as empty.
pub(crate) mod value {
    use crate::db::Value;

    pub fn text(v: &Value) -> String {
        match v {
            Value::Null => String::new(),
            Value::Text(s)
            | Value::Decimal(s)
            | Value::Json(s)
            | Value::Date(s)
            | Value::Time(s)
            | Value::Timestamp(s)
            | Value::Timestamptz(s)
            | Value::Uuid(s) => s.clone(),
            Value::Blob(b) => String::from_utf8_lossy(b).into_owned(),
            Value::Integer(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Boolean(b) => b.to_string(),
        }
    }

    /// None for NULL.
    pub fn opt(v: &Value) -> Option<String> {
        match v {
            Value::Null => None,
            v => Some(text(v)),
        }
    }

    /// 0 for NULL or what is not a number.
    pub fn int(v: &Value) -> i64 {
        match v {
            Value::Integer(i) => *i,
            Value::Boolean(b) => *b as i64,
            v => text(v).trim().parse().unwrap_or(0),
        }
    }
}

/// One statement of a generated revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// One statement, without its final `;`.
    pub sql: String,
    /// What the change it belongs to does, for a comment above it.
    pub comment: String,
    /// Why it may lose data, when it may: marked in the file and printed
    /// as a warning.
    pub destructive: Option<String>,
}

/// The statements that turn `from` into `to` in `dialect`, in order.
/// `changes` is [`diff`]`(from, to, ..)`.
pub fn render(
    dialect: Dialect,
    changes: &[Change],
    from: &Schema,
    to: &Schema,
) -> Result<Vec<Step>, SchemaError> {
    match dialect {
        Dialect::Sqlite => sqlite::render(changes, from, to),
        Dialect::Postgresql => postgres::render(changes, from, to),
        Dialect::Mysql => mysql::render(changes, from, to),
    }
}

/// The statements that create `schema` in an empty database of `dialect`:
/// how a copy of a live schema is made in a scratch database.
pub fn create_all(dialect: Dialect, schema: &Schema) -> Result<Vec<Step>, SchemaError> {
    let empty = Schema::default();
    let changes = diff(&empty, schema, &Renames::default());
    render(dialect, &changes, &empty, schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exclude_pattern_matches_whole_names_with_stars_and_question_marks() {
        let scope = Scope::new(["legacy_*".to_string(), "tmp?".to_string()]);
        assert!(scope.excludes(Dialect::Sqlite, "legacy_users"));
        assert!(scope.excludes(Dialect::Sqlite, "LEGACY_x"));
        assert!(!scope.excludes(Dialect::Postgresql, "LEGACY_x"));
        assert!(scope.excludes(Dialect::Mysql, "tmp1"));
        assert!(!scope.excludes(Dialect::Mysql, "tmp12"));
        assert!(!scope.excludes(Dialect::Mysql, "my_legacy_users"));
        assert!(glob("a*b*c", "axxbyyc", false));
        assert!(!glob("a*b*c", "axxbyy", false));
        assert!(glob("*", "", false));
    }
}
