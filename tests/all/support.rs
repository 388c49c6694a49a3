//! What every integration test needs: the real `aludel` binary, the guest
//! fixtures built from their sources, a fresh project with its own SQLite
//! file, and a way to read that database independently of aludel.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr;
use std::sync::OnceLock;

use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{AssertSqlSafe, ConnectOptions, Row, TypeInfo, ValueRef};

/// The guest components of `tests/fixtures/guests`, built once per test run.
pub struct Fixtures {
    pub misbehave: PathBuf,
    pub transform: PathBuf,
    pub not_a_revision: PathBuf,
    pub seed: PathBuf,
    pub hostile: PathBuf,
    /// Built against the frozen aludel:migration@0.1.0, without the SDK.
    pub contract_v0_1: PathBuf,
    /// A batched backfill over `backfill_items` (transaction = "batched").
    pub backfill: PathBuf,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ sits in the workspace")
        .to_path_buf()
}

/// Builds the fixture guests with cargo, as a developer would; cargo's own
/// lock and freshness checks make concurrent and repeated calls cheap.
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let root = workspace_root();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"))
            .join("guests-fixtures");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
            .current_dir(root.join("tests/fixtures/guests"))
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTFLAGS")
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building tests/fixtures/guests failed");
        let out = target.join("wasm32-wasip2/release");
        Fixtures {
            misbehave: out.join("misbehave.wasm"),
            transform: out.join("transform.wasm"),
            not_a_revision: out.join("not-a-revision.wasm"),
            seed: out.join("seed.wasm"),
            hostile: out.join("hostile.wasm"),
            contract_v0_1: out.join("contract_v0_1.wasm"),
            backfill: out.join("backfill.wasm"),
        }
    })
}

/// Which database a test project runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

/// One `#[test]` per check per backend: `sqlite::<check>`,
/// `postgres::<check>` and `mysql::<check>` in the invoking module, each
/// calling `<check>(backend)` there. Listing a check once runs it on every
/// backend, so none can be forgotten; the checks stay private, so one left
/// out of the list is dead code, which the lints refuse. A check whose
/// outcome differs by backend branches on its argument.
///
/// A module per backend because `macro_rules!` cannot build the name
/// `<check>_on_sqlite` without a crate for it; it is also the layout of
/// audit.rs's tests, and `::mysql::` selects one backend's.
macro_rules! on_every_backend {
    ($($check:ident),+ $(,)?) => {
        mod sqlite {
            use $crate::support::Backend;
            $( #[test] fn $check() { super::$check(Backend::Sqlite); } )+
        }
        mod postgres {
            use $crate::support::Backend;
            $( #[test] fn $check() { super::$check(Backend::Postgres); } )+
        }
        mod mysql {
            use $crate::support::Backend;
            $( #[test] fn $check() { super::$check(Backend::Mysql); } )+
        }
    };
}
pub(crate) use on_every_backend;

/// The servers every machine that runs the tests has (see README, Databases).
pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const MYSQL_ADMIN_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// A fresh project in a temporary directory, made by `aludel init`, with a
/// database of its own: a SQLite file in the project, or a new database on
/// the PostgreSQL or MariaDB server, dropped when the project is.
pub struct TestProject {
    dir: tempfile::TempDir,
    backend: Backend,
    /// The database's name on a server.
    server_db: Option<String>,
}

impl Drop for TestProject {
    fn drop(&mut self) {
        if let Some(name) = &self.server_db {
            let sql = format!("DROP DATABASE IF EXISTS {name}");
            let admin = match self.backend {
                Backend::Postgres => POSTGRES_ADMIN_URL,
                _ => MYSQL_ADMIN_URL,
            };
            // Best effort: a leftover test database is harmless.
            let _ = admin_execute(self.backend, admin, &sql);
        }
    }
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

fn admin_execute(backend: Backend, url: &str, sql: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let sql = sql.to_string();
    block_on(async move {
        match backend {
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(url).await?;
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut c).await?;
            }
            Backend::Mysql => {
                let mut c = sqlx::MySqlConnection::connect(url).await?;
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut c).await?;
            }
            Backend::Sqlite => {}
        }
        Ok(())
    })
}

/// What one run of the binary did.
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            success: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// The revision the hostile tests build on, and the one each adds after it.
pub const BASE: &str = "base00000001";
pub const HOSTILE: &str = "hostile00001";

impl TestProject {
    /// A project on SQLite, the default.
    pub fn new() -> Self {
        Self::on(Backend::Sqlite)
    }

    /// A project on `backend` with revision [`BASE`] applied: a table `t`
    /// holding the row `x = 1`, what the hostile tests attack from.
    pub fn with_base(backend: Backend) -> Self {
        let p = Self::on(backend);
        p.sql_revision(
            BASE,
            None,
            "CREATE TABLE t (x INTEGER);\nINSERT INTO t (x) VALUES (1);\n",
            "DROP TABLE t;\n",
        );
        p.ok(&["upgrade", "head"]);
        p
    }

    /// The revisions the audit log says were applied, oldest first.
    pub fn applied(&self) -> Vec<String> {
        self.query(
            "SELECT revision FROM aludel_version_history WHERE outcome = 'applied' ORDER BY id",
        )
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
    }

    /// The revisions the failed-state table holds; none before it exists.
    pub fn failed_revisions(&self) -> Vec<String> {
        if !self.has_table("aludel_version_failed") {
            return Vec::new();
        }
        self.query("SELECT revision FROM aludel_version_failed ORDER BY revision")
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    }

    /// A project on `backend`. A server that cannot be reached fails the
    /// test: the servers are part of the test environment.
    pub fn on(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let server_db = match backend {
            Backend::Sqlite => None,
            Backend::Postgres | Backend::Mysql => {
                let name = format!("aludel_t_{}", hex(&rand_bytes()));
                let admin = if backend == Backend::Postgres {
                    POSTGRES_ADMIN_URL
                } else {
                    MYSQL_ADMIN_URL
                };
                admin_execute(backend, admin, &format!("CREATE DATABASE {name}")).unwrap_or_else(
                    |e| {
                        panic!(
                            "cannot create a test database on {admin} (see README, Databases): {e}"
                        )
                    },
                );
                Some(name)
            }
        };
        let project = TestProject {
            dir,
            backend,
            server_db,
        };
        let run = project.aludel(&["init", "."]);
        assert!(run.success, "aludel init failed: {}", run.stderr);
        if backend != Backend::Sqlite {
            let config = project.root().join("aludel.toml");
            let text = std::fs::read_to_string(&config).expect("aludel.toml");
            let text = text.replace(
                "url = \"sqlite://aludel.db\"",
                &format!("url = \"{}\"", project.url()),
            );
            std::fs::write(&config, text).expect("write aludel.toml");
        }
        project
    }

    #[allow(dead_code)] // used by the backend test modules
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database URL of this project.
    pub fn url(&self) -> String {
        match (self.backend, &self.server_db) {
            (Backend::Postgres, Some(db)) => format!("postgres://postgres@127.0.0.1:5432/{db}"),
            (Backend::Mysql, Some(db)) => format!("mysql://root@127.0.0.1:3306/{db}"),
            _ => format!("sqlite://{}", self.db_path().display()),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.root().join("component-cache")
    }

    pub fn db_path(&self) -> PathBuf {
        self.root().join("aludel.db")
    }

    /// The binary, run in the project with its own component cache and no
    /// database URL from the environment.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aludel"));
        cmd.current_dir(self.root())
            .env("ALUDEL_CACHE_DIR", self.cache_dir())
            .env_remove("DATABASE_URL")
            .env_remove("ALUDEL_CONFIG")
            .env_remove("ALUDEL_LOG");
        cmd
    }

    pub fn aludel(&self, args: &[&str]) -> Run {
        self.command()
            .args(args)
            .output()
            .expect("aludel runs")
            .into()
    }

    /// Runs a command that must succeed, and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.aludel(args);
        assert!(
            run.success,
            "aludel {} failed:\n{}",
            args.join(" "),
            run.stderr
        );
        run.stdout
    }

    /// Runs a command that must fail, and returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let run = self.aludel(args);
        assert!(
            !run.success,
            "aludel {} succeeded but should have failed:\n{}",
            args.join(" "),
            run.stderr
        );
        run.stderr
    }

    /// Replaces the `[runtime]` limits in aludel.toml.
    pub fn set_limits(&self, timeout_seconds: u64, memory_limit_mib: u64) {
        self.set_config("timeout_seconds", &timeout_seconds.to_string());
        self.set_config("memory_limit_mib", &memory_limit_mib.to_string());
    }

    fn revision_dir(&self, id: &str, slug: &str) -> PathBuf {
        let dir = self.root().join("versions").join(format!("{id}_{slug}"));
        std::fs::create_dir_all(&dir).expect("create the revision directory");
        dir
    }

    fn manifest(id: &str, parent: Option<&str>, runner: &str) -> String {
        let parents = parent.map(|p| format!("\"{p}\"")).unwrap_or_default();
        format!("id = \"{id}\"\nparents = [{parents}]\nmessage = \"revision {id}\"\n{runner}\n")
    }

    /// A revision run by the built-in sql plugin.
    pub fn sql_revision(
        &self,
        id: &str,
        parent: Option<&str>,
        upgrade: &str,
        downgrade: &str,
    ) -> PathBuf {
        let dir = self.revision_dir(id, "sql");
        std::fs::write(
            dir.join("revision.toml"),
            Self::manifest(id, parent, "plugin = \"sql\""),
        )
        .expect("write");
        std::fs::write(dir.join("upgrade.sql"), upgrade).expect("write");
        std::fs::write(dir.join("downgrade.sql"), downgrade).expect("write");
        dir
    }

    /// A revision that is its own (prebuilt) component, with `[args]`.
    pub fn component_revision(
        &self,
        id: &str,
        parent: Option<&str>,
        wasm: &Path,
        args: &str,
    ) -> PathBuf {
        let dir = self.revision_dir(id, "component");
        let manifest = format!(
            "{}\n[args]\n{args}\n",
            Self::manifest(id, parent, "component = \"revision.wasm\"")
        );
        std::fs::write(dir.join("revision.toml"), manifest).expect("write");
        std::fs::copy(wasm, dir.join("revision.wasm")).expect("copy the component");
        dir
    }

    /// A `misbehave` revision doing `upgrade` on upgrade and `downgrade` on downgrade.
    pub fn misbehave(
        &self,
        id: &str,
        parent: Option<&str>,
        upgrade: &str,
        downgrade: &str,
    ) -> PathBuf {
        self.component_revision(
            id,
            parent,
            &fixtures().misbehave,
            &format!("upgrade = \"{upgrade}\"\ndowngrade = \"{downgrade}\""),
        )
    }

    /// Makes the revision in `dir` run outside a transaction
    /// (`transaction = "none"` in its revision.toml).
    pub fn outside_a_transaction(dir: &Path) {
        let manifest = dir.join("revision.toml");
        let text = std::fs::read_to_string(&manifest).expect("revision.toml");
        std::fs::write(&manifest, format!("transaction = \"none\"\n{text}"))
            .expect("write revision.toml");
    }

    /// Rows of a query against the project's database, each value as text
    /// (`NULL` for null), read with sqlx directly rather than through aludel.
    pub fn query(&self, sql: &str) -> Vec<Vec<String>> {
        use sqlx::Connection;
        let url = self.url();
        let sql = sql.to_string();
        let backend = self.backend;
        block_on(async move {
            match backend {
                Backend::Sqlite => {
                    let mut conn = SqliteConnectOptions::from_str(&url)
                        .expect("a valid URL")
                        .connect()
                        .await
                        .expect("the test database opens");
                    let rows: Vec<SqliteRow> = sqlx::query(AssertSqlSafe(sql))
                        .fetch_all(&mut conn)
                        .await
                        .expect("the test query runs");
                    rows.iter().map(cells).collect()
                }
                Backend::Postgres => {
                    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connects");
                    let rows = sqlx::query(AssertSqlSafe(sql))
                        .fetch_all(&mut conn)
                        .await
                        .expect("the test query runs");
                    rows.iter().map(server_cells).collect()
                }
                Backend::Mysql => {
                    let mut conn = sqlx::MySqlConnection::connect(&url)
                        .await
                        .expect("connects");
                    let rows = sqlx::query(AssertSqlSafe(sql))
                        .fetch_all(&mut conn)
                        .await
                        .expect("the test query runs");
                    rows.iter().map(server_cells).collect()
                }
            }
        })
    }

    /// The ids in the version table.
    pub fn versions(&self) -> Vec<String> {
        if !self.has_table("aludel_version") {
            return Vec::new();
        }
        self.query("SELECT version_num FROM aludel_version ORDER BY version_num")
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    }

    pub fn has_table(&self, name: &str) -> bool {
        if self.backend == Backend::Sqlite && !self.db_path().exists() {
            return false;
        }
        let sql = match self.backend {
            Backend::Sqlite => {
                format!("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{name}'")
            }
            Backend::Postgres => format!(
                "SELECT 1 FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '{name}'"
            ),
            Backend::Mysql => format!(
                "SELECT 1 FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = '{name}'"
            ),
        };
        !self.query(&sql).is_empty()
    }

    /// The tables of the database, sorted.
    pub fn tables(&self) -> Vec<String> {
        let sql = match self.backend {
            Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' \
                                AND name NOT LIKE 'sqlite_%' ORDER BY name"
                .to_string(),
            Backend::Postgres => "SELECT table_name::text FROM information_schema.tables \
                                  WHERE table_schema = current_schema() ORDER BY table_name"
                .to_string(),
            Backend::Mysql => "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                               WHERE table_schema = DATABASE() ORDER BY table_name"
                .to_string(),
        };
        self.query(&sql).into_iter().map(|r| r[0].clone()).collect()
    }

    /// Every schema object and every row of every table: two equal dumps
    /// mean an identical database. aludel's record of failed revisions, its
    /// audit log and its artifact store are left out: they outlive what
    /// they record, by design.
    pub fn dump(&self) -> String {
        if self.backend != Backend::Sqlite {
            return self.server_dump();
        }
        if !self.db_path().exists() {
            return String::new();
        }
        let mut out = String::new();
        let objects = self.query(
            "SELECT type, name, COALESCE(sql, '') FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '%_failed' \
             AND name NOT LIKE '%_history' AND name NOT LIKE '%_artifacts' ORDER BY type, name",
        );
        for object in &objects {
            out.push_str(&format!("{} {}: {}\n", object[0], object[1], object[2]));
            if object[0] == "table" {
                for row in self.query(&format!("SELECT * FROM \"{}\" ORDER BY rowid", object[1])) {
                    out.push_str(&format!("  {}\n", row.join(" | ")));
                }
            }
        }
        out
    }
}

impl TestProject {
    /// Columns (name, type, nullability) and rows of every table, from
    /// information_schema, for PostgreSQL and MySQL.
    fn server_dump(&self) -> String {
        let (schema, cast) = match self.backend {
            Backend::Postgres => ("current_schema()", "::text"),
            _ => ("DATABASE()", ""),
        };
        let mut out = String::new();
        for table in self.tables() {
            if table.ends_with("_failed")
                || table.ends_with("_history")
                || table.ends_with("_artifacts")
            {
                continue;
            }
            let columns = self.query(&format!(
                "SELECT column_name{cast}, data_type{cast}, is_nullable{cast} \
                 FROM information_schema.columns \
                 WHERE table_schema = {schema} AND table_name = '{table}' ORDER BY ordinal_position"
            ));
            out.push_str(&format!("table {table}: {columns:?}\n"));
            let indexes = match self.backend {
                Backend::Postgres => self.query(&format!(
                    "SELECT indexname::text, indexdef FROM pg_indexes \
                     WHERE schemaname = current_schema() AND tablename = '{table}' ORDER BY indexname"
                )),
                _ => self.query(&format!(
                    "SELECT CAST(index_name AS CHAR), CAST(column_name AS CHAR) FROM information_schema.statistics \
                     WHERE table_schema = DATABASE() AND table_name = '{table}' ORDER BY index_name, seq_in_index"
                )),
            };
            out.push_str(&format!("  indexes: {indexes:?}\n"));
            let quote = if self.backend == Backend::Mysql {
                '`'
            } else {
                '"'
            };
            let mut rows = self.query(&format!("SELECT * FROM {quote}{table}{quote}"));
            rows.sort();
            for row in rows {
                out.push_str(&format!("  {}\n", row.join(" | ")));
            }
        }
        out
    }
}

/// A value of a PostgreSQL or MySQL row as text, for comparisons in tests.
fn server_cells<R>(row: &R) -> Vec<String>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    (0..row.len())
        .map(|i| {
            let Ok(raw) = row.try_get_raw(i) else {
                return "<?>".to_string();
            };
            if raw.is_null() {
                return "NULL".to_string();
            }
            if let Ok(v) = row.try_get::<i64, _>(i) {
                return v.to_string();
            }
            if let Ok(v) = row.try_get::<i32, _>(i) {
                return v.to_string();
            }
            if let Ok(v) = row.try_get::<f64, _>(i) {
                return v.to_string();
            }
            if let Ok(v) = row.try_get::<bool, _>(i) {
                return v.to_string();
            }
            if let Ok(v) = row.try_get::<String, _>(i) {
                return v;
            }
            if let Ok(v) = row.try_get::<Vec<u8>, _>(i) {
                return format!("x'{}'", hex(&v));
            }
            format!("<{}>", raw.type_info().name())
        })
        .collect()
}

fn rand_bytes() -> [u8; 6] {
    rand::random()
}

fn cells(row: &SqliteRow) -> Vec<String> {
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).expect("a column");
            if raw.is_null() {
                return "NULL".to_string();
            }
            match raw.type_info().name() {
                "INTEGER" => row.get::<i64, _>(i).to_string(),
                "REAL" => row.get::<f64, _>(i).to_string(),
                "BLOB" => format!("x'{}'", hex(&row.get::<Vec<u8>, _>(i))),
                _ => row.get::<String, _>(i),
            }
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------
// Additions for the PostgreSQL tests (tests/all/postgres.rs).
// ---------------------------------------------------------------------------

/// The `types` fixture: a round trip of every mapped value type.
#[allow(dead_code)] // used by the backend test modules
pub fn types_fixture() -> PathBuf {
    fixtures().misbehave.with_file_name("types.wasm")
}

impl TestProject {
    /// A `types` revision running the check `check` (see the fixture's README).
    #[allow(dead_code)] // used by the backend test modules
    pub fn types_revision(&self, id: &str, parent: Option<&str>, check: &str) -> PathBuf {
        self.component_revision(
            id,
            parent,
            &types_fixture(),
            &format!("check = \"{check}\""),
        )
    }

    /// Replaces a `key = ...` line of aludel.toml.
    pub fn set_config(&self, key: &str, value: &str) {
        let path = self.root().join("aludel.toml");
        let text = std::fs::read_to_string(&path).expect("aludel.toml");
        let prefix = format!("{key} =");
        let text = text
            .lines()
            .map(|l| {
                if l.starts_with(&prefix) {
                    format!("{key} = {value}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&path, text).expect("write aludel.toml");
    }
}
