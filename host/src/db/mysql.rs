//! MySQL and MariaDB through sqlx's native driver.
//!
//! The session is set up as sqlx does by default (`time_zone = '+00:00'`,
//! `NAMES utf8mb4`, `NO_ENGINE_SUBSTITUTION` added to the server's
//! `sql_mode`) except for `PIPES_AS_CONCAT`, which aludel leaves off: `||`
//! keeps the meaning it has in the `mysql`/`mariadb` client, so a revision's
//! SQL means the same online and in `--sql` output.
//!
//! DDL is not transactional here: MySQL commits the open transaction before
//! and after most DDL statements. After a guest statement that may have done
//! so, the backend asks the server (`@@in_transaction`, MariaDB) and opens a
//! new transaction, so the DML that follows stays atomic with the
//! version-table update; what ran before the DDL cannot be rolled back.
//!
//! Statements run as prepared statements (the binary protocol), which also
//! refuses several statements in one `execute`; `execute-script` uses the
//! text protocol, in which the server itself splits the statements
//! (sqlx negotiates `CLIENT_MULTI_STATEMENTS`).
//!
//! Cursors: MySQL cannot run a statement on a connection while another
//! statement's result is still being streamed, so a cursor materialises its
//! result into a temporary table with an auto-increment key and pages through
//! it by that key, as the SQLite backend does with rowid. `CREATE TEMPORARY
//! TABLE` and `DROP TEMPORARY TABLE` do not commit the open transaction.
//!
//! The value mapping is documented in docs/runtime.md, "Values on MySQL and
//! MariaDB".

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::mysql::types::MySqlTime;
use sqlx::mysql::{
    MySql, MySqlArguments, MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlRow,
    MySqlSslMode, MySqlTypeInfo,
};
use sqlx::types::time::{Date, PrimitiveDateTime, Time, UtcOffset};
use sqlx::{
    Arguments, AssertSqlSafe, Column, ConnectOptions, Connection as _, Decode, Executor, Row,
    SqlSafeStr, Statement, Type, TypeInfo, ValueRef,
};

use super::dialect::{self, TempTableCursor, quote};
use super::tls;
use super::values;
use super::{
    Canceller, ConnectError, Connection, Cursor, DbError, Dialect, LockError, Privilege, RowSet,
    RunLock, Session, Value,
};

/// Cursors page through a temporary table (see the module doc).
const CURSOR_TABLE: TempTableCursor = TempTableCursor::Mysql;

/// Parses a `mysql://` or `mariadb://` URL into sqlx's options. An
/// `ssl-ca` without an `ssl-mode` means `VERIFY_CA` (sqlx would stay at
/// `PREFERRED`, which never reads the CA and may not even encrypt): whoever
/// names a CA wants the server checked against it. A CA file that cannot
/// be read is named before connecting. Every connection aludel opens (the
/// migrating one, the run lock's, the canceller's) is made from these, so
/// all have the same TLS.
fn options(url: &str) -> Result<MySqlConnectOptions, ConnectError> {
    let mapped = match url.strip_prefix("mariadb://") {
        Some(rest) => format!("mysql://{rest}"),
        None => url.to_string(),
    };
    let mut options = MySqlConnectOptions::from_str(&mapped)
        .map(|o| o.pipes_as_concat(false))
        .map_err(|source| ConnectError::Failed {
            url: super::redact_url(url),
            source,
        })?;
    if let Some(ca) = tls::query_param(url, &["ssl-ca", "sslca"]).filter(|ca| !ca.is_empty()) {
        if tls::query_param(url, &["ssl-mode", "sslmode"]).is_none() {
            options = options.ssl_mode(MySqlSslMode::VerifyCa);
        }
        if matches!(
            options.get_ssl_mode(),
            MySqlSslMode::VerifyCa | MySqlSslMode::VerifyIdentity
        ) {
            tls::check_certificate_file(url, "ssl-ca", &ca)?;
        }
    }
    Ok(options)
}

/// A mode as the URL spells it.
fn mode_name(mode: MySqlSslMode) -> &'static str {
    match mode {
        MySqlSslMode::Disabled => "DISABLED",
        MySqlSslMode::Preferred => "PREFERRED",
        MySqlSslMode::Required => "REQUIRED",
        MySqlSslMode::VerifyCa => "VERIFY_CA",
        MySqlSslMode::VerifyIdentity => "VERIFY_IDENTITY",
    }
}

async fn open(url: &str) -> Result<MySqlConnection, ConnectError> {
    let options = options(url)?;
    options.connect().await.map_err(|source| {
        tls::connect_error(
            Dialect::Mysql,
            url,
            options.get_host(),
            mode_name(options.get_ssl_mode()),
            source,
        )
    })
}

/// A database error with MySQL's error number as its code (`1146`); the
/// SQLSTATE, often the generic `HY000`, is added to the message.
fn db_err(err: sqlx::Error) -> DbError {
    if let sqlx::Error::Database(db) = &err
        && let Some(my) = db.try_downcast_ref::<MySqlDatabaseError>()
    {
        let message = match my.code() {
            Some(state) => format!(
                "{} (MySQL error {}, SQLSTATE {state})",
                my.message(),
                my.number()
            ),
            None => format!("{} (MySQL error {})", my.message(), my.number()),
        };
        return DbError {
            message,
            code: Some(my.number().to_string()),
        };
    }
    DbError::from(err)
}

/// The most rows one multi-statement text of `execute_many` carries.
const BULK_ROWS: usize = 10_000;

pub struct MysqlBackend {
    conn: MySqlConnection,
    /// The URL, for the side connection that cancels a statement; never
    /// printed.
    url: String,
    /// `CONNECTION_ID()` of `conn`, which `KILL QUERY` names.
    id: u64,
    /// The session's lock wait timeouts, for the error that says one expired.
    lock_timeout: Option<Duration>,
    next_cursor: u64,
    /// Between `begin` and `commit`/`rollback`.
    in_transaction: bool,
    /// Whether the server has `@@in_transaction` (MariaDB does, MySQL does
    /// not); unknown until first asked.
    can_ask_transaction: Option<bool>,
    /// The savepoint `begin` sets in the transaction it opens, named
    /// afresh each time so a revision cannot guess it: a COMMIT or
    /// ROLLBACK deletes it, and `commit` releases it before COMMIT, so a
    /// transaction the revision ended and began again is never committed
    /// as the host's.
    marker: Option<String>,
    /// The check found the transaction ended; cleared by `begin`.
    ended: bool,
}

/// MySQL's error number for a lock wait that gave up (row locks after
/// `innodb_lock_wait_timeout`, metadata locks after `lock_wait_timeout`).
const LOCK_WAIT_TIMEOUT: &str = "1205";

/// MySQL's error number for a savepoint that does not exist.
const NO_SUCH_SAVEPOINT: &str = "1305";

impl MysqlBackend {
    /// The columns `sql` returns, from its prepared statement: an empty
    /// result still has them.
    async fn columns_of(&mut self, sql: &str) -> Result<Vec<String>, DbError> {
        let statement = (&mut self.conn)
            .prepare(AssertSqlSafe(sql).into_sql_str())
            .await
            .map_err(db_err)?;
        Ok(statement
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect())
    }

    pub async fn connect_with(url: &str, session: &Session) -> Result<Self, ConnectError> {
        use futures::TryStreamExt;
        let mut conn = open(url).await?;
        let failed = |source| ConnectError::Failed {
            url: super::redact_url(url),
            source,
        };
        // One round trip a connection: the lock waits, and the id that
        // `KILL QUERY` needs. Whole seconds, as both variables take; the
        // server default of `lock_wait_timeout` is a year.
        let mut setup = String::new();
        if let Some(t) = session.lock_timeout {
            let secs = t.as_secs_f64().ceil().max(1.0) as u64;
            setup.push_str(&format!(
                "SET SESSION innodb_lock_wait_timeout = {secs}, lock_wait_timeout = {secs}; "
            ));
        }
        setup.push_str("SELECT CONNECTION_ID()");
        let mut id = None;
        {
            let mut results = sqlx::raw_sql(AssertSqlSafe(setup)).fetch_many(&mut conn);
            while let Some(item) = results.try_next().await.map_err(failed)? {
                if let sqlx::Either::Right(row) = item {
                    id = Some(row.try_get::<u64, _>(0).map_err(failed)?);
                }
            }
        }
        let id = id.ok_or_else(|| {
            failed(sqlx::Error::Protocol(
                "SELECT CONNECTION_ID() returned no row".into(),
            ))
        })?;
        Ok(MysqlBackend {
            conn,
            url: url.to_string(),
            id,
            lock_timeout: session.lock_timeout,
            next_cursor: 0,
            in_transaction: false,
            can_ask_transaction: None,
            marker: None,
            ended: false,
        })
    }

    /// A statement's error; when its lock wait gave up (1205), says for how
    /// long it waited and which other sessions hold open transactions.
    /// MySQL rolls back only the statement, so this connection can ask.
    async fn explain_lock_wait(&mut self, error: DbError) -> DbError {
        if error.code.as_deref() != Some(LOCK_WAIT_TIMEOUT) {
            return error;
        }
        let holders = open_transactions(&mut self.conn, self.id).await;
        let waited = match self.lock_timeout {
            Some(t) => format!("the lock timeout ({} s, --lock-timeout)", t.as_secs_f64()),
            None => "the server's lock wait timeout".to_string(),
        };
        DbError {
            message: format!(
                "{} after waiting {waited} for a lock held by another session{}\n  \
                 let that session finish or end it (KILL <connection>), then run again; \
                 --lock-timeout waits longer",
                error.message,
                match holders {
                    Some(h) => format!(": {h}"),
                    None => String::new(),
                }
            ),
            code: error.code,
        }
    }

    async fn run(&mut self, sql: &str) -> Result<u64, DbError> {
        let result = sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut self.conn)
            .await
            .map_err(db_err);
        match result {
            Ok(done) => Ok(done.rows_affected()),
            Err(e) => Err(self.explain_lock_wait(e).await),
        }
    }

    /// Runs multi-statement text; the server splits it. A failure says how
    /// many statements ran before it: after DDL they cannot be undone.
    async fn script(&mut self, sql: &str) -> Result<u64, DbError> {
        use futures::TryStreamExt;
        let mut done = 0u64;
        let mut rows = 0u64;
        let mut results = sqlx::raw_sql(AssertSqlSafe(sql)).fetch_many(&mut self.conn);
        loop {
            match results.try_next().await {
                Ok(Some(sqlx::Either::Left(result))) => {
                    done += 1;
                    rows += result.rows_affected();
                }
                Ok(Some(sqlx::Either::Right(_row))) => {}
                Ok(None) => return Ok(rows),
                Err(e) => {
                    let mut e = db_err(e);
                    if done > 0 {
                        e.message = format!(
                            "{} (statement {} of the script; the {done} before it ran)",
                            e.message,
                            done + 1
                        );
                    }
                    return Err(e);
                }
            }
        }
    }

    /// `BEGIN` and the marker savepoint, as one text.
    fn begin_sql(&self) -> String {
        match &self.marker {
            Some(marker) => format!("BEGIN; SAVEPOINT {marker}"),
            None => "BEGIN".to_string(),
        }
    }

    /// Streams the rows of `sql`, decoding each as it arrives (the first
    /// `keys` columns too, counted apart), and stops with
    /// [`super::result_too_large`] once they pass `max_bytes`. Returns the
    /// column names past `keys` when there was a row.
    async fn fetch_bounded(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        keys: usize,
        max_bytes: usize,
    ) -> Result<(Option<Vec<String>>, Vec<Vec<Value>>), DbError> {
        use futures::TryStreamExt;
        let args = arguments(params)?;
        let mut columns = None;
        let mut rows = Vec::new();
        let mut bytes = 0usize;
        let mut stream = sqlx::query_with(AssertSqlSafe(sql), args).fetch(&mut self.conn);
        while let Some(row) = stream.try_next().await.map_err(db_err)? {
            if columns.is_none() {
                columns = Some(
                    row.columns()
                        .iter()
                        .skip(keys)
                        .map(|c| c.name().to_string())
                        .collect(),
                );
            }
            let values = decode_row(&row, 0)?;
            bytes += super::row_size(&values[keys.min(values.len())..]);
            if bytes > max_bytes {
                return Err(super::result_too_large("the query", max_bytes));
            }
            rows.push(values);
        }
        Ok((columns, rows))
    }

    /// The bulk path of `execute_many` (see there).
    async fn execute_many_in_bulk(
        &mut self,
        sql: &str,
        rows: Vec<Vec<Value>>,
    ) -> Result<u64, DbError> {
        let prepared = (&mut self.conn)
            .prepare(AssertSqlSafe(sql).into_sql_str())
            .await
            .map_err(db_err);
        if let Err(e) = prepared {
            return Err(self.explain_lock_wait(e).await);
        }
        let count = rows.len();
        let template = dialect::Template::parse(Dialect::Mysql, dialect::trim_statement(sql));
        let mut rows = rows.into_iter().enumerate().peekable();
        let mut total = 0;
        while let Some(&(first_row, _)) = rows.peek() {
            let mut script = String::new();
            for (index, row) in rows.by_ref().take(BULK_ROWS) {
                let statement = template
                    .render(&row, |value, n| {
                        dialect::bulk_literal(Dialect::Mysql, value, n)
                    })
                    .map_err(|e| e.at_row(index, count))?;
                script.push_str(&statement);
                script.push_str(";\n");
            }
            total += self.bulk_script(&script, first_row, count).await?;
        }
        Ok(total)
    }

    /// Runs one script of the bulk path: one statement a row, from
    /// `first_row` on.
    async fn bulk_script(
        &mut self,
        script: &str,
        first_row: usize,
        count: usize,
    ) -> Result<u64, DbError> {
        use futures::TryStreamExt;
        let mut done = 0usize;
        let mut total = 0;
        let outcome = {
            let mut results = sqlx::raw_sql(AssertSqlSafe(script)).fetch_many(&mut self.conn);
            loop {
                match results.try_next().await {
                    Ok(Some(sqlx::Either::Left(result))) => {
                        done += 1;
                        total += result.rows_affected();
                    }
                    Ok(Some(sqlx::Either::Right(_row))) => {}
                    Ok(None) => break Ok(total),
                    Err(e) => break Err(db_err(e)),
                }
            }
        };
        match outcome {
            Ok(total) => Ok(total),
            Err(e) => {
                let e = self.explain_lock_wait(e).await;
                Err(e.at_row(first_row + done, count))
            }
        }
    }

    /// After a statement that may have committed implicitly (DDL), opens a
    /// new transaction if the server says none is open any more.
    async fn reopen_after(&mut self, sql: &str) -> Result<(), DbError> {
        if !self.in_transaction
            || !may_commit_implicitly(sql)
            || self.can_ask_transaction == Some(false)
        {
            return Ok(());
        }
        let open: Result<Option<i64>, _> =
            sqlx::query_scalar("SELECT CAST(@@in_transaction AS SIGNED)")
                .fetch_one(&mut self.conn)
                .await;
        match open {
            Ok(Some(0)) => {
                tracing::debug!(
                    "a statement committed the transaction implicitly (MySQL DDL); opening a new one"
                );
                self.can_ask_transaction = Some(true);
                // The marker goes with it: the commit was MySQL's own, and
                // the broker recorded the failed state before the statement.
                let begin = self.begin_sql();
                self.run(&begin).await?;
            }
            Ok(_) => self.can_ask_transaction = Some(true),
            Err(e) => {
                tracing::debug!("the server cannot tell whether a transaction is open: {e}");
                self.can_ask_transaction = Some(false);
            }
        }
        Ok(())
    }
}

/// Whether a statement can end the open transaction: anything but plain
/// DML and queries may (DDL, `LOCK TABLES`, `CALL`, ...).
fn may_commit_implicitly(sql: &str) -> bool {
    // Any statement of a script, not only its first.
    super::confine::mysql_may_commit_implicitly(sql)
}

fn arguments(params: Vec<Value>) -> Result<MySqlArguments, DbError> {
    let mut args = MySqlArguments::default();
    for (i, value) in params.into_iter().enumerate() {
        let position = i + 1;
        let bound = match value {
            Value::Null => args.add(Option::<String>::None),
            Value::Boolean(b) => args.add(b),
            Value::Integer(n) => args.add(n),
            Value::Float(f) => args.add(f),
            Value::Text(s) => args.add(s),
            Value::Blob(b) => args.add(b),
            Value::Date(s) => {
                args.add(values::parse_date(&s).map_err(|e| e.at_parameter(position))?)
            }
            Value::Time(s) => {
                args.add(values::parse_time(&s).map_err(|e| e.at_parameter(position))?)
            }
            Value::Timestamp(s) => {
                args.add(values::parse_timestamp(&s).map_err(|e| e.at_parameter(position))?)
            }
            Value::Timestamptz(s) => {
                // MySQL has no type with a zone: the instant is bound in UTC,
                // which is also the session's time zone, so DATETIME stores
                // UTC and TIMESTAMP converts nothing.
                let ts = values::parse_timestamptz(&s).map_err(|e| e.at_parameter(position))?;
                let utc = ts.to_offset(UtcOffset::UTC);
                args.add(PrimitiveDateTime::new(utc.date(), utc.time()))
            }
            Value::Decimal(s) => {
                args.add(values::parse_decimal(&s).map_err(|e| e.at_parameter(position))?)
            }
            Value::Json(s) => {
                if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&s) {
                    return Err(DbError::new(format!(
                        "parameter {position}: not a valid JSON document: {e}"
                    )));
                }
                // Sent as utf8mb4 text, which a JSON column (MySQL) or its
                // LONGTEXT with a JSON_VALID check (MariaDB) accepts.
                args.add(s)
            }
            Value::Uuid(s) => {
                let u = values::parse_uuid(&s).map_err(|e| e.at_parameter(position))?;
                // No uuid type in MySQL: the hyphenated lower-case text, for CHAR(36).
                args.add(values::format_uuid(u))
            }
        };
        bound.map_err(|e| DbError::new(format!("cannot bind parameter {position}: {e}")))?;
    }
    Ok(args)
}

fn unmapped(column: &str, type_name: &str, conversion: &str) -> DbError {
    DbError::new(format!(
        "column `{column}` has the MySQL type {type_name}, which aludel does not map to a value; \
         convert it in the query, e.g. {conversion}"
    ))
}

fn decode_value(row: &MySqlRow, i: usize) -> Result<Value, DbError> {
    let raw = row.try_get_raw(i).map_err(db_err)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let column = row.columns()[i].name().to_string();
    let info: MySqlTypeInfo = raw.type_info().into_owned();
    let type_name = info.name().to_string();
    let bad = |e: sqlx::error::BoxDynError| {
        DbError::new(format!(
            "cannot read column `{column}` ({type_name}): {e}; cast it in the query, e.g. CAST({column} AS CHAR)"
        ))
    };
    let value = match type_name.as_str() {
        // TINYINT(1), which is what BOOLEAN is in MySQL and MariaDB.
        "BOOLEAN" => match <i64 as Decode<MySql>>::decode(raw).map_err(bad)? {
            0 => Value::Boolean(false),
            1 => Value::Boolean(true),
            n => {
                return Err(DbError::new(format!(
                    "column `{column}` is TINYINT(1), read as boolean, but holds {n}; \
                     cast it in the query to read the number, e.g. CAST({column} AS SIGNED)"
                )));
            }
        },
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => {
            Value::Integer(<i64 as Decode<MySql>>::decode(raw).map_err(bad)?)
        }
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
        | "BIGINT UNSIGNED" | "YEAR" => {
            let n = <u64 as Decode<MySql>>::decode(raw).map_err(bad)?;
            Value::Integer(i64::try_from(n).map_err(|_| {
                DbError::new(format!(
                    "column `{column}` holds {n}, above the largest integer a value can carry \
                     ({}); cast it in the query, e.g. CAST({column} AS CHAR)",
                    i64::MAX
                ))
            })?)
        }
        "FLOAT" => Value::Float(f64::from(<f32 as Decode<MySql>>::decode(raw).map_err(bad)?)),
        "DOUBLE" => Value::Float(<f64 as Decode<MySql>>::decode(raw).map_err(bad)?),
        // Sent as text by the server in both protocols: exact.
        "DECIMAL" => Value::Decimal(
            <&str as Decode<MySql>>::decode(raw)
                .map_err(bad)?
                .to_string(),
        ),
        "DATE" => Value::Date(values::format_date(
            <Date as Decode<MySql>>::decode(raw).map_err(bad)?,
        )),
        "TIME" => {
            let t = <MySqlTime as Decode<MySql>>::decode(raw).map_err(bad)?;
            let t = Time::try_from(t).map_err(|_| {
                DbError::new(format!(
                    "column `{column}` holds the duration {t}, not a time of day; \
                     cast it in the query, e.g. CAST({column} AS CHAR)"
                ))
            })?;
            Value::Time(values::format_time(t))
        }
        "DATETIME" => Value::Timestamp(values::format_timestamp(
            <PrimitiveDateTime as Decode<MySql>>::decode(raw).map_err(bad)?,
        )),
        // TIMESTAMP is an instant, shown in the session's zone, which is UTC.
        "TIMESTAMP" => Value::Timestamptz(values::format_timestamptz(
            <PrimitiveDateTime as Decode<MySql>>::decode(raw)
                .map_err(bad)?
                .assume_utc(),
        )),
        // MySQL's JSON; MariaDB's JSON is LONGTEXT and arrives as text.
        "JSON" => Value::Json(
            <&str as Decode<MySql>>::decode(raw)
                .map_err(bad)?
                .to_string(),
        ),
        "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET"
        | "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
            // The binary flag is also set for `_bin` collations of text:
            // only the `binary` collation means bytes.
            if <String as Type<MySql>>::compatible(&info) || type_name == "SET" {
                Value::Text(<String as Decode<MySql>>::decode(raw).map_err(bad)?)
            } else {
                Value::Blob(<Vec<u8> as Decode<MySql>>::decode(raw).map_err(bad)?)
            }
        }
        "BIT" => {
            return Err(unmapped(
                &column,
                &type_name,
                &format!("CAST({column} AS UNSIGNED)"),
            ));
        }
        "GEOMETRY" => {
            return Err(unmapped(
                &column,
                &type_name,
                &format!("ST_AsText({column})"),
            ));
        }
        other => return Err(unmapped(&column, other, &format!("CAST({column} AS CHAR)"))),
    };
    Ok(value)
}

fn decode_row(row: &MySqlRow, skip: usize) -> Result<Vec<Value>, DbError> {
    (skip..row.len()).map(|i| decode_value(row, i)).collect()
}

#[async_trait]
impl Connection for MysqlBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn transactional_ddl(&self) -> bool {
        false
    }

    async fn dangerous_privileges(&mut self) -> Result<Vec<Privilege>, DbError> {
        let rows: Vec<(String, String, Option<String>, String)> =
            sqlx::query_as(AssertSqlSafe(super::privileges::MYSQL_QUERY))
                .persistent(false)
                .fetch_all(&mut self.conn)
                .await
                .map_err(db_err)?;
        Ok(super::privileges::mysql(rows))
    }

    async fn begin(&mut self) -> Result<(), DbError> {
        self.marker = Some(format!("aludel_{:016x}", rand::random::<u64>()));
        self.ended = false;
        // One round trip: the server runs both.
        let begin = self.begin_sql();
        if let Err(e) = self.run(&begin).await {
            self.marker = None;
            return Err(e);
        }
        self.in_transaction = true;
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), DbError> {
        self.in_transaction = false;
        let Some(marker) = self.marker.take() else {
            return self.run("COMMIT").await.map(|_| ());
        };
        // When the RELEASE fails the server runs nothing after it.
        let sql = format!("RELEASE SAVEPOINT {marker}; COMMIT");
        match self.run(&sql).await {
            Err(e) if e.code.as_deref() == Some(NO_SUCH_SAVEPOINT) => {
                self.ended = true;
                let _ = self.run("ROLLBACK").await;
                Err(DbError::transaction_ended(
                    "the savepoint aludel set at BEGIN was gone before its COMMIT",
                ))
            }
            other => other.map(|_| ()),
        }
    }

    async fn transaction_ended(&mut self) -> Result<bool, DbError> {
        if self.ended {
            return Ok(true);
        }
        let Some(marker) = self.marker.clone() else {
            return Ok(false);
        };
        match self
            .run(&format!("RELEASE SAVEPOINT {marker}; SAVEPOINT {marker}"))
            .await
        {
            Ok(_) => Ok(false),
            Err(e) if e.code.as_deref() == Some(NO_SUCH_SAVEPOINT) => {
                self.ended = true;
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    async fn query_bounded(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        max_bytes: usize,
    ) -> Result<RowSet, DbError> {
        let (columns, rows) = self.fetch_bounded(sql, params, 0, max_bytes).await?;
        let columns = match columns {
            Some(columns) => columns,
            None => self.columns_of(sql).await?,
        };
        self.reopen_after(sql).await?;
        Ok(RowSet { columns, rows })
    }

    async fn rollback(&mut self) -> Result<(), DbError> {
        self.in_transaction = false;
        self.marker = None;
        // ROLLBACK without a transaction (after an implicit commit) is a no-op.
        self.run("ROLLBACK").await.map(|_| ())
    }

    async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, DbError> {
        let result = sqlx::query_with(AssertSqlSafe(sql), arguments(params)?)
            .execute(&mut self.conn)
            .await
            .map_err(db_err);
        let done = match result {
            Ok(done) => done,
            Err(e) => return Err(self.explain_lock_wait(e).await),
        };
        self.reopen_after(sql).await?;
        Ok(done.rows_affected())
    }

    async fn query(&mut self, sql: &str, params: Vec<Value>) -> Result<RowSet, DbError> {
        let rows = sqlx::query_with(AssertSqlSafe(sql), arguments(params)?)
            .fetch_all(&mut self.conn)
            .await
            .map_err(db_err)?;
        let columns = match rows.first() {
            Some(row) => row.columns().iter().map(|c| c.name().to_string()).collect(),
            // An empty result still has columns: the prepared statement knows them.
            None => self.columns_of(sql).await?,
        };
        let rows = rows
            .iter()
            .map(|r| decode_row(r, 0))
            .collect::<Result<_, _>>()?;
        self.reopen_after(sql).await?;
        Ok(RowSet { columns, rows })
    }

    /// One round trip to prepare the statement (the server refuses more
    /// than one statement there, and says how many parameters it takes),
    /// then the rows as one multi-statement text per [`BULK_ROWS`] rows,
    /// each row the statement with its values as literals: one round trip
    /// each, where binding a row is a round trip a row. The server stops at
    /// the first failing statement, so rows run in order and the first
    /// failure fails the call, naming its row. Outside a transaction each
    /// row still commits on its own, as the server runs them one by one.
    async fn execute_many(&mut self, sql: &str, rows: Vec<Vec<Value>>) -> Result<u64, DbError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let result = self.execute_many_in_bulk(sql, rows).await;
        self.reopen_after(sql).await?;
        result
    }

    async fn execute_script(&mut self, sql: &str) -> Result<u64, DbError> {
        let result = match self.script(sql).await {
            Err(e) => Err(self.explain_lock_wait(e).await),
            ok => ok,
        };
        // Even a failed script may have run DDL before the failing statement.
        self.reopen_after(sql).await?;
        result
    }

    async fn open_cursor(&mut self, sql: &str, params: Vec<Value>) -> Result<Cursor, DbError> {
        self.next_cursor += 1;
        let name = Cursor::name_for(self.next_cursor);
        let create = CURSOR_TABLE.create(&name, sql);
        sqlx::query_with(AssertSqlSafe(create), arguments(params)?)
            .execute(&mut self.conn)
            .await
            .map_err(db_err)?;
        let describe = format!("SELECT * FROM {}", quote(Dialect::Mysql, &name));
        let statement = (&mut self.conn)
            .prepare(AssertSqlSafe(describe).into_sql_str())
            .await
            .map_err(db_err)?;
        let columns = statement
            .columns()
            .iter()
            .skip(TempTableCursor::KEY_COLUMNS)
            .map(|c| c.name().to_string())
            .collect();
        Ok(Cursor::new(name, columns))
    }

    async fn cursor_next(
        &mut self,
        cursor: &mut Cursor,
        max: u32,
    ) -> Result<Vec<Vec<Value>>, DbError> {
        let Some(limit) = cursor.batch_size(max) else {
            return Ok(Vec::new());
        };
        let page = CURSOR_TABLE.page(&cursor.name);
        let params = vec![
            Value::Integer(cursor.position),
            Value::Integer(i64::from(limit)),
        ];
        let (_, mut rows) = self
            .fetch_bounded(
                &page,
                params,
                TempTableCursor::KEY_COLUMNS,
                cursor.max_bytes,
            )
            .await?;
        // The key leads each row: the next page starts after the last.
        let position = match rows.last().and_then(|r| r.first()) {
            Some(Value::Integer(key)) => *key,
            _ => cursor.position,
        };
        cursor.record_batch(limit, rows.len(), position);
        for row in &mut rows {
            row.drain(..TempTableCursor::KEY_COLUMNS);
        }
        Ok(rows)
    }

    async fn close_cursor(&mut self, cursor: Cursor) -> Result<(), DbError> {
        // With TEMPORARY, DROP does not commit the open transaction.
        self.run(&CURSOR_TABLE.drop(&cursor.name)).await.map(|_| ())
    }

    fn canceller(&self) -> Option<Arc<dyn Canceller>> {
        Some(Arc::new(MysqlCanceller {
            url: self.url.clone(),
            id: self.id,
        }))
    }
}

/// Cancels the migrating session's statement with `KILL QUERY` from a
/// connection of its own, opened only when a revision runs out of time.
struct MysqlCanceller {
    url: String,
    id: u64,
}

#[async_trait]
impl Canceller for MysqlCanceller {
    async fn cancel(&self) -> Result<(), DbError> {
        let mut conn = open(&self.url)
            .await
            .map_err(|e| DbError::new(e.to_string()))?;
        // The id is a number the server gave: nothing to quote.
        let killed = sqlx::raw_sql(AssertSqlSafe(format!("KILL QUERY {}", self.id)))
            .execute(&mut conn)
            .await
            .map_err(db_err);
        let _ = conn.close().await;
        killed.map(|_| ())
    }
}

/// connection id, user, host, command, seconds in it, transaction start.
type TransactionRow = (
    u64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// The other sessions with an open InnoDB transaction, oldest first: who a
/// lock wait was waiting for. `None` when none is found or the server will
/// not say (the statement is left out: it may hold a secret).
async fn open_transactions(conn: &mut MySqlConnection, me: u64) -> Option<String> {
    let rows: Vec<TransactionRow> = sqlx::query_as(
        "SELECT CAST(t.trx_mysql_thread_id AS UNSIGNED), CAST(p.user AS CHAR), \
                CAST(p.host AS CHAR), CAST(p.command AS CHAR), CAST(p.time AS SIGNED), \
                DATE_FORMAT(t.trx_started, '%Y-%m-%d %H:%i:%s') \
         FROM information_schema.innodb_trx t \
         LEFT JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id \
         WHERE t.trx_mysql_thread_id <> ? ORDER BY t.trx_started LIMIT 3",
    )
    .bind(me)
    .fetch_all(&mut *conn)
    .await
    .ok()?;
    if rows.is_empty() {
        return None;
    }
    let described: Vec<String> = rows
        .into_iter()
        .map(|(id, user, host, command, time, since)| {
            let mut out = format!(
                "connection {id} ({}@{}",
                user.unwrap_or_default(),
                host.unwrap_or_default()
            );
            if let Some(since) = since {
                out.push_str(&format!(", in a transaction since {since}"));
            }
            if let Some(command) = command {
                out.push_str(&format!(", {command} for {} s", time.unwrap_or(0)));
            }
            out.push(')');
            out
        })
        .collect();
    Some(described.join("; "))
}

/// The run lock: `GET_LOCK` held by a dedicated connection, released with
/// `RELEASE_LOCK` (and by the server if that connection dies).
pub struct MysqlLock {
    conn: MySqlConnection,
    name: String,
}

#[async_trait]
impl RunLock for MysqlLock {
    async fn release(self: Box<Self>) -> Result<(), DbError> {
        let MysqlLock { mut conn, name } = *self;
        let released = sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&name)
            .execute(&mut conn)
            .await
            .map_err(db_err);
        // Closing the connection releases it too, whatever happened above.
        let closed = conn.close().await.map_err(db_err);
        released?;
        closed
    }
}

/// The longest name `GET_LOCK` accepts.
const MAX_LOCK_NAME: usize = 64;

/// `GET_LOCK` names are global to the server: the database's name is part of
/// the lock's, so projects in two databases do not exclude each other. A
/// name that would be too long keeps a readable prefix and ends in a hash of
/// the whole.
fn lock_name(name: &str, database: &str) -> String {
    use sha2::{Digest, Sha256};
    let full = format!("{name}@{database}");
    if full.len() <= MAX_LOCK_NAME {
        return full;
    }
    let digest = hex::encode(Sha256::digest(full.as_bytes()));
    let hash = &digest[..16];
    let mut prefix_len = MAX_LOCK_NAME - hash.len() - 1;
    while !full.is_char_boundary(prefix_len) {
        prefix_len -= 1;
    }
    format!("{}~{hash}", &full[..prefix_len])
}

pub async fn lock(url: &str, name: &str, timeout: Duration) -> Result<MysqlLock, LockError> {
    let mut conn = open(url).await?;
    let target = super::redact_url(url);
    let failed = |source: DbError| LockError::Failed {
        target: target.clone(),
        source,
    };
    let database: Option<String> = sqlx::query_scalar("SELECT DATABASE()")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| failed(db_err(e)))?;
    let name = lock_name(name, database.as_deref().unwrap_or(""));
    let started = Instant::now();
    // 1 taken, 0 timed out, NULL an error (such as being killed).
    let got: Option<i64> = sqlx::query_scalar("SELECT CAST(GET_LOCK(?, ?) AS SIGNED)")
        .bind(&name)
        .bind(timeout.as_secs_f64())
        .fetch_one(&mut conn)
        .await
        .map_err(|e| failed(db_err(e)))?;
    match got {
        Some(1) => Ok(MysqlLock { conn, name }),
        Some(_) => {
            let holder = holder(&mut conn, &name).await;
            let _ = conn.close().await;
            Err(LockError::Timeout {
                target: format!("{target} (lock {name:?})"),
                waited: started.elapsed(),
                holder,
            })
        }
        None => Err(failed(DbError::new(format!(
            "GET_LOCK({name:?}) returned NULL: the server could not take the lock"
        )))),
    }
}

/// user, host, db and time of a process-list row.
type ProcessRow = (Option<String>, Option<String>, Option<String>, Option<i64>);

/// Who holds the lock, from the process list: `connection 12 (root@host:port,
/// database app, for 3 s)`. None when the server will not say.
async fn holder(conn: &mut MySqlConnection, name: &str) -> Option<String> {
    let id: Option<i64> = sqlx::query_scalar("SELECT CAST(IS_USED_LOCK(?) AS SIGNED)")
        .bind(name)
        .fetch_one(&mut *conn)
        .await
        .ok()?;
    let id = id?;
    let row: Option<ProcessRow> = sqlx::query_as(
        "SELECT CAST(user AS CHAR), CAST(host AS CHAR), CAST(db AS CHAR), \
             CAST(time AS SIGNED) FROM information_schema.processlist WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .ok()?;
    Some(match row {
        Some((user, host, db, time)) => format!(
            "connection {id} ({}@{}, database {}, for {} s)",
            user.unwrap_or_default(),
            host.unwrap_or_default(),
            db.unwrap_or_else(|| "none".into()),
            time.unwrap_or(0)
        ),
        None => format!("connection {id}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_name_fits_in_64_characters_and_stays_distinct() {
        assert_eq!(
            lock_name("aludel-aludel_version", "app"),
            "aludel-aludel_version@app"
        );
        let long_db = "d".repeat(64);
        let a = lock_name("aludel-aludel_version", &long_db);
        let b = lock_name("aludel-aludel_version", &format!("{long_db}x"));
        assert!(a.len() <= MAX_LOCK_NAME && b.len() <= MAX_LOCK_NAME);
        assert_ne!(a, b);
    }

    #[test]
    fn only_dml_and_queries_are_known_not_to_commit() {
        assert!(!may_commit_implicitly("  select 1"));
        assert!(!may_commit_implicitly("/* c */ INSERT INTO t VALUES (1)"));
        assert!(!may_commit_implicitly("-- c\n(SELECT 1)"));
        assert!(may_commit_implicitly("ALTER TABLE t ADD c INT"));
        assert!(may_commit_implicitly("create table t (x int)"));
        assert!(may_commit_implicitly(
            "INSERT INTO t VALUES (1); CREATE TABLE u (x INT)"
        ));
    }

    #[test]
    fn a_malformed_parameter_names_its_position_and_the_expected_form() {
        let Err(err) = arguments(vec![Value::Null, Value::Date("29/02/2024".into())]) else {
            panic!("a malformed date was bound");
        };
        assert_eq!(
            err.message,
            "parameter 2: \"29/02/2024\" is not a valid date value; expected YYYY-MM-DD"
        );
    }

    #[test]
    fn an_ssl_ca_without_an_ssl_mode_means_verify_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let ca = ca.display();
        let mode = |url: &str| mode_name(options(url).unwrap().get_ssl_mode());
        assert_eq!(mode(&format!("mysql://h/db?ssl-ca={ca}")), "VERIFY_CA");
        assert_eq!(
            mode(&format!("mysql://h/db?ssl-mode=REQUIRED&ssl-ca={ca}")),
            "REQUIRED"
        );
        assert_eq!(mode("mysql://h/db"), "PREFERRED");
        let missing = options("mysql://h/db?ssl-ca=/nonexistent.pem")
            .unwrap_err()
            .to_string();
        assert!(missing.contains("cannot read the ssl-ca file"), "{missing}");
    }

    #[test]
    fn mariadb_urls_are_read_as_mysql_urls() {
        let o = options("mariadb://root@127.0.0.1:3306/test").unwrap();
        assert_eq!(o.get_database(), Some("test"));
    }
}
