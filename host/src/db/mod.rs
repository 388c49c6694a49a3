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

pub mod abandoned;
pub mod confine;
pub mod dialect;
mod mysql;
pub mod offline;
mod postgres;
mod privileges;
mod sqlite;
mod sqlite_deadline;
mod sqlite_guard;
mod sqlite_many;
mod tls;
pub mod url;
mod values;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

impl Value {
    /// About how many bytes the value holds in host memory: what the
    /// broker's byte caps count (docs/runtime.md, "Memory").
    pub fn size(&self) -> usize {
        const FIXED: usize = std::mem::size_of::<Value>();
        FIXED
            + match self {
                Value::Null | Value::Boolean(_) | Value::Integer(_) | Value::Float(_) => 0,
                Value::Blob(b) => b.len(),
                Value::Text(s)
                | Value::Date(s)
                | Value::Time(s)
                | Value::Timestamp(s)
                | Value::Timestamptz(s)
                | Value::Decimal(s)
                | Value::Json(s)
                | Value::Uuid(s) => s.len(),
            }
    }
}

/// The bytes of one row, as [`Value::size`] counts them.
pub fn row_size(row: &[Value]) -> usize {
    row.iter().map(Value::size).sum()
}

/// A result grew past the byte cap the broker set: the revision fails
/// with an error saying what to use instead.
pub fn result_too_large(what: &str, max_bytes: usize) -> DbError {
    DbError {
        message: format!(
            "{what} returned more than {} MiB, the most one call may return \
             (half the revision's memory limit): read it with a cursor in smaller batches, \
             or select fewer or smaller columns",
            max_bytes >> 20
        ),
        code: Some(CAP_CODE.to_string()),
    }
}

/// The code of a [`DbError`] for a cap of the broker's.
pub const CAP_CODE: &str = "aludel:cap";

/// The code of a [`DbError`] that says a revision ended the transaction
/// aludel ran it in (the second line of the confinement, see
/// [`Connection::transaction_ended`]).
pub const TRANSACTION_ENDED_CODE: &str = "aludel:transaction-ended";

impl DbError {
    /// The transaction the host opened was ended by the revision.
    pub fn transaction_ended(how: &str) -> Self {
        DbError {
            message: format!(
                "the revision ended the transaction aludel ran it in ({how}); \
                 what it had done before that was committed and cannot be rolled back"
            ),
            code: Some(TRANSACTION_ENDED_CODE.to_string()),
        }
    }

    pub fn is_transaction_ended(&self) -> bool {
        self.code.as_deref() == Some(TRANSACTION_ENDED_CODE)
    }

    /// The error of row `index` (from 0) of an `execute-many` of `count`
    /// rows, saying which row it was.
    pub(crate) fn at_row(self, index: usize, count: usize) -> Self {
        DbError {
            message: format!(
                "row {} of {count} of execute-many: {}",
                index + 1,
                self.message
            ),
            code: self.code,
        }
    }
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

/// A power of the migrating connection that lets SQL reach the database
/// server's files or programs: a revision run with it can do what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privilege {
    /// As the database names it: `superuser`, `pg_execute_server_program`,
    /// `FILE`, `role app_admin`…
    pub name: String,
    /// What it lets SQL do, in a few words.
    pub reach: String,
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.reach)
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
    /// TLS refused the connection, or the URL's TLS settings cannot work:
    /// `problem` names the host and what failed, `fix` the parameter to
    /// change (see docs/connecting.md).
    #[error("cannot connect to {url}: {problem}\n  {fix}")]
    Tls {
        url: String,
        problem: String,
        fix: String,
        #[source]
        source: Option<sqlx::Error>,
    },
    #[error(transparent)]
    Url(#[from] url::UrlError),
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
    /// The most bytes one batch may hold (set by the broker; see
    /// [`Value::size`]).
    pub(crate) max_bytes: usize,
}

impl Cursor {
    /// A cursor at the start of its result.
    pub(crate) fn new(name: String, columns: Vec<String>) -> Self {
        Cursor {
            name,
            columns,
            position: 0,
            exhausted: false,
            max_bytes: usize::MAX,
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

    /// The powers of this connection that let SQL reach the database
    /// server's files or programs (see docs/security.md): asked once per
    /// run that runs revisions, before any of them, in one query. The
    /// default is none: SQLite's revisions are confined by its guard, and
    /// the offline recorder reaches nothing.
    async fn dangerous_privileges(&mut self) -> Result<Vec<Privilege>, DbError> {
        Ok(Vec::new())
    }

    /// Whether the transaction [`begin`](Connection::begin) opened has
    /// been ended since (by a revision: the second line of the
    /// confinement, which no lexer can be fooled past). Asked only where a
    /// revision failed or a dry run ends, so it may cost a round trip.
    /// PostgreSQL compares the transaction id taken at BEGIN; MySQL checks
    /// a savepoint BEGIN set, which a COMMIT or ROLLBACK deletes. The
    /// default (SQLite, whose authorizer refuses every transaction
    /// statement, and the offline recorder) says no.
    async fn transaction_ended(&mut self) -> Result<bool, DbError> {
        Ok(false)
    }

    /// [`query`](Connection::query), failing with
    /// [`result_too_large`] once the rows decoded pass `max_bytes`. A
    /// backend that can stream stops early; the default checks after.
    async fn query_bounded(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        max_bytes: usize,
    ) -> Result<RowSet, DbError> {
        let set = self.query(sql, params).await?;
        if set.rows.iter().map(|r| row_size(r)).sum::<usize>() > max_bytes {
            return Err(result_too_large("the query", max_bytes));
        }
        Ok(set)
    }

    async fn open_cursor(&mut self, sql: &str, params: Vec<Value>) -> Result<Cursor, DbError>;
    async fn cursor_next(
        &mut self,
        cursor: &mut Cursor,
        max: u32,
    ) -> Result<Vec<Vec<Value>>, DbError>;
    async fn close_cursor(&mut self, cursor: Cursor) -> Result<(), DbError>;

    /// What stops this session's statement in the server when a revision's
    /// time runs out, held apart from the connection so that the runtime can
    /// use it while the broker owns the connection. `None`: the backend has
    /// none (the offline recorder runs nothing).
    fn canceller(&self) -> Option<Arc<dyn Canceller>> {
        None
    }
}

/// How a session is set up when it opens (see [`connect_with`]).
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// The longest any statement of the session waits for a lock another
    /// session holds (`--lock-timeout`): PostgreSQL `lock_timeout`, MySQL
    /// `innodb_lock_wait_timeout` and `lock_wait_timeout`, SQLite's busy
    /// timeout. `None` leaves the server's own setting (SQLite: 30 s).
    pub lock_timeout: Option<Duration>,
}

/// Stops, in the server, whatever statement one session is running, without
/// owning that session's connection: PostgreSQL `pg_cancel_backend` and
/// MySQL `KILL QUERY` from a short-lived side connection, SQLite a progress
/// handler that interrupts the statement once the armed deadline passed.
///
/// The cancelled statement fails with the database's own error and the
/// session stays usable (its transaction is the caller's to roll back).
/// A cancel that reaches the server between two statements cancels
/// nothing: the session's next statement runs as usual.
#[async_trait]
pub trait Canceller: Send + Sync {
    /// From now on, any statement still running at `deadline` is stopped
    /// by the database itself, where it can do so without a side
    /// connection (SQLite). The default does nothing.
    fn arm(&self, deadline: Instant) {
        let _ = deadline;
    }

    /// Undoes [`arm`](Canceller::arm): statements run unbounded again.
    fn disarm(&self) {}

    /// Cancels the statement the session runs now, if any.
    async fn cancel(&self) -> Result<(), DbError>;
}

/// Opens a connection for a database URL.
pub async fn connect(url: &str) -> Result<Box<dyn Connection>, ConnectError> {
    connect_with(url, &Session::default()).await
}

/// Opens a connection for a database URL, set up as `session` says. The
/// URL is any form [`url::parse`] reads (aludel's own and SQLAlchemy's);
/// errors name it as it was given.
pub async fn connect_with(
    url: &str,
    session: &Session,
) -> Result<Box<dyn Connection>, ConnectError> {
    let read = url::parse(url)?;
    for dropped in &read.dropped {
        tracing::warn!(
            "ignoring the query parameter `{}` of the database URL: {}",
            dropped.key,
            dropped.reason
        );
    }
    let opened: Result<Box<dyn Connection>, ConnectError> = match read.dialect {
        Dialect::Sqlite => sqlite::SqliteBackend::connect_with(&read.url, session)
            .await
            .map(|c| Box::new(c) as Box<dyn Connection>),
        Dialect::Postgresql => postgres::PostgresBackend::connect_with(&read.url, session)
            .await
            .map(|c| Box::new(c) as Box<dyn Connection>),
        Dialect::Mysql => mysql::MysqlBackend::connect_with(&read.url, session)
            .await
            .map(|c| Box::new(c) as Box<dyn Connection>),
    };
    opened.map_err(|e| as_given(e, url))
}

/// A connection error about the URL a backend was handed, told about the
/// URL the user gave (the two differ for SQLAlchemy's forms).
fn as_given(error: ConnectError, given: &str) -> ConnectError {
    match error {
        ConnectError::Failed { source, .. } => ConnectError::Failed {
            url: redact_url(given),
            source,
        },
        other => other,
    }
}

/// The dialect a database URL speaks, from its scheme alone: offline mode
/// needs it without connecting.
pub fn dialect_of_url(url: &str) -> Option<Dialect> {
    url::dialect_of(url)
}

/// Takes the run-wide lock named `name` for the database at `url`, waiting
/// up to `timeout` for another run to release it.
pub async fn lock(url: &str, name: &str, timeout: Duration) -> Result<Box<dyn RunLock>, LockError> {
    let read = url::parse(url).map_err(ConnectError::from)?;
    let locked: Result<Box<dyn RunLock>, LockError> = match read.dialect {
        Dialect::Sqlite => sqlite::lock(&read.url, name, timeout)
            .await
            .map(|l| Box::new(l) as Box<dyn RunLock>),
        Dialect::Postgresql => postgres::lock(&read.url, name, timeout)
            .await
            .map(|l| Box::new(l) as Box<dyn RunLock>),
        Dialect::Mysql => mysql::lock(&read.url, name, timeout)
            .await
            .map(|l| Box::new(l) as Box<dyn RunLock>),
    };
    // A backend names the target by the URL it was handed; the user knows
    // the one they gave.
    let handed = redact_url(&read.url);
    let given = || redact_url(url);
    locked.map_err(|e| match e {
        LockError::Connect(c) => LockError::Connect(as_given(c, url)),
        LockError::Timeout {
            target,
            waited,
            holder,
        } => LockError::Timeout {
            target: if target == handed { given() } else { target },
            waited,
            holder,
        },
        LockError::Failed { target, source } => LockError::Failed {
            target: if target == handed { given() } else { target },
            source,
        },
    })
}

/// The URL with every secret it may hold replaced, for messages and logs:
/// the password of the user information, whatever characters it holds,
/// and the value of every query parameter that can carry one.
pub fn redact_url(url: &str) -> String {
    // scheme://user:password@host/db?password=… → scheme://user:***@host/db?password=***
    // Without `//` (a malformed URL), the user information starts after the
    // scheme's colon: it is shown in "unsupported URL" errors too.
    let Some(colon) = url.find(':') else {
        return url.to_string();
    };
    let authority_start = if url[colon..].starts_with("://") {
        colon + 3
    } else {
        colon + 1
    };
    let mut out = String::with_capacity(url.len());
    // The user information ends at the last `@` of the URL: a password may
    // hold an unencoded `/`, `?`, `#` or `@` of its own, which a parser
    // would take for the end of the authority, and a host and a database
    // name hold none. An `@` in the query makes this hide more than the
    // password, never less.
    let rest = match url[authority_start..].rfind('@') {
        Some(at) => {
            let at = authority_start + at;
            let userinfo = &url[authority_start..at];
            out.push_str(&url[..authority_start]);
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            &url[at..]
        }
        None => {
            out.push_str(&url[..authority_start]);
            &url[authority_start..]
        }
    };
    match rest.split_once('?') {
        None => out.push_str(rest),
        Some((head, query)) => {
            out.push_str(head);
            out.push('?');
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((key, _)) if secret_parameter(key) => format!("{key}=***"),
                    _ => param.to_string(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
    }
    out
}

/// Whether a query parameter may carry a secret, judged on its decoded
/// name (drivers percent-decode it: `p%61ssword` is `password`):
/// `password`, `sslpassword` and any other name holding `pass`, a secret
/// or a token; and PostgreSQL's `options`, whose `-c name=value` settings
/// may hold anything. `sslkey` and `sslcert` are paths, not secrets: kept,
/// since they say which key failed.
fn secret_parameter(key: &str) -> bool {
    let key = percent_decode(key).to_ascii_lowercase();
    ["pass", "secret", "token", "options"]
        .iter()
        .any(|word| key.contains(word))
}

/// `%XX` decoded, and `+` as a space, as in a URL's query; a malformed
/// escape is kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
    fn redact_url_hides_a_password_of_any_characters_and_every_parameter_that_may_hold_one() {
        for password in ["a?b", "a#b", "a/b?c@d", "p@ss:w%rd", "ends?password=x"] {
            let url = format!("postgres://bob:{password}@db.example:5432/app?sslmode=require");
            let shown = redact_url(&url);
            assert_eq!(
                shown, "postgres://bob:***@db.example:5432/app?sslmode=require",
                "{password}"
            );
        }
        assert_eq!(
            redact_url(
                "postgres://u@h/db?p%61ssword=x&options=-c%20app.key%3Dsecret&sslkey=/k.pem"
            ),
            "postgres://u@h/db?p%61ssword=***&options=***&sslkey=/k.pem"
        );
        assert_eq!(
            redact_url("postgres://u@h/db?auth_token=t&client_secret=s"),
            "postgres://u@h/db?auth_token=***&client_secret=***"
        );
        // Malformed, without `//`: still no password shown.
        assert_eq!(redact_url("postgres:bob:pw@h/db"), "postgres:bob:***@h/db");
        assert_eq!(redact_url("sqlite:app.db"), "sqlite:app.db");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz+%41"), "%zz A");
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
        // SQLAlchemy's forms, the ambiguous `sqlite:///` one too: its
        // dialect is clear even where its file is not.
        assert_eq!(dialect_of_url("sqlite:///app.db"), Some(Dialect::Sqlite));
        assert_eq!(
            dialect_of_url("postgresql+asyncpg://h/d"),
            Some(Dialect::Postgresql)
        );
        assert_eq!(
            dialect_of_url("mariadb+mariadbconnector://h/d"),
            Some(Dialect::Mysql)
        );
        assert_eq!(dialect_of_url("mysql+oursql://h/d"), None);
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
