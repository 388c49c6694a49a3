//! The database side of a run: one backend per database behind the
//! [`Connection`] trait, which reads like the algorithm that drives it
//! (`begin`, the guest's statements, a batch of bookkeeping, `commit`).
//! aludel's own tables, the version table included, are the
//! [`ledger`](crate::ledger)'s: no backend knows them.
//!
//! The types here are the host's own, not the generated WIT types, so the
//! brokering logic can be exercised without any WebAssembly.
//!
//! Three backends (SQLite, PostgreSQL, MySQL/MariaDB) and the offline
//! recorder share two modules, so that they cannot drift apart:
//! `dialect` spells SQL (quoting, placeholders, literals, the catalogue
//! queries) and `values` reads and writes the WIT text forms of dates,
//! times and decimals.

pub mod dialect;
mod mysql;
pub mod offline;
mod postgres;
mod sqlite;
mod sqlite_guard;
mod values;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;

/// The most rows one cursor batch returns, whatever the guest asks for:
/// a guest-controlled size must not make the host buffer a whole table.
pub const MAX_CURSOR_BATCH: u32 = 10_000;

/// Which database a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgresql,
    Mysql,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgresql => "postgresql",
            Dialect::Mysql => "mysql",
        })
    }
}

/// One SQL value; mirrors the WIT `value` variant, whose documentation fixes
/// the text forms of the tagged cases.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Integer(i64),
    Float(f64),
    Text(String),
    Blob(Vec<u8>),
    Date(String),
    Time(String),
    Timestamp(String),
    Timestamptz(String),
    Decimal(String),
    Json(String),
    Uuid(String),
}

/// A whole query result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// A statement and its parameters, for [`Connection::execute_batch`].
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Value>,
}

impl Statement {
    pub fn new(sql: impl Into<String>, params: Vec<Value>) -> Self {
        Statement {
            sql: sql.into(),
            params,
        }
    }
}

/// Where in a batch the database refused: the BEGIN it opened with, one of
/// its statements (from 0), or the COMMIT it closed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchStage {
    Begin,
    Statement(usize),
    Commit,
}

impl fmt::Display for BatchStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchStage::Begin => f.write_str("the BEGIN of the batch"),
            BatchStage::Statement(i) => write!(f, "statement {} of the batch", i + 1),
            BatchStage::Commit => f.write_str("the COMMIT of the batch"),
        }
    }
}

/// The part of a batch that the database refused, and why.
#[derive(Debug, Clone, Error, PartialEq)]
#[error("{at}: {source}")]
pub struct BatchError {
    pub at: BatchStage,
    #[source]
    pub source: DbError,
}

impl BatchError {
    pub fn statement(index: usize, source: DbError) -> Self {
        BatchError {
            at: BatchStage::Statement(index),
            source,
        }
    }
}

/// A statement that the database refused.
#[derive(Debug, Clone, Error, PartialEq)]
#[error("{message}")]
pub struct DbError {
    pub message: String,
    /// SQLSTATE or the database's own code, when it gives one.
    pub code: Option<String>,
}

impl DbError {
    pub fn new(message: impl Into<String>) -> Self {
        DbError {
            message: message.into(),
            code: None,
        }
    }
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) => DbError {
                message: db.message().to_string(),
                code: db.code().map(|c| c.into_owned()),
            },
            other => DbError::new(other.to_string()),
        }
    }
}

/// Why a connection could not be opened.
#[derive(Debug, Error)]
pub enum ConnectError {
    #[error(
        "cannot connect to {url}: {source}\n  \
         check the URL given by --url, DATABASE_URL or [database] url in aludel.toml"
    )]
    Failed {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "unsupported database URL {url}: aludel speaks sqlite: (a file such as \
         sqlite:app.db, or sqlite::memory:), postgres:// or postgresql://, and \
         mysql:// or mariadb://\n  \
         give a URL with one of these schemes in --url, DATABASE_URL or [database] url \
         in aludel.toml"
    )]
    UnsupportedScheme { url: String },
    #[error("no database URL: pass --url, set DATABASE_URL, or set [database] url in aludel.toml")]
    Missing,
}

/// Why the run's lock could not be taken.
#[derive(Debug, Error)]
pub enum LockError {
    #[error(
        "another run holds the migration lock on {target}{}; gave up after {waited:?}\n  \
         wait for it to finish, or wait longer with --lock-timeout",
        holder_suffix(holder)
    )]
    Timeout {
        target: String,
        waited: Duration,
        /// Who holds it, where the database can tell.
        holder: Option<String>,
    },
    #[error("cannot take the migration lock on {target}: {source}")]
    Failed {
        target: String,
        #[source]
        source: DbError,
    },
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

fn holder_suffix(holder: &Option<String>) -> String {
    match holder {
        Some(h) => format!(" (held by {h})"),
        None => String::new(),
    }
}

/// A lock held for a whole run, so that concurrent runners apply each
/// revision exactly once. Held apart from the connection that migrates (a
/// dedicated connection, or a file), so that a revision running outside a
/// transaction cannot deadlock against it.
#[async_trait]
pub trait RunLock: Send {
    async fn release(self: Box<Self>) -> Result<(), DbError>;
}

/// Where a cursor is in its result. The backend owns the meaning of
/// `position` (a key of its temporary table, or the rows read so far); the
/// paging rules every backend follows are `batch_size` and `record_batch`.
#[derive(Debug)]
pub struct Cursor {
    pub(crate) name: String,
    pub(crate) columns: Vec<String>,
    pub(crate) position: i64,
    pub(crate) exhausted: bool,
}

impl Cursor {
    /// A cursor at the start of its result.
    pub(crate) fn new(name: String, columns: Vec<String>) -> Self {
        Cursor {
            name,
            columns,
            position: 0,
            exhausted: false,
        }
    }

    /// The name of a connection's `number`th cursor (its server-side cursor
    /// or its temporary table): unique on the connection, and in aludel's
    /// own namespace so that it cannot meet a table of the guest's.
    pub(crate) fn name_for(number: u64) -> String {
        format!("_aludel_cursor_{number}")
    }

    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// How many rows the next batch asks the database for, or `None` when
    /// the result is exhausted and the database need not be asked. The
    /// guest's `max` is clamped to 1..=[`MAX_CURSOR_BATCH`], as the WIT
    /// contract says (0 means 1): a guest-controlled size must not make the
    /// host buffer a whole table.
    pub(crate) fn batch_size(&self, max: u32) -> Option<u32> {
        (!self.exhausted).then(|| max.clamp(1, MAX_CURSOR_BATCH))
    }

    /// Records a batch that asked for `asked` rows and got `got`; the next
    /// one starts after `position`. A short batch means the result has no
    /// more rows, so the next call answers without a round trip.
    pub(crate) fn record_batch(&mut self, asked: u32, got: usize, position: i64) {
        self.position = position;
        if got < asked as usize {
            self.exhausted = true;
        }
    }
}

/// One open session with a database.
///
/// A run calls, per revision: [`begin`](Connection::begin), the guest's
/// statements, the version-table changes, then
/// [`commit`](Connection::commit) or [`rollback`](Connection::rollback).
#[async_trait]
pub trait Connection: Send {
    fn dialect(&self) -> Dialect;

    /// Whether rolling back undoes DDL. PostgreSQL and SQLite: yes. MySQL
    /// commits DDL implicitly, so a revision that fails part-way there may
    /// leave some statements applied.
    fn transactional_ddl(&self) -> bool;

    /// Marks where a revision's own statements begin (`on`) and end
    /// (`off`). The runtime turns it on before the guest runs and off after
    /// it returns, so every call between comes from the guest through the
    /// broker, and every other call is the host's own. A backend that can
    /// confine a guest's SQL on the database side does so while it is on
    /// (SQLite: an authorizer refuses transaction statements, ATTACH, DETACH
    /// and VACUUM); the host's own methods (`begin`, `commit`, `rollback`
    /// and the batches) must work whatever the switch says. The default
    /// does nothing: PostgreSQL and MySQL are not yet confined this way.
    async fn guest_statements(&mut self, on: bool) -> Result<(), DbError> {
        let _ = on;
        Ok(())
    }

    /// Names aludel's own tables (`ledger::own_tables`), which a
    /// revision's statements may read but never write or change. A backend
    /// that can refuse that on the database side does, while
    /// [`guest_statements`](Connection::guest_statements) is on (SQLite:
    /// its authorizer). Everywhere, the host's check of a revision's
    /// records finds what got through (`ledger::guard`). The default does
    /// nothing.
    fn protect_tables(&mut self, tables: &[String]) {
        let _ = tables;
    }

    async fn begin(&mut self) -> Result<(), DbError>;
    async fn commit(&mut self) -> Result<(), DbError>;
    async fn rollback(&mut self) -> Result<(), DbError>;

    async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, DbError>;
    async fn query(&mut self, sql: &str, params: Vec<Value>) -> Result<RowSet, DbError>;
    async fn execute_many(&mut self, sql: &str, rows: Vec<Vec<Value>>) -> Result<u64, DbError>;
    /// Runs every statement of `sql`; returns the rows they changed.
    async fn execute_script(&mut self, sql: &str) -> Result<u64, DbError>;

    /// Runs `statements` in order, stopping at the first that fails, and
    /// returns the rows each changed. The host's own bookkeeping of a
    /// revision (version table, artifact, audit row) is one batch: a backend
    /// that can send it in one round trip does.
    async fn execute_batch(&mut self, statements: Vec<Statement>) -> Result<Vec<u64>, BatchError> {
        let mut counts = Vec::with_capacity(statements.len());
        for (index, statement) in statements.into_iter().enumerate() {
            let rows = self
                .execute(&statement.sql, statement.params)
                .await
                .map_err(|source| BatchError::statement(index, source))?;
            counts.push(rows);
        }
        Ok(counts)
    }

    /// Begins a transaction and runs `statements` in it, in one round trip
    /// where the backend can. Returns the rows each statement changed.
    async fn begin_with(&mut self, statements: Vec<Statement>) -> Result<Vec<u64>, BatchError> {
        self.begin().await.map_err(|source| BatchError {
            at: BatchStage::Begin,
            source,
        })?;
        self.execute_batch(statements).await
    }

    /// Runs `statements` in the open transaction, then commits, in one round
    /// trip where the backend can. When a statement fails nothing is
    /// committed and the transaction is the caller's to roll back.
    async fn execute_batch_and_commit(
        &mut self,
        statements: Vec<Statement>,
    ) -> Result<Vec<u64>, BatchError> {
        let counts = self.execute_batch(statements).await?;
        self.commit().await.map_err(|source| BatchError {
            at: BatchStage::Commit,
            source,
        })?;
        Ok(counts)
    }

    async fn open_cursor(&mut self, sql: &str, params: Vec<Value>) -> Result<Cursor, DbError>;
    async fn cursor_next(
        &mut self,
        cursor: &mut Cursor,
        max: u32,
    ) -> Result<Vec<Vec<Value>>, DbError>;
    async fn close_cursor(&mut self, cursor: Cursor) -> Result<(), DbError>;
}

/// Opens a connection for a database URL.
pub async fn connect(url: &str) -> Result<Box<dyn Connection>, ConnectError> {
    if url.starts_with("sqlite:") {
        Ok(Box::new(sqlite::SqliteBackend::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(postgres::PostgresBackend::connect(url).await?))
    } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        Ok(Box::new(mysql::MysqlBackend::connect(url).await?))
    } else {
        Err(ConnectError::UnsupportedScheme {
            url: redact_url(url),
        })
    }
}

/// The dialect a database URL speaks, from its scheme alone: offline mode
/// needs it without connecting.
pub fn dialect_of_url(url: &str) -> Option<Dialect> {
    let scheme = url.split(':').next()?;
    match scheme {
        "sqlite" => Some(Dialect::Sqlite),
        "postgres" | "postgresql" => Some(Dialect::Postgresql),
        "mysql" | "mariadb" => Some(Dialect::Mysql),
        _ => None,
    }
}

/// Takes the run-wide lock named `name` for the database at `url`, waiting
/// up to `timeout` for another run to release it.
pub async fn lock(url: &str, name: &str, timeout: Duration) -> Result<Box<dyn RunLock>, LockError> {
    if url.starts_with("sqlite:") {
        Ok(Box::new(sqlite::lock(url, name, timeout).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(postgres::lock(url, name, timeout).await?))
    } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        Ok(Box::new(mysql::lock(url, name, timeout).await?))
    } else {
        Err(ConnectError::UnsupportedScheme {
            url: redact_url(url),
        }
        .into())
    }
}

/// The URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    // scheme://user:password@host/db?password=… → scheme://user:***@host/db?password=***
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut out = String::with_capacity(url.len());
    // The user information ends at the last `@` before the query: a
    // password may hold an unencoded `/` or `@` of its own, and a host and
    // a database name hold neither.
    match head[scheme_end + 3..].rfind('@') {
        Some(at) => {
            let at = scheme_end + 3 + at;
            let userinfo = &head[scheme_end + 3..at];
            out.push_str(&head[..scheme_end + 3]);
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&head[at..]);
        }
        None => out.push_str(head),
    }
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                // password, sslpassword, pass…: any key that names one.
                Some((key, _)) if key.to_ascii_lowercase().contains("pass") => {
                    format!("{key}=***")
                }
                _ => param.to_string(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_a_password_in_the_query_or_one_holding_a_slash_or_an_at() {
        assert_eq!(
            redact_url("postgres://bob@db.example/app?password=s3cret&sslmode=require"),
            "postgres://bob@db.example/app?password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("mysql://root:a/b@c@db.example:3306/app"),
            "mysql://root:***@db.example:3306/app"
        );
        assert_eq!(
            redact_url("postgres://u@h/db?sslpassword=x&PASSWORD=y"),
            "postgres://u@h/db?sslpassword=***&PASSWORD=***"
        );
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn redact_url_hides_the_password_but_keeps_user_and_host() {
        assert_eq!(
            redact_url("postgres://bob:s3cret@db.example:5432/app"),
            "postgres://bob:***@db.example:5432/app"
        );
        assert_eq!(redact_url("sqlite://app.db"), "sqlite://app.db");
        assert_eq!(
            redact_url("mysql://root@localhost/test"),
            "mysql://root@localhost/test"
        );
    }

    #[test]
    fn an_unsupported_scheme_lists_every_supported_one_and_says_where_to_fix_it() {
        let message = ConnectError::UnsupportedScheme {
            url: "oracle://db.example/x".into(),
        }
        .to_string();
        assert!(message.starts_with("unsupported database URL oracle://db.example/x"));
        for scheme in [
            "sqlite:",
            "postgres://",
            "postgresql://",
            "mysql://",
            "mariadb://",
        ] {
            assert!(message.contains(scheme), "{scheme}: {message}");
        }
        assert!(message.contains("--url, DATABASE_URL or [database] url"));
        assert!(!message.contains("planned"));
    }

    #[test]
    fn every_scheme_connect_accepts_names_a_dialect() {
        assert_eq!(dialect_of_url("sqlite:app.db"), Some(Dialect::Sqlite));
        assert_eq!(dialect_of_url("postgres://h/d"), Some(Dialect::Postgresql));
        assert_eq!(
            dialect_of_url("postgresql://h/d"),
            Some(Dialect::Postgresql)
        );
        assert_eq!(dialect_of_url("mysql://h/d"), Some(Dialect::Mysql));
        assert_eq!(dialect_of_url("mariadb://h/d"), Some(Dialect::Mysql));
        assert_eq!(dialect_of_url("oracle://h/d"), None);
    }

    #[test]
    fn a_batch_is_clamped_and_nothing_is_asked_once_a_cursor_is_exhausted() {
        let mut cursor = Cursor::new(Cursor::name_for(1), Vec::new());
        assert_eq!(cursor.name, "_aludel_cursor_1");
        assert_eq!(cursor.batch_size(0), Some(1));
        assert_eq!(cursor.batch_size(7), Some(7));
        assert_eq!(cursor.batch_size(u32::MAX), Some(MAX_CURSOR_BATCH));
        cursor.record_batch(7, 7, 7);
        assert_eq!((cursor.position, cursor.exhausted), (7, false));
        cursor.record_batch(7, 3, 10);
        assert_eq!((cursor.position, cursor.exhausted), (10, true));
        assert_eq!(cursor.batch_size(7), None);
    }
}
