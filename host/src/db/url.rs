//! Database URLs: aludel's own forms (what sqlx reads) and SQLAlchemy's
//! (what every Alembic project already holds in `alembic.ini` or `.env`),
//! read into the one form the backends open. Everything that dispatches
//! on a URL's scheme goes through [`parse`], so that a URL means one
//! database wherever it is used (docs/connecting.md, "URLs").
//!
//! The two families differ on one form only: `sqlite:///x.db`, an absolute
//! path to sqlx (`sqlite://` then the path) and a relative one to
//! SQLAlchemy (`sqlite:///` then the path). Where both readings could name
//! a database, [`parse`] refuses with both rather than guess.

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::{Dialect, percent_decode, redact_url};

/// A URL read into what a backend opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbUrl {
    pub dialect: Dialect,
    /// The URL in the form sqlx reads: `sqlite:PATH`, `sqlite::memory:`,
    /// `postgresql://…`, `mysql://…`.
    pub url: String,
    /// The query parameters left out because they tune the Python driver
    /// and change nothing aludel does, each with why: said once per
    /// connection, never with its value.
    pub dropped: Vec<Dropped>,
}

/// A query parameter [`parse`] left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub key: String,
    pub reason: &'static str,
}

/// Why a URL cannot be read. Every message shows the URL redacted.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum UrlError {
    #[error(
        "unsupported database URL {url}: aludel speaks sqlite: (a file such as \
         sqlite:app.db, or sqlite::memory:), postgres:// or postgresql://, and \
         mysql:// or mariadb://, and SQLAlchemy's forms of these (sqlite:////abs.db, \
         sqlite+pysqlite:///rel.db, postgresql+psycopg2://, +psycopg, +asyncpg, +pg8000, \
         mysql+pymysql://, +mysqldb, +mysqlconnector, +aiomysql, +asyncmy, mariadb+mariadbconnector://)\n  \
         give a URL with one of these schemes in --url, DATABASE_URL or [database] url \
         in aludel.toml"
    )]
    UnsupportedScheme { url: String },
    #[error(
        "unsupported database URL {url}: aludel does not read SQLAlchemy's `{driver}` driver \
         for {dialect}\n  use {known} instead, or leave the driver out ({dialect}://)"
    )]
    UnsupportedDriver {
        url: String,
        dialect: &'static str,
        driver: String,
        known: &'static str,
    },
    #[error(
        "the SQLite URL {url} names two different files, and both could be opened:\n  \
         to aludel and sqlx, `sqlite://` is followed by the path: {absolute}\n  \
         to SQLAlchemy, `sqlite:///` is followed by a relative path: {relative}\n  \
         aludel does not guess: write sqlite:{absolute} for the first, or sqlite:{relative_as_written} \
         (or SQLAlchemy's sqlite+pysqlite:///{relative_as_written}) for the second"
    )]
    AmbiguousSqlite {
        url: String,
        absolute: String,
        relative: String,
        relative_as_written: String,
    },
    #[error(
        "the SQLite URL {url} names a host or a user: a SQLite URL names a file \
         (sqlite:app.db, sqlite:/abs/app.db, SQLAlchemy's sqlite:///app.db or sqlite:////abs/app.db)"
    )]
    SqliteHost { url: String },
    #[error(
        "the database URL {url} has the query parameter `{key}`, which aludel cannot honour: {reason}\n  \
         remove it from the URL"
    )]
    UnsupportedParameter {
        url: String,
        key: String,
        reason: &'static str,
    },
    #[error("the database URL {url} has `{key}={value}`: {key} must be one of {expected}")]
    InvalidParameter {
        url: String,
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("the database URL {url} gives the query parameter `{key}` twice: give it once")]
    DuplicateParameter { url: String, key: String },
}

/// Reads `url`; a relative SQLite path stays relative (to the working
/// directory, where sqlx and SQLAlchemy both take it).
pub fn parse(url: &str) -> Result<DbUrl, UrlError> {
    parse_in(url, None)
}

/// The dialect a URL speaks, from its scheme alone (offline mode needs it
/// without a database, and a SQLite URL's path need not be decided for
/// it); `None` for a scheme or driver aludel does not read.
pub fn dialect_of(url: &str) -> Option<Dialect> {
    let scheme = url.split(':').next()?.to_ascii_lowercase();
    let (family, driver) = match scheme.split_once('+') {
        Some((family, driver)) => (family, Some(driver)),
        None => (scheme.as_str(), None),
    };
    match (family, driver) {
        ("sqlite", None | Some("pysqlite" | "aiosqlite")) => Some(Dialect::Sqlite),
        ("postgres" | "postgresql", None) => Some(Dialect::Postgresql),
        ("postgres" | "postgresql", Some(d)) if PG_DRIVERS.contains(&d) => {
            Some(Dialect::Postgresql)
        }
        ("mysql" | "mariadb", None) => Some(Dialect::Mysql),
        ("mysql" | "mariadb", Some(d)) if MYSQL_DRIVERS.contains(&d) => Some(Dialect::Mysql),
        _ => None,
    }
}

/// The URL in the form the backends open (see [`DbUrl::url`]).
pub fn normalize(url: &str) -> Result<String, UrlError> {
    parse(url).map(|u| u.url)
}

/// Reads `url`, a relative SQLite path taken relative to `base` when given
/// (aludel.toml's URLs are relative to the project) and made absolute.
pub fn parse_in(url: &str, base: Option<&Path>) -> Result<DbUrl, UrlError> {
    let unsupported = || UrlError::UnsupportedScheme {
        url: redact_url(url),
    };
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(unsupported());
    };
    let scheme = scheme.to_ascii_lowercase();
    let (family, driver) = match scheme.split_once('+') {
        Some((family, driver)) => (family.to_string(), Some(driver.to_string())),
        None => (scheme.clone(), None),
    };
    match family.as_str() {
        "sqlite" => sqlite(url, rest, driver.as_deref(), base),
        "postgres" | "postgresql" => {
            let Some(after) = rest.strip_prefix("//") else {
                return Err(unsupported());
            };
            match driver.as_deref() {
                // aludel's own form, and SQLAlchemy's default driver
                // (psycopg2), whose parameters are libpq's, as sqlx's are.
                None => Ok(DbUrl {
                    dialect: Dialect::Postgresql,
                    url: url.to_string(),
                    dropped: Vec::new(),
                }),
                Some(d) if PG_DRIVERS.contains(&d) => {
                    let (head, query) = split_query(after);
                    let mut out = Translated::default();
                    for (key, raw) in params(url, query)? {
                        postgres_param(url, &key, &raw, &mut out)?;
                    }
                    Ok(DbUrl {
                        dialect: Dialect::Postgresql,
                        url: join("postgresql://", head, &out.params),
                        dropped: out.dropped,
                    })
                }
                Some(d) => Err(UrlError::UnsupportedDriver {
                    url: redact_url(url),
                    dialect: "postgresql",
                    driver: d.to_string(),
                    known: PG_KNOWN,
                }),
            }
        }
        "mysql" | "mariadb" => {
            let Some(after) = rest.strip_prefix("//") else {
                return Err(unsupported());
            };
            let driver = match driver.as_deref() {
                Some(d) if MYSQL_DRIVERS.contains(&d) => Some(d),
                Some(d) => {
                    return Err(UrlError::UnsupportedDriver {
                        url: redact_url(url),
                        dialect: if family == "mysql" {
                            "mysql"
                        } else {
                            "mariadb"
                        },
                        driver: d.to_string(),
                        known: MYSQL_KNOWN,
                    });
                }
                None => None,
            };
            let (head, query) = split_query(after);
            let out = mysql_params(url, driver, params(url, query)?)?;
            Ok(DbUrl {
                dialect: Dialect::Mysql,
                url: join("mysql://", head, &out.params),
                dropped: out.dropped,
            })
        }
        _ => Err(unsupported()),
    }
}

const PG_DRIVERS: &[&str] = &[
    "psycopg2",
    "psycopg2cffi",
    "psycopg",
    "psycopg_async",
    "asyncpg",
    "pg8000",
];
const PG_KNOWN: &str =
    "postgresql+psycopg2, +psycopg, +psycopg_async, +psycopg2cffi, +asyncpg or +pg8000";
const MYSQL_DRIVERS: &[&str] = &[
    "mysqldb",
    "pymysql",
    "mysqlconnector",
    "aiomysql",
    "asyncmy",
    "mariadbconnector",
];
const MYSQL_KNOWN: &str =
    "mysql+pymysql, +mysqldb, +mysqlconnector, +aiomysql, +asyncmy or mariadb+mariadbconnector";

/// The query parameters aludel writes, and those it left out.
#[derive(Debug, Default)]
struct Translated {
    /// `key=value`, the value as written (still percent-encoded).
    params: Vec<String>,
    dropped: Vec<Dropped>,
}

impl Translated {
    fn keep(&mut self, key: &str, raw: &str) {
        self.params.push(format!("{key}={raw}"));
    }

    fn leave_out(&mut self, key: &str, reason: &'static str) {
        self.dropped.push(Dropped {
            key: key.to_string(),
            reason,
        });
    }
}

/// The part before the query and the query. The query starts at the first
/// `?` after the user information, which ends at the last `@`: a password
/// may hold an unencoded `?` (as [`redact_url`] reads it).
fn split_query(after_slashes: &str) -> (&str, &str) {
    let from = after_slashes.rfind('@').map_or(0, |at| at + 1);
    match after_slashes[from..].find('?') {
        Some(q) => (&after_slashes[..from + q], &after_slashes[from + q + 1..]),
        None => (after_slashes, ""),
    }
}

/// The query's parameters: the key decoded, the value as written. A key
/// given twice is refused: drivers disagree on which one wins.
fn params(url: &str, query: &str) -> Result<Vec<(String, String)>, UrlError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key);
        if out.iter().any(|(k, _)| *k == key) {
            return Err(UrlError::DuplicateParameter {
                url: redact_url(url),
                key,
            });
        }
        out.push((key, raw.to_string()));
    }
    Ok(out)
}

fn join(scheme: &str, head: &str, params: &[String]) -> String {
    if params.is_empty() {
        format!("{scheme}{head}")
    } else {
        format!("{scheme}{head}?{}", params.join("&"))
    }
}

/// libpq's parameters that sqlx reads as libpq does.
const LIBPQ_PARAMS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

const SSL_MODES: &str = "disable, allow, prefer, require, verify-ca or verify-full";

fn postgres_param(url: &str, key: &str, raw: &str, out: &mut Translated) -> Result<(), UrlError> {
    match key {
        k if LIBPQ_PARAMS.contains(&k) => {
            if k == "sslmode" {
                check_pg_ssl_mode(url, k, raw)?;
            }
            out.keep(k, raw);
        }
        // asyncpg names the TLS mode `ssl`, with libpq's values.
        "ssl" => {
            let mode = check_pg_ssl_mode(url, key, raw)?;
            out.keep("sslmode", &mode);
        }
        "connect_timeout" | "timeout" => {
            out.leave_out(key, "aludel waits for a connection as sqlx does")
        }
        "keepalives"
        | "keepalives_idle"
        | "keepalives_interval"
        | "keepalives_count"
        | "tcp_keepalive" => out.leave_out(key, "TCP keepalives tune the Python driver only"),
        "client_encoding" => out.leave_out(key, "aludel always speaks UTF-8 to the server"),
        "prepared_statement_cache_size"
        | "statement_cache_size"
        | "max_cached_statement_lifetime"
        | "max_cacheable_statement_size"
        | "prepare_threshold" => out.leave_out(key, "statement caches tune the Python driver only"),
        "command_timeout" => out.leave_out(
            key,
            "a revision's time limit is [runtime] timeout_seconds, enforced in the server too",
        ),
        "channel_binding" => {
            return Err(UrlError::UnsupportedParameter {
                url: redact_url(url),
                key: key.to_string(),
                reason: "aludel's PostgreSQL driver does not do SCRAM channel binding; \
                         sslmode=verify-full authenticates the server instead",
            });
        }
        _ => {
            return Err(UrlError::UnsupportedParameter {
                url: redact_url(url),
                key: key.to_string(),
                reason: "it has no equivalent in aludel's PostgreSQL driver, which reads \
                         sslmode, sslrootcert, sslcert, sslkey, host, hostaddr, port, dbname, \
                         user, password, application_name and options (asyncpg's ssl too)",
            });
        }
    }
    Ok(())
}

fn check_pg_ssl_mode(url: &str, key: &str, raw: &str) -> Result<String, UrlError> {
    let value = percent_decode(raw).to_ascii_lowercase();
    match value.as_str() {
        "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full" => Ok(value),
        _ => Err(UrlError::InvalidParameter {
            url: redact_url(url),
            key: key.to_string(),
            value,
            expected: SSL_MODES,
        }),
    }
}

/// The parameters sqlx's MySQL driver reads itself: kept as they are in
/// aludel's own `mysql://` form.
const SQLX_MYSQL_PARAMS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslca",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "charset",
    "collation",
    "statement-cache-capacity",
    "socket",
    "timezone",
    "time-zone",
];

/// The TLS a MySQL driver's parameters ask for, gathered before the one
/// `ssl-mode` that says it is written.
#[derive(Debug, Default)]
struct MysqlTls {
    mode: Option<String>,
    ca: bool,
    client_cert: bool,
    on: Option<bool>,
    verify_cert: Option<bool>,
    check_hostname: Option<bool>,
}

const MYSQL_SSL_MODES: &str = "DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY";

/// A MySQL URL's query. `driver` is `None` for the bare `mysql://` form,
/// which is aludel's own and SQLAlchemy's for mysqldb: there sqlx's own
/// parameters pass as they are, and mysqldb's (which sqlx would silently
/// ignore, TLS among them) are translated.
fn mysql_params(
    url: &str,
    driver: Option<&str>,
    params: Vec<(String, String)>,
) -> Result<Translated, UrlError> {
    let mut out = Translated::default();
    let mut tls = MysqlTls::default();
    let flag = |key: &str, raw: &str| -> Result<bool, UrlError> {
        match percent_decode(raw).to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            other => Err(UrlError::InvalidParameter {
                url: redact_url(url),
                key: key.to_string(),
                value: other.to_string(),
                expected: "true or false",
            }),
        }
    };
    for (key, raw) in params {
        match key.as_str() {
            "charset" | "collation" => out.keep(&key, &raw),
            "ssl_ca" => {
                tls.ca = true;
                out.keep("ssl-ca", &raw);
            }
            "ssl_cert" => {
                tls.client_cert = true;
                out.keep("ssl-cert", &raw);
            }
            "ssl_key" => {
                tls.client_cert = true;
                out.keep("ssl-key", &raw);
            }
            "ssl_mode" => {
                let mode = percent_decode(&raw).to_ascii_uppercase().replace('-', "_");
                if !matches!(
                    mode.as_str(),
                    "DISABLED" | "PREFERRED" | "REQUIRED" | "VERIFY_CA" | "VERIFY_IDENTITY"
                ) {
                    return Err(UrlError::InvalidParameter {
                        url: redact_url(url),
                        key,
                        value: mode,
                        expected: MYSQL_SSL_MODES,
                    });
                }
                tls.mode = Some(mode);
            }
            "ssl" => tls.on = Some(flag(&key, &raw)?),
            "ssl_disabled" => tls.on = Some(!flag(&key, &raw)?),
            "ssl_verify_cert" => {
                let on = flag(&key, &raw)?;
                tls.verify_cert = Some(on);
                // MariaDB Connector/Python's one switch checks the host too.
                if driver == Some("mariadbconnector") {
                    tls.check_hostname = Some(on);
                }
            }
            "ssl_check_hostname" => tls.check_hostname = Some(flag(&key, &raw)?),
            "ssl_verify_identity" => {
                let on = flag(&key, &raw)?;
                tls.check_hostname = Some(on);
                if on {
                    tls.verify_cert = Some(true);
                }
            }
            "unix_socket" => out.keep("socket", &raw),
            "connect_timeout" | "read_timeout" | "write_timeout" => {
                out.leave_out(&key, "aludel waits for a connection as sqlx does")
            }
            "local_infile" => out.leave_out(&key, "aludel never enables LOAD DATA LOCAL INFILE"),
            "autocommit" => out.leave_out(&key, "aludel opens and ends every transaction itself"),
            "binary_prefix" | "buffered" | "use_pure" | "program_name" => {
                out.leave_out(&key, "it tunes the Python driver only")
            }
            "ssl_capath" | "ssl_cipher" => {
                return Err(UrlError::UnsupportedParameter {
                    url: redact_url(url),
                    key,
                    reason: "aludel's MySQL driver takes one CA file (ssl_ca) and no cipher list",
                });
            }
            k if driver.is_none() && SQLX_MYSQL_PARAMS.contains(&k) => out.keep(k, &raw),
            // The bare form is aludel's own too: what sqlx does with a name
            // it does not know stays as it was.
            _ if driver.is_none() => out.keep(&key, &raw),
            _ => {
                return Err(UrlError::UnsupportedParameter {
                    url: redact_url(url),
                    key,
                    reason: "it has no equivalent in aludel's MySQL driver, which reads \
                             charset, collation, ssl_mode, ssl_ca, ssl_cert, ssl_key, \
                             ssl_check_hostname, ssl_verify_cert, ssl_verify_identity, \
                             ssl_disabled, ssl and unix_socket",
                });
            }
        }
    }
    if let Some(mode) = mysql_ssl_mode(driver, &tls) {
        out.params.push(format!("ssl-mode={mode}"));
    }
    Ok(out)
}

/// The `ssl-mode` that does what the Python driver would do with these
/// parameters; `None` leaves sqlx's default (PREFERRED, as mysqldb's).
fn mysql_ssl_mode(driver: Option<&str>, tls: &MysqlTls) -> Option<String> {
    if let Some(mode) = &tls.mode {
        return Some(mode.clone());
    }
    if tls.on == Some(false) {
        return Some("DISABLED".into());
    }
    if !(tls.ca || tls.client_cert || tls.on == Some(true)) {
        return None;
    }
    // Given a CA, PyMySQL (and aiomysql, asyncmy) verify the certificate
    // and the host name; libmysqlclient (mysqldb) verifies the
    // certificate; mysql-connector and MariaDB's connector verify nothing
    // unless told.
    let pymysql_like = matches!(driver, Some("pymysql" | "aiomysql" | "asyncmy"));
    let mysqldb = matches!(driver, None | Some("mysqldb"));
    let verify_cert = tls
        .verify_cert
        .unwrap_or(tls.ca && (pymysql_like || mysqldb));
    let check_hostname = tls.check_hostname.unwrap_or(tls.ca && pymysql_like);
    Some(
        match (verify_cert, check_hostname) {
            (true, true) => "VERIFY_IDENTITY",
            (true, false) => "VERIFY_CA",
            (false, _) => "REQUIRED",
        }
        .into(),
    )
}

/// The reading of a SQLite URL: `rest` is what follows `sqlite:`.
fn sqlite(
    url: &str,
    rest: &str,
    driver: Option<&str>,
    base: Option<&Path>,
) -> Result<DbUrl, UrlError> {
    let file = |path: &str, query: Vec<String>| DbUrl {
        dialect: Dialect::Sqlite,
        url: join("sqlite:", &anchor(path, base), &query),
        dropped: Vec::new(),
    };
    let memory = || DbUrl {
        dialect: Dialect::Sqlite,
        url: "sqlite::memory:".into(),
        dropped: Vec::new(),
    };
    if let Some(d) = driver
        && d != "pysqlite"
        && d != "aiosqlite"
    {
        return Err(UrlError::UnsupportedDriver {
            url: redact_url(url),
            dialect: "sqlite",
            driver: d.to_string(),
            known: "sqlite+pysqlite or sqlite+aiosqlite (SQLCipher's encrypted files are not read)",
        });
    }
    let Some(after) = rest.strip_prefix("//") else {
        if driver.is_some() {
            return Err(UrlError::UnsupportedScheme {
                url: redact_url(url),
            });
        }
        // aludel's own `sqlite:PATH` and `sqlite::memory:`: sqlx's reading.
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path == ":memory:" || path.is_empty() {
            return Ok(DbUrl {
                dialect: Dialect::Sqlite,
                url: url.to_string(),
                dropped: Vec::new(),
            });
        }
        return Ok(file(path, raw_params(query)));
    };
    let (path, query) = after.split_once('?').unwrap_or((after, ""));
    if let Some(host_part) = path.split('/').next()
        && driver.is_some()
        && !host_part.is_empty()
    {
        // `sqlite+pysqlite://x.db`: SQLAlchemy reads x.db as a host.
        return Err(UrlError::SqliteHost {
            url: redact_url(url),
        });
    }
    match path {
        // `sqlite://`: in memory to SQLAlchemy; sqlx opens a private
        // temporary database, gone when closed: the same to a run.
        "" if query.is_empty() => return Ok(memory()),
        "" | ":memory:" if driver.is_none() => {
            return Ok(DbUrl {
                dialect: Dialect::Sqlite,
                url: url.to_string(),
                dropped: Vec::new(),
            });
        }
        // SQLAlchemy's in-memory forms (`sqlite:///`, `sqlite:///:memory:`).
        "/" | "/:memory:" => return sqlalchemy_sqlite(url, "", query, base, true),
        _ => {}
    }
    if driver.is_some() {
        // Only SQLAlchemy reads `sqlite+pysqlite:`: its `///` is followed by
        // the path, relative unless it starts with `/` (`////abs.db`).
        return sqlalchemy_sqlite(url, &path[1..], query, base, false);
    }
    let Some(after_root) = path.strip_prefix('/') else {
        // `sqlite://app.db`: relative to sqlx, invalid to SQLAlchemy.
        return Ok(file(path, raw_params(query)));
    };
    if after_root.starts_with('/') {
        // `sqlite:////abs.db`: SQLAlchemy's absolute path, and `//abs.db`
        // to sqlx, the same file.
        return Ok(file(after_root, raw_params(query)));
    }
    // `sqlite:///x.db`: `/x.db` to sqlx, `x.db` to SQLAlchemy. `uri=true`
    // is SQLAlchemy's alone (sqlx refuses it).
    let query_params = params(url, query)?;
    if query_params
        .iter()
        .any(|(k, v)| k == "uri" && percent_decode(v).eq_ignore_ascii_case("true"))
    {
        return sqlalchemy_sqlite(url, after_root, query, base, false);
    }
    let relative_dir = base
        .map(Path::to_path_buf)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let relative = relative_dir.join(percent_decode(after_root));
    let absolute = PathBuf::from(percent_decode(path));
    // A reading whose directory does not exist cannot open a database: only
    // when both can is there anything to guess. One file under two names
    // (run from `/`) is no ambiguity either.
    let possible = |p: &Path| p.parent().is_some_and(Path::is_dir);
    if relative == absolute || !possible(&relative) {
        return Ok(file(path, raw_params(query)));
    }
    if !possible(&absolute) {
        return sqlalchemy_sqlite(url, after_root, query, base, false);
    }
    Err(UrlError::AmbiguousSqlite {
        url: redact_url(url),
        absolute: absolute.display().to_string(),
        relative: relative.display().to_string(),
        relative_as_written: after_root.to_string(),
    })
}

/// A SQLite path made absolute against `base` when it is relative and a
/// base is given.
fn anchor(path: &str, base: Option<&Path>) -> String {
    match base {
        Some(base) if !Path::new(path).is_absolute() => base.join(path).display().to_string(),
        _ => path.to_string(),
    }
}

fn raw_params(query: &str) -> Vec<String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// SQLAlchemy's reading: `database` is what follows `sqlite:///` (a
/// relative path, or an absolute one starting with `/`), `memory` for its
/// in-memory forms. pysqlite's own parameters tune the Python driver and
/// are dropped; with `uri=true` the database is a SQLite URI filename
/// (`file:x.db`) and the parameters SQLite reads from it pass to sqlx,
/// which reads the same ones.
fn sqlalchemy_sqlite(
    url: &str,
    database: &str,
    query: &str,
    base: Option<&Path>,
    memory: bool,
) -> Result<DbUrl, UrlError> {
    let mut out = Translated::default();
    let query_params = params(url, query)?;
    let uri = query_params
        .iter()
        .any(|(k, v)| k == "uri" && percent_decode(v).eq_ignore_ascii_case("true"));
    for (key, raw) in query_params {
        match key.as_str() {
            "uri" => {}
            "mode" | "cache" | "immutable" | "vfs" if uri => out.keep(&key, &raw),
            "check_same_thread" | "cached_statements" | "detect_types" | "factory" => {
                out.leave_out(&key, "it tunes Python's sqlite3 module only")
            }
            "timeout" => out.leave_out(
                &key,
                "aludel waits for a locked SQLite database as long as --lock-timeout says",
            ),
            "isolation_level" => {
                out.leave_out(&key, "aludel opens and ends every transaction itself")
            }
            _ => {
                return Err(UrlError::UnsupportedParameter {
                    url: redact_url(url),
                    key,
                    reason: if uri {
                        "of SQLite's URI parameters aludel reads mode, cache, immutable and vfs"
                    } else {
                        "it is neither a parameter of Python's sqlite3 module nor, without \
                         uri=true, one of SQLite's (mode, cache, immutable, vfs)"
                    },
                });
            }
        }
    }
    let database = if uri {
        database
            .strip_prefix("file:")
            .map(|p| p.strip_prefix("//").unwrap_or(p))
            .unwrap_or(database)
    } else {
        database
    };
    let in_memory = memory || database.is_empty() || database == ":memory:";
    let url = if in_memory {
        if out.params.is_empty() {
            "sqlite::memory:".to_string()
        } else {
            join("sqlite::memory:", "", &out.params)
        }
    } else {
        join("sqlite:", &anchor(database, base), &out.params)
    };
    Ok(DbUrl {
        dialect: Dialect::Sqlite,
        url,
        dropped: out.dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> String {
        normalize(u).unwrap_or_else(|e| panic!("{u}: {e}"))
    }

    fn err(u: &str) -> String {
        normalize(u).expect_err(u).to_string()
    }

    #[test]
    fn aludel_s_own_urls_come_back_as_they_were_or_in_the_form_sqlx_reads_the_same() {
        for same in [
            "sqlite::memory:",
            "sqlite:app.db",
            "sqlite:app.db?mode=rwc",
            "sqlite:/var/db/app.db",
            "postgres://u:p@h:5432/db?sslmode=require",
            "postgresql://u@h/db",
            "mysql://root@127.0.0.1:3306/test",
            "mysql://root@h/test?ssl-mode=REQUIRED&statement-cache-capacity=10",
        ] {
            assert_eq!(url(same), same);
        }
        assert_eq!(url("mariadb://root@h/test"), "mysql://root@h/test");
        assert_eq!(url("sqlite://app.db"), "sqlite:app.db");
        assert_eq!(
            url("sqlite://data/app.db?mode=rwc"),
            "sqlite:data/app.db?mode=rwc"
        );
        assert_eq!(url("sqlite://:memory:"), "sqlite://:memory:");
        assert_eq!(url("sqlite://"), "sqlite::memory:");
    }

    #[test]
    fn sqlalchemy_s_sqlite_forms_name_the_file_sqlalchemy_names() {
        assert_eq!(url("sqlite:////var/db/app.db"), "sqlite:/var/db/app.db");
        assert_eq!(url("sqlite+pysqlite:///app.db"), "sqlite:app.db");
        assert_eq!(url("sqlite+aiosqlite:///data/app.db"), "sqlite:data/app.db");
        assert_eq!(url("sqlite+pysqlite:////abs/app.db"), "sqlite:/abs/app.db");
        assert_eq!(url("sqlite+pysqlite://"), "sqlite::memory:");
        assert_eq!(url("sqlite:///:memory:"), "sqlite::memory:");
        assert_eq!(url("sqlite:///"), "sqlite::memory:");
        assert_eq!(url("sqlite+pysqlite:///:memory:"), "sqlite::memory:");
    }

    #[test]
    fn a_relative_sqlite_path_is_anchored_at_the_base_when_one_is_given() {
        let base = Path::new("/proj");
        let read = |u: &str| parse_in(u, Some(base)).unwrap().url;
        assert_eq!(read("sqlite://aludel.db"), "sqlite:/proj/aludel.db");
        assert_eq!(
            read("sqlite:data/x.db?mode=rwc"),
            "sqlite:/proj/data/x.db?mode=rwc"
        );
        assert_eq!(read("sqlite+pysqlite:///app.db"), "sqlite:/proj/app.db");
        assert_eq!(read("sqlite:////abs/app.db"), "sqlite:/abs/app.db");
        assert_eq!(read("sqlite::memory:"), "sqlite::memory:");
        // What it gives back reads the same again.
        assert_eq!(read("sqlite:/proj/aludel.db"), "sqlite:/proj/aludel.db");
    }

    #[test]
    fn sqlite_three_slashes_is_refused_with_both_readings_when_both_could_be_opened() {
        let message = err("sqlite:///app.db");
        let cwd = std::env::current_dir().unwrap();
        assert!(message.contains("names two different files"), "{message}");
        assert!(message.contains(": /app.db"), "{message}");
        assert!(
            message.contains(&cwd.join("app.db").display().to_string()),
            "{message}"
        );
        assert!(
            message.contains("write sqlite:/app.db for the first"),
            "{message}"
        );
        assert!(message.contains("sqlite:app.db"), "{message}");
        assert!(message.contains("sqlite+pysqlite:///app.db"), "{message}");
    }

    #[test]
    fn sqlite_three_slashes_takes_the_only_reading_whose_directory_exists() {
        let dir = tempfile::tempdir().unwrap();
        let abs = dir.path().join("x.db");
        // Relative to the working directory, `tmp/.tmpXXXX/` does not exist.
        assert_eq!(
            url(&format!("sqlite://{}", abs.display())),
            format!("sqlite:{}", abs.display())
        );
        // And the other way: a directory under the base but not under `/`.
        let base = dir.path();
        std::fs::create_dir(base.join("only-here")).unwrap();
        assert_eq!(
            parse_in("sqlite:///only-here/x.db", Some(base))
                .unwrap()
                .url,
            format!("sqlite:{}", base.join("only-here/x.db").display())
        );
        // uri=true is SQLAlchemy's alone.
        assert_eq!(
            url("sqlite:///file:app.db?mode=ro&uri=true"),
            "sqlite:app.db?mode=ro"
        );
    }

    #[test]
    fn pysqlite_s_own_parameters_are_dropped_and_unknown_ones_refused() {
        let read = parse("sqlite+pysqlite:///app.db?check_same_thread=false&timeout=10").unwrap();
        assert_eq!(read.url, "sqlite:app.db");
        let keys: Vec<&str> = read.dropped.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["check_same_thread", "timeout"]);
        let message = err("sqlite+pysqlite:///app.db?nolock=1");
        assert!(message.contains("`nolock`"), "{message}");
        assert!(message.contains("remove it"), "{message}");
        assert!(err("sqlite+pysqlite://host/app.db").contains("names a file"));
        assert!(err("sqlite+pysqlcipher:///app.db").contains("pysqlcipher"));
    }

    #[test]
    fn sqlalchemy_s_postgresql_drivers_become_postgresql_urls_with_their_parameters_translated() {
        for driver in [
            "psycopg2",
            "psycopg",
            "psycopg_async",
            "pg8000",
            "asyncpg",
            "psycopg2cffi",
        ] {
            assert_eq!(
                url(&format!("postgresql+{driver}://u:p@h:5433/db")),
                "postgresql://u:p@h:5433/db"
            );
        }
        assert_eq!(
            url(
                "postgresql+psycopg2://u@h/db?sslmode=require&sslrootcert=/ca.pem&application_name=x"
            ),
            "postgresql://u@h/db?sslmode=require&sslrootcert=/ca.pem&application_name=x"
        );
        assert_eq!(
            url("postgresql+asyncpg://u@h/db?ssl=require"),
            "postgresql://u@h/db?sslmode=require"
        );
        assert_eq!(
            url("postgresql+asyncpg://u@h/db?ssl=verify-full&prepared_statement_cache_size=0"),
            "postgresql://u@h/db?sslmode=verify-full"
        );
        assert_eq!(
            url("postgresql+psycopg://u@/db?host=/var/run/postgresql"),
            "postgresql://u@/db?host=/var/run/postgresql"
        );
        // A password holding `?` and `@` stays the password.
        assert_eq!(
            url("postgresql+psycopg2://u:a?b@c@h/db?connect_timeout=5"),
            "postgresql://u:a?b@c@h/db"
        );
        let message = err("postgresql+asyncpg://u:secret@h/db?ssl=maybe");
        assert!(message.contains("ssl=maybe"), "{message}");
        assert!(message.contains("verify-full"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        let message =
            err("postgresql+psycopg2://u:secret@h/db?sslmode=require&channel_binding=require");
        assert!(message.contains("channel_binding"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        assert!(err("postgresql+psycopg2://h/db?target_session_attrs=any").contains("remove it"));
        assert!(err("postgresql+pygresql://h/db").contains("postgresql+psycopg2"));
        assert!(err("postgresql+psycopg2://h/db?sslmode=a&sslmode=b").contains("twice"));
    }

    #[test]
    fn sqlalchemy_s_mysql_drivers_become_mysql_urls_with_the_tls_their_driver_would_use() {
        for driver in [
            "pymysql",
            "mysqldb",
            "mysqlconnector",
            "aiomysql",
            "asyncmy",
        ] {
            assert_eq!(
                url(&format!(
                    "mysql+{driver}://root:pw@h:3306/test?charset=utf8mb4"
                )),
                "mysql://root:pw@h:3306/test?charset=utf8mb4"
            );
        }
        assert_eq!(
            url("mariadb+mariadbconnector://root@h/test"),
            "mysql://root@h/test"
        );
        assert_eq!(url("mariadb+pymysql://root@h/test"), "mysql://root@h/test");
        assert_eq!(
            url("mysql+pymysql://u@h/db?ssl_ca=/ca.pem"),
            "mysql://u@h/db?ssl-ca=/ca.pem&ssl-mode=VERIFY_IDENTITY"
        );
        assert_eq!(
            url("mysql+pymysql://u@h/db?ssl_ca=/ca.pem&ssl_check_hostname=false"),
            "mysql://u@h/db?ssl-ca=/ca.pem&ssl-mode=VERIFY_CA"
        );
        assert_eq!(
            url("mysql+mysqldb://u@h/db?ssl_ca=/ca.pem"),
            "mysql://u@h/db?ssl-ca=/ca.pem&ssl-mode=VERIFY_CA"
        );
        assert_eq!(
            url("mysql+mysqldb://u@h/db?ssl_mode=required"),
            "mysql://u@h/db?ssl-mode=REQUIRED"
        );
        assert_eq!(
            url("mysql+mysqlconnector://u@h/db?ssl_ca=/ca.pem"),
            "mysql://u@h/db?ssl-ca=/ca.pem&ssl-mode=REQUIRED"
        );
        assert_eq!(
            url("mysql+mysqlconnector://u@h/db?ssl_ca=/ca.pem&ssl_verify_identity=true"),
            "mysql://u@h/db?ssl-ca=/ca.pem&ssl-mode=VERIFY_IDENTITY"
        );
        assert_eq!(
            url("mysql+mysqlconnector://u@h/db?ssl_disabled=true"),
            "mysql://u@h/db?ssl-mode=DISABLED"
        );
        assert_eq!(
            url("mariadb+mariadbconnector://u@h/db?ssl=true"),
            "mysql://u@h/db?ssl-mode=REQUIRED"
        );
        assert_eq!(
            url("mysql+pymysql://u@/db?unix_socket=/run/mysqld/mysqld.sock&local_infile=1"),
            "mysql://u@/db?socket=/run/mysqld/mysqld.sock"
        );
        // The bare form is mysqldb's to SQLAlchemy: its TLS parameters,
        // which sqlx would ignore, are translated; sqlx's own are kept.
        assert_eq!(
            url("mysql://u@h/db?ssl_ca=/ca.pem&statement-cache-capacity=5"),
            "mysql://u@h/db?ssl-ca=/ca.pem&statement-cache-capacity=5&ssl-mode=VERIFY_CA"
        );
        assert!(err("mysql+pymysql://u@h/db?ssl_cipher=x").contains("no cipher list"));
        assert!(err("mysql+pymysql://u@h/db?ssl_mode=sometimes").contains("VERIFY_IDENTITY"));
        assert!(err("mysql+pymysql://u@h/db?init_command=x").contains("remove it"));
        assert!(err("mysql+oursql://u@h/db").contains("mysql+pymysql"));
    }

    #[test]
    fn an_unknown_scheme_is_refused_with_every_form_aludel_reads() {
        let message = err("oracle://u:secret@db.example/x");
        assert!(message.starts_with("unsupported database URL oracle://u:***@db.example/x"));
        for form in [
            "sqlite:",
            "postgres://",
            "postgresql://",
            "mysql://",
            "mariadb://",
            "postgresql+psycopg2://",
            "mysql+pymysql://",
        ] {
            assert!(message.contains(form), "{form}: {message}");
        }
        assert!(message.contains("--url, DATABASE_URL or [database] url"));
        assert!(err("postgres:h/db").starts_with("unsupported database URL"));
        assert!(err("no-colon").starts_with("unsupported database URL"));
    }
}
