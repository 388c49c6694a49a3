//! `aludel.toml`: the project's configuration, parsed and validated, with
//! paths resolved against the project root.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::ProjectError;
use super::manifest::{TomlDoc, parse_toml};

/// The default name of the version table, as Alembic's `alembic_version`.
pub const DEFAULT_VERSION_TABLE: &str = "aludel_version";

/// The configuration of a project, from its `aludel.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `[database] url`. A relative SQLite path is relative to the project
    /// root: use [`Config::resolved_database_url`].
    pub database_url: Option<String>,
    /// `[database] version_table`: a SQL identifier, optionally
    /// schema-qualified (`schema.table`). It is checked here because SQL
    /// cannot bind an identifier as a parameter, so the database layer has to
    /// put it in the statement text.
    pub version_table: String,
    /// `[database] transaction`: how revisions are grouped into transactions.
    pub transaction: TransactionMode,
    pub runtime: RuntimeConfig,
    /// `[models]`: where the desired schema comes from, for autogenerate,
    /// `check` and `drift`. None when the section is absent.
    pub models: Option<ModelsConfig>,
}

/// `[models]`: the desired schema (docs/autogenerate.md).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelsConfig {
    pub source: ModelSource,
    /// Tables (names or `*`/`?` patterns) aludel does not manage.
    pub exclude: Vec<String>,
    /// A scratch database of the project's backend; None for the default
    /// (SQLite: in memory; PostgreSQL and MySQL: a temporary database on
    /// the project's server, dropped at the end).
    pub dev_url: Option<String>,
}

/// Where the desired DDL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// `sql = [...]`: globs relative to the project, applied in the order
    /// listed, each glob's files sorted by name.
    Sql(Vec<String>),
    /// `command = "..."`: a program run in the project directory whose
    /// standard output is the DDL. Not sandboxed: it is the developer's own.
    Command(String),
}

impl Default for ModelSource {
    fn default() -> Self {
        ModelSource::Sql(Vec::new())
    }
}

/// How a run groups revisions into transactions (`[database] transaction`
/// in aludel.toml, `transaction` in a revision.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransactionMode {
    /// Each revision commits with its version-table change (the default).
    #[default]
    Revision,
    /// The whole run is one transaction: all revisions or none.
    Run,
    /// No transaction: for statements that cannot run in one, such as
    /// PostgreSQL's `CREATE INDEX CONCURRENTLY`. A revision that fails
    /// part-way is recorded as failed and must be resolved.
    None,
    /// A batched backfill (revision.toml only): each `commit-batch` of the
    /// revision commits, with its position; the version-table change
    /// commits with the last batch (docs/backfills.md).
    Batched,
}

impl TransactionMode {
    pub fn parse(text: &str) -> Option<TransactionMode> {
        match text {
            "revision" => Some(TransactionMode::Revision),
            "run" => Some(TransactionMode::Run),
            "none" => Some(TransactionMode::None),
            "batched" => Some(TransactionMode::Batched),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TransactionMode::Revision => "revision",
            TransactionMode::Run => "run",
            TransactionMode::None => "none",
            TransactionMode::Batched => "batched",
        }
    }
}

/// `[runtime]`: the limits of each revision's sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Memory a revision may use, in MiB (default 256).
    pub memory_limit_mib: u64,
    /// Time a revision may run, in seconds (default 600).
    pub timeout_seconds: u64,
    /// Where compiled components are cached, as written in the file; see
    /// [`RuntimeConfig::resolved_cache_dir`].
    pub cache_dir: Option<PathBuf>,
    /// Refuse to run revisions on a connection whose privileges let SQL
    /// reach the server's files or programs (default false: warn only);
    /// the same as `--untrusted`. See docs/security.md.
    pub untrusted: bool,
}

impl Default for Config {
    /// What `aludel init` writes.
    fn default() -> Self {
        Config {
            database_url: Some("sqlite://aludel.db".to_string()),
            version_table: DEFAULT_VERSION_TABLE.to_string(),
            transaction: TransactionMode::default(),
            runtime: RuntimeConfig::default(),
            models: None,
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            memory_limit_mib: 256,
            timeout_seconds: 600,
            cache_dir: None,
            untrusted: false,
        }
    }
}

impl Config {
    /// Parses the text of an `aludel.toml`; `file` is how errors name it.
    /// Keys left out take their defaults, except `[database] url`, which
    /// stays `None` when absent so that the command line can demand one.
    pub fn parse(source: &str, file: &Path) -> Result<Config, ProjectError> {
        let doc = TomlDoc { source, file };
        let raw: RawConfig = parse_toml(&doc, CONFIG_KEYS)?;
        let defaults = RuntimeConfig::default();

        let database = raw.database.unwrap_or_default();
        let database_url = database
            .url
            .map(|v| {
                let url = doc.string(&v, "database.url", "`url = \"sqlite://aludel.db\"`")?;
                if url.trim().is_empty() {
                    return Err(doc.invalid(
                        Some(&v),
                        "database.url",
                        "`database.url` is empty: give a URL such as \"sqlite://aludel.db\" or \"postgres://user@host/db\", or remove the key",
                    ));
                }
                Ok(url)
            })
            .transpose()?;
        let version_table = match database.version_table {
            None => DEFAULT_VERSION_TABLE.to_string(),
            Some(v) => {
                let table = doc.string(
                    &v,
                    "database.version_table",
                    "`version_table = \"aludel_version\"`",
                )?;
                if !is_table_name(&table) {
                    return Err(doc.invalid(
                        Some(&v),
                        "database.version_table",
                        format!(
                            "`database.version_table` = {table:?} is not a plain table name: use letters, digits and `_`, not starting with a digit, optionally as `schema.table`"
                        ),
                    ));
                }
                table
            }
        };

        let transaction = match database.transaction {
            None => TransactionMode::default(),
            Some(v) => {
                let text =
                    doc.string(&v, "database.transaction", "`transaction = \"revision\"`")?;
                TransactionMode::parse(&text)
                    // Batches are a property of one revision's code, not
                    // of a project.
                    .filter(|m| *m != TransactionMode::Batched)
                    .ok_or_else(|| {
                    doc.invalid(
                        Some(&v),
                        "database.transaction",
                        format!(
                            "`database.transaction` = {text:?} is not a mode: use \"revision\" (one transaction per revision, the default), \"run\" (one for the whole run) or \"none\""
                        ),
                    )
                })?
            }
        };

        let runtime = raw.runtime.unwrap_or_default();
        let memory_limit_mib = match runtime.memory_limit_mib {
            None => defaults.memory_limit_mib,
            Some(v) => doc.positive(&v, "runtime.memory_limit_mib", "MiB")?,
        };
        let timeout_seconds = match runtime.timeout_seconds {
            None => defaults.timeout_seconds,
            Some(v) => doc.positive(&v, "runtime.timeout_seconds", "seconds")?,
        };
        let cache_dir = runtime
            .cache_dir
            .map(|v| {
                doc.string(&v, "runtime.cache_dir", "`cache_dir = \".aludel/cache\"`")
                    .map(PathBuf::from)
            })
            .transpose()?;
        let untrusted = match runtime.untrusted {
            None => defaults.untrusted,
            Some(v) => match v.get_ref() {
                toml::Value::Boolean(b) => *b,
                other => {
                    return Err(doc.invalid(
                        Some(&v),
                        "runtime.untrusted",
                        format!(
                            "`runtime.untrusted` must be true or false, not {}: write `untrusted = true`",
                            other.type_str()
                        ),
                    ));
                }
            },
        };

        let models = raw.models.map(|m| parse_models(&doc, m)).transpose()?;

        Ok(Config {
            database_url,
            version_table,
            transaction,
            runtime: RuntimeConfig {
                memory_limit_mib,
                timeout_seconds,
                cache_dir,
                untrusted,
            },
            models,
        })
    }

    /// The database URL with a relative SQLite path made absolute against
    /// `root`, so that the database is the same whatever the working
    /// directory; see [`resolve_sqlite_url`].
    pub fn resolved_database_url(&self, root: &Path) -> Option<String> {
        self.database_url
            .as_deref()
            .map(|url| resolve_sqlite_url(url, root))
    }
}

impl RuntimeConfig {
    /// The cache directory, a relative one taken relative to `root`.
    pub fn resolved_cache_dir(&self, root: &Path) -> Option<PathBuf> {
        self.cache_dir.as_ref().map(|dir| root.join(dir))
    }
}

/// Makes the path of a SQLite URL absolute against `root` when it is
/// relative, in the form the backends read (`sqlite:/root/app.db`, the
/// query kept). Other URLs, and a URL that cannot be read (connecting
/// says why), come back unchanged.
///
/// `sqlite://aludel.db` and `sqlite:aludel.db` name `aludel.db`, as in
/// sqlx; SQLAlchemy's `sqlite+pysqlite:///aludel.db` too, and its
/// `sqlite:////var/db/x.db` names `/var/db/x.db`. `sqlite:///x.db` means
/// two files (docs/connecting.md, "URLs"): see [`crate::db::url`].
pub fn resolve_sqlite_url(url: &str, root: &Path) -> String {
    match crate::db::url::parse_in(url, Some(root)) {
        Ok(read) if read.dialect == crate::db::Dialect::Sqlite => {
            for dropped in &read.dropped {
                tracing::warn!(
                    "ignoring the query parameter `{}` of [database] url: {}",
                    dropped.key,
                    dropped.reason
                );
            }
            read.url
        }
        _ => url.to_string(),
    }
}

fn is_table_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() <= 2
        && parts.iter().all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

const CONFIG_KEYS: &[&str] = &[
    "[database] url",
    "[database] version_table",
    "[database] transaction",
    "[runtime] memory_limit_mib",
    "[runtime] timeout_seconds",
    "[runtime] cache_dir",
    "[runtime] untrusted",
    "[models] sql",
    "[models] command",
    "[models] exclude",
    "[models] dev_url",
];

fn parse_models(doc: &TomlDoc, raw: RawModels) -> Result<ModelsConfig, ProjectError> {
    let sql = raw
        .sql
        .as_ref()
        .map(|v| doc.string_list(v, "models.sql", "`sql = [\"models/*.sql\"]`"))
        .transpose()?;
    let command = raw
        .command
        .as_ref()
        .map(|v| doc.string(v, "models.command", "`command = \"python3 models.py\"`"))
        .transpose()?;
    let source = match (sql, command) {
        (Some(_), Some(_)) => {
            return Err(doc.invalid(
                raw.command.as_ref(),
                "models.command",
                "`[models]` has both `sql` and `command`: keep the one the desired schema comes from",
            ));
        }
        (Some(globs), None) if !globs.is_empty() => ModelSource::Sql(globs),
        (None, Some(cmd)) if !cmd.trim().is_empty() => ModelSource::Command(cmd),
        (Some(_), None) => {
            return Err(doc.invalid(
                raw.sql.as_ref(),
                "models.sql",
                "`models.sql` is empty: list the DDL files, as in `sql = [\"models/*.sql\"]`",
            ));
        }
        (None, Some(_)) => {
            return Err(doc.invalid(
                raw.command.as_ref(),
                "models.command",
                "`models.command` is empty: give the program that prints the DDL, as in `command = \"python3 models.py\"`",
            ));
        }
        (None, None) => {
            return Err(doc.invalid(
                None,
                "models",
                "`[models]` says nowhere where the desired schema comes from: add `sql = [\"models/*.sql\"]` or `command = \"python3 models.py\"`",
            ));
        }
    };
    let exclude = raw
        .exclude
        .as_ref()
        .map(|v| doc.string_list(v, "models.exclude", "`exclude = [\"legacy_*\"]`"))
        .transpose()?
        .unwrap_or_default();
    let dev_url = raw
        .dev_url
        .as_ref()
        .map(|v| {
            doc.string(
                v,
                "models.dev_url",
                "`dev_url = \"postgres://localhost/scratch\"`",
            )
        })
        .transpose()?;
    Ok(ModelsConfig {
        source,
        exclude,
        dev_url,
    })
}

// Values are taken as raw TOML and checked by hand so that each error can
// name its key and say what to write instead.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    database: Option<RawDatabase>,
    runtime: Option<RawRuntime>,
    models: Option<RawModels>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawModels {
    sql: Option<Spanned<toml::Value>>,
    command: Option<Spanned<toml::Value>>,
    exclude: Option<Spanned<toml::Value>>,
    dev_url: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: Option<Spanned<toml::Value>>,
    version_table: Option<Spanned<toml::Value>>,
    transaction: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRuntime {
    memory_limit_mib: Option<Spanned<toml::Value>>,
    timeout_seconds: Option<Spanned<toml::Value>>,
    cache_dir: Option<Spanned<toml::Value>>,
    untrusted: Option<Spanned<toml::Value>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str) -> Result<Config, ProjectError> {
        Config::parse(source, Path::new("aludel.toml"))
    }

    fn message(source: &str) -> String {
        parse(source).unwrap_err().to_string()
    }

    #[test]
    fn models_name_one_source_of_the_desired_schema() {
        let c = parse("[models]\nsql = [\"models/*.sql\"]\nexclude = [\"legacy_*\"]\n").unwrap();
        let m = c.models.unwrap();
        assert_eq!(m.source, ModelSource::Sql(vec!["models/*.sql".into()]));
        assert_eq!(m.exclude, ["legacy_*"]);
        assert_eq!(m.dev_url, None);
        let c = parse("[models]\ncommand = \"python3 models.py\"\ndev_url = \"sqlite::memory:\"\n")
            .unwrap();
        assert_eq!(
            c.models.unwrap().source,
            ModelSource::Command("python3 models.py".into())
        );
        assert!(message("[models]\nsql = [\"a.sql\"]\ncommand = \"x\"\n").contains("both"));
        assert!(message("[models]\nexclude = []\n").contains("nowhere"));
        assert!(message("[models]\nsql = []\n").contains("empty"));
        assert!(message("[models]\nsql = \"a.sql\"\n").contains("list of strings"));
    }

    #[test]
    fn the_template_written_by_init_parses_to_the_defaults() {
        assert_eq!(
            parse(super::super::template::CONFIG_TEMPLATE).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn every_key_is_read() {
        let config = parse(
            "[database]\nurl = \"postgres://u@h/db\"\nversion_table = \"meta.versions\"\n\
             [runtime]\nmemory_limit_mib = 64\ntimeout_seconds = 5\ncache_dir = \"c\"\n",
        )
        .unwrap();
        assert_eq!(config.database_url.as_deref(), Some("postgres://u@h/db"));
        assert_eq!(config.version_table, "meta.versions");
        assert_eq!(config.runtime.memory_limit_mib, 64);
        assert_eq!(config.runtime.timeout_seconds, 5);
        assert_eq!(
            config.runtime.resolved_cache_dir(Path::new("/p")),
            Some(PathBuf::from("/p/c"))
        );
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let msg = message("[database]\nurl = \"sqlite://x\"\nversion_tabel = \"v\"\n");
        assert!(msg.starts_with("aludel.toml:3: "), "{msg}");
        assert!(msg.contains("`version_tabel`"), "{msg}");
        assert!(msg.contains("did you mean `version_table`"), "{msg}");
    }

    #[test]
    fn a_version_table_that_is_not_an_identifier_is_refused() {
        let msg = message("[database]\nversion_table = \"v; drop table x\"\n");
        assert!(msg.starts_with("aludel.toml:2: "), "{msg}");
        assert!(msg.contains("`database.version_table`"), "{msg}");
    }

    #[test]
    fn a_zero_or_negative_limit_is_refused() {
        let msg = message("[runtime]\nmemory_limit_mib = 0\n");
        assert!(msg.contains("aludel.toml:2: "), "{msg}");
        assert!(msg.contains("`runtime.memory_limit_mib`"), "{msg}");
        let msg = message("[runtime]\ntimeout_seconds = \"10\"\n");
        assert!(msg.contains("`runtime.timeout_seconds`"), "{msg}");
    }

    #[test]
    fn a_syntax_error_names_the_file_and_line() {
        let msg = message("[database]\nurl = \"sqlite://x\n");
        assert!(msg.starts_with("aludel.toml:2: "), "{msg}");
    }

    #[test]
    fn relative_sqlite_paths_resolve_against_the_root() {
        let root = Path::new("/proj");
        assert_eq!(
            resolve_sqlite_url("sqlite://aludel.db", root),
            "sqlite:/proj/aludel.db"
        );
        assert_eq!(
            resolve_sqlite_url("sqlite:data/x.db?mode=rwc", root),
            "sqlite:/proj/data/x.db?mode=rwc"
        );
        assert_eq!(
            resolve_sqlite_url("sqlite:///var/x.db", root),
            "sqlite:/var/x.db"
        );
        assert_eq!(
            resolve_sqlite_url("sqlite::memory:", root),
            "sqlite::memory:"
        );
        assert_eq!(
            resolve_sqlite_url("postgres://u@h/db", root),
            "postgres://u@h/db"
        );
    }

    #[test]
    fn untrusted_is_read_as_a_boolean_and_anything_else_is_refused() {
        assert!(!parse("").unwrap().runtime.untrusted);
        assert!(
            parse("[runtime]\nuntrusted = true\n")
                .unwrap()
                .runtime
                .untrusted
        );
        let msg = message("[runtime]\nuntrusted = \"yes\"\n");
        assert!(
            msg.contains("`runtime.untrusted` must be true or false"),
            "{msg}"
        );
    }
}
